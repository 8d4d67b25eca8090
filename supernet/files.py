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

TMP_MARK = ".tmp-"


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, flush it to disk, rename it over ``path``.

    The temporary name is unique to the process and keeps the suffix (``.derived.tmp-1234.pt2``),
    so two writers never share one and writers that check the suffix are happy;
    :func:`remove_stale_temporaries` clears what a killed process left.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}{TMP_MARK}{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files :func:`atomic_write` left under ``folder`` (a killed writer's);
    call it only while no other process writes there. Returns what was removed."""
    stale = [p for p in Path(folder).rglob(f".*{TMP_MARK}*") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
