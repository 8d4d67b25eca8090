"""``python -m search run``: co-search, derive, retrain, evaluate, cost and report in one go."""
from __future__ import annotations

import argparse

from search.cli.runargs import add_run_arguments, launch, resolve_run
from search.pipeline import STAGES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.epilog = ("example: python -m search run experiments/configs/quick.yaml search.lambda_inf=0.5 "
                     "--out runs/lam05\n(Ctrl-C or SIGTERM saves a checkpoint; continue with "
                     "--resume --out runs/lam05)")


def main(args: argparse.Namespace) -> int:
    cfg, out = resolve_run(args)
    return launch(cfg, out, args.resume, STAGES["run"], f"report: {out / 'report.md'}")
