"""Validation during training: a hook that measures val mIoU every ``eval.every`` steps and keeps
the best weights in ``checkpoints/best.pt`` (``{"arch", "state_dict", "step", "val_miou"}``,
readable with ``torch.load(weights_only=True)``). The final mIoU stays the last weights' on the
test split; ``best.pt`` is chosen on the val split only."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from search.engine.loop import HookBase, Loop, Stats
from search.evaluate.evaluate import evaluate
from supernet.files import atomic_write


class PeriodicEval(HookBase):
    """Every ``every`` steps and at the last: val mIoU recorded as ``val/miou``; a new best is saved."""

    def __init__(self, model: nn.Module, evaluate_val: Callable[[nn.Module], float], every: int, run: Any,
                 arch: dict[str, Any], best_path: Path, best: float = -1.0) -> None:
        self.model, self.evaluate_val, self.every, self.run = model, evaluate_val, every, run
        self.arch, self.best_path, self.best = arch, best_path, best

    def after_step(self, loop: Loop, stats: Stats) -> None:
        if loop.step % self.every and loop.step != loop.total:
            return
        miou = self.evaluate_val(self.model)
        self.run.record("val", loop.step, {"miou": miou})
        if miou > self.best:
            self.best = miou
            if self.run.main:
                state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
                atomic_write(self.best_path, lambda p: torch.save(
                    {"arch": self.arch, "state_dict": state, "step": loop.step, "val_miou": miou}, p))


def val_evaluator(splits: Any, scale: float, batch_size: int, env: Any, device: Any) -> Callable[[nn.Module], float]:
    """``model -> val mIoU`` at the arch's inference scale."""
    return lambda model: float(evaluate(model, splits.val, splits.num_classes, scale, batch_size, env, device)["miou"])
