"""Training of a fixed network (the derived one, or a baseline), with or without data slimming.

With data slimming, every training image keeps the action the learned gate chose for it
(drop, or a scale) and its loss weight (``1 / P(kept)``, normalised over the batch's kept
images, as in :meth:`supernet.gates.DataGate.loss_weights`). SGD with momentum, a linear
learning-rate warm-up then cosine decay. Step ``t`` draws its randomness from
``(run.seed, "train", t)``.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from supernet.bn import recalibrate_bn
from supernet.gates import DataGate, resize_images

from search.data.batches import global_batch, seed_step
from search.config import Config
from search.engine.distributed import MultiInput, wrap_ddp
from search.evaluate.evaluate import load_item
from search.train.loss import gated_loss
from search.report.progress import Progress
from search.engine.session import Session
from search.data.splits import Splits


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``.

    >>> [round(lr_at(t, 10, 1.0, 2), 3) for t in (0, 1, 2, 6, 9)]
    [0.5, 1.0, 1.0, 0.389, 0.0]
    """
    if step < warmup:
        return base * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup - 1)
    return base * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))


class Retrain:
    """One network's training run. ``choice`` (N,) action per train image and ``probs`` (N, K)
    the gate's probabilities for them; both None: every image at full resolution."""

    def __init__(self, model: nn.Module, cfg: Config, splits: Splits, session: Session,
                 actions: Sequence[Any] = (1.0,), choice: Tensor | None = None, probs: Tensor | None = None) -> None:
        self.cfg, self.splits, self.session, self.env = cfg, splits, session, session.env
        self.model = model.to(session.device).train()
        t = cfg.train
        self.opt = torch.optim.SGD(self.model.parameters(), lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
        self.ddp = wrap_ddp(MultiInput(self.model), self.env)
        self.rule = DataGate(1, actions)
        self.actions = self.rule.actions
        self.choice, self.probs = choice, probs
        self.full_action = self.actions.index(max((a for a in self.actions if a != "drop"), key=float))
        self.action_counts = torch.zeros(len(self.actions), dtype=torch.int64)
        self.step, self.wall_s = 0, 0.0

    @property
    def total_steps(self) -> int:
        return self.cfg.train.steps

    def run_step(self, t: int) -> dict[str, float]:
        cfg, dev = self.cfg, self.session.device
        seed_step(cfg.run.seed, "train", t)
        lr = lr_at(t, self.total_steps, cfg.train.lr, cfg.train.warmup_steps)
        for group in self.opt.param_groups:
            group["lr"] = lr
        idx, pos, images, masks = global_batch(self.splits.train, cfg.data.batch_size, t, cfg.run.seed, "train",
                                               self.env, dev)
        bs = len(idx)
        if self.choice is not None:
            choice = self.choice[idx].to(dev)
            sample = nn.functional.one_hot(choice, len(self.actions)).float()
            weights = self.rule.loss_weights(sample, self.probs[idx].to(dev))
        else:
            choice = torch.full((bs,), self.full_action, device=dev)
            weights = torch.ones(bs, device=dev)
        counts = torch.bincount(choice.cpu(), minlength=len(self.actions))
        self.action_counts += counts
        kept = bs - (int(counts[self.rule.drop_index]) if self.rule.drop_index is not None else 0)
        loss, plain = gated_loss(self.ddp, images, masks, choice[pos], weights[pos], self.actions, kept,
                                 self.env.world_size)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step = t + 1
        return {"loss": float(plain), "lr": lr, "kept_fraction": kept / bs}

    def run(self, phase: str = "retrain", snapshot: Callable[[], dict[str, Any]] | None = None) -> None:
        """Steps from ``self.step`` to the end; checkpoints hold ``snapshot()`` (default: the trainer's state)."""
        cfg, run = self.cfg, self.session.run
        progress = Progress(phase, self.total_steps, start=self.step, enabled=cfg.run.progress and run.main)
        for t in range(self.step, self.total_steps):
            t0 = time.perf_counter()
            stats = self.run_step(t)
            self.wall_s += time.perf_counter() - t0
            done = t + 1
            if done % cfg.run.log_every == 0 or done == self.total_steps:
                run.record(phase, done, stats)
            progress.update(done, loss=stats["loss"], lr=stats["lr"])
            self.session.step_done(phase, done, self.total_steps, snapshot or self.state_dict)

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "step": self.step,
                "action_counts": self.action_counts.clone(), "wall_s": self.wall_s}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if state.get("opt") is not None:
            self.opt.load_state_dict(state["opt"])
        self.step, self.wall_s = int(state["step"]), float(state["wall_s"])
        self.action_counts = state["action_counts"].clone()


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
    chunks = [range(s, min(n, s + batch_size)) for s in range(0, n, batch_size)]
    chunks = [c for c in chunks if len(c) > 1]
    if not chunks:
        raise ValueError(f"batch-norm recalibration needs at least 2 images, the train split has {n}")
    batches = (resize_images(torch.stack([load_item(dataset, i)[0] for i in c]).to(device), scale) for c in chunks)
    recalibrate_bn(model, batches)
    return sum(len(c) for c in chunks)
