"""A periodic progress line: phase, step, rate and time left.

>>> import io
>>> out = io.StringIO()
>>> p = Progress("search", total=10, start=0, stream=out, interval_s=0)
>>> p.update(5, loss=1.25)
>>> "search" in out.getvalue() and "5/10" in out.getvalue()
True
"""
from __future__ import annotations

import sys
import time
from typing import IO


def format_seconds(s: float) -> str:
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s" if m else f"{sec}s"


class Progress:
    """Prints ``[phase] step n/N  r it/s  ETA t  key=value ...`` at most every ``interval_s``."""

    def __init__(self, phase: str, total: int, start: int = 0, stream: IO[str] | None = None,
                 interval_s: float = 5.0, enabled: bool = True) -> None:
        self.phase, self.total, self.start = phase, total, start
        self.stream = stream if stream is not None else sys.stderr
        self.interval_s, self.enabled = interval_s, enabled
        self.t0 = time.perf_counter()
        self.last = -float("inf")

    def update(self, step: int, force: bool = False, **values: float) -> None:
        """Report that ``step`` of ``total`` steps are done."""
        now = time.perf_counter()
        if not self.enabled or (not force and now - self.last < self.interval_s and step < self.total):
            return
        self.last = now
        done = step - self.start
        rate = done / max(now - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        extra = "  ".join(f"{k}={v:.4g}" for k, v in values.items())
        eta_text = format_seconds(eta) if eta != float("inf") else "?"
        print(f"[{self.phase}] step {step}/{self.total}  {rate:.2f} it/s  ETA {eta_text}  {extra}".rstrip(),
              file=self.stream, flush=True)
