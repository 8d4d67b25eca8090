"""report.json (DESIGN.md §4) and its human twin report.md.

>>> run = run_entry("derived", {"miou": 0.5, "iou": [0.4, 0.6]}, {"jetson_tx2": {"energy_j": 1.0}},
...                 {"jetson_tx2": {"energy_j": 9.0}}, wall_s=3.0)
>>> run["training"]["wall_s"], run["inference"]["jetson_tx2"]["energy_j"]
(3.0, 1.0)
>>> "| derived |" in markdown_table([run])
True
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

FORMAT, VERSION = "cosearch-report", 1
# columns of the tables: (cost key, header, unit scale, format)
COLUMNS = (("macs", "MMACs", 1e-6, "{:.2f}"), ("energy_j", "energy mJ", 1e3, "{:.3f}"),
           ("latency_s", "latency ms", 1e3, "{:.3f}"), ("dram_bytes", "DRAM MB", 1e-6, "{:.2f}"))


def run_entry(name: str, metrics: Mapping[str, Any], inference: Mapping[str, Mapping[str, float]],
              training: Mapping[str, Mapping[str, float]], wall_s: float,
              wall_phases: Mapping[str, float] | None = None, **extra: Any) -> dict[str, Any]:
    """One element of ``report["runs"]``. ``training[target]`` and ``wall_s`` are totals over the
    phases that produced the network (per phase under ``training[target]["phases"]`` and
    ``training["wall_phases"]``)."""
    train = {**training, "wall_s": wall_s}
    if wall_phases is not None:
        train["wall_phases"] = dict(wall_phases)
    return {"name": name, "miou": metrics["miou"], "iou": metrics.get("iou"),
            "inference": dict(inference), "training": train, **extra}


def build_report(runs: Sequence[Mapping[str, Any]], data_slimming: Mapping[str, Any] | None,
                 config: Mapping[str, Any], class_names: Sequence[str] = (), **extra: Any) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "runs": list(runs),
            "data_slimming": dict(data_slimming) if data_slimming is not None else None,
            "class_names": list(class_names), "config": dict(config), **extra}


def _targets(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: list[str] = []
    for run in runs:
        for t in run.get("inference", {}):
            if t not in seen:
                seen.append(t)
    return seen


def markdown_table(runs: Sequence[Mapping[str, Any]]) -> str:
    """mIoU, inference cost per target, training energy per target and wall time, one row per run."""
    targets = _targets(runs)
    head = ["run", "mIoU %"]
    for t in targets:
        head += [f"{t} inf. {h}" for _, h, _, _ in COLUMNS] + [f"{t} train energy J"]
    head.append("train wall s")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in runs:
        row = [run.get("label", run["name"]), _fmt(run.get("miou"), 100, "{:.2f}")]
        for t in targets:
            inf = run.get("inference", {}).get(t, {})
            row += [_fmt(inf.get(k), s, f) for k, _, s, f in COLUMNS]
            row.append(_fmt(run.get("training", {}).get(t, {}).get("energy_j"), 1, "{:.4g}"))
        row.append(_fmt(run.get("training", {}).get("wall_s"), 1, "{:.1f}"))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def search_share(run: Mapping[str, Any], target: str) -> float | None:
    """The search phase's share of the training energy on ``target`` (0 without a search phase;
    None for a run recorded before phases were counted).

    >>> search_share({"training": {"t": {"energy_j": 4.0, "phases": {"search": {"energy_j": 1.0}}}}}, "t")
    0.25
    """
    cost = run.get("training", {}).get(target, {})
    if "phases" not in cost or not cost.get("energy_j"):
        return None
    return cost["phases"].get("search", {}).get("energy_j", 0.0) / cost["energy_j"]


def relative_table(runs: Sequence[Mapping[str, Any]], reference: str = "full") -> str:
    """Each run against the ``reference`` run of its own run directory: mIoU change in points,
    inference and training energy change in % per target ("" when no run is named ``reference``).

    >>> full = {"name": "full", "miou": 0.5, "inference": {"t": {"energy_j": 2.0}}, "training": {"t": {"energy_j": 4.0}}}
    >>> d = {"name": "derived", "miou": 0.49, "inference": {"t": {"energy_j": 1.0}}, "training": {"t": {"energy_j": 1.0}}}
    >>> relative_table([d, full]).splitlines()[2]
    '| derived | -1.00 | -50.0 | -75.0 |'
    """
    refs = {r.get("run_dir"): r for r in runs if r["name"] == reference}
    if not refs:
        return ""
    targets = _targets(runs)
    head = ["run", f"mIoU vs {reference} (points)"]
    for t in targets:
        head += [f"{t} inf. energy vs {reference} %", f"{t} train energy vs {reference} %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in runs:
        ref = refs.get(run.get("run_dir"))
        if ref is None:
            continue
        row = [run.get("label", run["name"]), _fmt(_delta(run.get("miou"), ref.get("miou")), 100, "{:+.2f}")]
        for t in targets:
            for key in ("inference", "training"):
                a = run.get(key, {}).get(t, {}).get("energy_j")
                b = ref.get(key, {}).get(t, {}).get("energy_j")
                row.append(_fmt(None if a is None or not b else a / b - 1, 100, "{:+.1f}"))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _fmt(value: Any, scale: float, fmt: str) -> str:
    return "–" if value is None else fmt.format(value * scale)


def markdown_report(report: Mapping[str, Any], arch: Mapping[str, Any] | None = None) -> str:
    """report.md: the results table, per-class IoU, data slimming and the chosen arch."""
    out = ["# cosearch report", "", markdown_table(report["runs"]), ""]
    shares = [f"{run.get('label', run['name'])} {_fmt(search_share(run, t), 100, '{:.1f}')} % ({t})"
              for run in report["runs"] for t in _targets([run]) if search_share(run, t)]
    if shares:  # training columns are totals over phases (search, train, batch-norm recalibration)
        out += ["Training cost includes the search; its share of the training energy: " + ", ".join(shares), ""]
    relative = relative_table(report["runs"])
    if relative:
        out += ["## Against the full network", "", relative, ""]
    names = report.get("class_names") or []
    for run in report["runs"]:
        if run.get("iou"):
            out += [f"## Per-class IoU: {run['name']}", "", "| class | IoU % |", "|---|---|"]
            for i, v in enumerate(run["iou"]):
                out.append(f"| {names[i] if i < len(names) else i} | {_fmt(v, 100, '{:.2f}')} |")
            out.append("")
    slim = report.get("data_slimming")
    if slim:
        out += ["## Data slimming", "", f"* kept fraction of training images: {slim['kept_fraction']:.3f}",
                f"* Spearman(complexity, chosen scale): {_fmt(slim['spearman_complexity_vs_scale'], 1, '{:.3f}')}",
                "* action histogram: " + ", ".join(f"{k}: {v}" for k, v in slim["action_histogram"].items()), ""]
    if arch is not None:
        out += ["## Architecture", "", f"family `{arch.get('family')}`", "", "| choice | value |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in arch.get("choices", {}).items()]
        out.append("")
    return "\n".join(out)
