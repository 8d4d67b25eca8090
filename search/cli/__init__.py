"""``python -m search COMMAND`` (also the ``cosearch`` console script).

One module per command in this folder, imported only when that command is chosen: each defines
``add_arguments(parser)`` and ``main(args) -> int``. ``COMMANDS`` holds the one-line help of
each, in the order of ``--help``.

>>> parse_args(["targets"]).command
'targets'
"""
from __future__ import annotations

import argparse
import importlib
import sys

from search.errors import UserError

COMMANDS = {
    "run": 'the whole pipeline: co-search, derive, retrain, evaluate, cost on every target, report',
    "search": 'co-search only: writes arch.json and checkpoints/search.pt (then: derive, or run --resume to retrain)',
    "derive": "derive the slim network of RUN_DIR/arch.json from the searched supernet: arch.json, derived.pt/.pt2/.onnx",
    "train": 'train a fixed network (an arch.json or a named baseline) with fresh weights, evaluate, cost, report; network_only and data_only run their own co-search first',
    "eval": 'evaluate RUN_DIR/derived.pt on a split at full-resolution labels (writes RUN_DIR/eval.json)',
    "compare": 'compare runs: a markdown table and Pareto plots (mIoU against inference and training energy)',
    "sweep": 'sweep search.lambda_inf (one run per value) and train uniform-width baselines: front vs curve',
    "cost": 'cost of an arch.json or a baseline network on a hardware target (MACs, DRAM, energy, latency)',
    "targets": 'list the hardware targets: kind, precision, peak, DRAM bandwidth, on-chip buffer, source file',
    "measure": "measure the latency of derived.pt2 / derived.onnx (or a run's) and compare it with the cost model",
    "calibrate": 'calibrate the host_cpu target by a few-second micro-benchmark of torch on this CPU',
    "config": 'print the resolved config (a file or a run directory, defaults filled in, key=value applied) as YAML',
}


def _command_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=COMMANDS[name], description=COMMANDS[name],
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse ``argv``; only the chosen command's module is imported. Options and positionals may
    be mixed after the command (``run cfg.yaml --out d key=v``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m search",
                                     description="cosearch: data-network co-search for efficient segmentation")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if not argv or argv[0] not in COMMANDS:
        for name in COMMANDS:
            _command_parser(sub, name)
        return parser.parse_args(argv)
    name = argv[0]
    module = importlib.import_module(f"search.cli.{name}")
    cmd = _command_parser(sub, name)
    module.add_arguments(cmd)
    cmd.set_defaults(func=module.main, command=name)
    return cmd.parse_intermixed_args(argv[1:])


def _input_errors() -> tuple[type[Exception], ...]:
    """The project's own bad-input errors; any other exception is a bug and keeps its traceback."""
    from cost_models.graph import ProfileError
    from cost_models.target import TargetError
    from cost_models.units import UnitError
    from search.data.base import DataError
    from supernet.space import ArchError

    return (TargetError, UnitError, ProfileError, DataError, ArchError)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, FileNotFoundError, *_input_errors()) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
