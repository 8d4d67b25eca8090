"""report.json (DESIGN.md §4) and its human twin report.md.

>>> run = run_entry("derived", {"miou": 0.5, "iou": [0.4, 0.6]}, {"jetson_tx2": {"energy_j": 1.0}},
...                 {"jetson_tx2": {"energy_j": 9.0}}, wall_s=3.0)
>>> run["training"]["wall_s"], run["inference"]["jetson_tx2"]["energy_j"]
(3.0, 1.0)
>>> "| derived | – |" in markdown_table([run])
True
>>> si_format(0.00341, "J"), si_format(150.3, "J"), si_format(6.19e6, "MACs")
('3.41 mJ', '150 J', '6.19 MMACs')
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

FORMAT, VERSION = "cosearch-report", 1
# columns of the tables: (cost key, header, unit scale, format)
COLUMNS = (("macs", "MMACs", 1e-6, "{:.2f}"), ("energy_j", "energy mJ", 1e3, "{:.3f}"),
           ("latency_s", "latency ms", 1e3, "{:.3f}"), ("dram_bytes", "DRAM MB", 1e-6, "{:.2f}"))
# search.cost_metric -> (what it is, SI unit)
METRICS = {"energy_j": ("energy", "J"), "latency_s": ("latency", "s"), "macs": ("MACs", "MACs"),
           "dram_bytes": ("DRAM traffic", "B")}
# a network whose inference input is smaller than this on a side has lost most of the image
MIN_SIDE_PX = 16
# a matched baseline whose MACs are off the derived network's by more than this fraction is "unmatched"
MATCH_TOLERANCE = 0.10
# a baseline's parameter (run["matched"]) as the tables' "setting" column shows it
SETTINGS = (("width_mult", "width {:.3g}"), ("inference_scale", "scale {:.3g}"), ("seed", "seed {}"))
DEGENERATE = "degenerate (see warnings)"
# a derived network under this fraction of its search.target_cost is flagged: the search left cost unused
UNDER_TARGET = 0.5
FULL_NETWORK = "full network (cost model)"


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


# -- numbers for people ------------------------------------------------------------------------

_PREFIXES = {-15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P"}


def si_format(value: float | None, unit: str = "", digits: int = 3) -> str:
    """``value`` with an SI prefix chosen from its magnitude and ``digits`` significant digits."""
    if value is None:
        return "–"
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}".rstrip()
    exp = max(-15, min(15, 3 * math.floor(math.log10(abs(value)) / 3)))
    text = f"{value / 10 ** exp:.{digits}g}"
    if abs(float(text)) >= 1000 and exp < 15:  # 999.7 rounds to 1000: one prefix up
        exp += 3
        text = f"{value / 10 ** exp:.{digits}g}"
    return f"{text} {_PREFIXES[exp]}{unit}"


def cost_metric_of(runs: Sequence[Mapping[str, Any]], default: str = "energy_j") -> str:
    """The ``search.cost_metric`` the runs were searched for (the first that says), else ``default``."""
    for run in runs:
        metric = (run.get("search") or {}).get("cost_metric") or (run.get("config") or {}).get("cost_metric")
        if metric in METRICS:
            return metric
    return default


def targets_of(runs: Sequence[Mapping[str, Any]], key: str = "inference") -> list[str]:
    """The targets with a cost under ``run[key]`` in any run, in order of appearance."""
    seen: list[str] = []
    for run in runs:
        for t, v in run.get(key, {}).items():
            if isinstance(v, dict) and "energy_j" in v and t not in seen:  # not training.wall_phases
                seen.append(t)
    return seen


def seed_std(run: Mapping[str, Any], *path: str) -> float | None:
    """The spread over seeds of one number of a grouped row (``run["std"]`` mirrors the run)."""
    node: Any = run.get("std")
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node if isinstance(node, (int, float)) else None


def markdown_table(runs: Sequence[Mapping[str, Any]]) -> str:
    """The setting (:func:`setting_cell`), mIoU, inference cost per target, training energy per
    target and wall time, one row per run (``mean ± std`` for rows that group several seeds)."""
    targets = targets_of(runs)
    head = ["run", "setting", "mIoU %"]
    for t in targets:
        head += [f"{t} inf. {h}" for _, h, _, _ in COLUMNS] + [f"{t} train energy J"]
    head.append("train wall s")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in runs:
        row = [run.get("label", run["name"]), setting_cell(run),
               _fmt(run.get("miou"), 100, "{:.2f}", seed_std(run, "miou"))]
        for t in targets:
            inf = run.get("inference", {}).get(t, {})
            row += [_fmt(inf.get(k), s, f, seed_std(run, "inference", t, k)) for k, _, s, f in COLUMNS]
            row.append(_fmt(run.get("training", {}).get(t, {}).get("energy_j"), 1, "{:.4g}",
                            seed_std(run, "training", t, "energy_j")))
        row.append(_fmt(run.get("training", {}).get("wall_s"), 1, "{:.1f}", seed_std(run, "training", "wall_s")))
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


def relative_change(run: Mapping[str, Any], ref: Mapping[str, Any], key: str, target: str,
                    metric: str = "energy_j") -> float | None:
    """``run``'s ``key`` ("inference" or "training") cost on ``target`` relative to ``ref``'s, minus 1."""
    a = run.get(key, {}).get(target, {}).get(metric)
    b = ref.get(key, {}).get(target, {}).get(metric)
    return None if a is None or not b else a / b - 1


def relative_lines(pairs: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]], reference: str,
                   metrics: Sequence[str] = ("energy_j",), show_reference: bool = False) -> str:
    """The table of each ``(run, its reference)`` pair: mIoU change in points (± the two rows'
    spreads combined, for grouped seeds), inference and training ``metrics`` change in %;
    ``show_reference``: a column naming each row's reference."""
    targets = targets_of([r for pair in pairs for r in pair])
    head = ["run"] + (["reference"] if show_reference else []) + [f"mIoU vs {reference} (points)"]
    for t in targets:
        for m in metrics:
            head += [f"{t} inf. {METRICS[m][0]} vs {reference} %", f"{t} train {METRICS[m][0]} vs {reference} %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run, ref in pairs:
        spread = [s for s in (seed_std(run, "miou"), seed_std(ref, "miou") if ref is not run else None) if s is not None]
        std = math.sqrt(sum(s * s for s in spread)) if spread else None
        row = [", ".join([run.get("label", run["name"]), *flags(run)])]
        row += [ref.get("label", ref["name"])] if show_reference else []
        row.append(_fmt(_delta(run.get("miou"), ref.get("miou")), 100, "{:+.2f}", std))
        for t in targets:
            for m in metrics:
                for key in ("inference", "training"):
                    row.append(_fmt(relative_change(run, ref, key, t, m), 100, "{:+.1f}"))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def relative_table(runs: Sequence[Mapping[str, Any]], reference: str = "full",
                   metrics: Sequence[str] = ("energy_j",)) -> str:
    """Each run of one report against its run named ``reference``: mIoU change in points,
    inference and training cost change in % per target ("" when no run is named ``reference``).
    Comparing runs of several run directories is :mod:`search.report.compare`'s job.

    >>> full = {"name": "full", "miou": 0.5, "inference": {"t": {"energy_j": 2.0}}, "training": {"t": {"energy_j": 4.0}}}
    >>> d = {"name": "derived", "miou": 0.49, "inference": {"t": {"energy_j": 1.0}}, "training": {"t": {"energy_j": 1.0}}}
    >>> relative_table([d, full]).splitlines()[2]
    '| derived | -1.00 | -50.0 | -75.0 |'
    """
    ref = next((r for r in runs if r["name"] == reference), None)
    if ref is None:
        return ""
    return relative_lines([(run, ref) for run in runs], reference, metrics)


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _fmt(value: Any, scale: float, fmt: str, std: float | None = None) -> str:
    if value is None:
        return "–"
    text = fmt.format(value * scale)
    if std is not None:
        text += " ± " + fmt.replace("+", "").format(std * abs(scale))
    return text


# -- warnings ----------------------------------------------------------------------------------

def degenerate_reasons(run: Mapping[str, Any], class_names: Sequence[str] = ()) -> list[str]:
    """Why a run's result is degenerate, in words ([] when it is not): a network that gets only
    one class right (typically predicting background everywhere), or none; an inference input
    under ``MIN_SIDE_PX`` pixels on a side.

    >>> degenerate_reasons({"name": "x", "iou": [0.9, 0.0, 0.0]})
    ['only class 0 has an IoU above 0 (every other class 0): the network predicts little but that class']
    >>> degenerate_reasons({"name": "y", "inference": {"t": {"input_shape": [1, 3, 8, 16]}}, "inference_scale": 0.125})
    ['inference input of 8x16 px (scale 0.125): under 16 px on a side, little of the image is left']
    """
    reasons = []
    iou = run.get("iou") or []
    present = [(i, v) for i, v in enumerate(iou) if v is not None]
    if len(present) > 1:
        right = [i for i, v in present if v > 0]
        if not right:
            reasons.append("every class has IoU 0: the network gets no class right")
        elif len(right) == 1:
            k = right[0]
            name = f"{k} ({class_names[k]})" if k < len(class_names) else str(k)
            reasons.append(f"only class {name} has an IoU above 0 (every other class 0): the network predicts "
                           f"little but that class")
    sides = [tuple(c["input_shape"][-2:]) for c in run.get("inference", {}).values()
             if isinstance(c, Mapping) and c.get("input_shape")]
    if sides:
        h, w = min(sides, key=min)
        if min(h, w) < MIN_SIDE_PX:
            scale = run.get("inference_scale")
            at = f" (scale {scale:g})" if isinstance(scale, (int, float)) else ""
            reasons.append(f"inference input of {h}x{w} px{at}: under {MIN_SIDE_PX} px on a side, little of the "
                           f"image is left")
    return reasons


def cost_target_lines(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Where each searched network landed against its ``search.target_cost`` (a grouped row: each of
    its seeds), flagged above target x (1 + tolerance) (nothing left to cut) or under ``UNDER_TARGET`` of it.

    >>> run = {"name": "derived", "search": {"cost_metric": "macs", "target": "jetson_tx2",
    ...                                      "cost_target": {"value": 2e6, "ratio": 0.38, "tolerance": 0.05}}}
    >>> cost_target_lines([run, {"name": "full"}])  # doctest: +NORMALIZE_WHITESPACE
    ['* derived: 0.38x its cost target (macs on jetson_tx2). WARNING: under 0.5x of it: the search ended
      far below the target (derive only cuts a network above it)']
    """
    lines = []
    for run in runs:
        for member in run.get("members") or [run]:
            search = member.get("search") or {}
            target = search.get("cost_target")
            if not target:
                continue
            ratio, tolerance = target["ratio"], target.get("tolerance")
            line = (f"* {member.get('label', member['name'])}: {ratio:.2f}x its cost target "
                    f"({search.get('cost_metric')} on {search.get('target')})")
            if tolerance is not None and ratio > 1 + tolerance:
                line += f". WARNING: above {1 + tolerance:g}x of it: derive found nothing left to cut"
            elif ratio < UNDER_TARGET:
                line += (f". WARNING: under {UNDER_TARGET:g}x of it: the search ended far below the target "
                         "(derive only cuts a network above it)")
            lines.append(line)
    return lines


def match_check(reference: float, macs: float, tolerance: float = MATCH_TOLERANCE) -> dict[str, Any]:
    """How near a matched baseline's ``macs`` came to the ``reference`` (the derived network's):
    ``ratio`` (achieved / reference) and ``within_tolerance`` (off by at most ``tolerance``).

    >>> match_check(100.0, 108.0), match_check(100.0, 250.0)
    ({'ratio': 1.08, 'within_tolerance': True}, {'ratio': 2.5, 'within_tolerance': False})
    """
    ratio = macs / reference if reference else math.inf
    return {"ratio": ratio, "within_tolerance": abs(ratio - 1) <= tolerance}


def unmatched_text(matched: Mapping[str, Any] | None) -> str | None:
    """``unmatched (2.50× the derived MACs)`` for a matched baseline outside the tolerance (its
    ``within_tolerance``, else :func:`match_check` of a report written before it was stored);
    None otherwise.

    >>> unmatched_text({"metric": "macs", "reference": 100.0, "macs": 250.0}), unmatched_text({"width_mult": 0.5})
    ('unmatched (2.50× the derived MACs)', None)
    """
    if not matched or "reference" not in matched or "macs" not in matched:
        return None
    check = matched if "within_tolerance" in matched else match_check(matched["reference"], matched["macs"])
    return None if check["within_tolerance"] else f"unmatched ({check['ratio']:.2f}× the derived MACs)"


def flags(run: Mapping[str, Any]) -> list[str]:
    """What makes a run's row suspect: unmatched MACs, a degenerate result (:func:`degenerate_reasons`);
    a grouped row: any of its seeds'."""
    out: list[str] = []
    for member in run.get("members") or [run]:
        text = unmatched_text(member.get("matched"))
        for flag in ([text] if text else []) + ([DEGENERATE] if degenerate_reasons(member) else []):
            if flag not in out:
                out.append(flag)
    return out


def setting_cell(run: Mapping[str, Any]) -> str:
    """The "setting" column: the baseline's width multiplier, input scale or seed (each distinct
    value of a grouped row's seeds), then its :func:`flags`; "–" for none.

    >>> setting_cell({"name": "uniform", "matched": {"reference": 1e6, "macs": 2.2e6, "width_mult": 0.0156}})
    'width 0.0156; unmatched (2.20× the derived MACs)'
    """
    values: list[str] = []
    for member in run.get("members") or [run]:
        matched = member.get("matched") or {}
        for key, fmt in SETTINGS:
            if key in matched and fmt.format(matched[key]) not in values:
                values.append(fmt.format(matched[key]))
    parts = ([", ".join(values)] if values else []) + flags(run)
    return "; ".join(parts) or "–"


def warning_lines(runs: Sequence[Mapping[str, Any]], class_names: Sequence[str] = ()) -> list[str]:
    """``* WARNING <run>: <reason>`` for every degenerate run (a grouped row: each of its seeds)."""
    lines = []
    for run in runs:
        for member in run.get("members") or [run]:
            for reason in degenerate_reasons(member, class_names):
                lines.append(f"* WARNING {member.get('label', member['name'])}: {reason}")
    return lines


# -- the full network, from the cost model -----------------------------------------------------

def _derived(runs: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return next((r for r in runs if r["name"] == "derived"), runs[0] if runs else None)


def full_network_lines(run: Mapping[str, Any], full: Mapping[str, Any]) -> list[str]:
    """The "vs full network (cost model)" table: every cost of ``run`` beside the full network's
    (``search.report.costs.full_network_reference``), with the saving in %."""
    lines = [f"| target | cost | {FULL_NETWORK} | {run.get('label', run['name'])} | change |", "|---|---|---|---|---|"]
    for t in full.get("inference", {}):
        for key, what in (("inference", "per image"), ("training", "in all")):
            mine, ref = run.get(key, {}).get(t), full.get(key, {}).get(t)
            if not mine or not ref:
                continue
            for m, (name, unit) in METRICS.items():
                if m not in ref or m not in mine:
                    continue
                change = relative_change(run, full, key, t, m)
                lines.append(f"| {t} | {key} {name} {what} | {si_format(ref[m], unit)} | {si_format(mine[m], unit)} "
                             f"| {_fmt(change, 100, '{:+.1f}')} % |")
    return lines


def saving_summary(run: Mapping[str, Any], full: Mapping[str, Any], metric: str = "energy_j",
                   target: str | None = None, reference: str = "the full network (cost model)") -> str:
    """One line for the terminal: ``run``'s inference and training ``metric`` against the full
    network's, on ``target`` (default: the first); ``reference`` names what ``full`` is.

    >>> full = {"inference": {"t": {"energy_j": 4e-3}}, "training": {"t": {"energy_j": 0.3}}}
    >>> run = {"name": "derived", "inference": {"t": {"energy_j": 3e-3}}, "training": {"t": {"energy_j": 0.15}}}
    >>> saving_summary(run, full)
    'derived vs the full network (cost model) on t: inference energy 3 mJ vs 4 mJ (-25.0 %), training energy 150 mJ vs 300 mJ (-50.0 %)'
    """
    target = target or next(iter(full.get("inference", {})), None)
    name, unit = METRICS[metric]
    parts = []
    for key in ("inference", "training"):
        mine = run.get(key, {}).get(target, {}).get(metric)
        ref = full.get(key, {}).get(target, {}).get(metric)
        if mine is None or ref is None:
            continue
        change = relative_change(run, full, key, target, metric)
        parts.append(f"{key} {name} {si_format(mine, unit)} vs {si_format(ref, unit)} "
                     f"({_fmt(change, 100, '{:+.1f}')} %)")
    return f"{run.get('label', run['name'])} vs {reference} on {target}: " + (", ".join(parts) or "no costs")


# -- report.md ---------------------------------------------------------------------------------

def markdown_report(report: Mapping[str, Any], arch: Mapping[str, Any] | None = None,
                    full_network: Mapping[str, Any] | None = None) -> str:
    """report.md: the results table (with the full network's cost-model row when known), warnings,
    the change against the full network, per-class IoU, data slimming and the chosen arch.

    ``full_network``: ``search.report.costs.full_network_reference(...)``; default
    ``report["full_network"]``."""
    runs = report["runs"]
    full_network = full_network if full_network is not None else report.get("full_network")
    names = report.get("class_names") or []
    rows = list(runs) + ([{**full_network, "name": FULL_NETWORK, "miou": None}] if full_network else [])
    out = ["# cosearch report", "", markdown_table(rows), ""]
    shares = [f"{run.get('label', run['name'])} {_fmt(search_share(run, t), 100, '{:.1f}')} % ({t})"
              for run in runs for t in targets_of([run]) if search_share(run, t)]
    if shares:  # training columns are totals over phases (search, train, batch-norm recalibration)
        out += ["Training cost includes the search; its share of the training energy: " + ", ".join(shares), ""]
    targets = cost_target_lines(runs)
    if targets:
        out += ["## Cost target", "", *targets, ""]
    warnings = warning_lines(runs, names)
    if warnings:
        out += ["## Warnings: degenerate results", "", *warnings, ""]
    derived = _derived(runs)
    if full_network and derived is not None:
        out += [f"## vs {FULL_NETWORK}", "",
                ("The full network (width 1.0, every branch, input scale 1.0, every training image at full "
                 "resolution, the same number of training images) is not trained: its costs come from the cost "
                 "model."),
                "", *full_network_lines(derived, full_network), "",
                saving_summary(derived, full_network, cost_metric_of(runs)), ""]
    relative = relative_table(runs)
    if relative:
        out += ["## Against the full network", "", relative, ""]
    for run in runs:
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


# -- every file of a run's report --------------------------------------------------------------
