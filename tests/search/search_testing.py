"""Helpers for the tests of the search engine: the tiny config and in-process CLI calls."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

from search.cli import main
from search.config import Config, load_config

TINY = Path(__file__).parent / "tiny.yaml"


def tiny_config(cache_dir: Path, *overrides: str) -> Config:
    """The tiny test config, with its feature cache in ``cache_dir``."""
    return load_config(TINY, [f"data.cache_dir={cache_dir}", *overrides])


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``python -m search ARGV`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()
