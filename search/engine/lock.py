"""One process per run directory: an exclusive OS file lock held for the life of the process.

The lock file ``<run>/.lock`` names its holder (PID and host). A second process on the same
directory fails at once with a :class:`~search.errors.UserError` naming that holder. The OS
releases the lock when its process ends, however it ends (a SIGKILL included).

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> with RunLock(d):
...     try:
...         RunLock(d).acquire()
...     except UserError as err:
...         print("in use" in str(err))
True
"""
from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from search.errors import UserError

LOCK_NAME = ".lock"


class RunLock:
    """``fcntl.flock`` on ``<folder>/.lock``; a context manager, or :meth:`acquire` / :meth:`release`."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = Path(folder) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UserError(f"{self.path.parent} is in use by {holder}; wait for it to finish, "
                            f"or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
