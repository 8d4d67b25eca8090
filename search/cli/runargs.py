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
import sys
from pathlib import Path
from typing import Any, Callable

from search.config import DEFAULT_CONFIG, Config, load_config
from search.engine.distributed import broadcast_object, is_main_process, setup
from search.engine.interrupt import Interrupted
from search.errors import UserError
from search.report.rundir import default_run_dir


def add_run_arguments(parser: argparse.ArgumentParser, config_required: bool = False) -> None:
    what = "CONFIG" if config_required else "[CONFIG]"
    parser.add_argument("args", nargs="*", metavar=f"{what} [key=value]",
                        help="a YAML config (default: experiments/configs/quick.yaml) and key=value overrides "
                             "of any config field, e.g. search.lambda_inf=0.5")
    parser.add_argument("--out", type=Path, default=None, help="run directory (default: runs/<timestamp>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run in --out from its last checkpoint")


def split_config_args(items: list[str]) -> tuple[str | None, list[str]]:
    configs = [a for a in items if "=" not in a]
    if len(configs) > 1:
        raise UserError(f"expected one config file, got {', '.join(configs)}; overrides are written key=value")
    return (configs[0] if configs else None), [a for a in items if "=" in a]


def resolve_run(args: argparse.Namespace, config_required: bool = False) -> tuple[Config, Path]:
    """The config (file + overrides; on --resume, the run's own config.yaml by default) and the run dir."""
    path, overrides = split_config_args(args.args)
    if args.resume and args.out is None:
        raise UserError("--resume needs --out RUN_DIR, the run directory to continue")
    if path is None and args.resume:
        path = args.out / "config.yaml"
    if path is None and config_required:
        raise UserError("a config file is required, e.g. experiments/configs/quick.yaml")
    cfg = load_config(path or DEFAULT_CONFIG, overrides)
    env = setup(cfg.run.device)  # under torchrun, every rank must agree on the run directory
    out = args.out if args.out is not None else broadcast_object(default_run_dir() if env.is_main else None, env)
    if env.is_main:
        print(f"run directory: {out}", flush=True)
    return cfg, Path(out)


def launch(cfg: Config, out: Path, resume: bool, stages: tuple[str, ...], message: str,
           initial: Callable[[Any], dict] | None = None) -> int:
    """Run the pipeline's ``stages``; print ``message`` when done. Exit code 130 when interrupted."""
    from search.pipeline import run_pipeline  # noqa: PLC0415 (imports torch-heavy modules)

    try:
        run_pipeline(cfg, out, resume=resume, stages=stages, initial=initial)
    except Interrupted as err:
        if is_main_process():
            print(err, file=sys.stderr)
        return 130
    if is_main_process():
        print(message)
    return 0
