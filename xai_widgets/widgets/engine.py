"""The interaction engine: one worker thread per lane, the newest request wins.

A view submits a job (a function of a :class:`Job`) to a lane; a newer submission to the same
lane supersedes the pending one and cancels the running one at its next checkpoint
(``job.check()``, called between batches through ``job.progress``). A result is delivered only
if its job is still the lane's newest when it finishes, so a stale map is never drawn. Lanes
are independent (an overlay redraw or a probe click does not cancel a long explanation); the
per-model lock in :func:`xai_widgets.hooks.borrowed` keeps two lanes or widgets from hooking
one model at the same time.

Threads: a lane's jobs start with the intra-op thread count the kernel had when the engine was
imported; a short job calls :meth:`Job.single_thread` to run on one thread. On two cores with a
browser drawing, a second OpenMP thread spin-waits against the browser and can make a 4 ms
gradient take 70 ms. OpenMP and MKL keep the count per thread, so this changes only the lane's
own thread, never the user's torch code in the kernel's main thread; a torch build where the
setting is process-wide (checked once, :func:`threads_are_per_thread`) is left alone.

Example::

    engine = Engine()
    engine.submit("compute", lambda job: slow(job.progress), on_done=draw)
    engine.wait()            # tests: until every lane is idle
    engine.close()
"""

from __future__ import annotations

import atexit
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import torch

__all__ = ["Cancelled", "Engine", "Job", "threads_are_per_thread"]

_THREADS = torch.get_num_threads()  # the kernel's setting when the package was imported


@cache
def threads_are_per_thread() -> bool:
    """Whether ``torch.set_num_threads`` in one thread leaves the other threads' count alone
    (OpenMP and MKL builds: yes); checked once in a throw-away thread."""
    before = torch.get_num_threads()
    seen: list[int] = []

    def probe() -> None:
        torch.set_num_threads(1 if before > 1 else 2)
        seen.append(torch.get_num_threads())

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    per_thread = torch.get_num_threads() == before
    if not per_thread:  # a process-wide setting: put it back, never change it again
        torch.set_num_threads(before)
    return per_thread


class Cancelled(Exception):
    """Raised inside a job that a newer request (or ``cancel``) superseded."""


@dataclass
class Job:
    """Handle given to a running job: its lane, sequence number and progress reporting."""

    lane: Lane
    seq: int
    label: str
    started: float = field(default_factory=time.perf_counter)

    @property
    def current(self) -> bool:
        return self.seq == self.lane.seq and not self.lane.closed

    def check(self) -> None:
        """Raise :class:`Cancelled` when a newer request superseded this one."""
        if not self.current:
            raise Cancelled(self.label)

    def progress(self, fraction: float) -> None:
        """Report progress (0..1) and stop here if superseded."""
        self.check()
        if self.lane.on_progress is not None:
            self.lane.on_progress(self, fraction)

    def deliver(self, fn: Callable[[], Any]) -> bool:
        """Run ``fn`` (e.g. draw an intermediate map) only while this job is still current;
        atomic with respect to new submissions."""
        with self.lane.cond:
            if not self.current:
                return False
            fn()
            return True

    def single_thread(self) -> None:
        """Run the rest of this job on one intra-op thread (the lane's thread only; see the
        module doc); the lane's next job starts with the kernel's count again."""
        if threads_are_per_thread():
            torch.set_num_threads(1)

    @property
    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


class Lane:
    """One worker thread with a single pending slot."""

    def __init__(
        self,
        name: str,
        on_error: Callable[[str, BaseException, str], None] | None,
        on_progress: Callable[[Job, float], None] | None,
        on_idle: Callable[[str], None] | None,
    ) -> None:
        self.name = name
        self.cond = threading.Condition()
        self.seq = 0
        self.pending: tuple[int, str, Callable, Callable | None] | None = None
        self.running = False
        self.closed = False
        self.on_error = on_error
        self.on_progress = on_progress
        self.on_idle = on_idle
        self.thread = threading.Thread(target=self._loop, name=f"xw-{name}", daemon=True)
        self.thread.start()

    def submit(self, label: str, fn: Callable[[Job], Any], on_done: Callable | None) -> int:
        with self.cond:
            self.seq += 1
            self.pending = (self.seq, label, fn, on_done)
            self.cond.notify_all()
            return self.seq

    def cancel(self) -> None:
        with self.cond:
            self.seq += 1
            self.pending = None
            self.cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self.cond:
                while self.pending is None and not self.closed:
                    self.cond.wait()
                if self.closed:
                    return
                seq, label, fn, on_done = self.pending  # type: ignore[misc]
                self.pending = None
                self.running = True
            job = Job(self, seq, label)
            if threads_are_per_thread() and torch.get_num_threads() != _THREADS:
                torch.set_num_threads(_THREADS)
            try:
                result = fn(job)
                if on_done is not None:
                    job.deliver(lambda: on_done(result))  # noqa: B023
            except Cancelled:
                pass
            except BaseException as exc:  # shown in the view; the lane keeps working
                if job.current and self.on_error is not None:
                    try:
                        self.on_error(label, exc, traceback.format_exc())
                    except Exception:  # an error handler must never kill the lane
                        traceback.print_exc()
            finally:
                with self.cond:
                    self.running = False
                    idle = self.pending is None
                    self.cond.notify_all()
                if idle and self.on_idle is not None:
                    self.on_idle(self.name)

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.pending is not None or self.running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.pending = None
            self.cond.notify_all()


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


@atexit.register
def _stop_all(timeout: float = 5.0) -> None:
    """At interpreter exit, cancel every engine's work and let running jobs reach their next
    check: a worker thread still inside torch while the interpreter tears down aborts the
    process ("terminate called without an active exception")."""
    engines = list(_ENGINES)
    for engine in engines:
        engine.cancel()
    deadline = time.monotonic() + timeout
    for engine in engines:
        engine.wait(max(0.0, deadline - time.monotonic()))
        engine.close()


class Engine:
    """Named lanes of latest-wins workers, created on first use."""

    def __init__(
        self,
        on_error: Callable[[str, BaseException, str], None] | None = None,
        on_progress: Callable[[Job, float], None] | None = None,
        on_idle: Callable[[str], None] | None = None,
    ) -> None:
        """``on_error(label, exc, traceback)`` when a current job fails; ``on_progress(job,
        fraction)`` from ``job.progress``; ``on_idle(lane)`` when a lane has nothing left."""
        self._lanes: dict[str, Lane] = {}
        self._guard = threading.Lock()
        self.on_error = on_error
        self.on_progress = on_progress
        self.on_idle = on_idle
        threads_are_per_thread()  # checked once, here, not in a user's first job
        _ENGINES.add(self)

    def lane(self, name: str) -> Lane:
        with self._guard:
            if name not in self._lanes:
                self._lanes[name] = Lane(name, self.on_error, self.on_progress, self.on_idle)
            return self._lanes[name]

    def submit(
        self,
        lane: str,
        fn: Callable[[Job], Any],
        on_done: Callable[[Any], None] | None = None,
        *,
        label: str = "",
    ) -> int:
        """Queue ``fn`` on ``lane``, superseding what was pending or running there."""
        return self.lane(lane).submit(label or lane, fn, on_done)

    def cancel(self, lane: str | None = None) -> None:
        """Cancel the pending and running jobs of one lane (all lanes when None)."""
        for name in [lane] if lane else list(self._lanes):
            self.lane(name).cancel()

    def busy(self) -> bool:
        return any(lane.running or lane.pending is not None for lane in self._lanes.values())

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until every lane is idle (for tests and scripts); False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            lanes = list(self._lanes.values())
            if all(lane.wait(max(0.0, deadline - time.monotonic())) for lane in lanes):
                # a finished job may have submitted follow-up work to another lane
                if not self.busy():
                    return True
            if time.monotonic() >= deadline:
                return False

    def close(self) -> None:
        for lane in self._lanes.values():
            lane.close()
