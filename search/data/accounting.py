"""Training-cost accounting: the MACs and energy actually spent, per step and per epoch, by action.

One image trained at scale ``s`` costs one training step (forward, backward, update) of the
network at ``round(s*H) x round(s*W)`` as profiled by ``cost_models.profile(...,
training=True)``, plus the training cost of upsampling its logits to the full-resolution
labels; a dropped image costs 0 (the gate's own MLP is a few hundred MACs and is left out).
Profiles are cached per resolution. Probe passes (:func:`supernet.gates.estimate_regret`)
are inference passes and are counted separately as ``"probe"``. The per-image profile is
taken at batch 1, so the weight update is counted once per image: a slight overestimate
of large-batch steps, identical for every action.

>>> import torch
>>> from torch import nn
>>> fake = lambda model, input_shape, target, training: type("R", (), {"macs": input_shape[2] * input_shape[3], "energy_j": 1e-9})()
>>> acc = TrainingCost(nn.Conv2d(3, 2, 1), image_size=(8, 8), profile=fake)
>>> acc.record_step(torch.tensor([0, 1, 3, 3]))["macs"]["total"]
144.0
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from supernet import scaled_size

ProfileFn = Callable[..., Any]
METRICS = ("macs", "energy_j")


def _key(action: str | float) -> str:
    return "drop" if action == "drop" else str(float(action))


class TrainingCost:
    """Accumulates the training cost of a run whose images take the gate's ``actions``."""

    def __init__(self, model: nn.Module, image_size: Sequence[int], actions: Sequence[str | float] = ("drop", 0.5, 0.75, 1.0),
                 target: str = "jetson_tx2", profile: ProfileFn | None = None) -> None:
        if profile is None:
            from cost_models import profile  # noqa: PLC0415 (cost_models is optional until used)
        self.model, self.image_size, self.target, self._profile = model, tuple(image_size), target, profile
        self.actions = list(actions)
        self._cache: dict[tuple[int, int, bool], dict[str, float]] = {}
        self.epochs: list[dict[str, Any]] = []
        self._epoch = self._empty()

    def _size(self, scale: float) -> tuple[int, int]:
        h, w = self.image_size
        return scaled_size(h, scale), scaled_size(w, scale)

    def _cost(self, scale: float, training: bool) -> dict[str, float]:
        """Cost of one image at ``scale`` (a training step or a forward pass), cached."""
        h, w = self._size(scale)
        if (h, w, training) not in self._cache:
            rep = self._profile(self.model, input_shape=(1, 3, h, w), target=self.target, training=training)
            cost = {m: float(getattr(rep, m)) for m in METRICS}
            up = self._upsample_cost(h, w, training)
            self._cache[(h, w, training)] = {m: cost[m] + up[m] for m in METRICS}
        return self._cache[(h, w, training)]

    def _upsample_cost(self, h: int, w: int, training: bool) -> dict[str, float]:
        """Bilinear upsampling of the logits to the label resolution (0 when already there)."""
        from cost_models.formulas import layer_cost, resize_work  # noqa: PLC0415
        from cost_models.target import load_target  # noqa: PLC0415
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            out = self.model(torch.zeros(1, 3, h, w))
        self.model.train(was_training)
        if tuple(out.shape[-2:]) == self.image_size:
            return {m: 0.0 for m in METRICS}
        c = out.shape[1]
        work = resize_work(out[0].numel(), c * self.image_size[0] * self.image_size[1])
        cost = layer_cost(work, load_target(self.target), training=training)
        return {"macs": float(cost.macs), "energy_j": float(cost.energy_j)}

    def image_cost(self, action: str | float) -> dict[str, float]:
        """Training cost of one image under ``action`` (drop: 0)."""
        return {m: 0.0 for m in METRICS} if action == "drop" else self._cost(float(action), True)

    def relative_cost(self, metric: str = "macs") -> Tensor:
        """Per-action cost divided by the full-resolution cost (K,): the gate's ``train_cost``."""
        full = self._cost(1.0, True)[metric]
        return torch.tensor([self.image_cost(a)[metric] / full for a in self.actions])

    def _empty(self) -> dict[str, Any]:
        keys = [_key(a) for a in self.actions] + ["probe", "total"]
        return {"steps": 0, "images": {_key(a): 0 for a in self.actions}, "probe_images": 0,
                **{m: {k: 0.0 for k in keys} for m in METRICS}}

    def record_step(self, choice: Tensor, probe_images: int = 0,
                    probe_scales: Sequence[float] = (0.5, 0.75, 1.0)) -> dict[str, Any]:
        """Record one step: ``choice`` (N,) action indices or (N, K) one-hot; ``probe_images``
        images probed at every scale in ``probe_scales``. Returns this step's breakdown."""
        idx = choice.argmax(-1) if choice.dim() == 2 else choice
        counts = torch.bincount(idx.flatten().cpu(), minlength=len(self.actions)).tolist()
        step = self._empty()
        step["steps"], step["probe_images"] = 1, int(probe_images)
        for a, n in zip(self.actions, counts):
            step["images"][_key(a)] = n
            for m in METRICS:
                step[m][_key(a)] = n * self.image_cost(a)[m]
        for m in METRICS:
            if probe_images:
                step[m]["probe"] = probe_images * sum(self._cost(float(s), False)[m] for s in probe_scales)
            step[m]["total"] = sum(v for k, v in step[m].items() if k != "total")
        _accumulate(self._epoch, step)
        return step

    def end_epoch(self) -> dict[str, Any]:
        """Close the current epoch; returns its totals."""
        done, self._epoch = self._epoch, self._empty()
        self.epochs.append(done)
        return done

    def to_dict(self) -> dict[str, Any]:
        """Per-image costs, per-epoch breakdowns, totals, and the same images all at full resolution."""
        epochs = self.epochs + ([self._epoch] if self._epoch["steps"] else [])
        total = self._empty()
        for e in epochs:
            _accumulate(total, e)
        n_images = sum(total["images"].values())
        full = {m: n_images * self._cost(1.0, True)[m] for m in METRICS}
        return {"target": self.target, "image_size": list(self.image_size),
                "per_image": {_key(a): self.image_cost(a) for a in self.actions},
                "epochs": epochs, "total": total, "full_resolution": full,
                "relative_to_full": {m: total[m]["total"] / full[m] if full[m] else None for m in METRICS},
                "relative_to_full_without_probes": {
                    m: (total[m]["total"] - total[m]["probe"]) / full[m] if full[m] else None for m in METRICS}}


def _accumulate(into: dict[str, Any], step: dict[str, Any]) -> None:
    into["steps"] += step["steps"]
    into["probe_images"] += step["probe_images"]
    for k, n in step["images"].items():
        into["images"][k] += n
    for m in METRICS:
        for k, v in step[m].items():
            into[m][k] += v


def slimming_summary(chosen: Tensor, actions: Sequence[str | float], features: Tensor) -> dict[str, Any]:
    """The report's ``data_slimming`` entry from the gate's final choice per image.

    ``chosen`` (N,) action indices (e.g. ``gate.choose(features)``); drop counts as scale 0
    in the Spearman correlation between complexity score and chosen scale.

    >>> s = slimming_summary(torch.tensor([0, 1, 1, 2]), ["drop", 0.5, 1.0], torch.arange(4.0)[:, None])
    >>> s["action_histogram"], s["kept_fraction"], round(s["spearman_complexity_vs_scale"], 3)
    ({'drop': 1, '0.5': 2, '1.0': 1}, 0.75, 0.949)
    """
    from scipy.stats import spearmanr  # noqa: PLC0415

    from .features import complexity_score  # noqa: PLC0415
    counts = torch.bincount(chosen.cpu(), minlength=len(actions)).tolist()
    scales = torch.tensor([0.0 if a == "drop" else float(a) for a in actions])[chosen.cpu()]
    score = complexity_score(features.float())
    rho = float(spearmanr(score.numpy(), scales.numpy())[0]) if len(set(scales.tolist())) > 1 else float("nan")
    return {"action_histogram": {_key(a): n for a, n in zip(actions, counts)},
            "kept_fraction": 1.0 - (counts[list(actions).index("drop")] / len(chosen) if "drop" in actions else 0.0),
            "spearman_complexity_vs_scale": rho}
