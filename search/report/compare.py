"""Comparing runs of several run directories: collect, separate by setting, group seeds, pick a reference.

* :func:`collect` reads every run of every ``report.json`` (a run with baselines holds several),
  each with its own config (``config.yaml``, or ``baselines/<name>/config.yaml``).
* Runs whose **setting** (dataset, number of classes, full-resolution input size) differs are
  never compared with each other: :func:`compare` puts them in separate sections.
* Runs of one configuration that differ only in ``run.seed`` (and in settings that do not change
  the result: device, threads, logging, cache) are **grouped** into one row of means, with the
  sample standard deviation under ``row["std"]`` and the runs under ``row["members"]``.
* The **reference** of a row (default: a run named ``full``) is the ``full`` row sharing a run
  directory with it, else the first ``full`` row of its setting; without a trained ``full``, the
  full network's cost-model figures of its run directory (``report["full_network"]``, costs only).

>>> a = {"name": "derived", "miou": 0.5, "inference": {}, "seed": 0, "setting": {}, "config_key": "k", "run_dir": "s0"}
>>> rows = group_seeds([a, {**a, "miou": 0.7, "seed": 1, "run_dir": "s1"}])
>>> len(rows), round(rows[0]["miou"], 3), round(rows[0]["std"]["miou"], 4), rows[0]["seeds"]
(1, 0.6, 0.1414, [0, 1])
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from search.errors import UserError
from search.report.rundir import read_json

# config keys that do not change a run's result: runs differing only in these (and run.seed) are seeds
NOT_RESULT_KEYS = ("run.seed", "run.device", "run.threads", "run.progress", "run.log_every",
                   "run.checkpoint_every", "data.cache_dir", "data.in_memory", "eval.batch_size", "baselines")
FULL = "full"


# -- reading -----------------------------------------------------------------------------------

def read_report(run_dir: Path) -> dict[str, Any]:
    """``run_dir/report.json``, checked to be a cosearch report."""
    path = Path(run_dir) / "report.json"
    report = read_json(path, f"{run_dir} has no report.json (is it a finished run directory?)")
    if not isinstance(report.get("runs"), list):
        raise UserError(f"{path}: expected a cosearch report with a 'runs' list")
    for i, run in enumerate(report["runs"]):
        if not isinstance(run, dict) or not isinstance(run.get("name"), str):
            raise UserError(f"{path}: runs[{i}] is not a run with a 'name'")
    return report


def read_config(run_dir: Path, report: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The run's resolved config: ``config.yaml``, else the report's copy, else ``{}``."""
    path = Path(run_dir) / "config.yaml"
    if path.is_file():
        try:
            config = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise UserError(f"{path}: not valid YAML: {err}") from None
        if isinstance(config, dict):
            return config
    config = (report or {}).get("config")
    return dict(config) if isinstance(config, dict) else {}


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Sections one level deep: ``{"run": {"seed": 0}}`` -> ``{"run.seed": 0}``."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict) and not prefix and key != "baselines":
            out.update(_flat(value, f"{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def setting_of(run: Mapping[str, Any], config: Mapping[str, Any], report: Mapping[str, Any]) -> dict[str, Any]:
    """What must agree for two runs to be compared: dataset, number of classes, input size (H, W)."""
    flat = _flat(config)
    name = flat.get("data.name", "unknown dataset (no config.yaml)")
    dataset = str(name)
    if name == "synthetic":
        dataset += f" (seed {flat.get('data.seed', 0)})"
    elif flat.get("data.root"):
        dataset += f" at {flat['data.root']}"
    if flat.get("data.test_split") not in (None, "test"):
        dataset += f", {flat['data.test_split']} split"
    if run.get("iou"):
        classes = len(run["iou"])
    elif report.get("class_names"):
        classes = len(report["class_names"])
    else:
        classes = flat.get("data.num_classes")
    return {"dataset": dataset, "num_classes": classes, "input_size": _input_size(run, flat)}


def _input_size(run: Mapping[str, Any], flat: Mapping[str, Any]) -> list[int] | None:
    """The full-resolution input the costs are for: ``cost.input_size``, a resize of every image,
    the synthetic image size; None when the dataset's own images decide it (then the dataset
    names it)."""
    options = flat.get("data.options") or {}
    for size in (flat.get("cost.input_size"), options.get("resize") if isinstance(options, dict) else None):
        if size:
            return [int(s) for s in size]
    if flat.get("data.name") == "synthetic" and flat.get("data.image_size"):
        return [int(s) for s in flat["data.image_size"]]
    return None


def describe_setting(setting: Mapping[str, Any]) -> str:
    """``synthetic (seed 0), 4 classes, 32x64 px``."""
    size = setting.get("input_size")
    return (f"{setting.get('dataset')}, {setting.get('num_classes')} classes, "
            f"{'x'.join(map(str, size)) + ' px' if size else 'its own image size'}")


def _config_key(name: str, config: Mapping[str, Any], arch_choices: Mapping[str, Any] | None) -> str:
    kept = {k: v for k, v in _flat(config).items() if k not in NOT_RESULT_KEYS}
    blob = json.dumps([name, kept, arch_choices], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _arch_choices(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text()).get("choices")
    except (OSError, ValueError, AttributeError):
        return None


def collect(run_dirs: Sequence[Path]) -> list[dict[str, Any]]:
    """Every run of every report.json (without the search's work ledger, whose costs are in
    ``training``), labelled ``<dir>/<name>`` (the bare name for one dir), with
    ``run_dir``, ``seed``, ``setting`` and ``config_key`` (equal for runs that differ only in
    their seed: the config without :data:`NOT_RESULT_KEYS`, plus the arch of a network trained
    from a given arch.json)."""
    runs = []
    for d in run_dirs:
        d = Path(d)
        report = read_report(d)
        parent_config = read_config(d, report)
        for run in report["runs"]:
            sub = d / run["dir"] if run.get("dir") else d
            config = read_config(sub) if sub != d else parent_config
            config = config or parent_config
            # a network trained from a given arch (not searched, not a baseline matched inside a
            # run): the arch is part of its configuration; a searched arch is a result
            given_arch = _arch_choices(d / "arch.json") if run.get("search") is None and not run.get("dir") else None
            label = run["name"] if len(run_dirs) == 1 else f"{d.name}/{run['name']}"
            if run.get("search"):   # its work ledger (a row per sampled network) stays in report.json
                run = {**run, "search": {k: v for k, v in run["search"].items() if k != "work"}}
            runs.append({**run, "label": label, "run_dir": str(d),
                         "seed": _flat(config).get("run.seed"), "setting": setting_of(run, config, report),
                         "config_key": _config_key(run["name"], config, given_arch)})
    return runs


# -- grouping seeds ----------------------------------------------------------------------------

def _mean_std(values: Sequence[Any]) -> tuple[Any, Any]:
    """Mean and sample std of numbers, or of dicts of numbers key by key; other values: the first."""
    first = values[0]
    if isinstance(first, bool) or first is None:
        return first, None
    if isinstance(first, (int, float)):
        nums = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(nums) != len(values):
            return first, None
        mean = sum(nums) / len(nums)
        std = math.sqrt(sum((v - mean) ** 2 for v in nums) / (len(nums) - 1)) if len(nums) > 1 else 0.0
        return mean, std
    if isinstance(first, Mapping):
        means, stds = {}, {}
        for key in first:
            if all(isinstance(v, Mapping) and key in v for v in values):
                means[key], s = _mean_std([v[key] for v in values])
                if s is not None and s != {}:
                    stds[key] = s
            else:
                means[key] = first[key]
        return means, stds
    return first, None


def group_seeds(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per configuration (``config_key``, same setting): a run alone stays as it is; several
    become one row of means with ``std``, ``n``, ``seeds``, ``members`` and ``run_dirs``."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for run in runs:
        key = json.dumps([run.get("config_key", id(run)), run.get("setting")], sort_keys=True, default=str)
        groups.setdefault(key, []).append(run)
    rows = []
    for members in groups.values():
        if len(members) == 1:
            rows.append({**members[0], "run_dirs": [members[0].get("run_dir")]})
            continue
        row: dict[str, Any] = {k: v for k, v in members[0].items() if k not in ("miou", "iou", "inference", "training")}
        std: dict[str, Any] = {}
        for key in ("miou", "iou", "inference", "training"):
            values = [m.get(key) for m in members]
            if any(v is None for v in values):
                row[key] = None
                continue
            if key == "iou":  # a list per class
                row[key] = [_mean_std([v[i] for v in values])[0] if all(len(v) > i for v in values) else None
                            for i in range(len(values[0]))]
                continue
            row[key], s = _mean_std(values)
            if s is not None:
                std[key] = s
        seeds = [m.get("seed") for m in members]
        row.update(std=std, n=len(members), seeds=seeds, members=[dict(m) for m in members],
                   run_dirs=[m.get("run_dir") for m in members],
                   label=f"{members[0].get('label', members[0]['name'])} ({len(members)} seeds: "
                         f"{', '.join(map(str, seeds))})")
        rows.append(row)
    return rows


# -- the comparison ----------------------------------------------------------------------------

def find_reference(runs: Sequence[Mapping[str, Any]], reference: str) -> Mapping[str, Any]:
    """The run that ``--reference`` names: a label as shown in the table, or a run directory (its
    only run, or its run named ``full``)."""
    by_label = [r for r in runs if r.get("label") == reference]
    if by_label:
        return by_label[0]
    path = Path(reference)
    in_dir = [r for r in runs if Path(r["run_dir"]).resolve() == path.resolve()]
    if len(in_dir) == 1:
        return in_dir[0]
    named = [r for r in in_dir if r["name"] == FULL]
    if named:
        return named[0]
    labels = ", ".join(r["label"] for r in (in_dir or runs))
    raise UserError(f"--reference {reference}: not a run of the comparison; give a run directory or one of: {labels}")


def compare(run_dirs: Sequence[Path], reference: str | None = None) -> dict[str, Any]:
    """Collect ``run_dirs`` (and a ``reference`` directory not among them), separate settings,
    group seeds and pair every row with its reference. Returns ``{"runs", "settings", "notes"}``;
    each setting ``{"setting", "description", "rows", "pairs": [(row, reference row)]}``."""
    dirs = [Path(d) for d in run_dirs]
    if reference is not None and Path(reference).is_dir() and \
            all(Path(reference).resolve() != d.resolve() for d in dirs):
        dirs.append(Path(reference))
    runs = collect(dirs)
    ref_run = find_reference(runs, reference) if reference is not None else None
    settings: list[dict[str, Any]] = []
    for run in runs:
        group = next((s for s in settings if s["setting"] == run["setting"]), None)
        if group is None:
            group = {"setting": run["setting"], "description": describe_setting(run["setting"]), "runs": []}
            settings.append(group)
        group["runs"].append(run)
    notes = []
    if len(settings) > 1:
        notes.append(f"these runs are of {len(settings)} different settings (dataset, classes, input size); "
                     "each is compared only within its own section")
    cost_model = {str(d): read_report(d).get("full_network") for d in dirs}
    for group in settings:
        group["rows"] = rows = group_seeds(group.pop("runs"))
        group["pairs"] = _pairs(rows, ref_run, notes, group["description"], cost_model)
    return {"runs": runs, "settings": settings, "notes": notes}


def _row_of(rows: Sequence[Mapping[str, Any]], run: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for row in rows:
        if any(m.get("label") == run.get("label") for m in row.get("members", [row])):
            return row
    return None


def _pairs(rows: list[dict[str, Any]], ref_run: Mapping[str, Any] | None, notes: list[str],
           where: str, cost_model: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    if ref_run is not None:
        ref = _row_of(rows, ref_run)
        if ref is None:
            notes.append(f"{where}: no reference (--reference {ref_run['label']} is of another setting)")
            return []
        return [(row, ref) for row in rows]
    fulls = [r for r in rows if r["name"] == FULL]
    pairs = []
    for row in rows:
        own = [f for f in fulls if set(f["run_dirs"]) & set(row["run_dirs"])]
        if own or fulls:
            pairs.append((row, (own or fulls)[0]))
            if not own and len(fulls) > 1:
                notes.append(f"{row['label']}: compared with {fulls[0]['label']}, the first of {len(fulls)} full "
                             f"runs of its setting (choose with --reference)")
            continue
        full_network = cost_model.get(str(row["run_dirs"][0]))
        if full_network:  # no trained full network: the cost model's figures of the run's own one
            pairs.append((row, {**full_network, "name": "full network (cost model)", "miou": None,
                                "label": f"{Path(row['run_dirs'][0]).name}: full network (cost model)"}))
    if rows and not pairs:
        notes.append(f"{where}: no run named full and no --reference: no changes against a reference")
    return pairs


