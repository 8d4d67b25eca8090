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
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import torch

from search.errors import UserError
from supernet.files import atomic_write

CHECKPOINT = "checkpoints/last.pt"


def default_run_dir(root: str | Path = "runs", config: str | Path | None = None, family: str | None = None) -> Path:
    """``runs/<config-stem>-<family>-<timestamp>`` (parts left out when not given), with a suffix
    if that already exists.

    >>> default_run_dir("runs", "experiments/configs/quick.yaml", "pspnet").name[:13]
    'quick-pspnet-'
    """
    parts = [_safe(Path(config).stem) if config is not None else None, _safe(family) if family else None]
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / "-".join([p for p in parts if p] + [stamp])
    path, n = base, 1
    while path.exists():
        path, n = Path(f"{base}-{n}"), n + 1
    return path


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "_", str(text)).strip("_.") or "run"


def new_run_dir(root: str | Path = "runs", config: str | Path | None = None, family: str | None = None,
                latest: str | None = "latest") -> Path:
    """Create a fresh :func:`default_run_dir` (the name is taken even when another run starts in
    the same second) and point ``root/latest`` at it (see :func:`point_latest`)."""
    while True:
        path = default_run_dir(root, config, family)
        try:
            path.mkdir(parents=True)
            break
        except FileExistsError:  # another process took the name between the check and mkdir
            continue
    if latest:
        point_latest(path, Path(root) / latest)
    return path


def point_latest(run_dir: str | Path, link: str | Path) -> bool:
    """Make the symlink ``link`` point at ``run_dir`` (relative to the link's folder when inside
    it), atomically: a temporary symlink renamed over the old one, so ``link`` always resolves.
    False (and nothing changed) where ``link`` is a real file or folder, or symlinks are not
    supported.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()); (root / "a").mkdir(); (root / "b").mkdir()
    >>> point_latest(root / "a", root / "latest"), point_latest(root / "b", root / "latest")
    (True, True)
    >>> os.readlink(root / "latest")
    'b'
    """
    link, run_dir = Path(link), Path(run_dir)
    if link.exists() and not link.is_symlink():
        return False
    target = os.path.relpath(run_dir, link.parent) if run_dir.is_absolute() == link.is_absolute() else run_dir
    tmp = link.parent / f".{link.name}.{os.getpid()}.tmp"
    try:
        if tmp.is_symlink():
            tmp.unlink()
        os.symlink(target, tmp, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:
        if tmp.is_symlink():
            tmp.unlink()
        return False
    return True


def write_text_atomic(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def read_json(path: Path, missing: str | None = None) -> dict[str, Any]:
    """A JSON object from ``path``, or a one-line :class:`~search.errors.UserError` naming the file
    (``missing``: the message when it does not exist)."""
    if not Path(path).is_file():
        raise UserError(missing or f"{path}: no such file")
    try:
        data = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object")
    return data


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
            self._recorded = _clean_metrics(self.path / "metrics.jsonl")
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
        """One metrics.jsonl line; every finite scalar also goes to TensorBoard as ``phase/name``.

        A ``(phase, step)`` already in the file (a resumed run replaying the steps after its last
        checkpoint) is not written again."""
        if not self.main or (phase, step) in self._recorded:
            return
        self._recorded.add((phase, step))
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


def _clean_metrics(path: Path) -> set[tuple[str, int]]:
    """The ``(phase, step)`` keys in ``path``; a torn last line (a killed writer's) is cut off."""
    if not path.exists():
        return set()
    keys, good, text = set(), [], path.read_text()
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        keys.add((row.get("phase"), row.get("step")))
        good.append(line)
    clean = "".join(line + "\n" for line in good)
    if clean != text:
        write_text_atomic(path, clean)
    return keys


def _number(v: Any) -> Any:
    if torch.is_tensor(v):
        return v.item() if v.numel() == 1 else v.tolist()
    return v
