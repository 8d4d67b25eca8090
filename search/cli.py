"""``python -m search COMMAND``: one module per command in ``search/commands/``.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``main(args) -> int``.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import UserError

# command name -> module under search.commands; the order is the order of --help
COMMANDS = ["run", "search", "derive", "train", "eval", "compare", "sweep", "cost", "targets", "calibrate", "measure"]


def _available() -> dict[str, object]:
    modules = {}
    for name in COMMANDS:
        try:
            modules[name] = importlib.import_module(f"search.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"search.commands.{name}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m search",
                                     description="cosearch: data-network co-search for efficient segmentation")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.commands = {}
    for name, module in _available().items():
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(func=module.main, command=name)
        parser.commands[name] = cmd
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Options and positionals may be mixed after the command (``run cfg.yaml --out d key=v``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if argv and argv[0] in parser.commands:
        return parser.commands[argv[0]].parse_intermixed_args(argv[1:])
    return parser.parse_args(argv)


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
