"""``python -m search search CONFIG``: the co-search only; writes arch.json and the supernet checkpoint."""
from __future__ import annotations

import argparse
import sys

from ..distributed import is_main_process
from ..interrupt import Interrupted
from ..pipeline import SEARCH_CHECKPOINT, STAGES, run_pipeline
from ..runargs import add_run_arguments, resolve_run

HELP = "co-search only: writes arch.json and checkpoints/search.pt (then: derive, or run --resume to retrain)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, config_required=True)
    parser.epilog = "example: python -m search search experiments/configs/quick.yaml model.family=pspnet --out runs/psp"


def main(args: argparse.Namespace) -> int:
    cfg, out = resolve_run(args, config_required=True)
    try:
        run_pipeline(cfg, out, resume=args.resume, stages=STAGES["search"])
    except Interrupted as err:
        print(err, file=sys.stderr)
        return 130
    if is_main_process():
        print(f"arch: {out / 'arch.json'}  supernet: {out / SEARCH_CHECKPOINT}")
    return 0
