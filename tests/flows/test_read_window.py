"""The in-flight window of a stream reader: about 0.05 s of the pipeline's work, from a floor
(two per worker of its stages, 16 at least) to the reader's limit."""

from weirflow import FlowBuilder
from weirflow.flows._read_window import EVERY_SECONDS, MINIMUM, ReadWindow


def test_a_fast_pipeline_grows_the_window_to_the_limit() -> None:
    window = ReadWindow(1000, adapt=True, now=0.0)
    assert window.size(0, 0.0) == MINIMUM
    assert window.size(5000, EVERY_SECONDS) == 1000  # 100,000 a second


def test_a_slow_pipeline_keeps_about_a_twentieth_of_a_second_of_work() -> None:
    window = ReadWindow(1000, adapt=True, now=0.0)
    window.size(5000, EVERY_SECONDS)
    window.full()
    assert window.size(5000 + 100, 2 * EVERY_SECONDS) == 100  # 2,000 a second


def test_the_window_shrinks_only_while_it_is_full() -> None:
    window = ReadWindow(1000, adapt=True, now=0.0)
    window.size(5000, EVERY_SECONDS)
    assert window.size(5000 + 10, 2 * EVERY_SECONDS) == 1000  # the reader was the slow one
    assert window.size(5000 + 10, 3 * EVERY_SECONDS) == 1000  # nothing settled: no news


def test_it_never_goes_below_its_floor_or_above_the_limit() -> None:
    window = ReadWindow(100, adapt=True, now=0.0, least=40)
    assert window.size(10**6, EVERY_SECONDS) == 100
    window.full()
    assert window.size(10**6 + 1, 2 * EVERY_SECONDS) == 40


def test_a_set_maxsize_is_held_exactly() -> None:
    window = ReadWindow(20, adapt=False, now=0.0, least=100)
    window.full()
    assert [window.size(n, n * EVERY_SECONDS) for n in range(3)] == [20, 20, 20]


def test_the_floor_is_two_per_worker_of_the_pipelines_stages() -> None:
    builder = FlowBuilder()
    builder.add_pipeline("make").with_core_logic(lambda: [1]).send("stream", name="s")
    (
        builder.add_pipeline("use")
        .with_stream_connector("s")
        .with_core_logic(lambda item: item, kind="task", workers=100)
        .with_core_logic(lambda item: item, workers=4)
        .send(print)
    )
    use = next(p for p in builder.build().pipelines if p.name == "use")
    source = use.stages[0].source
    assert source is not None
    assert source.options["least_in_flight"] == 2 * (100 + 4 + 1)
    assert source.options["adapt_in_flight"] is True
