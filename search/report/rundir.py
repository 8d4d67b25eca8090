"""The run directory: config.yaml, log.txt, metrics.jsonl, tb/, checkpoints/.

Only the main process writes; on other ranks every method is a no-op, so callers need no
``if rank == 0``.

>>> import tempfile
>>> run = RunDir(tempfile.mkdtemp())
>>> run.log("hello")
>>> run.record("search", 1, {"loss": 0.5})
>>> run.close()
>>> (run.path / "metrics.jsonl").read_text().strip()
'{"phase": "search", "step": 1, "loss": 0.5}'
"""
from __future__ import annotations

import json
import math
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import torch

from supernet.files import atomic_write

CHECKPOINT = "checkpoints/last.pt"


def default_run_dir(root: str | Path = "runs") -> Path:
    """``runs/<timestamp>``, with a suffix if that already exists."""
    base = Path(root) / datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists():
        path, n = Path(f"{base}-{n}"), n + 1
    return path


def write_text_atomic(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(x: Any) -> Any:
    if torch.is_tensor(x):
        return x.tolist()
    if hasattr(x, "item"):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


class RunDir:
    """Writer of one run directory (``main=False``: a silent stand-in for other ranks)."""

    def __init__(self, path: str | Path, main: bool = True, echo: bool = True) -> None:
        self.path = Path(path)
        self.main = main
        self.echo = echo
        self._tb = None
        self._log = None
        self._metrics = None
        if main:
            (self.path / "checkpoints").mkdir(parents=True, exist_ok=True)
            self._log = open(self.path / "log.txt", "a", buffering=1)
            self._metrics = open(self.path / "metrics.jsonl", "a", buffering=1)

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    def log(self, message: str, echo: bool = True) -> None:
        """A line in log.txt (with a timestamp) and, with ``echo``, on stderr."""
        if not self.main:
            return
        self._log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
        if self.echo and echo:
            print(message, file=sys.stderr, flush=True)

    def record(self, phase: str, step: int, scalars: Mapping[str, float],
               extra: Mapping[str, Any] | None = None) -> None:
        """One metrics.jsonl line; every finite scalar also goes to TensorBoard as ``phase/name``."""
        if not self.main:
            return
        row = {"phase": phase, "step": step, **{k: _number(v) for k, v in scalars.items()}, **(extra or {})}
        self._metrics.write(json.dumps(row, default=_json_default) + "\n")
        tb = self.tb()
        for name, value in scalars.items():
            value = _number(value)
            if isinstance(value, (int, float)) and math.isfinite(value):
                tb.add_scalar(f"{phase}/{name}", value, step)

    def histogram(self, tag: str, values: torch.Tensor, step: int, bins: Any = "auto") -> None:
        if self.main:
            self.tb().add_histogram(tag, values, step, bins=bins)

    def tb(self):
        from torch.utils.tensorboard import SummaryWriter  # slow import: only when used

        if self._tb is None:
            self._tb = SummaryWriter(str(self.path / "tb"))
        return self._tb

    def write_text(self, name: str, text: str) -> None:
        if self.main:
            write_text_atomic(self.path / name, text)

    def write_json(self, name: str, data: Any) -> None:
        if self.main:
            write_json(self.path / name, data)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        for f in (self._log, self._metrics):
            if f is not None:
                f.close()
        self._log = self._metrics = None


def _number(v: Any) -> Any:
    if torch.is_tensor(v):
        return v.item() if v.numel() == 1 else v.tolist()
    return v
