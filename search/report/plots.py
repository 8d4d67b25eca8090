"""Pareto plots: mIoU against inference (or training) energy, one panel per target.

>>> import tempfile, os
>>> runs = [{"name": "a", "miou": 0.5, "inference": {"jetson_tx2": {"energy_j": 1e-3}}},
...         {"name": "b", "miou": 0.6, "inference": {"jetson_tx2": {"energy_j": 2e-3}}}]
>>> pareto_front([(1.0, 0.5), (2.0, 0.6), (3.0, 0.55)])
[(1.0, 0.5), (2.0, 0.6)]
>>> path = os.path.join(tempfile.mkdtemp(), "p.png"); _ = pareto_plot(runs, path); os.path.getsize(path) > 0
True
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Lay out, write as PNG and close ``fig``; returns the path."""
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
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


def _targets(runs: Sequence[Mapping[str, Any]], key: str) -> list[str]:
    seen: list[str] = []
    for run in runs:
        for t, v in run.get(key, {}).items():
            if isinstance(v, dict) and "energy_j" in v and t not in seen:  # not training.wall_phases
                seen.append(t)
    return seen


def pareto_plot(runs: Sequence[Mapping[str, Any]], path: str | Path, key: str = "inference") -> Path:
    """Write a PNG of mIoU (%) against ``key`` ("inference" or "training") energy (mJ) per target."""
    targets = _targets(runs, key) or ["(no cost)"]
    fig, axes = plt.subplots(1, len(targets), figsize=(5 * len(targets), 4), squeeze=False)
    for ax, target in zip(axes[0], targets):
        points = []
        for run in runs:
            cost = run.get(key, {}).get(target)
            if not cost or run.get("miou") is None:
                continue
            x, y = cost["energy_j"] * 1e3, run["miou"] * 100
            points.append((x, y))
            ax.scatter([x], [y])
            ax.annotate(run.get("label", run["name"]), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        front = pareto_front(points)
        if len(front) > 1:
            ax.plot(*zip(*front), linestyle="--", color="grey", linewidth=1, label="Pareto front")
            ax.legend(fontsize=8)
        ax.set_title(f"{target}: {key}")
        ax.set_xlabel(f"{key} energy per {'image' if key == 'inference' else 'run'} (mJ)")
        ax.set_ylabel("mIoU (%)")
        ax.grid(alpha=0.3)
    return save_figure(fig, path)
