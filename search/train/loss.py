"""The weight (W) step of a mixed-resolution batch, in one forward call (DDP-friendly), shared by
the co-search and the training of a fixed network.

Each image has an action (drop, or a scale) and a loss weight. Images are grouped by
scale, each group runs at its scale, logits are upsampled to the full-resolution labels,
and the loss is ``sum_i w_i * loss_i / kept`` where ``kept`` counts the kept images of the
*global* batch, times the world size: DDP's gradient average then equals the gradient of
the global batch's loss.

>>> from torch import nn
>>> from search.engine.distributed import MultiInput
>>> net = MultiInput(nn.Conv2d(3, 2, 1))
>>> images, masks = torch.rand(4, 3, 8, 8), torch.zeros(4, 8, 8, dtype=torch.long)
>>> loss, plain = gated_loss(net, images, masks, torch.tensor([0, 1, 3, 3]), torch.ones(4),
...                          ("drop", 0.5, 0.75, 1.0), kept_global=3)
>>> bool(loss > 0), bool(plain > 0)
(True, True)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from supernet.gates import LossFn, per_image_class_balanced_loss, per_image_loss, resize_images

# train.loss: the per-image loss of every weight step (the search's and the training's)
LOSSES: dict[str, LossFn] = {"ce": per_image_loss, "class_balanced": per_image_class_balanced_loss}


def gated_loss(model: nn.Module, images: Tensor, masks: Tensor, choice: Tensor, weights: Tensor,
               actions: Sequence, kept_global: int, world_size: int = 1,
               loss_fn: LossFn = per_image_loss) -> tuple[Tensor, Tensor]:
    """``(loss to back-propagate, mean unweighted per-image loss of the kept local images)``.

    ``model`` takes several inputs in one call (:class:`search.engine.distributed.MultiInput`, maybe
    inside DDP); ``choice`` holds action indices into ``actions`` for the local images; ``loss_fn``
    gives each image's loss (``train.loss``: :data:`LOSSES`).
    """
    groups = []
    for k, action in enumerate(actions):
        sel = (choice == k).nonzero().flatten()
        if action != "drop" and len(sel):
            groups.append((sel, float(action)))
    if not groups:  # every local image dropped: a zero loss that still touches the graph
        outs = model(resize_images(images[:1], min(a for a in actions if a != "drop")).expand(2, -1, -1, -1))
        return outs[0].sum() * 0.0, images.new_zeros(())
    # a group of one image runs twice over: batch-norm in training mode needs two values per
    # channel, which one image on a 1x1 map (global pooling, a 1/32 branch) does not give
    inputs = [resize_images(images[sel], s) for sel, s in groups]
    outs = model(*[x.expand(2, *x.shape[1:]) if len(x) == 1 else x for x in inputs])
    total, plain, n = images.new_zeros(()), images.new_zeros(()), 0
    for (sel, _), logits in zip(groups, outs):
        logits = logits[:len(sel)]
        if logits.shape[-2:] != masks.shape[-2:]:
            logits = F.interpolate(logits, size=masks.shape[-2:], mode="bilinear", align_corners=False)
        per_image = loss_fn(logits, masks[sel])
        total = total + (per_image * weights[sel]).sum()
        plain, n = plain + per_image.detach().sum(), n + len(sel)
    return total * world_size / max(kept_global, 1), plain / n


@dataclass
class Precision:
    """Mixed precision of the weight steps: ``torch.autocast`` to ``dtype`` (None: fp32), with a
    gradient scaler for fp16 (whose state belongs in the checkpoint)."""

    device_type: str = "cpu"
    dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None


def precision_for(setting: str, device: torch.device) -> Precision:
    """``run.amp``: ``auto`` is bf16 on CUDA and fp32 on the CPU; ``off``, ``bf16``, ``fp16``.

    >>> precision_for("auto", torch.device("cpu")).dtype is None
    True
    """
    kind = device.type
    if setting == "auto":
        setting = "bf16" if kind == "cuda" else "off"
    if setting == "off":
        return Precision(kind)
    if setting == "fp16":
        return Precision(kind, torch.float16, torch.amp.GradScaler(kind))
    return Precision(kind, torch.bfloat16)


def weight_step(model: nn.Module, opt: torch.optim.Optimizer, images: Tensor, masks: Tensor, pos: Sequence[int],
                choice: Tensor, weights: Tensor, actions: Sequence, world_size: int = 1,
                precision: Precision | None = None, loss_fn: LossFn = per_image_loss) -> dict[str, Any]:
    """One optimiser step on :func:`gated_loss`. ``choice`` and ``weights`` cover the *global* batch,
    ``pos`` are this rank's positions in it, ``images`` and ``masks`` this rank's items.

    Returns ``{"loss": mean plain loss, "kept_fraction", "counts": images per action}``; a batch
    whose every image is dropped computes nothing and has no ``"loss"``.
    """
    p = precision or Precision(images.device.type)
    counts = torch.bincount(choice.cpu(), minlength=len(actions))
    dropped = int(counts[list(actions).index("drop")]) if "drop" in actions else 0
    kept = len(choice) - dropped
    if kept == 0:   # the same on every rank: the global batch's choice
        return {"kept_fraction": 0.0, "counts": counts}
    with torch.autocast(p.device_type, dtype=p.dtype, enabled=p.dtype is not None):
        loss, plain = gated_loss(model, images, masks, choice[pos], weights[pos], actions, kept, world_size, loss_fn)
    opt.zero_grad(set_to_none=True)
    if p.scaler is not None:
        p.scaler.scale(loss).backward()
        p.scaler.step(opt)
        p.scaler.update()
    else:
        loss.backward()
        opt.step()
    return {"loss": float(plain), "kept_fraction": kept / len(choice), "counts": counts}
