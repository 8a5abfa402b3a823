"""One runner per results directory: a lock file holding the owner's PID.

Two runners appending to the same results.csv would each skip the other's unfinished
runs and train them twice. A lock left by a killed runner (its PID is gone) is taken
over with a note rather than blocking forever.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

LOCK_NAME = "bench.lock"


class RunnerBusyError(RuntimeError):
    """Another live runner holds the results directory."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunnerLock:
    """``with RunnerLock(out_dir):`` -- raises RunnerBusyError when a live runner holds it."""

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / LOCK_NAME
        self.held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                host = socket.gethostname()
                if owner is not None and owner[1] == host and not _pid_alive(owner[0]):
                    print(f"zoo bench: note: taking over the stale lock {self.path} "
                          f"(runner PID {owner[0]} is no longer running)", file=sys.stderr)
                    self.path.unlink(missing_ok=True)
                    continue
                who = f"PID {owner[0]} on {owner[1]}" if owner else "an unknown process"
                raise RunnerBusyError(
                    f"another zoo bench runner ({who}) is using {self.path.parent}; wait for it to "
                    f"finish, choose another --out, or delete {self.path} if that runner is gone") from None
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()} {socket.gethostname()}\n")
            self.held = True
            return
        raise RunnerBusyError(f"could not take the lock {self.path}; another runner keeps replacing it")

    def _owner(self) -> tuple[int, str] | None:
        try:
            pid, host = self.path.read_text().split()[:2]
            return int(pid), host
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self.held:
            owner = self._owner()
            if owner is not None and owner[0] == os.getpid():
                self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> RunnerLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
