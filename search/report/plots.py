"""Figures of a run and of a comparison: Pareto plots, the derived architecture, the data gate.

Every figure is written twice, ``NAME.png`` (200 dpi) and ``NAME.pdf``. Cost axes are in the
unit of the run's ``search.cost_metric`` (J, s, MACs, B) with an SI prefix chosen from the
data (``matplotlib.ticker.EngFormatter``); runs are told apart by marker and colour in a legend,
never by text next to the points, so labels cannot collide.

>>> import tempfile, os
>>> runs = [{"name": "a", "miou": 0.5, "inference": {"jetson_tx2": {"energy_j": 1e-3}}},
...         {"name": "b", "miou": 0.6, "inference": {"jetson_tx2": {"energy_j": 2e-3}}}]
>>> pareto_front([(1.0, 0.5), (2.0, 0.6), (3.0, 0.55)])
[(1.0, 0.5), (2.0, 0.6)]
>>> path = os.path.join(tempfile.mkdtemp(), "p.png"); _ = pareto_plot(runs, path); os.path.getsize(path) > 0
True
>>> os.path.isfile(path[:-4] + ".pdf")
True
"""
from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib
import numpy as np
from scipy.stats import spearmanr

from supernet.arch import site_options

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import EngFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from search.report.report import METRICS, cost_metric_of, seed_std, targets_of  # noqa: E402

DPI = 200
MARKERS = "osD^vPX*<>hp"
# above this ratio of the largest to the smallest cost the axis is logarithmic
LOG_RATIO = 10.0


def save_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Lay out, write ``path`` (PNG, 200 dpi) and the same figure as PDF beside it, close ``fig``;
    returns the PNG's path."""
    path = Path(path)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    fig.savefig(path.with_suffix(".pdf"), bbox_inches="tight")
    plt.close(fig)
    return path


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both lower cost (x) and higher accuracy (y), by cost."""
    front, best = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def cost_axis(ax: plt.Axes, metric: str, key: str, values: Sequence[float] = ()) -> None:
    """Label ``ax``'s x axis with ``key``'s ``metric``, ticks in its unit with SI prefixes chosen
    from the data's magnitude, few enough not to collide; logarithmic when the values span more
    than ``LOG_RATIO``."""
    name, unit = METRICS[metric]
    positive = [v for v in values if v and v > 0]
    if positive and max(positive) / min(positive) > LOG_RATIO:
        ax.set_xscale("log")
        decades = math.log10(max(positive) / min(positive))
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 2.5 else (1.0,)))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, min_n_ticks=2))
    ax.xaxis.set_major_formatter(EngFormatter(unit=unit, places=None, sep="\N{THIN SPACE}"))
    what = "per image" if key == "inference" else "of the whole training"
    ax.set_xlabel(f"{key} {name} {what}")


def _style(i: int) -> dict[str, Any]:
    return {"marker": MARKERS[i % len(MARKERS)], "color": plt.get_cmap("tab10")(i % 10)}


def pareto_plot(runs: Sequence[Mapping[str, Any]], path: str | Path, key: str = "inference",
                metric: str | None = None, reference: Mapping[str, Any] | None = None,
                title: str | None = None) -> Path:
    """mIoU (%) against ``key`` ("inference" or "training") ``metric`` (default: the runs'
    ``search.cost_metric``), one panel per target; rows grouping seeds get error bars (± std);
    ``reference`` (``search.report.costs.full_network_reference``): a vertical line at the full
    network's cost-model cost."""
    metric = metric or cost_metric_of(runs)
    targets = targets_of(runs, key) or ["(no cost)"]
    fig, axes = plt.subplots(1, len(targets), figsize=(5.2 * len(targets), 4.2), squeeze=False)
    handles: dict[str, Any] = {}
    for ax, target in zip(axes[0], targets):
        points, xs = [], []
        for i, run in enumerate(runs):
            cost = run.get(key, {}).get(target)
            if not isinstance(cost, Mapping) or cost.get(metric) is None or run.get("miou") is None:
                continue
            x, y = cost[metric], run["miou"] * 100
            xerr, yerr = seed_std(run, key, target, metric), seed_std(run, "miou")
            label = run.get("label", run["name"])
            handles[label] = ax.errorbar([x], [y], xerr=None if xerr is None else [xerr],
                                         yerr=None if yerr is None else [yerr * 100], linestyle="none",
                                         markersize=7, capsize=3, label=label, **_style(i))
            points.append((x, y))
            xs.append(x)
        front = pareto_front(points)
        if len(front) > 1:
            (handles["Pareto front"],) = ax.plot(*zip(*front), linestyle="--", color="grey", linewidth=1,
                                                 label="Pareto front", zorder=0)
        ref = (reference or {}).get(key, {}).get(target, {}).get(metric)
        if ref is not None:
            handles["full network (cost model)"] = ax.axvline(ref, color="black", linestyle=":", linewidth=1.2,
                                                              label="full network (cost model)")
            xs.append(ref)
        cost_axis(ax, metric, key, xs)
        derived = next((r for r in runs if r["name"] == "derived"), None)
        mine = ((derived or {}).get(key, {}).get(target) or {}).get(metric)
        if ref and mine is not None:
            ax.set_title(f"{target}: derived {(mine / ref - 1) * 100:+.1f} % {METRICS[metric][0]} vs full network",
                         fontsize=10)
        else:
            ax.set_title(target)
        ax.set_ylabel("mIoU (%)")
        ax.grid(alpha=0.3, which="both")
    return _finish(fig, handles, title or f"mIoU against {key} {METRICS[metric][0]}", path)


def _finish(fig: plt.Figure, handles: Mapping[str, Any], title: str, path: str | Path) -> Path:
    """The legend (outside the panels, one entry per marker), the title, then PNG + PDF."""
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="upper left", bbox_to_anchor=(1.0, 0.95),
                   fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


def series_plot(series: Mapping[str, Sequence[Mapping[str, Any]]], path: str | Path, key: str = "inference",
                metric: str | None = None, title: str | None = None) -> Path:
    """mIoU (%) against ``key`` ``metric``, one panel per target: each series one colour, its
    points (one marker each, named in the legend) joined by the series' Pareto front."""
    all_runs = [r for runs in series.values() for r in runs]
    metric = metric or cost_metric_of(all_runs)
    targets = targets_of(all_runs, key) or ["(no cost)"]
    fig, axes = plt.subplots(1, len(targets), figsize=(5.2 * len(targets), 4.2), squeeze=False)
    handles: dict[str, Any] = {}
    for ax, target in zip(axes[0], targets):
        xs = []
        for s, (name, runs) in enumerate(series.items()):
            color = plt.get_cmap("tab10")(s % 10)
            pts = sorted((r[key][target][metric], r["miou"] * 100, r.get("label", r["name"])) for r in runs
                         if isinstance(r.get(key, {}).get(target), dict) and r[key][target].get(metric) is not None
                         and r.get("miou") is not None)
            if not pts:
                continue
            front = pareto_front([(x, y) for x, y, _ in pts])
            (handles[name],) = ax.plot(*zip(*front), color=color, linewidth=1.2, label=name)
            for (x, y, label), marker in zip(pts, itertools.cycle(MARKERS)):
                handles[f"  {label}"] = ax.plot([x], [y], linestyle="none", marker=marker, color=color,
                                                markersize=7, label=label)[0]
                xs.append(x)
        cost_axis(ax, metric, key, xs)
        ax.set_title(target)
        ax.set_ylabel("mIoU (%)")
        ax.grid(alpha=0.3, which="both")
    return _finish(fig, handles, title or f"mIoU against {key} {METRICS[metric][0]}", path)


# -- the architecture --------------------------------------------------------------------------

def arch_rows(arch: Mapping[str, Any]) -> tuple[list[tuple[str, int, int, bool]], list[tuple[str, bool]]]:
    """``([(width site, chosen, full network's width, its branch kept)], [(branch site, kept)])``
    of an arch dict; the full network's width is the site's widest option.

    >>> import supernet
    >>> widths, branches = arch_rows(supernet.baseline_arch("multires", 4, width_mult=0.5, widest=0.5))
    >>> widths[0], branches[0]
    (('backbone.stem1.width', 4, 8, True), ('backbone.branch16.keep', True))
    """
    options, _ = site_options(arch["family"], arch["num_classes"], **(arch.get("space") or {}))
    choices = arch["choices"]
    branches = [(name, bool(choices[name])) for name, opts in options.items() if set(opts) == {False, True}]
    # a dropped ``X.keep`` branch takes every ``X.*`` width with it (ASPP rates share one width)
    dropped = [name[:-len("keep")] for name, kept in branches if not kept and name.endswith(".keep")]
    widths = [(name, int(choices[name]), int(max(opts)), not any(name.startswith(p) for p in dropped))
              for name, opts in options.items() if set(opts) != {False, True}]
    return widths, branches


def arch_plot(arch: Mapping[str, Any], path: str | Path) -> Path:
    """The derived network against the full one: per width site the chosen channels over the
    full network's (widest option), and which multi-scale branches are kept."""
    widths, branches = arch_rows(arch)
    scale = (arch.get("data") or {}).get("inference_scale", arch["choices"].get("data.inference_scale", 1.0))
    height = 0.32 * (len(widths) + len(branches)) + 1.6
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(7.5, height), sharex=False,
                                 gridspec_kw={"height_ratios": [max(len(widths), 1), max(len(branches), 1) + 0.5]})
    ys = list(range(len(widths)))[::-1]
    full = [w[2] for w in widths]
    frac = [w[1] / w[2] for w in widths]
    ax.barh(ys, [1.0] * len(widths), color="#dddddd")
    colors = ["tab:blue" if alive else "#9ecae1" for *_, alive in widths]
    ax.barh(ys, frac, color=colors)
    for y, (name, chosen, widest, alive) in zip(ys, widths):
        ax.text(1.02, y, f"{chosen} / {widest}" + ("" if alive else " (branch dropped)"), va="center", fontsize=8)
    ax.set_yticks(ys, [w[0] for w in widths], fontsize=8)
    ax.set_xlim(0, 1.45)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "¼", "½", "¾", "1"])
    ax.set_xlabel("channels of the derived network (blue) over the full network's (grey)")
    if sum(full):
        kept = sum(w[1] for w in widths if w[3]) / sum(full)
        ax.set_title(f"{arch['family']}: {kept:.0%} of the full network's channels, inference scale {scale:g}",
                     fontsize=10)
    if branches:
        by = list(range(len(branches)))[::-1]
        for y, (name, kept) in zip(by, branches):
            bx.plot([0.5], [y], marker="s" if kept else "x", markersize=10, linestyle="none",
                    color="tab:green" if kept else "tab:red")
            bx.text(0.65, y, "kept" if kept else "dropped", va="center", fontsize=8)
        bx.set_yticks(by, [b[0] for b in branches], fontsize=8)
        bx.set_ylim(-0.7, len(branches) - 0.3)
    else:
        bx.text(0.5, 0.5, "no branch sites in this family", ha="center", va="center", fontsize=8)
        bx.set_yticks([])
    bx.set_xlim(0, 1.45)
    bx.set_xticks([])
    bx.set_title("multi-scale branches (the full network keeps all)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


# -- the data gate -----------------------------------------------------------------------------

def gate_plot(complexity: Sequence[float], choice: Sequence[int], actions: Sequence[Any], path: str | Path,
              bins: int = 4) -> Path:
    """The learned data gate: each training image's complexity score against the action it was
    given (left), and the share of each action per complexity quantile (right).

    ``complexity``: ``search.data.complexity_score(features)`` of the training images;
    ``choice``: the action index per image (``report["data_slimming"]["choice"]``);
    ``actions``: the gate's actions (``search.gate_actions``)."""
    c = np.asarray(complexity, dtype=float)
    k = np.asarray(choice, dtype=int)
    if c.shape != k.shape:
        raise ValueError(f"complexity has {c.size} images, choice {k.size}")
    names = [str(a) if a == "drop" else f"{float(a):g}×" for a in actions]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [1.3, 1]})
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        sel = k == i
        ax.scatter(c[sel], i + rng.uniform(-0.18, 0.18, sel.sum()), s=10, alpha=0.6, color=plt.get_cmap("tab10")(i),
                   label=f"{name}: {int(sel.sum())}")
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_xlabel("image complexity score")
    ax.set_ylabel("action chosen by the gate")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, title="images", title_fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    scales = np.array([0.0 if a == "drop" else float(a) for a in actions])[k] if len(k) else np.array([])
    if len(c) > 2 and np.unique(scales).size > 1 and np.unique(c).size > 1:
        ax.set_title(f"Spearman(complexity, scale) = {spearmanr(c, scales).statistic:.2f}", fontsize=10)
    edges = np.quantile(c, np.linspace(0, 1, bins + 1)) if len(c) else np.zeros(bins + 1)
    which = np.clip(np.searchsorted(edges, c, side="right") - 1, 0, bins - 1)
    bottom = np.zeros(bins)
    for i, name in enumerate(names):
        share = np.array([(k[which == b] == i).mean() if (which == b).any() else 0.0 for b in range(bins)])
        bx.bar(range(bins), share, bottom=bottom, color=plt.get_cmap("tab10")(i), label=name)
        bottom += share
    bx.set_xticks(range(bins), [f"Q{b + 1}" for b in range(bins)])
    bx.set_xlabel("complexity quantile (Q1 simplest)")
    bx.set_ylabel("share of images")
    bx.set_ylim(0, 1)
    bx.set_title("actions per complexity quantile", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
