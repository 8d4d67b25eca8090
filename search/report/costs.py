"""Inference and training cost of a fixed network on every configured target.

Inference: one image at the network's inference scale, logits resized to the full output
resolution (part of the deployed computation). Training: the images the run actually
trained on, each one training step (``cost_models.profile(..., training=True)`` at batch 1)
at the scale its action chose, with the logits upsampled to the full-resolution labels;
dropped images cost nothing.

>>> from torch import nn
>>> net = nn.Conv2d(3, 4, 1)
>>> inf = inference_costs(net, (16, 32), 0.5, ["jetson_tx2"])
>>> inf["jetson_tx2"]["macs"]
1536.0
>>> tr = training_costs(net, (16, 32), {"drop": 3, 0.5: 2}, ["jetson_tx2"])
>>> tr["jetson_tx2"]["images"], tr["jetson_tx2"]["macs"] > 0
(2, True)
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

import cost_models
from supernet import scaled_size

TOTALS = ("macs", "params", "activations", "dram_bytes", "energy_j", "latency_s")


class Deployed(nn.Module):
    """``model`` followed by resizing its logits to ``out_size`` (what inference at a reduced
    input scale, or training against full-resolution labels, actually computes)."""

    def __init__(self, model: nn.Module, out_size: Sequence[int]) -> None:
        super().__init__()
        self.model, self.out_size = model, tuple(out_size)

    def forward(self, x: Tensor) -> Tensor:
        y = self.model(x)
        if tuple(y.shape[-2:]) != self.out_size:
            y = F.interpolate(y, size=self.out_size, mode="bilinear", align_corners=False)
        return y


def _profile(model: nn.Module, size: Sequence[int], scale: float, target: str, training: bool) -> dict[str, float]:
    shape = (1, 3, scaled_size(size[0], scale), scaled_size(size[1], scale))
    rep = cost_models.profile(Deployed(model, size), shape, target=target, training=training)
    return {k: float(getattr(rep, k)) for k in TOTALS}


def inference_costs(model: nn.Module, size: Sequence[int], scale: float, targets: Sequence[str]) -> dict[str, dict]:
    """``{target: {macs, params, activations, dram_bytes, energy_j, latency_s, input_shape}}`` of one image."""
    out = {}
    for t in targets:
        out[t] = _profile(model, size, scale, t, training=False)
        out[t]["input_shape"] = [1, 3, scaled_size(size[0], scale), scaled_size(size[1], scale)]
    return out


def training_costs(model: nn.Module, size: Sequence[int], counts: Mapping[Any, int],
                   targets: Sequence[str], bn_pass: tuple[float, int] | None = None) -> dict[str, dict]:
    """``{target: {macs, dram_bytes, energy_j, latency_s, images, per_action}}`` of training on
    ``counts[action]`` images per action (``"drop"`` or a scale) at full image ``size``.

    ``bn_pass=(scale, n)``: ``n`` forward passes at ``scale`` after training (batch-norm
    recalibration), added to the totals and listed as ``per_action["bn_recalibration"]``;
    ``images`` counts trained images only."""
    out = {}
    for t in targets:
        total = {k: 0.0 for k in ("macs", "dram_bytes", "energy_j", "latency_s")}
        per_action, images = {}, 0

        def add(key: str, n: int, scale: float, training: bool) -> None:
            one = _profile(model, size, scale, t, training=training)
            for k in total:
                total[k] += n * one[k]
            per_action[key] = {"images": int(n), "energy_j": n * one["energy_j"], "macs": n * one["macs"]}

        for action, n in counts.items():
            if action == "drop" or n == 0:
                per_action[str(action)] = {"images": int(n), "energy_j": 0.0, "macs": 0.0}
                continue
            add(str(action), n, float(action), training=True)
            images += int(n)
        if bn_pass:
            add("bn_recalibration", bn_pass[1], bn_pass[0], training=False)
        out[t] = {**total, "images": images, "per_action": per_action}
    return out
