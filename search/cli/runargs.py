"""Arguments shared by the commands that start or resume a run (run, search, train).

``python -m search run [CONFIG] [key=value ...] [--out DIR] [--resume]``: the config file is
the one positional argument without ``=``; every ``key=value`` overrides a config field.

>>> split_config_args(["my.yaml", "search.lambda_inf=0.5"])
('my.yaml', ['search.lambda_inf=0.5'])
>>> split_config_args(["search.steps=3"])
(None, ['search.steps=3'])
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from search.config import DEFAULT_CONFIG, Config, load_config
from search.engine.distributed import broadcast_object, is_main_process, setup
from search.engine.interrupt import Interrupted
from search.errors import UserError
from search.pipeline import run_pipeline
from search.report.report import cost_metric_of, saving_summary, warning_lines
from search.report.rundir import new_run_dir

RUNS_ROOT = Path("runs")  # default run directories, relative to where the command runs


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("args", nargs="*", metavar="[CONFIG] [key=value]",
                        help="a YAML config (default: experiments/configs/quick.yaml; with --resume, the run's own "
                             "config.yaml) and key=value overrides of any config field, e.g. search.lambda_inf=0.5")
    parser.add_argument("--out", type=Path, default=None,
                        help="run directory (default: runs/<config-stem>-<family>-<timestamp>, and runs/latest "
                             "points at it)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run in --out from its last checkpoint")


def split_config_args(items: list[str]) -> tuple[str | None, list[str]]:
    configs = [a for a in items if "=" not in a]
    if len(configs) > 1:
        raise UserError(f"expected one config file, got {', '.join(configs)}; overrides are written key=value")
    return (configs[0] if configs else None), [a for a in items if "=" in a]


def resolve_run(args: argparse.Namespace) -> tuple[Config, Path]:
    """The config (file + overrides; default quick.yaml, on --resume the run's own config.yaml)
    and the run dir (default: a new ``runs/<config-stem>-<family>-<timestamp>``, ``runs/latest``
    pointing at it)."""
    path, overrides = split_config_args(args.args)
    if args.resume and args.out is None:
        raise UserError("--resume needs --out RUN_DIR, the run directory to continue")
    if path is None and args.resume and (args.out / "config.yaml").exists():
        path = args.out / "config.yaml"  # (a run killed while starting has none: it starts afresh)
    path = path or DEFAULT_CONFIG
    cfg = load_config(path, overrides)
    env = setup(cfg.run.device)  # under torchrun, every rank must agree on the run directory
    out = args.out if args.out is not None else broadcast_object(
        new_run_dir(RUNS_ROOT, path, cfg.model.family) if env.is_main else None, env)
    if env.is_main:
        print(f"run directory: {out}", flush=True)
    return cfg, Path(out)


def launch(cfg: Config, out: Path, resume: bool, stages: tuple[str, ...], message: str,
           initial: Callable[[Any], dict] | None = None) -> int:
    """Run the pipeline's ``stages``; print ``message`` when done. Exit code 130 when interrupted."""
    try:
        run_pipeline(cfg, out, resume=resume, stages=stages, initial=initial)
    except Interrupted as err:
        if is_main_process():
            print(err, file=sys.stderr)
        return 130
    if is_main_process():
        print(message)
        if "final" in stages:
            line = saving_line(out / "report.json")
            if line:
                print(line)
            for warning in degenerate_lines(out / "report.json"):
                print(warning, file=sys.stderr)
    return 0


def degenerate_lines(report_path: Path) -> list[str]:
    """``WARNING <run>: <reason>`` for each degenerate run of the report (none when unreadable)."""
    try:
        report = json.loads(Path(report_path).read_text())
        return [line.removeprefix("* ") for line in warning_lines(report["runs"], report.get("class_names") or ())]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def saving_line(report_path: Path) -> str | None:
    """The derived network's saving against the full network, for the terminal: against the
    cost model's full network (``report["full_network"]``), else a trained ``full`` baseline;
    None when the report has neither."""
    try:
        report = json.loads(Path(report_path).read_text())
        runs = report["runs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    derived = next((r for r in runs if r.get("name") == "derived"), None)
    full = report.get("full_network")
    reference = "the full network (cost model)"
    if not full:
        full, reference = next((r for r in runs if r.get("name") == "full"), None), "the trained full network"
    if derived is None or not full:
        return None
    return saving_summary(derived, full, cost_metric_of(runs), reference=reference)
