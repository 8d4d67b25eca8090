"""The weight optimizer and the learning-rate schedule, one factory each for both phases.

:func:`make_optimizer` builds the optimizer of the network weights W from a name
(``search.w_optimizer`` in the co-search, ``train.optimizer`` in the training);
:func:`lr_factor` is the learning rate of a step relative to the base (``train.schedule``),
for ``torch.optim.lr_scheduler.LambdaLR``.

>>> w = torch.nn.Parameter(torch.ones(2))
>>> type(make_optimizer("adamw", [w], lr=0.01, weight_decay=0.01)).__name__
'AdamW'
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "poly")


def make_optimizer(kind: str, params: Iterable[torch.nn.Parameter], lr: float, momentum: float = 0.9,
                   weight_decay: float = 0.0, betas: Sequence[float] = (0.9, 0.999),
                   nesterov: bool = False) -> torch.optim.Optimizer:
    """``"sgd"``: SGD with ``momentum`` (Nesterov's if ``nesterov``); ``"adamw"``: AdamW with ``betas``
    (``momentum`` and ``nesterov`` unused). ``weight_decay``: L2 for SGD, decoupled for AdamW.

    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> make_optimizer("sgd", [w], lr=0.1, momentum=0.9, nesterov=True).defaults["nesterov"]
    True
    """
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
    if kind == "adamw":
        b1, b2 = betas
        return torch.optim.AdamW(params, lr=lr, betas=(float(b1), float(b2)), weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {kind!r}; expected one of {', '.join(OPTIMIZERS)}")


def lr_factor(step: int, total: int, warmup: int, schedule: str = "cosine", power: float = 0.9) -> float:
    """The learning rate of ``step`` relative to the base: linear warm-up over ``warmup`` steps,
    then decay to 0 at the last step (``total - 1``): ``"cosine"`` (half a cosine) or ``"poly"``
    (``(1 - progress) ** power``, DeepLab's schedule).

    >>> [round(lr_factor(t, 10, 2), 3) for t in (0, 1, 2, 6, 9)]
    [0.5, 1.0, 1.0, 0.389, 0.0]
    >>> [round(lr_factor(t, 10, 2, "poly", 0.9), 3) for t in (0, 1, 2, 6, 9)]
    [0.5, 1.0, 1.0, 0.466, 0.0]
    """
    if step < warmup:
        return (step + 1) / warmup
    frac = min((step - warmup) / max(1, total - warmup - 1), 1.0)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * frac))
    if schedule == "poly":
        return (1.0 - frac) ** power
    raise ValueError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
