"""One runner per results directory: an OS file lock, held for as long as the runner lives.

Two runners appending to the same results.csv would each skip the other's unfinished runs
and train them twice. The lock is ``flock`` on ``bench.lock``: the operating system drops it
when its process ends, however it ends (kill -9 included), so a lock that no live runner
holds is recognised at once, whatever the file contains (a dead PID, another program's
live PID, garbage, nothing). The file's text (PID and host of the holder) only serves the
messages.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None

LOCK_NAME = "bench.lock"


class RunnerBusyError(RuntimeError):
    """Another live runner holds the results directory."""


class RunnerLock:
    """``with RunnerLock(out_dir):`` -- raises RunnerBusyError when a live runner holds it."""

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / LOCK_NAME
        self.held = False
        self._fd: int | None = None

    def acquire(self) -> None:
        from zoo.experiment.report import ensure_dir

        ensure_dir(self.path.parent)
        for _ in range(5):
            previous = self._owner_text()
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            if not self._try_lock(fd):
                os.close(fd)
                who = self._owner_text() or "an unknown process"
                raise RunnerBusyError(
                    f"another zoo bench runner ({who}) is using {self.path.parent}; wait for it to finish "
                    f"or choose another --out")
            try:  # the file may have been unlinked by a runner that released it meanwhile
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            if previous:
                print(f"zoo bench: note: taking over the stale lock {self.path} ({previous}: no runner "
                      "holds it any more)", file=sys.stderr)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
            self._fd, self.held = fd, True
            return
        raise RunnerBusyError(f"could not take the lock {self.path}; another runner keeps replacing it")

    @staticmethod
    def _try_lock(fd: int) -> bool:
        if fcntl is None:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False

    def _owner_text(self) -> str:
        """``PID 123 on host`` from the file, or '' when it is missing, empty or not ours to read."""
        try:
            parts = self.path.read_text().split()
        except (OSError, UnicodeDecodeError):
            return ""
        if len(parts) >= 2 and parts[0].isdigit():
            return f"PID {parts[0]} on {parts[1]}"
        return f"unreadable contents {' '.join(parts)[:40]!r}" if parts else ""

    def release(self) -> None:
        if self.held and self._fd is not None:
            self.path.unlink(missing_ok=True)  # before unlocking: no one can lock this file any more
            os.close(self._fd)  # drops the flock
            self._fd, self.held = None, False

    def __enter__(self) -> RunnerLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
