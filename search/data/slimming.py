"""What a data gate does to a split: the report's ``data_slimming`` entry.

>>> s = slimming_summary(torch.tensor([0, 1, 1, 2]), ["drop", 0.5, 1.0], torch.arange(4.0)[:, None])
>>> s["action_histogram"], s["kept_fraction"], round(s["spearman_complexity_vs_scale"], 3)
({'drop': 1, '0.5': 2, '1.0': 1}, 0.75, 0.949)
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from scipy.stats import spearmanr
from torch import Tensor

from .features import complexity_score


def action_key(action: str | float) -> str:
    """An action as a JSON key: ``"drop"``, ``"0.5"``, ``"1.0"``."""
    return "drop" if action == "drop" else str(float(action))


def slimming_summary(chosen: Tensor, actions: Sequence[str | float], features: Tensor) -> dict[str, Any]:
    """Action histogram, kept fraction and Spearman(complexity, chosen scale) of the gate's final
    choice per image (``chosen`` (N,) action indices); drop counts as scale 0. The Spearman
    correlation is None when every image has the same scale. ``choice`` lists ``chosen``."""
    chosen = chosen.cpu()
    counts = torch.bincount(chosen, minlength=len(actions)).tolist()
    scales = torch.tensor([0.0 if a == "drop" else float(a) for a in actions])[chosen]
    rho = None
    if scales.unique().numel() > 1:
        rho = float(spearmanr(complexity_score(features.float().cpu()).numpy(), scales.numpy()).statistic)
        rho = None if math.isnan(rho) else rho
    dropped = counts[list(actions).index("drop")] if "drop" in actions else 0
    return {"action_histogram": {action_key(a): n for a, n in zip(actions, counts)},
            "kept_fraction": 1.0 - dropped / len(chosen), "spearman_complexity_vs_scale": rho,
            "choice": chosen.tolist()}
