"""``python -m search calibrate``: measure this CPU and write the ``host_cpu`` target."""
from __future__ import annotations

import argparse
from pathlib import Path

from cost_models.calibrate import calibrate, fit_error, write_target
from search.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the target yaml (default: cost_models/targets/host_cpu.yaml)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads to calibrate for (default: torch's current number)")
    parser.epilog = "example: python -m search calibrate --threads 1 --out /tmp/host_cpu.yaml"


def main(args: argparse.Namespace) -> int:
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be a positive integer, got {args.threads}")
    if args.out is not None and args.out.suffix not in (".yaml", ".yml"):
        raise UserError(f"--out {args.out}: expected a .yaml file")
    cal = calibrate(threads=args.threads)
    path, t = write_target(cal, args.out), cal.target
    print(f"peak {t.peak_macs_per_s / 1e9:.1f} GMAC/s, utilization {t.utilization:.2f}, "
          f"intensity_half {t.intensity_half:.1f}, element-wise {t.vector_ops_per_s / 1e9:.1f} Gop/s, "
          f"DRAM {t.dram_bandwidth / 1e9:.1f} GB/s, per layer {t.per_layer_overhead_s * 1e6:.1f} us, "
          f"conv fit error {100 * fit_error(cal):.0f} % ({cal.threads} thread(s), {cal.seconds:.1f} s)")
    print(f"wrote {path}")
    return 0
