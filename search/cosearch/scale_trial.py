"""``search.scale_rule: val``: the inference scale decided by trying each one.

The resolution logits rho learn from one sampled scale per arch step, and a short search barely
moves them: on synthetic_shapes P(0.75) ends at 0.49-0.55 in every family, so the deployed scale
is a coin flip, and once the network is trained that flip is worth 3-6 mIoU points either way
(experiments/results/shapes/budget_4x_val.md). Here every searchable scale gets its own candidate
(the derive rule's network cut to the cost target at that scale, the supernet's weights sliced in,
batch-norm statistics recalibrated at that scale on the train split) and the candidate with the
best mIoU on the val split is handed over. Its passes are the search's probe work.
"""
from __future__ import annotations

from typing import Any

import torch

from search.cosearch.cosearch import CoSearch
from search.evaluate.evaluate import evaluate
from search.train.trainer import recalibrate_at_scale, recalibration_chunks


@torch.no_grad()
def try_scales(cs: CoSearch, choices: dict[str, Any]) -> dict[float, dict[str, Any]]:
    """``{scale: {"choices", "miou", "cost_ratio"}}`` for every scale the co-search ``cs``
    searched: ``choices`` cut to the cost target at that scale, its val mIoU (a fraction) at that
    scale after batch-norm recalibration, and its cost / the target (None without a target)."""
    bs, device, splits = cs.cfg.data.batch_size, cs.session.device, cs.splits
    trials = {}
    for scale in cs.res.scales:
        fitted, _ = cs.fit_to_target(choices, scale)
        model = cs.net.derive(fitted)
        recalibrate_at_scale(model, splits.train, scale, bs, device)
        for chunk in recalibration_chunks(len(splits.train), bs):
            cs.count("probe", scale, len(chunk), fitted)
        miou = evaluate(model, splits.val, splits.num_classes, scale, bs, cs.env, device)["miou"]
        for start in range(0, len(splits.val), bs):
            cs.count("probe", scale, min(bs, len(splits.val) - start), fitted)
        ratio = cs.arch_cost(fitted, scale) / cs.target_cost if cs.target_cost is not None else None
        trials[scale] = {"choices": fitted, "miou": miou, "cost_ratio": ratio}
    return trials


def best_scale(trials: dict[float, dict[str, Any]]) -> float:
    """The scale whose candidate scored the highest val mIoU (a tie: the larger scale).

    >>> best_scale({0.75: {"miou": 0.3}, 1.0: {"miou": 0.28}}), best_scale({0.75: {"miou": 0.3}, 1.0: {"miou": 0.3}})
    (0.75, 1.0)
    """
    return max(trials, key=lambda sc: (trials[sc]["miou"], sc))


def describe_trials(trials: dict[float, dict[str, Any]]) -> str:
    """One line: each scale's val mIoU and cost against the target.

    >>> describe_trials({0.75: {"miou": 0.3, "cost_ratio": 0.9}, 1.0: {"miou": 0.28, "cost_ratio": None}})
    '0.75: 30.00 % (0.90 of the cost target), 1.0: 28.00 %'
    """
    return ", ".join(f"{sc}: {100 * t['miou']:.2f} %" + (f" ({t['cost_ratio']:.2f} of the cost target)"
                                                          if t["cost_ratio"] is not None else "")
                     for sc, t in trials.items())
