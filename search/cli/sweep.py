"""``python -m search sweep CONFIG --values 0.01,0.1,1 --out DIR``: lambda_inf sweep against uniform widths."""
from __future__ import annotations

import argparse
from pathlib import Path

from search.cli.runargs import split_config_args
from search.config import load_config
from search.errors import UserError


def _floats(text: str, what: str, low: float = 0.0, high: float = float("inf")) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{what}: expected comma-separated numbers, got {text!r}") from None
    if not values or any(not low <= v <= high for v in values):
        raise UserError(f"{what}: expected numbers in [{low}, {high}], got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("args", nargs="+", metavar="CONFIG [key=value]", help="a YAML config and overrides")
    parser.add_argument("--values", required=True, help="lambda_inf values, comma-separated, e.g. 0.01,0.1,1")
    parser.add_argument("--widths", default="0.25,0.5,0.75,1.0",
                        help="width multipliers of the uniform curve (default 0.25,0.5,0.75,1.0)")
    parser.add_argument("--out", type=Path, required=True, help="sweep directory (sub-runs are resumed)")
    parser.epilog = ("example: python -m search sweep experiments/configs/quick.yaml --values 0.1,0.5,2 "
                     "--out runs/sweep\nwrites sweep.md, sweep.json, sweep.png in --out")


def main(args: argparse.Namespace) -> int:
    path, overrides = split_config_args(args.args)
    if path is None:
        raise UserError("a config file is required, e.g. experiments/configs/quick.yaml")
    cfg = load_config(path, overrides)
    values = _floats(args.values, "--values")
    widths = _floats(args.widths, "--widths", 1e-9, 1.0)
    from search.baselines.sweep import run_sweep  # noqa: PLC0415 (torch-heavy)

    result = run_sweep(cfg, args.out, values, widths)
    for target, check in result["dominance"].items():
        print(f"{target}: front dominates the uniform curve: {check['dominates']} "
              f"({check['dominated']} of {check['compared']} comparable points)")
    print(f"wrote {args.out / 'sweep.md'}, {args.out / 'sweep.png'}")
    return 0
