"""Progress lines: rate and ETA readable for fast loops and for slow training steps alike."""

import pytest

from r1router import progress as progress_module
from r1router.progress import Progress


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: now[0])
    return now


def test_slow_units_report_seconds_per_unit(clock):
    bar = Progress(30, "sft", unit="step")
    clock[0] += 50.0
    bar.update(2)  # 25 s a step: "0.0 step/s" would say nothing
    assert bar.status() == "sft: 2/30 (7%), 25.0 s/step, ETA 0:11:40"


def test_fast_units_report_units_per_second(clock):
    bar = Progress(None, "generate", unit="seq")
    clock[0] += 2.0
    bar.update(9)
    assert bar.status() == "generate: 9, 4.5 seq/s"


def test_no_work_yet_has_no_eta(clock):
    bar = Progress(4, "index")
    clock[0] += 1.0
    assert bar.status() == "index: 0/4 (0%), 0.0 it/s, ETA ?"


@pytest.mark.parametrize(("error", "said"), [(KeyboardInterrupt(), "interrupted"), (OSError("disk"), "OSError")])
def test_work_stopped_by_an_error_or_ctrl_c_is_not_reported_done(clock, caplog, error, said):
    caplog.set_level("INFO", logger="r1router.progress")
    with pytest.raises(type(error)), Progress(4, "embed") as bar:
        bar.update(1)
        clock[0] += 3.0
        raise error
    assert caplog.messages[-1] == f"embed: 1/4 (25%), 3.0 s/it, ETA 0:00:09 (stopped after 0:00:03: {said})"
    assert not any("done in" in message for message in caplog.messages)


def test_finished_work_is_reported_done(clock, caplog):
    caplog.set_level("INFO", logger="r1router.progress")
    with Progress(2, "embed") as bar:
        clock[0] += 2.0
        bar.update(2)
    assert caplog.messages[-1] == "embed: 2/2 (100%), 1.0 it/s, ETA 0:00:00 (done in 0:00:02)"
