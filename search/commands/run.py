"""``python -m search run``: co-search, derive, retrain, evaluate, cost and report in one go."""
from __future__ import annotations

import argparse
import sys

from ..distributed import is_main_process
from ..interrupt import Interrupted
from ..pipeline import run_pipeline
from ..runargs import add_run_arguments, resolve_run

HELP = "the whole pipeline: co-search, derive, retrain, evaluate, cost on every target, report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.epilog = ("example: python -m search run experiments/configs/quick.yaml search.lambda_inf=0.5 "
                     "--out runs/lam05   (Ctrl-C saves a checkpoint; continue with --resume --out runs/lam05)")


def main(args: argparse.Namespace) -> int:
    cfg, out = resolve_run(args)
    try:
        run_pipeline(cfg, out, resume=args.resume)
    except Interrupted as err:
        print(err, file=sys.stderr)
        return 130
    if is_main_process():
        print(f"report: {out / 'report.md'}")
    return 0
