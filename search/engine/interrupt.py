"""Ctrl-C and SIGTERM ask for a stop at the next step boundary (a second Ctrl-C stops at once).

The loops poll :meth:`StopFlag.should_stop` once per step; when it is true they write a
checkpoint and raise :class:`Interrupted`.

>>> flag = StopFlag()
>>> flag.should_stop()
False
>>> flag.request(); flag.should_stop()
True
"""
from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator, Optional

import torch
import torch.distributed as dist


class Interrupted(Exception):
    """The run stopped early on request; a checkpoint was written."""


class StopFlag:
    """Set by a signal (or a test); read at step boundaries, agreed on by every rank."""

    def __init__(self) -> None:
        self.requested = False

    def request(self) -> None:
        self.requested = True

    def poll(self) -> bool:
        """This process's view; subclasses (tests) may set the flag here."""
        return self.requested

    def should_stop(self) -> bool:
        stop = self.poll()
        if dist.is_initialized() and dist.get_world_size() > 1:
            t = torch.tensor([1.0 if stop else 0.0])
            if dist.get_backend() == "nccl":
                t = t.cuda()
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            stop = bool(t.item() > 0)
        return stop


class StopAfter(StopFlag):
    """Requests a stop at the ``n``-th poll, i.e. after step ``n`` (to interrupt a run in tests)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.remaining = n

    def poll(self) -> bool:
        self.remaining -= 1
        if self.remaining <= 0:
            self.requested = True
        return self.requested


@contextmanager
def stop_on_signals(flag: Optional[StopFlag] = None) -> Iterator[StopFlag]:
    """Install SIGINT / SIGTERM handlers that set ``flag`` for the duration of the block."""
    flag = flag if flag is not None else StopFlag()
    previous = {}

    def handler(signum: int, frame: object) -> None:
        if signum == signal.SIGINT and flag.requested:
            raise KeyboardInterrupt
        flag.request()

    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: signals stay as they are
        pass
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
