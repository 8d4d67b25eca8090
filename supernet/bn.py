"""Batch-norm recalibration: exact statistics for a derived (or any) network.

>>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
>>> recalibrate_bn(net, [torch.randn(2, 3, 8, 8) for _ in range(3)])
3
>>> int(net[1].num_batches_tracked)
3
"""
from __future__ import annotations

from typing import Iterable, Iterator

import torch  # noqa: F401  (the module doctest uses it)
from torch import Tensor, nn
from torch.optim.swa_utils import update_bn


def recalibrate_bn(model: nn.Module, batches: Iterable[Tensor | tuple | list]) -> int:
    """Reset every batch-norm's running statistics and re-estimate them over ``batches``.

    :func:`torch.optim.swa_utils.update_bn`: the model runs in train mode without gradients,
    and the running mean and variance become the cumulative (equal-weight) average over the
    batches (``momentum=None``). Items may be tensors or ``(image, label, ...)`` tuples (the
    first element is used). The model's mode and momenta are restored, also when a forward
    pass fails (``update_bn`` alone restores them only on success). Returns the number of
    batches (a model without batch-norm is not run: the batches are only counted). Note: a
    batch of one image fails in any batch-norm over a 1x1 map, as in plain PyTorch.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta, was_training = [m.momentum for m in norms], model.training
    count = 0

    def counted() -> Iterator[Tensor | tuple | list]:
        nonlocal count
        for batch in batches:
            count += 1
            yield batch

    try:
        if norms:
            update_bn(counted(), model)
        else:
            count = sum(1 for _ in batches)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)
    if count == 0:
        raise ValueError("recalibrate_bn needs at least one batch")
    return count
