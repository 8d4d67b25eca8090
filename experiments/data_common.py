"""Shared pieces of the data experiments (``experiments/data_*.py``): machine line, in-memory
synthetic splits, a fixed baseline network, its training (the engine's loop and weight step),
evaluation per image and per complexity quartile."""
from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

import supernet
from cost_models.calibrate import machine_summary as machine  # noqa: F401 (re-exported)
from search.data import build_dataset, complexity_features, complexity_score
from search.data.slimming import action_key
from search.engine.distributed import MultiInput
from search.engine.loop import HookBase, Loop, Stats
from search.evaluate.metrics import ConfusionMatrix
from search.train.loss import weight_step
from supernet.gates import forward_at_scale

class Split:
    """A synthetic split held in memory: untransformed items, features, complexity score."""

    def __init__(self, split: str, size: int, image_size: tuple[int, int], seed: int, cache_dir: str,
                 augment: bool = False, scale_range: tuple[float, float] = (0.5, 2.0)) -> None:
        self.ds = build_dataset({"name": "synthetic", "split": split, "size": size, "image_size": list(image_size),
                                 "seed": seed, "augment": augment, "scale_range": list(scale_range),
                                 "cache_dir": cache_dir})
        items = [self.ds.load(i) for i in range(size)]
        self.images = torch.stack([im for im, _ in items])
        self.masks = torch.stack([m for _, m in items])
        self.features = complexity_features(self.ds)
        self.score = complexity_score(self.features)
        self.level = torch.tensor([self.ds.level(i) for i in range(size)])

    def batch(self, indices: Tensor, epoch: int) -> tuple[Tensor, Tensor]:
        """Images and masks of ``indices``, with the dataset's training transform if any."""
        if self.ds.transform is None:
            return self.images[indices], self.masks[indices]
        pairs = [self.ds.transform(self.images[i], self.masks[i], index=int(i), epoch=epoch) for i in indices]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])

def baseline_net(family: str, num_classes: int, width_mult: float, seed: int) -> tuple[nn.Module, dict]:
    torch.manual_seed(seed)
    arch = supernet.baseline_arch(family, num_classes, width_mult=width_mult)
    return supernet.build_from_arch(arch), arch

@torch.no_grad()
def per_image_confusion(model: nn.Module, split: Split, scale: float, num_classes: int,
                        batch_size: int = 32) -> list[ConfusionMatrix]:
    """One confusion matrix per image, the input at ``scale``, logits upsampled to full-res labels."""
    model.eval()
    out = []
    for start in range(0, len(split.images), batch_size):
        images = split.images[start:start + batch_size]
        pred = forward_at_scale(model, images, scale).argmax(1)
        for p, m in zip(pred, split.masks[start:start + batch_size]):
            cm = ConfusionMatrix(num_classes)
            cm.update(p, m)
            out.append(cm)
    return out

def miou_of(cms: list[ConfusionMatrix], indices) -> float:
    total = ConfusionMatrix(cms[0].num_classes)
    for i in indices:
        total.mat += cms[int(i)].mat
    return total.miou()

def quartiles(score: Tensor) -> list[np.ndarray]:
    """Indices of the four quarters of ``score``, simplest first."""
    return np.array_split(np.argsort(score.numpy(), kind="stable"), 4)

class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start


class EpochLog(HookBase):
    """One line per epoch (every ``per_epoch`` steps): the mean of the steps' ``loss``, the sums
    of the ``counts`` statistics (``name:sum``) and the wall time since the loop began."""

    def __init__(self, per_epoch: int, name: str = "", counts: Sequence[str] = (), log=print) -> None:
        self.per_epoch, self.name, self.counts, self.log = per_epoch, name, list(counts), log
        self._reset()

    def _reset(self) -> None:
        self.loss, self.sums = 0.0, {k: 0 for k in self.counts}

    def before_loop(self, loop: Loop) -> None:
        self.timer = Timer()

    def after_step(self, loop: Loop, stats: Stats) -> None:
        self.loss += stats["loss"]
        for k in self.counts:
            self.sums[k] += int(stats[k])
        if loop.step % self.per_epoch == 0:
            mix = " [" + " ".join(f"{k}:{v}" for k, v in self.sums.items()) + "]" if self.counts else ""
            self.log(f"{self.name}epoch {loop.step // self.per_epoch}/{loop.total // self.per_epoch} "
                     f"loss {self.loss / self.per_epoch:.4f}{mix} {self.timer():.0f}s")
            self._reset()


def train(model: nn.Module, split: Split, epochs: int, batch: int, lr: float, seed: int,
          actions: Sequence = (1.0,), choose: Callable[[Tensor], tuple[Tensor, Tensor]] | None = None,
          after_step: Callable[[int, int, Tensor, Tensor, Tensor], None] | None = None,
          name: str = "", log=print) -> dict[str, int]:
    """Train ``model`` on ``split`` for ``epochs`` x ``len(split) // batch`` steps of
    :func:`search.train.loss.weight_step` in :class:`search.engine.loop.Loop` (AdamW, weight decay
    1e-4, cosine learning rate to 0; epoch ``e`` visits the images in a fixed permutation seeded
    ``seed * 1000 + e``, with the split's training transform). One line per epoch (:class:`EpochLog`).

    ``choose(indices) -> (choice, weights)``: each image's action index into ``actions`` and loss
    weight (default: every image at the largest scale, weight 1). ``after_step(t, epoch, indices,
    images, masks)`` runs after each step's update (e.g. the gates' probes).
    Returns the images trained per action, ``{action_key: n}`` (dropped images included).
    """
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    n = len(split.images)
    per_epoch = n // batch
    steps = epochs * per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    full = list(actions).index(max((a for a in actions if a != "drop"), key=float))
    keys = [action_key(a) for a in actions]
    net, counts = MultiInput(model), dict.fromkeys(keys, 0)

    def step(t: int) -> Stats:
        epoch, k = divmod(t, per_epoch)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        idx = perm[k * batch:(k + 1) * batch]
        images, masks = split.batch(idx, epoch)
        if choose is None:
            choice, weights = torch.full((len(idx),), full), torch.ones(len(idx))
        else:
            choice, weights = choose(idx)
        out = weight_step(net, opt, images, masks, torch.arange(len(idx)), choice, weights, actions)
        sched.step()
        if after_step is not None:
            after_step(t, epoch, idx, images, masks)
        per_action = dict(zip(keys, out["counts"].tolist()))
        for key, c in per_action.items():
            counts[key] += c
        return {"loss": out["loss"], **per_action}

    model.train()
    hooks = [EpochLog(per_epoch, name, keys if len(keys) > 1 else (), log)]
    Loop(name.strip() or "train", step, total=steps, hooks=hooks).run()
    return counts
