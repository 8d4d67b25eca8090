"""Inference cost of a fixed network, and the cost of the work that produced it, on every target.

Inference: one image at the network's inference scale, logits resized to the full output
resolution (part of the deployed computation). Work (:func:`work_costs`, the one accounting
function): a list of :class:`Work` items, each ``images`` passes of one network at one scale,
a training step (``cost_models.profile(..., training=True)`` at batch 1: forward, backward,
update) or a forward pass, with the logits upsampled to the full-resolution labels.
:func:`training_costs` builds on it: the images the run trained on, each at the scale its
action chose (dropped images cost nothing), batch-norm recalibration, and (from the co-search)
the search's own work, as per-phase figures whose sums are the totals.

>>> from torch import nn
>>> net = nn.Conv2d(3, 4, 1)
>>> inf = inference_costs(net, (16, 32), 0.5, ["jetson_tx2"])
>>> inf["jetson_tx2"]["macs"]
1536.0
>>> tr = training_costs(net, (16, 32), {"drop": 3, 0.5: 2}, ["jetson_tx2"])
>>> tr["jetson_tx2"]["images"], tr["jetson_tx2"]["macs"] > 0
(2, True)
>>> w = work_costs(net, (16, 32), [Work("probe", 1.0, 4, False)], ["jetson_tx2"])
>>> w["jetson_tx2"]["macs"] == 4 * inf["jetson_tx2"]["macs"] * 4
True
"""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

import cost_models
import supernet
from supernet import scaled_size
from supernet.deployed import DeployedNet

TOTALS = ("macs", "params", "activations", "dram_bytes", "energy_j", "latency_s")
WORK_KEYS = ("macs", "dram_bytes", "energy_j", "latency_s")   # the figures that add up over work and phases
PHASES = ("search", "train", "bn_recalibration")                # in the order they run


class Work(NamedTuple):
    """``images`` passes of a network at input ``scale``: training steps (``training``) or forwards."""

    label: str
    scale: float
    images: int
    training: bool


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
    """``{target: {macs, params, activations, dram_bytes, energy_j, latency_s, input_shape}}`` of one image of
    native ``size``: the deployed computation (``supernet.DeployedNet``: resize to the inference scale,
    the network, logits back to the native size); ``input_shape`` is the network's own input."""
    out = {}
    for t in targets:
        rep = cost_models.profile(DeployedNet(model, scale), (1, 3, *size), target=t, training=False)
        out[t] = {k: float(getattr(rep, k)) for k in TOTALS}
        out[t]["input_shape"] = [1, 3, scaled_size(size[0], scale), scaled_size(size[1], scale)]
    return out


def work_costs(model: nn.Module, size: Sequence[int], work: Sequence[Work],
               targets: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{target: {macs, dram_bytes, energy_j, latency_s, images, per_work}}`` of ``work`` on
    ``model`` at full image ``size``: the totals, the images of the training items (``images``),
    and per label ``{images, macs, dram_bytes, energy_j, latency_s}`` (items of one label add up).
    Each distinct (scale, training) is profiled once."""
    out: dict[str, dict[str, Any]] = {}
    for t in targets:
        profiles: dict[tuple[float, bool], dict[str, float]] = {}
        total = {k: 0.0 for k in WORK_KEYS}
        per_work: dict[str, dict[str, float]] = {}
        images = 0
        for item in work:
            entry = per_work.setdefault(item.label, {"images": 0, **{k: 0.0 for k in WORK_KEYS}})
            entry["images"] += int(item.images)
            if item.images == 0 or item.scale <= 0:
                continue
            key = (float(item.scale), bool(item.training))
            if key not in profiles:
                profiles[key] = _profile(model, size, key[0], t, training=key[1])
            for k in WORK_KEYS:
                value = item.images * profiles[key][k]
                entry[k] += value
                total[k] += value
            images += int(item.images) if item.training else 0
        out[t] = {**total, "images": images, "per_work": per_work}
    return out


def phase_totals(phases: Mapping[str, Mapping[str, Mapping[str, Any]]], targets: Sequence[str]) -> dict[str, dict]:
    """``{target: {macs, dram_bytes, energy_j, latency_s, phases}}``: each phase's ``WORK_KEYS``
    figures (phases given as ``{phase: {target: costs}}``) and their sums, in ``PHASES`` order."""
    out = {}
    for t in targets:
        per = {name: {k: float(phases[name][t][k]) for k in WORK_KEYS}
               for name in sorted(phases, key=lambda n: PHASES.index(n) if n in PHASES else len(PHASES))}
        out[t] = {k: sum(p[k] for p in per.values()) for k in WORK_KEYS}
        out[t]["phases"] = per
    return out


def training_costs(model: nn.Module, size: Sequence[int], counts: Mapping[Any, int],
                   targets: Sequence[str], bn_pass: tuple[float, int] | Sequence[Work] | None = None,
                   search: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict]:
    """``{target: {macs, dram_bytes, energy_j, latency_s, images, per_action, phases}}`` of
    training on ``counts[action]`` images per action (``"drop"`` or a scale) at full image ``size``.

    ``bn_pass=(scale, n)`` (or a list of forward :class:`Work`): forward passes of batch-norm
    recalibration, the ``bn_recalibration`` phase, also listed as ``per_action["bn_recalibration"]``.
    ``search``: the co-search's own cost (:func:`work_costs` of its work on the network it ran),
    the ``search`` phase. The totals are the sums over ``phases``; ``images`` counts trained
    images of the train phase only."""
    work = [Work(str(a), float(a), int(n), True) for a, n in counts.items() if a != "drop"]
    phases = {"train": work_costs(model, size, work, targets)}
    if bn_pass:
        bn_work = [Work("bn_recalibration", float(bn_pass[0]), int(bn_pass[1]), False)] \
            if isinstance(bn_pass, tuple) and not isinstance(bn_pass, Work) else list(bn_pass)
        phases["bn_recalibration"] = work_costs(model, size, [w._replace(label="bn_recalibration")
                                                               for w in bn_work], targets)
    if search:
        phases["search"] = search
    out = phase_totals(phases, targets)
    for t in targets:
        per_action = {}
        for action, n in counts.items():
            one = phases["train"][t]["per_work"].get(str(action), {"energy_j": 0.0, "macs": 0.0})
            per_action[str(action)] = {"images": int(n), "energy_j": one["energy_j"], "macs": one["macs"]}
        if "bn_recalibration" in phases:
            bn = phases["bn_recalibration"][t]
            per_action["bn_recalibration"] = {"images": bn["per_work"]["bn_recalibration"]["images"],
                                              "energy_j": bn["energy_j"], "macs": bn["macs"]}
        out[t] = {**out[t], "images": phases["train"][t]["images"], "per_action": per_action}
    return out


def full_network_reference(family: str, num_classes: int, space_options: Mapping[str, Any] | None,
                           input_size: Sequence[int], image_size: Sequence[int], train_images: int,
                           targets: Sequence[str], bn_images: int = 0) -> dict[str, Any]:
    """The full network's costs from the cost model alone (nothing is trained): width 1.0, every
    branch, input scale 1.0, and ``train_images`` training steps' images all at full resolution
    (plus ``bn_images`` forward passes of batch-norm recalibration, as ``train.recalibrate_bn``
    adds to every trained network).

    ``input_size``: the deployment (H, W) the derived network's inference cost is for
    (``cost.input_size`` or the test images' size); ``image_size``: the training images' (H, W);
    ``train_images``: how many images the derived network's training went through, dropped ones
    included (the same schedule at full resolution). Returns a report-run-like dict
    ``{"name", "arch", "inference": {target: costs}, "training": {target: costs},
    "train_images", "input_size", "image_size"}`` (no ``miou``: it was not trained).

    >>> ref = full_network_reference("multires", 4, {"widest": 0.25}, (32, 64), (32, 64), 10, ["jetson_tx2"])
    >>> ref["training"]["jetson_tx2"]["images"], ref["inference"]["jetson_tx2"]["macs"] > 0
    (10, True)
    """
    arch = supernet.baseline_arch(family, num_classes, **dict(space_options or {}))
    model = supernet.build_from_arch(arch).eval()
    return {"name": "full network (cost model)", "arch": arch["choices"],
            "inference": inference_costs(model, input_size, 1.0, targets),
            "training": training_costs(model, image_size, {1.0: int(train_images)}, targets,
                                       (1.0, int(bn_images)) if bn_images else None),
            "train_images": int(train_images), "input_size": list(input_size), "image_size": list(image_size)}
