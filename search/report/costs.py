"""Inference cost of a fixed network, and the cost of the work that produced it, on every target.

Inference: one image at the network's inference scale, logits resized to the full output
resolution (part of the deployed computation). Work (:func:`work_costs`, the one accounting
function): a list of :class:`Work` items, each ``images`` images of one network at one scale
in batches of ``batch``, as training steps (``cost_models.profile(..., training=True)``:
forward, backward, update) or forward passes, with the logits upsampled to the full-resolution
labels. A batch is profiled as one pass, so what a batch pays once (a kernel launch per layer,
reading the weights) is shared by its images, as on the hardware. :func:`training_costs`
builds on it: the training steps of a run (:func:`step_work`: each action's images of each
step as one batch at the action's scale; dropped images cost nothing), batch-norm
recalibration, and (from the co-search) the search's own work, as per-phase figures whose sums
are the totals.

>>> from torch import nn
>>> net = nn.Conv2d(3, 4, 1)
>>> inf = inference_costs(net, (16, 32), 0.5, ["jetson_tx2"])
>>> inf["jetson_tx2"]["macs"]
1536.0
>>> steps = step_work(["drop", 0.5], [[0, 0, 1], [0, 2, 0]])   # one step: 2 images dropped, 2 at 0.5
>>> tr = training_costs(net, (16, 32), steps, ["jetson_tx2"])
>>> tr["jetson_tx2"]["images"], tr["jetson_tx2"]["per_action"]["drop"]["images"], tr["jetson_tx2"]["macs"] > 0
(2, 2, True)
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
    """``images`` images of a network at input ``scale`` in batches of ``batch``: training steps
    (``training``) or forward passes; ``choices``: of the network of these choices cut from a
    supernet (a sliced pass of the search: search.compute) instead of the given network."""

    label: str
    scale: float
    images: int
    training: bool
    batch: int = 1
    choices: Mapping[str, Any] | None = None


def row_batch(row: Sequence[Any], index: int) -> int:
    """The batch size a stored work row keeps at ``row[index]``; a row written before batches were
    recorded has none, and its images counted one at a time: 1."""
    return int(row[index]) if len(row) > index else 1


def step_work(actions: Sequence[Any], groups: Sequence[Sequence[int]]) -> list[Work]:
    """The training steps of a run as :class:`Work`, one item per action and batch size:
    ``groups[a][n]`` steps gave action ``actions[a]`` ``n`` images (``"drop"``: scale 0, no cost)."""
    rows = groups.tolist() if hasattr(groups, "tolist") else groups
    return [Work(str(a), 0.0 if a == "drop" else float(a), n * int(steps), True, n)
            for a, row in zip(actions, rows) for n, steps in enumerate(row) if n and steps]


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


def _profile(model: nn.Module, size: Sequence[int], scale: float, target: str, training: bool,
             batch: int = 1) -> dict[str, float]:
    """The figures of one pass of a batch of ``batch`` images at ``scale``."""
    shape = (batch, 3, scaled_size(size[0], scale), scaled_size(size[1], scale))
    rep = cost_models.profile(Deployed(model, size), shape, target=target, training=training)
    return {k: float(getattr(rep, k)) for k in TOTALS}


def _sliced_profile(net: supernet.Supernet, choices: Mapping[str, Any], size: Sequence[int], scale: float,
                    target: str, training: bool, batch: int) -> dict[str, float]:
    """:func:`_profile` of the network of ``choices`` cut from ``net``: its cost plan (equal to
    profiling that network, without building it) plus the logits' resize to ``size``."""
    shape = (batch, 3, scaled_size(size[0], scale), scaled_size(size[1], scale))
    cost = net.expected_cost(target, shape, training=training, probs=net.one_hot_probs(choices))
    out = {k: float(getattr(cost, k)) for k in WORK_KEYS}
    if tuple(shape[2:]) != tuple(size):
        rep = cost_models.profile(Deployed(nn.Identity(), size), (batch, net.num_classes, *shape[2:]),
                                  target=target, training=training)
        out = {k: v + float(getattr(rep, k)) for k, v in out.items()}
    return out


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


def work_costs(model: nn.Module, size: Sequence[int], work: Sequence[Work], targets: Sequence[str],
               sliced_from: supernet.Supernet | None = None) -> dict[str, dict[str, Any]]:
    """``{target: {macs, dram_bytes, energy_j, latency_s, images, per_work}}`` of ``work`` on
    ``model`` at full image ``size``: the totals, the images of the training items (``images``),
    and per label ``{images, macs, dram_bytes, energy_j, latency_s}`` (items of one label add up).
    Items with ``choices`` are costed on that network cut from ``sliced_from``. Each distinct
    (scale, training, batch, choices) is profiled once, as one pass of a batch."""
    out: dict[str, dict[str, Any]] = {}
    for t in targets:
        profiles: dict[tuple, dict[str, float]] = {}
        total = {k: 0.0 for k in WORK_KEYS}
        per_work: dict[str, dict[str, float]] = {}
        images = 0
        for item in work:
            entry = per_work.setdefault(item.label, {"images": 0, **{k: 0.0 for k in WORK_KEYS}})
            entry["images"] += int(item.images)
            if item.images == 0 or item.scale <= 0:
                continue
            key = (float(item.scale), bool(item.training), int(item.batch),
                   tuple(item.choices.items()) if item.choices else None)
            if key not in profiles:
                profiles[key] = (_sliced_profile(sliced_from, item.choices, size, key[0], t, key[1], key[2])
                                 if item.choices else _profile(model, size, key[0], t, training=key[1], batch=key[2]))
            for k in WORK_KEYS:
                value = item.images / key[2] * profiles[key][k]
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


def training_costs(model: nn.Module, size: Sequence[int], steps: Sequence[Work], targets: Sequence[str],
                   bn_work: Sequence[Work] = (), search: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict]:
    """``{target: {macs, dram_bytes, energy_j, latency_s, images, per_action, phases}}`` of a run's
    training ``steps`` (:func:`step_work`, labelled by action) at full image ``size``.

    ``bn_work``: forward passes of batch-norm recalibration, the ``bn_recalibration`` phase, also
    listed as ``per_action["bn_recalibration"]``. ``search``: the co-search's own cost
    (:func:`work_costs` of its work on the network it ran), the ``search`` phase. The totals are
    the sums over ``phases``; ``images`` counts trained images of the train phase only."""
    phases = {"train": work_costs(model, size, steps, targets)}
    if bn_work:
        phases["bn_recalibration"] = work_costs(model, size, [w._replace(label="bn_recalibration") for w in bn_work],
                                                targets)
    if search:
        phases["search"] = search
    out = phase_totals(phases, targets)
    for t in targets:
        per_action = {label: {"images": int(one["images"]), "energy_j": one["energy_j"], "macs": one["macs"]}
                      for label, one in phases["train"][t]["per_work"].items()}
        if "bn_recalibration" in phases:
            bn = phases["bn_recalibration"][t]
            per_action["bn_recalibration"] = {"images": bn["per_work"]["bn_recalibration"]["images"],
                                              "energy_j": bn["energy_j"], "macs": bn["macs"]}
        out[t] = {**out[t], "images": phases["train"][t]["images"], "per_action": per_action}
    return out


def search_costs(family: str, num_classes: int, space: Mapping[str, Any], image_size: Sequence[int],
                 search: Mapping[str, Any], targets: Sequence[str]) -> dict[str, dict] | None:
    """The co-search's cost on every target: its work (``search["work"]``, rows of
    ``[kind, scale, images, training, batch]``) on the network it actually computes: the supernet at its
    widest (masks only zero channels), i.e. the full-width network with every branch, or for a row
    with a sixth entry (the choices of a sliced pass), that network alone. None: no search."""
    if search.get("work") is None:
        return None
    space = dict(space or {})
    full = supernet.build_from_arch(supernet.baseline_arch(family, num_classes, **space))
    work = [Work(f"{row[0]}@{row[1]}", float(row[1]), int(row[2]), bool(row[3]), row_batch(row, 4),
                 row[5] if len(row) > 5 else None) for row in search["work"]]
    sliced_from = supernet.build_supernet(family, num_classes, **space) if any(w.choices for w in work) else None
    return work_costs(full.eval(), image_size, work, targets, sliced_from)


def full_network_reference(family: str, num_classes: int, space_options: Mapping[str, Any] | None,
                           input_size: Sequence[int], image_size: Sequence[int], train_images: int,
                           targets: Sequence[str], bn_images: int = 0, batch: int = 1) -> dict[str, Any]:
    """The full network's costs from the cost model alone (nothing is trained): width 1.0, every
    branch, input scale 1.0, and ``train_images`` training steps' images all at full resolution
    in batches of ``batch`` (plus ``bn_images`` forward passes of batch-norm recalibration, as
    ``train.recalibrate_bn`` adds to every trained network).

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
            "training": training_costs(model, image_size, [Work("1.0", 1.0, int(train_images), True, batch)], targets,
                                       [Work("bn_recalibration", 1.0, int(bn_images), False, batch)] if bn_images else ()),
            "train_images": int(train_images), "input_size": list(input_size), "image_size": list(image_size)}
