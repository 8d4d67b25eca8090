"""``python -m search config [CONFIG | RUN_DIR] [key=value ...]``: print the resolved config as YAML.

What ``run`` would use: every field, defaults filled in, overrides applied and checked (unknown
keys and wrong types are the same errors as ``run`` gives). A run directory stands for its own
``config.yaml``; ``--changed`` prints only the fields that differ from the defaults.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from search.cli.runargs import split_config_args
from search.config import (
    DEFAULT_CONFIG,
    Config,
    diff_configs,
    dump_yaml,
    flatten,
    load_config,
    to_dict,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("args", nargs="*", metavar="[CONFIG | RUN_DIR] [key=value]",
                        help="a YAML config (default: experiments/configs/quick.yaml) or a run directory (its "
                             "config.yaml), and key=value overrides")
    parser.add_argument("--changed", action="store_true",
                        help="only the fields whose value differs from the built-in defaults (search/config.py)")
    parser.epilog = ("examples:\n  python -m search config\n"
                     "  python -m search config experiments/configs/quick.yaml search.lambda_inf=0.5\n"
                     "  python -m search config runs/latest --changed")


def main(args: argparse.Namespace) -> int:
    path, overrides = split_config_args(args.args)
    if path is not None and Path(path).is_dir():
        path = Path(path) / "config.yaml"
    cfg = load_config(path or DEFAULT_CONFIG, overrides)
    print(f"# {path or DEFAULT_CONFIG}" + (f" with {' '.join(overrides)}" if overrides else ""))
    if not args.changed:
        print(dump_yaml(cfg), end="")
        return 0
    flat = flatten(to_dict(cfg))
    changed: dict[str, dict] = {}
    for key in diff_configs(to_dict(cfg), to_dict(Config())):
        section, _, name = key.partition(".")
        if name:
            changed.setdefault(section, {})[name] = flat[key]
        else:
            changed[section] = flat[key]
    print(dump_yaml(changed) if changed else "{}\n", end="")
    return 0
