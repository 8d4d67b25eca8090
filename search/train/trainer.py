"""Training of a fixed network (the derived one, or a baseline), with or without data slimming.

With data slimming, every training image keeps the action the learned gate chose for it
(drop, or a scale) and its loss weight (``1 / P(kept)``, normalised over the batch's kept
images, as in :meth:`supernet.gates.DataGate.loss_weights`). A batch holds images of one
action (:func:`~search.data.batches.bucketed_indices`): one forward at one scale per step, so
the batch pays its fixed costs once, and a dropped batch computes nothing. The last
``train.deployed_share`` of the steps put every image at the network's deployed (inference)
scale, so the network ends on the input it will see (FixRes, Touvron et al. 2019).

``train.optimizer`` (SGD with momentum, or AdamW), a linear learning-rate warm-up then
``train.schedule`` (cosine or poly) decay (:mod:`search.train.optim`). Step ``t`` draws its
randomness from ``(run.seed, "train", t)``.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from search.config import Config
from search.data.loader import StepBatches
from search.data.splits import Splits
from search.engine.distributed import MultiInput, wrap_ddp
from search.engine.hooks import Checkpoint, Metrics, Progress, WallClock
from search.engine.loop import HookBase, Loop
from search.engine.seeding import seed_step
from search.engine.session import Session
from search.evaluate.evaluate import load_item
from search.train.loss import LOSSES, precision_for, weight_step
from search.train.optim import lr_factor, make_optimizer
from supernet.bn import recalibrate_bn
from supernet.gates import loss_weights, parse_actions, resize_images


class Trainer:
    """The state and the step of one fixed network's training. ``choice`` (N,) is the action
    per train image and ``probs`` (N, K) the gate's probabilities for them; both None: every
    image at ``deployed_scale`` (default: the largest scale in ``actions``), as in the last
    ``train.deployed_share`` of the steps with them."""

    def __init__(self, model: nn.Module, cfg: Config, splits: Splits, session: Session,
                 actions: Sequence[Any] = (1.0,), choice: Tensor | None = None, probs: Tensor | None = None,
                 steps: int | None = None, deployed_scale: float | None = None) -> None:
        self.cfg, self.splits, self.session, self.env = cfg, splits, session, session.env
        self.steps = cfg.train.steps if steps is None else int(steps)   # shared budget: what the search left
        self.model = model.to(session.device).train()
        t = cfg.train
        self.opt = make_optimizer(t.optimizer, self.model.parameters(), t.lr, t.momentum, t.weight_decay, t.betas,
                                  t.nesterov)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda step: lr_factor(step, self.total_steps, t.warmup_steps, t.schedule, t.poly_power))
        self.ddp = wrap_ddp(MultiInput(self.model), self.env)
        self.actions = parse_actions(actions)
        self.drop_index = self.actions.index("drop") if "drop" in self.actions else None
        self.choice, self.probs = choice, probs
        self.full_action = self.actions.index(max((a for a in self.actions if a != "drop"), key=float))
        # the action of the deployed scale, and the first step every image trains at it
        self.deployed_action = self.full_action if deployed_scale is None else self.actions.index(float(deployed_scale))
        self.deployed_from = self.total_steps - deployed_steps(self.total_steps, cfg.train.deployed_share)
        self.batch_groups = new_batch_groups(len(self.actions), cfg.data.batch_size)
        self.step, self.wall_s = 0, 0.0
        self.precision = precision_for(cfg.run.amp, session.device)
        self.batches = StepBatches(splits.train, cfg.data.batch_size, cfg.run.seed, "train", self.env,
                                   session.device, cfg.data.workers)
        # with data slimming: a batch holds images of one action, one forward at one scale per step
        self.gated_batches = None if choice is None else StepBatches(
            splits.train, cfg.data.batch_size, cfg.run.seed, "train-gated", self.env, session.device,
            cfg.data.workers, buckets=choice.tolist())

    @property
    def total_steps(self) -> int:
        return self.steps

    def run_step(self, t: int) -> dict[str, float]:
        cfg, dev = self.cfg, self.session.device
        seed_step(cfg.run.seed, "train", t)
        lr = self.opt.param_groups[0]["lr"]
        gated = self.choice is not None and t < self.deployed_from
        idx, pos, images, masks = (self.gated_batches if gated else self.batches)(t)
        if gated:
            choice = self.choice[idx].to(dev)
            sample = nn.functional.one_hot(choice, self.probs.shape[1]).float()
            weights = loss_weights(sample, self.probs[idx].to(dev), self.drop_index)
        else:
            choice = torch.full((len(idx),), self.deployed_action, device=dev)
            weights = torch.ones(len(idx), device=dev)
        out = weight_step(self.ddp, self.opt, images, masks, pos, choice, weights, self.actions, self.env.world_size,
                          self.precision, LOSSES[cfg.train.loss])
        self.sched.step()
        add_batch_groups(self.batch_groups, out["counts"])
        self.step = t + 1
        return {**({"loss": out["loss"]} if "loss" in out else {}), "lr": lr, "kept_fraction": out["kept_fraction"]}

    def run(self, phase: str = "retrain", snapshot: Callable[[], dict[str, Any]] | None = None,
            hooks: Sequence[HookBase] = ()) -> None:
        """Steps from ``self.step`` to the end; checkpoints hold ``snapshot()`` (default: the trainer's
        state); ``hooks`` run after the logging ones, before the checkpoint."""
        cfg, run = self.cfg, self.session.run
        clock = WallClock(self.wall_s)

        def state() -> dict[str, Any]:
            self.wall_s = clock.wall_s
            return (snapshot or self.state_dict)()

        hooks = [clock, Metrics(run, cfg.run.log_every, cfg.data.batch_size),
                 Progress(("loss", "lr"), enabled=cfg.run.progress and run.main), *hooks, Checkpoint(self.session, state)]
        Loop(phase, self.run_step, self.total_steps, start=self.step, hooks=hooks).run()
        self.wall_s = clock.wall_s

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
                "step": self.step, "batch_groups": self.batch_groups.clone(), "wall_s": self.wall_s,
                "scaler": self.precision.scaler.state_dict() if self.precision.scaler else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if state.get("opt") is not None:
            self.opt.load_state_dict(state["opt"])
        if state.get("scaler") is not None and self.precision.scaler is not None:
            self.precision.scaler.load_state_dict(state["scaler"])
        if state.get("sched") is not None:
            self.sched.load_state_dict(state["sched"])
        self.step, self.wall_s = int(state["step"]), float(state["wall_s"])
        if "batch_groups" in state:
            self.batch_groups = state["batch_groups"].clone()
        elif "action_counts" in state:  # a checkpoint of an older version: its steps so far costed per image
            self.batch_groups[:, 1] = state["action_counts"]

    @property
    def action_counts(self) -> Tensor:
        """Images trained per action so far (dropped ones under ``"drop"``)."""
        return (self.batch_groups * torch.arange(self.batch_groups.shape[1])).sum(1)


def deployed_steps(steps: int, share: float) -> int:
    """How many of ``steps`` training steps (the last ones) train every image at the deployed scale
    (``train.deployed_share``).

    >>> deployed_steps(240, 0.25), deployed_steps(10, 0.25)
    (60, 2)
    """
    return round(share * steps)


def new_batch_groups(num_actions: int, batch_size: int) -> Tensor:
    """``groups[a, n]``: how many steps gave action ``a`` exactly ``n`` images (its batch at that
    action's scale); :func:`search.report.costs.step_work` costs them."""
    return torch.zeros(num_actions, batch_size + 1, dtype=torch.int64)


def add_batch_groups(groups: Tensor, counts: Tensor) -> None:
    """Count one step whose images per action are ``counts`` into ``groups`` (in place)."""
    counts = counts.cpu().clamp(max=groups.shape[1] - 1)
    groups[torch.arange(len(counts)), counts] += (counts > 0).long()


def recalibrate_at_scale(model: nn.Module, dataset, scale: float, batch_size: int,
                         device: torch.device | str = "cpu") -> int:
    """Exact batch-norm statistics over ``dataset`` resized to the deployment ``scale``; returns
    the number of images (one forward each, no gradient).

    Data slimming trains on a mix of scales, so the running statistics describe that mix, not
    the scale the network is deployed at (FixRes, Touvron et al. 2019). Every rank uses every
    image, so all ranks keep the same statistics. A last batch of one image is left out (a
    batch-norm over a 1x1 map needs two).
    """
    n = len(dataset)
    chunks = recalibration_chunks(n, batch_size)
    if not chunks:
        raise ValueError(f"batch-norm recalibration needs at least 2 images, the train split has {n}")
    batches = (resize_images(torch.stack([load_item(dataset, i)[0] for i in c]).to(device), scale) for c in chunks)
    recalibrate_bn(model, batches)
    return sum(len(c) for c in chunks)


def recalibration_chunks(n: int, batch_size: int) -> list[range]:
    """The batches :func:`recalibrate_at_scale` passes ``n`` images in (a last one of one image left out).

    >>> [len(c) for c in recalibration_chunks(17, 8)], [len(c) for c in recalibration_chunks(18, 8)]
    ([8, 8], [8, 8, 2])
    """
    chunks = [range(s, min(n, s + batch_size)) for s in range(0, n, batch_size)]
    return [c for c in chunks if len(c) > 1]
