"""A sweep over ``search.lambda_inf``: the derived networks' Pareto front against the uniform-width curve.

Each value of ``lambda_inf`` is a whole run (co-search, retrain, report) in ``OUT/lambda_<v>/``;
each width multiplier a uniform baseline trained on the same schedule in ``OUT/uniform_<w>/``.
Every sub-run is resumed when its directory already holds a checkpoint, so an interrupted
sweep continues where it stopped.

The front dominates the curve on a target when every uniform point that some derived network
is at most as expensive as (inference energy) has a derived network at most as expensive
with at least its mIoU. ``margins`` gives, per uniform point, that best mIoU minus its own
(None: no derived network is that cheap).

>>> d = [{"name": "a", "miou": 0.6, "inference": {"t": {"energy_j": 1.0}}},
...      {"name": "b", "miou": 0.7, "inference": {"t": {"energy_j": 3.0}}}]
>>> u = [{"name": "u1", "miou": 0.5, "inference": {"t": {"energy_j": 2.0}}},
...      {"name": "u2", "miou": 0.4, "inference": {"t": {"energy_j": 0.5}}}]
>>> dominance(d, u, "t")
{'margins': {'u2': None, 'u1': 0.1}, 'compared': 1, 'dominated': 1, 'dominates': True}
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping, Sequence

from search.config import Config
from search.report.plots import pareto_front, plt, save_figure


def _fmt_value(v: float) -> str:
    return f"{v:g}"


def sweep_dirs(out: Path, values: Sequence[float], widths: Sequence[float]) -> tuple[list[Path], list[Path]]:
    return ([out / f"lambda_{_fmt_value(v)}" for v in values], [out / f"uniform_{_fmt_value(w)}" for w in widths])


def run_sweep(cfg: Config, out: Path, values: Sequence[float], widths: Sequence[float]) -> dict[str, Any]:
    """Run (or resume) every sub-run, then write ``sweep.md``, ``sweep.json`` and ``sweep.png`` in ``out``."""
    from search.baselines.plan import plan_baseline  # noqa: PLC0415 (torch-heavy)
    from search.pipeline import STAGES, run_pipeline
    from search.train.phase import initial_train_state  # noqa: PLC0415

    lam_dirs, uni_dirs = sweep_dirs(out, values, widths)
    for v, d in zip(values, lam_dirs):
        sub = copy.deepcopy(cfg)
        sub.search.lambda_inf, sub.baselines = float(v), []
        run_pipeline(sub, d, resume=(d / "checkpoints" / "last.pt").exists(), stages=STAGES["run"])
    for w, d in zip(widths, uni_dirs):
        sub = copy.deepcopy(cfg)
        sub.baselines = []

        def initial(splits, w: float = w) -> dict[str, Any]:
            plan = plan_baseline(f"uniform:{w}", sub, splits.num_classes, (1, 1))
            return initial_train_state(plan.arch, f"uniform:{w}", None, splits, sub.run.seed)

        run_pipeline(sub, d, resume=(d / "checkpoints" / "last.pt").exists(), stages=STAGES["train"], initial=initial)
    return summarize(out, values, widths, cfg.cost.targets)


def summarize(out: Path, values: Sequence[float], widths: Sequence[float], targets: Sequence[str]) -> dict[str, Any]:
    """Read the sub-runs' reports; write the table, the dominance check and the plot."""
    from search.cli.compare import collect  # noqa: PLC0415
    from search.report.report import markdown_table  # noqa: PLC0415
    from search.report.rundir import write_json, write_text_atomic  # noqa: PLC0415

    lam_dirs, uni_dirs = sweep_dirs(out, values, widths)
    derived = [{**r, "label": f"lambda_inf={_fmt_value(v)}"} for v, d in zip(values, lam_dirs)
               for r in collect([d]) if r["name"] == "derived"]
    uniform = [{**r, "label": f"uniform {_fmt_value(w)}"} for w, d in zip(widths, uni_dirs) for r in collect([d])]
    checks = {t: dominance(derived, uniform, t) for t in targets}
    lines = ["# lambda_inf sweep", "", markdown_table(derived + uniform), "", "## Front against the uniform curve", ""]
    for t, c in checks.items():
        margins = ", ".join(f"{k}: {'–' if m is None else f'{m * 100:+.2f}'}" for k, m in c["margins"].items())
        lines.append(f"* {t}: dominates {c['dominates']} ({c['dominated']} of {c['compared']} comparable uniform "
                     f"points dominated; mIoU margin in points: {margins})")
    lines += ["", "![sweep](sweep.png)", ""]
    write_text_atomic(out / "sweep.md", "\n".join(lines))
    result = {"derived": derived, "uniform": uniform, "dominance": checks}
    write_json(out / "sweep.json", result)
    curves_plot({"derived (lambda_inf sweep)": derived, "uniform width": uniform}, out / "sweep.png")
    return result


def _points(runs: Sequence[Mapping[str, Any]], target: str, key: str = "inference") -> list[tuple[float, float, str]]:
    return sorted((r[key][target]["energy_j"], r["miou"], r.get("label", r["name"])) for r in runs
                  if target in r.get(key, {}) and r.get("miou") is not None)


def dominance(derived: Sequence[Mapping[str, Any]], uniform: Sequence[Mapping[str, Any]], target: str) -> dict[str, Any]:
    """Does the derived front dominate the uniform curve on ``target`` (inference energy, mIoU)?"""
    d = _points(derived, target)
    margins: dict[str, float | None] = {}
    for cost, miou, label in _points(uniform, target):
        better = [m for c, m, _ in d if c <= cost]
        margins[label] = round(max(better) - miou, 6) if better else None
    compared = [m for m in margins.values() if m is not None]
    dominated = sum(m >= 0 for m in compared)
    return {"margins": margins, "compared": len(compared), "dominated": dominated,
            "dominates": bool(compared) and dominated == len(compared)}


def curves_plot(series: Mapping[str, Sequence[Mapping[str, Any]]], path: str | Path, key: str = "inference") -> Path:
    """mIoU (%) against ``key`` energy (mJ), one panel per target, each series' points and Pareto front."""
    targets: list[str] = []
    for runs in series.values():
        for r in runs:
            targets += [t for t in r.get(key, {}) if isinstance(r[key][t], dict) and t not in targets]
    targets = targets or ["(no cost)"]
    fig, axes = plt.subplots(1, len(targets), figsize=(5.5 * len(targets), 4), squeeze=False)
    for ax, target in zip(axes[0], targets):
        for name, runs in series.items():
            pts = _points(runs, target, key)
            if not pts:
                continue
            xs, ys = [p[0] * 1e3 for p in pts], [p[1] * 100 for p in pts]
            line = ax.scatter(xs, ys, label=name)
            front = pareto_front(list(zip(xs, ys)))
            ax.plot(*zip(*front), color=line.get_facecolor()[0], linewidth=1)
            for x, y, (_, _, label) in zip(xs, ys, pts):
                ax.annotate(label, (x, y), textcoords="offset points", xytext=(3, 3), fontsize=7)
        ax.set_title(f"{target}: {key}")
        ax.set_xlabel(f"{key} energy (mJ)")
        ax.set_ylabel("mIoU (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)
