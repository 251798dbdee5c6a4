"""The runtime: channels, the worker loop, the supervisor and the back ends (private)."""
