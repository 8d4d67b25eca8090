"""``python -m search train CONFIG (--arch ARCH_JSON | --baseline NAME)``: train and report a fixed network."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import supernet
from search.baselines.plan import SEARCHED, arch_macs, plan_baseline
from search.cli.runargs import add_run_arguments, launch, resolve_run
from search.config import check_baseline_name
from search.errors import UserError
from search.pipeline import STAGES
from search.train.phase import initial_train_state

BASELINES = {"full": "width 1.0, every branch, scale 1.0",
             "uniform[:W]": "every width times W; without W, matched to --match's inference MACs by bisection",
             "resolution[:S]": "the full network, trained and run at input scale S; without S, matched to --match",
             "random[:SEED]": "a random arch at a random scale; without SEED, the nearest of 32 to --match in MACs",
             "network_only": "co-search without data gates and resolution search, then train",
             "data_only": "co-search of the data side only (gates, resolution) with the full network, then train"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, config_required=True)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--arch", type=Path, help="an arch.json (e.g. RUN_DIR/arch.json of a search)")
    which.add_argument("--baseline", metavar="NAME",
                       help="; ".join(f"{k}: {v}" for k, v in BASELINES.items()))
    parser.add_argument("--match", type=Path, default=None, metavar="ARCH_JSON",
                        help="uniform, resolution, random: match this arch's inference MACs (e.g. RUN_DIR/arch.json)")
    parser.add_argument("--gates", type=Path, default=None,
                        help="train with the data gate learned in this arch.json (data.train_gate); by default "
                             "--arch uses its own gate when it has one and train.data_gates is true")
    parser.epilog = ("examples:\n  python -m search train experiments/configs/quick.yaml --baseline uniform:0.5 "
                     "--out runs/u05\n  python -m search train experiments/configs/quick.yaml "
                     "--arch runs/lam05/arch.json --out runs/lam05-fresh")


def main(args: argparse.Namespace) -> int:
    cfg, out = resolve_run(args, config_required=True)
    if args.baseline:
        kind, _ = check_baseline_name(args.baseline, "--baseline")
        if kind in SEARCHED:  # a co-search of its own, then the same training
            plan = plan_baseline(args.baseline, cfg, num_classes=0, size=(1, 1))
            return launch(plan.config, out, args.resume, STAGES["run"], f"report: {out / 'report.md'}")
    name = "derived" if args.arch else args.baseline.partition(":")[0]

    def initial(splits) -> dict[str, Any]:
        if args.arch:
            arch = supernet.load_arch(args.arch)
        else:
            size = tuple(cfg.cost.input_size or splits.test_size)
            ref = arch_macs(supernet.load_arch(args.match), size, cfg.cost.targets[0]) if args.match else None
            arch = plan_baseline(args.baseline, cfg, splits.num_classes, size, ref).arch
        if arch["num_classes"] != splits.num_classes:
            raise UserError(f"the arch has {arch['num_classes']} classes, the dataset {splits.num_classes}")
        gate_source = supernet.load_arch(args.gates) if args.gates else arch
        gate = (gate_source.get("data") or {}).get("train_gate") if cfg.train.data_gates else None
        if args.gates and gate is None:
            raise UserError(f"{args.gates} has no learned data gate (data.train_gate)")
        return initial_train_state(arch, name, gate, splits, cfg.run.seed)

    return launch(cfg, out, args.resume, STAGES["train"], f"report: {out / 'report.md'}", initial)
