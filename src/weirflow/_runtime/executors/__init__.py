"""Back ends: how workers of each kind are started, fed, cancelled and joined.

Each back end is a small class with the same few methods (``input_port``, ``output_port``,
``start``, ``cancel``, ``join``); the supervisor picks one by the stage's ``kind``. The worker
loop itself is shared (``_worker.run_worker``).
"""
