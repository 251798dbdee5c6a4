"""A stream's subscription can stop early (a restart of its pipeline) and be made again: nothing
it took is lost, and a stream whose writers all finished stays finished."""

from __future__ import annotations

import threading

from weirflow._runtime.executors.process import _context
from weirflow.flows._streams import ProcessBroker, ThreadBroker


def test_a_thread_subscription_stopped_early_hands_back_what_it_took() -> None:
    broker = ThreadBroker({"s": 1})
    for n in range(10):
        broker.publish("s", n)
    broker.finish("s")
    first = broker.subscribe("s")
    assert [next(first), next(first)] == [0, 1]  # it took a batch of ten, handed over two
    first.close()
    assert list(broker.subscribe("s")) == list(range(2, 10))


def test_an_interrupted_thread_subscription_returns_and_a_new_one_goes_on() -> None:
    broker = ThreadBroker({"s": 1})
    got: list[int] = []
    waiting = threading.Event()

    def read() -> None:
        for item in broker.subscribe("s"):
            got.append(item)
            waiting.set()

    reader = threading.Thread(target=read)
    reader.start()
    broker.publish("s", 1)
    assert waiting.wait(5)
    broker.interrupt("s")  # the reader waits for more: it returns now
    reader.join(5)
    assert not reader.is_alive()
    broker.publish("s", 2)
    broker.finish("s")
    assert [*got, *broker.subscribe("s")] == [1, 2]


def test_a_process_broker_stream_that_ended_stays_ended_for_a_new_subscription() -> None:
    broker = ProcessBroker({"s": 1}, _context())
    broker.publish("s", "a")
    broker.finish("s")
    assert list(broker.subscribe("s")) == ["a"]
    again: list[object] = []
    reader = threading.Thread(target=lambda: again.extend(broker.subscribe("s")))
    reader.start()
    reader.join(5)
    ended = not reader.is_alive()
    broker.close()
    reader.join(5)
    for pipe in broker._queues.values():  # their feeder threads
        pipe.close()
        pipe.join_thread()
    assert ended, "the second subscription waited for writers that had finished"
    assert again == []
