"""The in-flight window of a stream reader: about 0.1 s of the pipeline's work, 64 to the limit."""

from weirflow.flows._read_window import EVERY_SECONDS, MINIMUM, ReadWindow


def test_a_fast_pipeline_grows_the_window_to_the_limit() -> None:
    window = ReadWindow(1000, adapt=True, now=0.0)
    assert window.size(0, 0.0) == MINIMUM
    assert window.size(5000, EVERY_SECONDS) == 1000  # 100,000 a second


def test_a_slow_pipeline_keeps_about_a_tenth_of_a_second_of_work() -> None:
    window = ReadWindow(1000, adapt=True, now=0.0)
    window.size(5000, EVERY_SECONDS)
    window.full()
    assert window.size(5000 + 100, 2 * EVERY_SECONDS) == 200  # 2,000 a second


def test_the_window_shrinks_only_while_it_is_full() -> None:
    window = ReadWindow(1000, adapt=True, now=0.0)
    window.size(5000, EVERY_SECONDS)
    assert window.size(5000 + 10, 2 * EVERY_SECONDS) == 1000  # the reader was the slow one
    assert window.size(5000 + 10, 3 * EVERY_SECONDS) == 1000  # nothing settled: no news


def test_it_never_goes_below_the_minimum_or_above_the_limit() -> None:
    window = ReadWindow(100, adapt=True, now=0.0)
    assert window.size(10**6, EVERY_SECONDS) == 100
    window.full()
    assert window.size(10**6 + 1, 2 * EVERY_SECONDS) == MINIMUM


def test_a_set_maxsize_is_held_exactly() -> None:
    window = ReadWindow(20, adapt=False, now=0.0)
    window.full()
    assert [window.size(n, n * EVERY_SECONDS) for n in range(3)] == [20, 20, 20]
