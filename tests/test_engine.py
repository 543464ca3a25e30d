"""The interaction engine: latest wins, cancellation between batches, stale results dropped,
errors reported while the lane keeps working."""

from __future__ import annotations

import threading
import time

from xai_widgets.widgets.engine import Engine


def test_newest_request_wins_and_pending_ones_are_skipped() -> None:
    engine = Engine()
    gate = threading.Event()
    started: list[int] = []
    done: list[int] = []

    def job(i):
        def run(j):
            started.append(i)
            if i == 0:
                gate.wait(5)
            return i

        return run

    engine.submit("compute", job(0), done.append)
    time.sleep(0.05)  # job 0 is running and blocked
    for i in range(1, 50):
        engine.submit("compute", job(i), done.append)
    gate.set()
    assert engine.wait(5)
    assert started == [0, 49], "superseded pending requests must never start"
    assert done == [49], "the superseded running job must not deliver"
    engine.close()


def test_running_job_is_cancelled_at_its_next_checkpoint() -> None:
    engine = Engine()
    steps: list[int] = []
    delivered: list[str] = []

    def long(job):
        for i in range(200):
            job.progress(i / 200)
            steps.append(i)
            time.sleep(0.005)
        return "long"

    engine.submit("compute", long, delivered.append)
    time.sleep(0.05)
    engine.submit("compute", lambda job: "short", delivered.append)
    assert engine.wait(5)
    assert delivered == ["short"]
    assert len(steps) < 100, "the long job kept running after it was superseded"
    engine.close()


def test_errors_are_reported_and_the_lane_keeps_working() -> None:
    errors: list[str] = []
    engine = Engine(on_error=lambda label, exc, tb: errors.append(f"{label}: {exc}"))
    out: list[int] = []

    def fail(job):
        raise ValueError("bad layer")

    engine.submit("compute", fail, out.append, label="explain")
    assert engine.wait(5)
    engine.submit("compute", lambda job: 7, out.append)
    assert engine.wait(5)
    assert errors == ["explain: bad layer"] and out == [7]
    engine.close()


def test_lanes_are_independent() -> None:
    engine = Engine()
    gate = threading.Event()
    out: list[str] = []
    engine.submit("compute", lambda job: gate.wait(5) and "compute", out.append)
    engine.submit("probe", lambda job: "probe", out.append)
    deadline = time.monotonic() + 5
    while not out and time.monotonic() < deadline:  # the probe answers while compute waits
        time.sleep(0.01)
    assert out == ["probe"], "a probe must not wait for or cancel the compute lane"
    gate.set()
    assert engine.wait(5)
    assert out == ["probe", "compute"]
    engine.close()


def test_cancel_drops_everything_and_progress_is_reported() -> None:
    fractions: list[float] = []
    engine = Engine(on_progress=lambda job, f: fractions.append(f))
    out: list[str] = []

    def slow(job):
        for i in range(100):
            job.progress(i / 100)
            time.sleep(0.01)
        return "slow"

    engine.submit("compute", slow, out.append)
    time.sleep(0.1)
    engine.cancel()
    assert engine.wait(5)
    assert out == [] and fractions and fractions == sorted(fractions)
    engine.close()


def test_a_single_thread_job_changes_only_its_own_lane_thread() -> None:
    import pytest
    import torch

    from xai_widgets.widgets.engine import threads_are_per_thread

    if not threads_are_per_thread():
        pytest.skip("this torch build sets the thread count process-wide; the engine leaves it")
    main = torch.get_num_threads()
    engine = Engine()
    seen: list[int] = []

    def light(job) -> None:
        job.single_thread()
        seen.append(torch.get_num_threads())

    engine.submit("compute", light)
    assert engine.wait(10)
    engine.submit("compute", lambda job: seen.append(torch.get_num_threads()))
    assert engine.wait(10)
    engine.close()
    assert seen == [1, main]  # the next job starts with the kernel's count again
    assert torch.get_num_threads() == main  # the user's thread never changed
