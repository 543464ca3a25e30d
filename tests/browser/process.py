"""Server processes for the browser tests: own process session, health check, clean stop.

A server is started in its own process session (:func:`launch`) with its output in a log
file, waited for with a health check that gives up at once if the process exits
(:func:`start_with_retries`), and stopped by signalling its process group
(:meth:`ServerProcess.stop`: SIGTERM, then SIGKILL); then every descendant recorded before the
stop (Jupyter kernels run in sessions of their own) is waited for and, if it outlives the
server, killed by pid. Nothing is ever killed by name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _proc_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks (field 22 of /proc/PID/stat), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def descendants(root: int) -> list[tuple[int, int]]:
    """(pid, start time) of every live descendant of ``root``, found by walking /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[tuple[int, int]] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        start = _proc_start_time(pid)
        if start is not None:
            found.append((pid, start))
        todo.extend(children.get(pid, []))
    return found


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


@dataclass
class ServerProcess:
    """A server started by :func:`launch` in its own process session, with its log file."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    base_url: str = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        """The last ``chars`` characters of the server log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return not self._exited()

    def _exited(self) -> bool:
        """Whether the leader exited, without reaping it: a zombie keeps the group id ours."""
        if self.proc.returncode is not None:
            return True
        try:
            info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.proc.returncode is None:  # not reaped yet, so the group id cannot be reused
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM the process group, SIGKILL it after ``timeout``; then reap the descendants."""
        family = descendants(self.proc.pid)
        self._signal_group(signal.SIGTERM)
        if not wait_until(self._exited, timeout):
            self._signal_group(signal.SIGKILL)
            wait_until(self._exited, 5.0)
        self._signal_group(signal.SIGKILL)  # what is left of the group besides the leader
        self.proc.wait(5.0)

        def survivors() -> list[tuple[int, int]]:
            return [(p, t) for p, t in family if _proc_start_time(p) == t]

        # Kernels live in their own sessions; they exit when the server shuts them down or
        # when their parent poller sees the server gone. Kill the ones that do not, by pid.
        if not wait_until(lambda: not survivors(), 10.0):
            for p, _ in survivors():
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def launch(cmd: list[str], *, env: dict[str, str], cwd: Path, log_path: Path) -> subprocess.Popen:
    """Start ``cmd`` in a new process session with stdout and stderr appended to ``log_path``."""
    with log_path.open("ab") as log:
        log.write(f"$ {' '.join(cmd)}\n".encode())
        log.flush()
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_healthy(server: ServerProcess, healthy: Callable[[], bool], timeout: float) -> None:
    ok = wait_until(lambda: not server.alive() or healthy(), timeout, interval=0.25)
    if ok and server.alive():
        return
    what = "exited" if not server.alive() else f"not healthy after {timeout:.0f} s"
    server.stop()
    raise RuntimeError(f"server {what}; log {server.log_path}:\n{server.log_tail()}")


def start_with_retries(
    make: Callable[[int], ServerProcess], healthy: Callable[[ServerProcess], bool], timeout: float
) -> ServerProcess:
    """Start on a fresh free port; retry (twice) only when the port was taken meanwhile."""
    for attempt in range(3):
        server = make(free_port())
        try:
            wait_healthy(server, lambda s=server: healthy(s), timeout)
            return server
        except RuntimeError:
            if attempt == 2 or "already in use" not in server.log_tail().lower():
                raise
    raise AssertionError("unreachable")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def tcp_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False
