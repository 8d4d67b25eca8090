"""``python -m search targets``: every hardware target of ``cost_models/targets/`` in one table."""
from __future__ import annotations

import argparse
from pathlib import Path

import cost_models
from cost_models.table import _si


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "example: python -m search targets"


def rows() -> list[list[str]]:
    """One row per built-in target, as text."""
    out = []
    for name in cost_models.list_targets():
        t = cost_models.load_target(name)
        out.append([t.name, t.kind, t.precision, _si(t.peak_macs_per_s, "MAC/s"),
                    f"{t.utilization:.2f}", _si(t.dram_bandwidth, "B/s"), _si(t.onchip_buffer_bytes, "B"),
                    str(Path(t.source).relative_to(Path.cwd()) if Path(t.source).is_relative_to(Path.cwd())
                        else t.source)])
    return out


def main(args: argparse.Namespace) -> int:
    header = ["target", "kind", "precision", "peak", "utilization", "DRAM bandwidth", "on-chip buffer", "source"]
    table = [header, *rows()]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0
