"""``python -m search train CONFIG (--arch ARCH_JSON | --baseline NAME)``: train and report a fixed network."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import supernet

from ..cli import UserError
from ..config import Config
from ..pipeline import STAGES, initial_train_state
from ..runargs import add_run_arguments, launch, resolve_run

HELP = "train a fixed network (an arch.json or a named baseline) with fresh weights, evaluate, cost, report"
BASELINES = {"full": "width 1.0, every branch, scale 1.0",
             "uniform[:W]": "every width times W (default 0.5), every branch",
             "resolution[:S]": "the full network, trained and run at input scale S (default 0.5)",
             "random[:SEED]": "a random arch of the space (seed default run.seed)"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, config_required=True)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--arch", type=Path, help="an arch.json (e.g. RUN_DIR/arch.json of a search)")
    which.add_argument("--baseline", metavar="NAME",
                       help="; ".join(f"{k}: {v}" for k, v in BASELINES.items()))
    parser.add_argument("--gates", type=Path, default=None,
                        help="train with the data gate learned in this arch.json (data.train_gate); by default "
                             "--arch uses its own gate when it has one and train.data_gates is true")
    parser.epilog = ("examples:\n  python -m search train experiments/configs/quick.yaml --baseline uniform:0.5 "
                     "--out runs/u05\n  python -m search train experiments/configs/quick.yaml "
                     "--arch runs/lam05/arch.json --out runs/lam05-fresh")


def baseline(name: str, cfg: Config, num_classes: int) -> dict[str, Any]:
    """The arch dict of a named baseline (see :data:`BASELINES`)."""
    kind, _, param = name.partition(":")
    family, space = cfg.model.family, cfg.model.space
    try:
        value = float(param) if param else None
    except ValueError:
        raise UserError(f"baseline {name!r}: {param!r} is not a number") from None
    if kind == "full" and value is None:
        return supernet.baseline_arch(family, num_classes, **space)
    if kind == "uniform":
        return supernet.baseline_arch(family, num_classes, width_mult=value or 0.5, **space)
    if kind == "resolution":
        return supernet.baseline_arch(family, num_classes, inference_scale=value or 0.5, **space)
    if kind == "random":
        arch = supernet.random_arch(family, num_classes, int(value if value is not None else cfg.run.seed), **space)
        return arch
    raise UserError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINES)}")


def main(args: argparse.Namespace) -> int:
    cfg, out = resolve_run(args, config_required=True)
    name = "derived" if args.arch else args.baseline.partition(":")[0]

    def initial(splits) -> dict[str, Any]:
        arch = supernet.load_arch(args.arch) if args.arch else baseline(args.baseline, cfg, splits.num_classes)
        if arch["num_classes"] != splits.num_classes:
            raise UserError(f"the arch has {arch['num_classes']} classes, the dataset {splits.num_classes}")
        gate_source = supernet.load_arch(args.gates) if args.gates else arch
        gate = (gate_source.get("data") or {}).get("train_gate") if cfg.train.data_gates else None
        if args.gates and gate is None:
            raise UserError(f"{args.gates} has no learned data gate (data.train_gate)")
        return initial_train_state(arch, name, gate, splits, cfg.run.seed)

    return launch(cfg, out, args.resume, STAGES["train"], f"report: {out / 'report.md'}", initial)
