"""``python -m search measure``: measured latency of a derived network beside the cost model's prediction."""
from __future__ import annotations

import argparse
from pathlib import Path

from search.cli.cost import parse_input
from search.errors import UserError
from search.evaluate.measure import RUNTIMES, Protocol, measure, record


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, metavar="RUN_DIR|derived.pt2|derived.onnx",
                        help="a run directory (its derived.pt2, or derived.onnx with --runtime onnxruntime), "
                             "or an exported file (.pt2, .onnx, or the eager derived.pt)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--runtime", choices=RUNTIMES, default=None,
                        help="torch or onnxruntime (default: from the file; torch for a run directory)")
    parser.add_argument("--batch", type=int, default=1, help="images per run (default 1)")
    parser.add_argument("--input", default=None,
                        help="image size CxHxW (default: the input contract's native size)")
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads (default 1: timed by the thread's CPU time, as host_cpu's calibration)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs (default 20)")
    parser.add_argument("--target", default=None,
                        help="cost-model target to compare with (default host_cpu; a100 with --device cuda)")
    parser.add_argument("--write", action="store_true",
                        help="append the result to RUN_DIR/report.json under 'measurements'")
    parser.epilog = ("examples: python -m search measure runs/psp\n"
                     "          python -m search measure runs/psp/derived.onnx --input 3x256x512 --write")


def main(args: argparse.Namespace) -> int:
    size = None
    if args.input is not None:
        c, h, w = parse_input(args.input)
        if c != 3:
            raise UserError(f"--input {args.input!r}: the networks take 3 channels")
        size = (h, w)
    if args.device not in ("cpu", "cuda") and not args.device.startswith("cuda:"):
        raise UserError(f"--device {args.device!r}: expected cpu or cuda")
    protocol = Protocol(device=args.device, runtime=args.runtime, batch=args.batch, size=size, threads=args.threads,
                        warmup=args.warmup, repeats=args.repeats)
    result = measure(args.source, protocol, args.target)
    print(result.describe())
    if args.write:
        run_dir = args.source if args.source.is_dir() else args.source.parent
        print(f"recorded in {record(run_dir, result)}")
    return 0
