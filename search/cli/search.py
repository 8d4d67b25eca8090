"""``python -m search search CONFIG``: the co-search only; writes arch.json and the supernet checkpoint."""
from __future__ import annotations

import argparse

from search.cli.runargs import add_run_arguments, launch, resolve_run
from search.pipeline import SEARCH_CHECKPOINT, STAGES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, config_required=True)
    parser.epilog = "example: python -m search search experiments/configs/quick.yaml model.family=pspnet --out runs/psp"


def main(args: argparse.Namespace) -> int:
    cfg, out = resolve_run(args, config_required=True)
    return launch(cfg, out, args.resume, STAGES["search"],
                  f"arch: {out / 'arch.json'}  supernet: {out / SEARCH_CHECKPOINT}")
