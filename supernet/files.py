"""Atomic file writes: a reader sees the old file or the new one, never half of one.

>>> import tempfile; from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "arch.json"
>>> atomic_write(path, lambda tmp: tmp.write_text("{}"))
>>> path.read_text()
'{}'
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, flush it to disk, rename it over ``path``.

    The temporary name keeps the suffix (``.derived.tmp.pt2``) so writers that check it are happy.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
