"""Batch-norm recalibration: exact statistics for a derived (or any) network.

>>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
>>> recalibrate_bn(net, [torch.randn(2, 3, 8, 8) for _ in range(3)])
3
>>> int(net[1].num_batches_tracked)
3
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor, nn


def recalibrate_bn(model: nn.Module, batches: Iterable[Tensor | tuple | list]) -> int:
    """Reset every batch-norm's running statistics and re-estimate them over ``batches``.

    Runs the model in train mode without gradients; the running mean and variance become
    the cumulative (equal-weight) average over the batches (``momentum=None``). Items may
    be tensors or ``(image, label, ...)`` tuples (the first element is used). The model's
    mode and momenta are restored. Returns the number of batches used. Note: a batch of
    one image fails in any batch-norm over a 1x1 map, as in plain PyTorch.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    was_training = model.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    count = 0
    try:
        model.train()
        with torch.no_grad():
            for batch in batches:
                model(batch[0] if isinstance(batch, (tuple, list)) else batch)
                count += 1
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)
    if count == 0:
        raise ValueError("recalibrate_bn needs at least one batch")
    return count
