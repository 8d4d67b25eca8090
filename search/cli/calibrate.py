"""``python -m search calibrate``: measure this CPU and write its ``host_cpu`` target (to a cache, not the repo)."""
from __future__ import annotations

import argparse
from pathlib import Path

from cost_models.calibrate import calibrate, check_writable, fit_error, write_target
from cost_models.target import calibrated_path
from search.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the target yaml (default: this machine's cache, "
                             "$COSEARCH_CACHE/targets/host_cpu.yaml or ~/.cache/cosearch/targets/host_cpu.yaml, "
                             "which load_target('host_cpu') then reads)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads to calibrate for (default: torch's current number)")
    parser.epilog = "example: python -m search calibrate --threads 1 --out /tmp/host_cpu.yaml"


def main(args: argparse.Namespace) -> int:
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be a positive integer, got {args.threads}")
    out = args.out if args.out is not None else calibrated_path("host_cpu")
    try:
        check_writable(out)  # before the benchmark: a bad --out fails at once
    except (OSError, ValueError) as err:
        raise UserError(f"--out {out}: {err}" if args.out is not None else f"cannot write {out}: {err}") from None
    cal = calibrate(threads=args.threads)
    command = f"python -m search calibrate --threads {cal.threads}" + (f" --out {args.out}" if args.out else "")
    path, t = write_target(cal, out, command), cal.target
    print(f"peak {t.peak_macs_per_s / 1e9:.1f} GMAC/s, utilization {t.utilization:.2f}, "
          f"intensity_half {t.intensity_half:.1f}, element-wise {t.vector_ops_per_s / 1e9:.1f} Gop/s, "
          f"DRAM {t.dram_bandwidth / 1e9:.1f} GB/s, per layer {t.per_layer_overhead_s * 1e6:.1f} us, "
          f"conv fit error {100 * fit_error(cal):.0f} % ({cal.threads} thread(s), {cal.seconds:.1f} s)")
    print(f"wrote {path}" + ("" if args.out is not None else " (load_target('host_cpu') now reads it)"))
    return 0
