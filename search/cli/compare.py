"""``python -m search compare RUN_DIR ... --out DIR [--reference RUN]``: tables and Pareto plots over runs.

Runs of different settings (dataset, classes, input size) go to separate sections; runs that
differ only in their seed are one row, mean ± std (see :mod:`search.report.compare`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from search.report.compare import compare
from search.report.plots import pareto_plot
from search.report.report import (
    METRICS,
    cost_metric_of,
    cost_target_lines,
    markdown_table,
    relative_lines,
    warning_lines,
)
from search.report.rundir import write_json, write_text_atomic


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR", help="run directories with report.json")
    parser.add_argument("--out", type=Path, required=True, help="where to write compare.md, compare.json and the plots")
    parser.add_argument("--reference", metavar="RUN", default=None,
                        help="what every run is compared with: a run directory (its only run, or its run named "
                             "full) or a row label of the table (default: the run named full, in the run's own "
                             "directory when it has one)")
    parser.add_argument("--metric", choices=list(METRICS), default=None,
                        help="the cost on the plots' x axis and, beside energy, in the change table (default: "
                             "the runs' search.cost_metric)")
    parser.epilog = ("examples:\n  python -m search compare runs/lam01 runs/lam05 runs/u05 --out runs/compare\n"
                     "  python -m search compare runs/s0 runs/s1 runs/s2 --reference runs/full --out runs/cmp")


def _suffix(i: int) -> str:
    return "" if i == 0 else f"_{i + 1}"


def main(args: argparse.Namespace) -> int:
    result = compare(args.run_dirs, args.reference)
    metric = args.metric or cost_metric_of(result["runs"])
    metrics = ["energy_j"] + ([metric] if metric != "energy_j" else [])
    args.out.mkdir(parents=True, exist_ok=True)
    md = ["# cosearch comparison", ""]
    md += [f"Note: {n}." for n in result["notes"]] + ([""] if result["notes"] else [])
    printed, written, settings = [], [], []
    for i, group in enumerate(result["settings"]):
        rows, pairs = group["rows"], group["pairs"]
        if len(result["settings"]) > 1:
            md += [f"## Setting {i + 1}: {group['description']}", ""]
        table = markdown_table(rows)
        refs = {id(ref): ref for _, ref in pairs}
        if pairs:
            if len(refs) == 1:
                ref = next(iter(refs.values()))
                table += "\n\n" + relative_lines(pairs, ref.get("label", ref["name"]), metrics)
            else:
                table += "\n\n" + relative_lines(pairs, "reference", metrics, show_reference=True)
        warnings = warning_lines(rows)
        if warnings:
            table += "\n\nDegenerate results:\n\n" + "\n".join(warnings)
        targets = cost_target_lines(rows)
        if targets:
            table += "\n\nCost target:\n\n" + "\n".join(targets)
        names = (f"pareto{_suffix(i)}.png", f"pareto_training{_suffix(i)}.png")
        for name, key in zip(names, ("inference", "training")):
            written.append(pareto_plot(rows, args.out / name, key=key, metric=metric,
                                       title=group["description"] if len(result["settings"]) > 1 else None))
        md += [table, "", f"![inference]({names[0]})", "", f"![training]({names[1]})", ""]
        printed.append((f"{group['description']}:\n" if len(result["settings"]) > 1 else "") + table)
        settings.append({"setting": group["setting"], "description": group["description"], "rows": rows,
                         "references": {row.get("label", row["name"]): ref.get("label", ref["name"])
                                        for row, ref in pairs},
                         "plots": list(names)})
    write_text_atomic(args.out / "compare.md", "\n".join(md))
    write_json(args.out / "compare.json", {"runs": result["runs"], "settings": settings, "notes": result["notes"],
                                           "metric": metric})
    print("\n\n".join(printed))
    for note in result["notes"]:
        print(f"note: {note}")
    print(f"wrote {args.out / 'compare.md'}, " + ", ".join(str(p) for p in written))
    return 0
