"""``python -m search compare RUN_DIR ... --out DIR``: one table and Pareto plots over several runs."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from search.errors import UserError
from search.report.plots import pareto_plot
from search.report.report import markdown_table, relative_table
from search.report.rundir import write_json, write_text_atomic


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR", help="run directories with report.json")
    parser.add_argument("--out", type=Path, required=True, help="where to write compare.md, compare.json and the plots")
    parser.epilog = "example: python -m search compare runs/lam01 runs/lam05 runs/u05 --out runs/compare"


def collect(run_dirs: list[Path]) -> list[dict[str, Any]]:
    """Every run of every report.json, labelled ``<dir>/<name>`` (or the bare name for one dir)."""
    runs = []
    for d in run_dirs:
        path = d / "report.json"
        if not path.is_file():
            raise UserError(f"{d} has no report.json (is it a finished run directory?)")
        try:
            report = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise UserError(f"{path}: not valid JSON: {err}") from None
        if not isinstance(report, dict) or not isinstance(report.get("runs"), list):
            raise UserError(f"{path}: expected a cosearch report with a 'runs' list")
        for run in report["runs"]:
            label = run["name"] if len(run_dirs) == 1 else f"{d.name}/{run['name']}"
            runs.append({**run, "label": label, "run_dir": str(d)})
    return runs


def main(args: argparse.Namespace) -> int:
    runs = collect(args.run_dirs)
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(runs)
    relative = relative_table(runs)
    if relative:
        table += "\n\n" + relative
    write_text_atomic(args.out / "compare.md", "# cosearch comparison\n\n" + table + "\n\n"
                      "![inference](pareto.png)\n\n![training](pareto_training.png)\n")
    write_json(args.out / "compare.json", {"runs": runs})
    pareto_plot(runs, args.out / "pareto.png", key="inference")
    pareto_plot(runs, args.out / "pareto_training.png", key="training")
    print(table)
    print(f"wrote {args.out / 'compare.md'}, {args.out / 'pareto.png'}, {args.out / 'pareto_training.png'}")
    return 0
