"""The training budget at the hand-over (``search.train_target``): the data gate gives back what it need not save.

The whole training that produces the derived network (the search's work so far, the rest of the
budget on the derived network, batch-norm recalibration) is projected with the cost model on
``search.target`` and set against the full network trained on ``train.steps``, the ratio the
benchmark's training-energy goal reads. If the learned gate projects below
``search.train_target``, its logits are shifted toward the dearer actions (``+ shift * cost``, one
shift for every image: :func:`search.derive.shift_to_budget`) as far as the target allows, so
the images it was least sure to slim train at the deployed scale again; the shift is added to the
gate's last bias, so arch.json's gate (``python -m search train --arch``) makes the same choices.
A gate that projects above the target is left as it learned: the target never slims more.
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

import torch
from torch import Tensor

import supernet
from search.config import Config
from search.data.batches import epoch_batch_sizes
from search.derive import capped_actions, inference_scale, shift_to_budget
from search.report.costs import Work, full_network_reference, search_costs, work_costs
from search.train.trainer import deployed_steps, recalibration_chunks
from supernet.gates import DataGate


class TrainingProjection:
    """The projected total training energy of the derived network (``arch``) on ``target``, per
    choice of the gate's actions over the train split, as a fraction of the full network's."""

    def __init__(self, cfg: Config, arch: dict[str, Any], search: dict[str, Any], num_train: int,
                 image_size: Sequence[int], test_size: Sequence[int], steps_left: int, handover_bn: bool,
                 min_batch: int = 2) -> None:
        self.cfg, self.target = cfg, cfg.search.target
        self.scale, self.image_size, self.min_batch = inference_scale(arch), tuple(image_size), min_batch
        self.model = supernet.build_from_arch(arch).eval()
        batch = cfg.data.batch_size
        bn = sum(len(c) for c in recalibration_chunks(num_train, batch))
        bn_work = [Work("bn", self.scale, bn, False, batch)] * (int(handover_bn) + int(cfg.train.recalibrate_bn))
        spent = search_costs(arch["family"], arch["num_classes"], arch.get("space") or {}, image_size, search,
                             [self.target])
        self.fixed = (spent[self.target]["energy_j"] if spent else 0.0) + self.energy(bn_work)
        self.full = full_network_reference(arch["family"], arch["num_classes"], arch.get("space"), test_size,
                                           image_size, cfg.train.steps * batch, [self.target],
                                           bn_images=bn if cfg.train.recalibrate_bn else 0,
                                           batch=batch)["training"][self.target]["energy_j"]
        self.deployed_steps = deployed_steps(steps_left, cfg.train.deployed_share)
        self.gated_steps = steps_left - self.deployed_steps
        self.steps: dict[tuple[float, int], float] = {}

    def energy(self, work: Sequence[Work]) -> float:
        return float(work_costs(self.model, self.image_size, work, [self.target])[self.target]["energy_j"])

    def step_energy(self, scale: float, images: int) -> float:
        """One training step of ``images`` images at ``scale`` (0: a dropped batch, nothing computed)."""
        if (scale, images) not in self.steps:
            self.steps[scale, images] = self.energy([Work("step", scale, images, True, images)]) if scale > 0 else 0.0
        return self.steps[scale, images]

    def action_costs(self, actions: Sequence[Any]) -> Tensor:
        """Each action's step cost relative to a step at the deployed scale (drop: 0)."""
        batch = self.cfg.data.batch_size
        deployed = self.step_energy(self.scale, batch)
        return torch.tensor([self.step_energy(sc, batch) / deployed for sc in self.scales(actions)])

    def scales(self, actions: Sequence[Any]) -> list[float]:
        """The input scale each action trains at (drop: 0)."""
        return [0.0 if a == "drop" else float(a) for a in capped_actions(actions, self.scale)]

    def __call__(self, choice: Tensor, actions: Sequence[Any]) -> float:
        """The total (search, training, batch-norm) over the full network's, with image ``i`` at
        ``actions[choice[i]]`` for the gated steps (batches of one action, as
        :func:`search.data.batches.bucketed_indices` cuts them), then every image at the deployed scale."""
        batch, per_epoch, energy = self.cfg.data.batch_size, 0, 0.0
        for k, scale in enumerate(self.scales(actions)):
            for images in epoch_batch_sizes(int((choice == k).sum()), batch, self.min_batch):
                per_epoch += 1
                energy += self.step_energy(scale, images)
        gated = self.gated_steps * energy / max(per_epoch, 1)
        deployed = self.deployed_steps * self.step_energy(self.scale, batch)
        return (self.fixed + gated + deployed) / self.full


@torch.no_grad()
def fit_gate_to_train_target(gate: DataGate, features: Tensor, projection: TrainingProjection,
                             target: float) -> tuple[DataGate, dict[str, float]]:
    """``(gate, summary)``: a copy of ``gate`` whose last bias is shifted so its choices on
    ``features`` project to at most ``target`` (:func:`search.derive.shift_to_budget`), and the
    projected fractions of the full network's training energy before and after."""
    logits, actions = gate(features).cpu(), list(gate.actions)
    costs = projection.action_costs(actions)
    shift = shift_to_budget(logits, costs, lambda choice: projection(choice, actions), target)
    fitted = copy.deepcopy(gate)
    fitted.net[-1].bias.add_(shift * costs.to(fitted.net[-1].bias.device, fitted.net[-1].bias.dtype))
    learned, kept = logits.argmax(-1), fitted(features).cpu().argmax(-1)
    return fitted, {"learned": projection(learned, actions), "fitted": projection(kept, actions), "shift": shift,
                    "moved": int((learned != kept).sum())}
