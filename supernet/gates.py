"""Data slimming: a per-image gate over training actions and the global inference resolution.

The gate (DESIGN.md §2) maps an image's complexity features to logits over actions, by
default ``("drop", 0.5, 0.75, 1.0)``: skip the image this step, or train on it at that input
scale. Labels always stay at full resolution (logits are upsampled), so a downsampled image
is charged for the detail it lost.

* :meth:`DataGate.sample`: a hard Gumbel-softmax sample per image (straight-through) and the
  action probabilities.
* :meth:`DataGate.loss_weights`: the image's weight in the weight (W) loss.
* :func:`estimate_regret`: what each action costs each image in accuracy, measured by the
  current network on a probe batch, by the detail the labels lose (:func:`label_regret`), or by
  what a training step at that scale no longer teaches (:func:`learning_value`).
* :func:`gate_objective`: ``sum_i sum_k p_ik (regret_ik + lambda_train * cost_k)``; "drop
  everything" never minimises it.
* :class:`InferenceResolution`: logits ``rho`` over the deployment input scale.

>>> import torch
>>> gate = DataGate(num_features=8)
>>> sample, probs = gate.sample(torch.randn(4, 8), tau=1.0)
>>> tuple(sample.shape), bool(torch.allclose(probs.sum(1), torch.ones(4)))
((4, 4), True)
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .sites import gumbel_softmax
from .sizes import scaled_size

Action = Union[str, float]
DEFAULT_ACTIONS: tuple[Action, ...] = ("drop", 0.5, 0.75, 1.0)
#: the label of ignored pixels (the one definition: search.data and search.metrics import it)
IGNORE_INDEX = 255
LossFn = Callable[[Tensor, Tensor], Tensor]


def parse_actions(actions: Sequence[Action]) -> tuple[Action, ...]:
    """Validate an action list: ``"drop"`` at most once, distinct scales in (0, 1]."""
    out: list[Action] = []
    for a in actions:
        if a == "drop":
            out.append("drop")
        elif isinstance(a, (int, float)) and not isinstance(a, bool) and 0 < float(a) <= 1:
            out.append(float(a))
        else:
            raise ValueError(f"gate action {a!r}: expected 'drop' or a scale in (0, 1]")
    if len(set(out)) != len(out) or not any(a != "drop" for a in out):
        raise ValueError(f"gate actions {list(actions)}: expected distinct actions with at least one scale")
    return tuple(out)


def parse_scales(scales: Sequence[float]) -> tuple[float, ...]:
    """Validate inference scales: at least one, distinct, each in (0, 1]."""
    if not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scales):
        raise ValueError(f"inference scales {list(scales)}: expected numbers in (0, 1]")
    out = tuple(float(s) for s in scales)
    if not out or len(set(out)) != len(out) or not all(0 < s <= 1 for s in out):
        raise ValueError(f"inference scales {list(scales)}: expected distinct values in (0, 1]")
    return out


def action_scales(actions: Sequence[Action]) -> Tensor:
    """Input scale per action, ``0.0`` for drop."""
    return torch.tensor([0.0 if a == "drop" else float(a) for a in actions])


def gate_sample(logits: Tensor, tau: float, hard: bool = True, generator: torch.Generator | None = None) -> Tensor:
    """:func:`supernet.sites.gumbel_softmax`'s weights, the noise always drawn on the CPU (from
    torch's default generator unless ``generator`` is given): a seed gives the same actions on
    any device."""
    return gumbel_softmax(logits, tau, hard, torch.default_generator if generator is None else generator)[0]


def loss_weights(sample: Tensor, probs: Tensor, drop_index: int | None, max_weight: float = 4.0) -> Tensor:
    """Each image's weight in the W loss (N,), detached, from its action ``sample`` (N, K one-hot)
    and the gate's probabilities ``probs`` (N, K).

    Dropped images weigh 0. A kept image weighs ``1 / P(kept)`` (importance weighting: in
    expectation over gate samples every image contributes as if never dropped), clipped at
    ``max_weight``, and the weights are normalised to mean 1 over the kept images so the
    learning rate keeps its meaning. The gate learns from :func:`gate_objective` only, never
    from the W loss (which it could lower by dropping hard images).

    >>> loss_weights(torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([[.5, .5], [.5, .5]]), drop_index=0)
    tensor([0., 1.])
    """
    sample, probs = sample.detach(), probs.detach()
    d = drop_index
    kept = 1.0 - sample[:, d] if d is not None else torch.ones(len(sample), device=sample.device)
    keep_prob = 1.0 - probs[:, d] if d is not None else torch.ones_like(kept)
    w = kept / keep_prob.clamp_min(1.0 / max_weight)
    return w * kept.sum().clamp_min(1.0) / w.sum().clamp_min(1e-12)


class DataGate(nn.Module):
    """A small MLP (tanh: smooth, no dead units) from normalised complexity features to logits over actions.

    Features are standardised with buffers set by :meth:`fit_normalization` (call it once
    with the whole train split's features). The last layer starts at zero: uniform actions.
    """

    def __init__(self, num_features: int, actions: Sequence[Action] = DEFAULT_ACTIONS, hidden: int = 16) -> None:
        super().__init__()
        self.actions = parse_actions(actions)
        self.hidden = hidden
        self.net = nn.Sequential(nn.Linear(num_features, hidden), nn.Tanh(), nn.Linear(hidden, len(self.actions)))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.register_buffer("feature_mean", torch.zeros(num_features))
        self.register_buffer("feature_std", torch.ones(num_features))
        self.register_buffer("scales", action_scales(self.actions))

    @property
    def drop_index(self) -> int | None:
        return self.actions.index("drop") if "drop" in self.actions else None

    def fit_normalization(self, features: Tensor) -> None:
        """Standardise features with the mean and std of ``features`` (N, F)."""
        self.feature_mean.copy_(features.mean(0))
        self.feature_std.copy_(features.std(0, unbiased=False).clamp_min(1e-6))

    def forward(self, features: Tensor) -> Tensor:
        return self.net((features - self.feature_mean) / self.feature_std)

    def sample(self, features: Tensor, tau: float, hard: bool = True,
               generator: torch.Generator | None = None, explore: float = 0.0) -> tuple[Tensor, Tensor]:
        """``(sample, probs)``, both (N, K): a Gumbel-softmax sample (one-hot when ``hard``,
        straight-through) and the probabilities it was drawn from. ``explore`` mixes that
        fraction of the uniform distribution in, so every resolution keeps being trained on."""
        probs = F.softmax(self(features), dim=-1)
        if explore:
            probs = (1 - explore) * probs + explore / probs.shape[-1]
        return gate_sample(probs.log(), tau, hard, generator), probs

    def choose(self, features: Tensor) -> Tensor:
        """The most likely action index per image (N,), for deployment and reports."""
        return self(features).argmax(-1)

    def loss_weights(self, sample: Tensor, probs: Tensor, max_weight: float = 4.0) -> Tensor:
        """:func:`loss_weights` with this gate's drop action."""
        return loss_weights(sample, probs, self.drop_index, max_weight)

    def objective(self, probs: Tensor, regret: Tensor, train_cost: Tensor, lambda_train: float) -> Tensor:
        """:func:`gate_objective` with this gate's drop action."""
        return gate_objective(probs, regret, train_cost, lambda_train, self.drop_index)

    def to_dict(self) -> dict:
        return {"actions": list(self.actions), "hidden": self.hidden, "num_features": self.net[0].in_features}


def gate_objective(probs: Tensor, regret: Tensor, train_cost: Tensor, lambda_train: float,
                   drop_index: int | None = 0, drop_margin: float = 0.25) -> Tensor:
    """``sum_i sum_k p_ik (regret_ik + lambda_train * cost_k)``, averaged over the batch.

    ``regret`` (N, K) as from :func:`estimate_regret`; ``train_cost`` (K,) the training cost
    per action relative to full resolution (drop: 0). The drop column is first renormalised
    to batch mean 1 (a no-op for :func:`estimate_regret`'s output) and multiplied by
    ``kappa = max(1, (1 + drop_margin) * lambda_train * max(train_cost))``. Dropping the whole
    batch then costs ``kappa * N``, more than training every image at the most expensive
    action (``lambda_train * max(cost) * N`` with regret 0 at full resolution), so "drop
    everything" never minimises the objective, whatever the losses and ``lambda_train``.
    """
    regret = regret.to(probs.dtype)
    cost = train_cost.to(probs.dtype)
    if drop_index is not None:
        d = regret[:, drop_index]
        kappa = max(1.0, (1.0 + drop_margin) * lambda_train * float(cost.max()))
        d = kappa * d / d.mean().clamp_min(1e-12)
        regret = torch.cat([regret[:, :drop_index], d[:, None], regret[:, drop_index + 1:]], dim=1)
    return (probs * (regret + lambda_train * cost)).sum(1).mean()


def per_image_loss(logits: Tensor, masks: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Cross-entropy averaged over each image's labelled pixels (N,); 0 for an image with none."""
    pixel = F.cross_entropy(logits, masks, ignore_index=ignore_index, reduction="none")
    valid = (masks != ignore_index).flatten(1).sum(1)
    return pixel.flatten(1).sum(1) / valid.clamp_min(1)


def class_balanced_loss(logits: Tensor, masks: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Cross-entropy averaged over each class's labelled pixels, then over the classes present
    (a scalar): every class weighs the same, as in mIoU, however few pixels it has.

    >>> logits = torch.zeros(1, 2, 1, 4); logits[0, 0] = 2.0  # class 0 favoured everywhere
    >>> masks = torch.tensor([[[0, 0, 0, 1]]])
    >>> bool(class_balanced_loss(logits, masks) > per_image_loss(logits, masks).mean())
    True
    """
    n, c, h, w = logits.shape  # the batch as one tall image (the same pixels, in the same order)
    tall = logits.permute(1, 0, 2, 3).reshape(1, c, n * h, w)
    return per_image_class_balanced_loss(tall, masks.reshape(1, n * h, w), ignore_index)[0]


def per_image_class_balanced_loss(logits: Tensor, masks: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Per image (N,): cross-entropy averaged over each class's labelled pixels, then over the
    classes present in that image (0 for an image with none): a small object weighs as much as the
    background around it, as in mIoU (class-balanced training against a background-only plateau).

    >>> logits = torch.zeros(2, 2, 1, 4); logits[:, 0] = 2.0  # class 0 favoured everywhere
    >>> masks = torch.tensor([[[0, 0, 0, 1]], [[0, 0, 0, 0]]])
    >>> balanced, plain = per_image_class_balanced_loss(logits, masks), per_image_loss(logits, masks)
    >>> bool(balanced[0] > plain[0]), bool(torch.isclose(balanced[1], plain[1]))
    (True, True)
    """
    n, num_classes = logits.shape[:2]
    pixel = F.cross_entropy(logits, masks, ignore_index=ignore_index, reduction="none").flatten(1)
    labels = masks.flatten(1).clone()
    labels[labels == ignore_index] = num_classes  # one extra bin, left out below
    sums = pixel.new_zeros(n, num_classes + 1).scatter_add_(1, labels, pixel)[:, :num_classes]
    counts = torch.zeros(n, num_classes + 1, dtype=pixel.dtype, device=pixel.device).scatter_add_(
        1, labels, torch.ones_like(pixel))[:, :num_classes]
    present = counts > 0
    per_class = torch.where(present, sums / counts.clamp_min(1), torch.zeros_like(sums))
    return per_class.sum(1) / present.sum(1).clamp_min(1)


def resize_images(images: Tensor, scale: float) -> Tensor:
    """Images (N, 3, H, W) at ``scale`` (bilinear, antialiased when shrinking)."""
    if scale == 1.0:
        return images
    h, w = images.shape[-2:]
    size = (scaled_size(h, scale), scaled_size(w, scale))
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)


def upsample_logits(logits: Tensor, size: Sequence[int]) -> Tensor:
    """Logits (N, C, h, w) bilinearly resized to the label size (H, W)."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


def forward_at_scale(model: nn.Module, images: Tensor, scale: float) -> Tensor:
    """Logits of ``model`` on the images resized by ``scale``, upsampled back to full resolution."""
    return upsample_logits(model(resize_images(images, scale)), images.shape[-2:])


@torch.no_grad()
def label_regret(masks: Tensor, scales: Sequence[float], num_classes: int,
                 ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Fraction of each image's labelled pixels that the best prediction at each scale gets wrong (N, S).

    The best prediction at scale ``s``: the one-hot label map resized to ``s`` like an input image
    (:func:`resize_images`), upsampled back like logits (:func:`upsample_logits`), argmax. It is the
    detail that input resolution destroys whatever the network, so it does not drift towards the
    scales the network happens to be trained on. 0 at scale 1.0; one image at a time (memory).

    >>> masks = torch.zeros(1, 8, 8, dtype=torch.long); masks[0, ::2, ::2] = 1  # a fine grid
    >>> label_regret(masks, (0.5, 1.0), num_classes=2).tolist()
    [[0.25, 0.0]]
    """
    out = torch.zeros(len(masks), len(scales))
    for i, mask in enumerate(masks):
        valid = mask != ignore_index
        one_hot = F.one_hot(torch.where(valid, mask, 0), num_classes).permute(2, 0, 1).float() * valid
        for k, s in enumerate(scales):
            if s == 1.0:
                continue
            best = upsample_logits(resize_images(one_hot[None], s), mask.shape).argmax(1)[0]
            out[i, k] = ((best != mask) & valid).sum() / valid.sum().clamp_min(1)
    return out.to(masks.device)


def pixels_lost(masks: Iterable[Tensor], scales: Sequence[float], num_classes: int,
                ignore_index: int = IGNORE_INDEX) -> list[float]:
    """Fraction of all labelled pixels of ``masks`` (each (H, W)) that the best prediction at each
    scale gets wrong (:func:`label_regret`, weighted by each mask's labelled pixels).

    >>> grid = torch.zeros(8, 8, dtype=torch.long); grid[::2, ::2] = 1
    >>> pixels_lost([grid, torch.zeros(8, 8, dtype=torch.long)], (0.5, 1.0), num_classes=2)
    [0.125, 0.0]
    """
    lost, total = torch.zeros(len(scales), dtype=torch.float64), 0
    for mask in masks:
        valid = int((mask != ignore_index).sum())
        lost += label_regret(mask[None], scales, num_classes, ignore_index)[0].double() * valid
        total += valid
    return (lost / max(total, 1)).tolist()


def learning_value(model: nn.Module, images: Tensor, masks: Tensor, scales: Sequence[float],
                   loss_fn: LossFn = per_image_loss, objective: Callable[[Tensor, Tensor], Tensor] | None = None,
                   eps: float = 1e-2, logits: Tensor | None = None) -> Tensor:
    """``<grad_w objective(batch), grad_w loss_i(s)>`` (N, S): to first order, how much one step on image
    ``i`` at input scale ``s`` lowers ``objective`` on the whole batch (the example weighting of
    Ren et al. 2018, "Learning to Reweight Examples"). Each column is a directional derivative
    along the objective's gradient, by a finite difference (the weights moved by ``eps`` along it,
    as DARTS does for its Hessian-vector product): one backward and two forwards per scale, no
    per-image gradient. ``objective`` defaults to the batch mean of ``loss_fn``; the weights are
    restored exactly. ``logits``: the model's output on ``images`` with its graph, when the caller
    has it (its forward is then not repeated; it is also the scale-1.0 loss before the move).
    """
    objective = objective or (lambda out, m: loss_fn(out, m).mean())
    params = [p for p in model.parameters() if p.requires_grad]
    with torch.enable_grad():
        logits = model(images) if logits is None else logits
        grads = torch.autograd.grad(objective(logits, masks), params, allow_unused=True)
    moved = [(p, g.detach()) for p, g in zip(params, grads) if g is not None]
    saved = [p.detach().clone() for p, _ in moved]
    step = eps / torch.sqrt(sum((g.double() ** 2).sum() for _, g in moved)).clamp_min(1e-12).item()

    def losses(full: Tensor | None = None) -> Tensor:
        return torch.stack([loss_fn(full if s == 1.0 and full is not None else forward_at_scale(model, images, s),
                                    masks) for s in scales], dim=1).double()

    with torch.no_grad():
        base = losses(logits.detach())
        try:
            for p, g in moved:
                p.add_(g, alpha=step)
            ahead = losses()
        finally:
            for (p, _), p0 in zip(moved, saved):
                p.copy_(p0)
    return ((ahead - base) / step).float()


REGRET_REFERENCES = ("network", "labels", "learning")


@torch.no_grad()
def estimate_regret(model: nn.Module, images: Tensor, masks: Tensor, actions: Sequence[Action] = DEFAULT_ACTIONS,
                    loss_fn: LossFn = per_image_loss, reference: str = "network",
                    objective: Callable[[Tensor, Tensor], Tensor] | None = None) -> Tensor:
    """Regret (N, K) of each action for each image.

    Drop (every reference): ``L_1 / mean(L_1)``, the learning signal the image would give (its
    full-resolution loss under the current network, relative to the batch), so a hard image is
    never cheap to drop. Scale ``s``:

    * ``reference="network"``: ``max(0, L_s - L_1) / mean(L_1)``, the loss increase of the current
      network when the input is downsampled (logits upsampled to the full-resolution labels).
      Dividing by the batch's mean full-res loss keeps the objective stationary while training
      lowers the loss. It follows the network, which becomes best at the scales it trains on.
    * ``reference="labels"``: :func:`label_regret`, the fraction of labelled pixels lost at ``s``;
      fixed per image, whatever the network has been trained on.
    * ``reference="learning"``: ``(v_1 - v_s) / mean(|v_1|)`` with ``v`` the :func:`learning_value`
      of a training step on the image at each scale towards ``objective`` on the batch (default:
      the mean of ``loss_fn``): the share of what the image teaches that a step at ``s`` loses.
      Signed (a noisy estimate averages out in the gate's buffer instead of piling up above 0).

    The model runs in eval mode (batch-norm running statistics), then returns to its previous mode.
    """
    actions = parse_actions(actions)
    if reference not in REGRET_REFERENCES:
        raise ValueError(f"regret reference {reference!r}: expected one of {REGRET_REFERENCES}")
    scales = [a for a in actions if a != "drop"]
    was_training = model.training
    model.eval()
    try:
        with torch.set_grad_enabled(reference == "learning"):  # learning_value differentiates this forward
            logits = model(images)
        full = loss_fn(logits.detach(), masks).float()
        mean = full.mean().clamp_min(1e-8)
        if reference == "labels":
            lost = label_regret(masks, scales, logits.shape[1])
        elif reference == "learning":
            probed = [1.0] + [s for s in scales if s != 1.0]
            value = learning_value(model, images, masks, probed, loss_fn, objective, logits=logits)
            v1 = value[:, :1]
            lost = ((v1 - value) / v1.abs().mean().clamp_min(1e-12))[:, [probed.index(s) for s in scales]]
        else:
            at = {s: loss_fn(forward_at_scale(model, images, s), masks).float() if s != 1.0 else full for s in scales}
            lost = torch.stack([(at[s] - full).clamp_min(0) / mean for s in scales], dim=1)
    finally:
        model.train(was_training)
    columns = iter(lost.unbind(1))
    return torch.stack([full / mean if a == "drop" else next(columns) for a in actions], dim=1)


class InferenceResolution(nn.Module):
    """Logits ``rho`` over the deployment input scale (global, one per network).

    >>> res = InferenceResolution((0.5, 0.75, 1.0))
    >>> {s: round(float(p.detach()), 3) for s, p in res.scale_probs().items()}
    {0.5: 0.333, 0.75: 0.333, 1.0: 0.333}
    """

    def __init__(self, scales: Sequence[float] = (0.5, 0.75, 1.0)) -> None:
        super().__init__()
        self.scales = scales = parse_scales(scales)
        self.rho = nn.Parameter(torch.zeros(len(scales)))

    def probs(self) -> Tensor:
        return F.softmax(self.rho, dim=-1)

    def sample(self, tau: float, hard: bool = True, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(sample, probs)``, both (K,): a Gumbel-softmax sample and the probabilities."""
        return gate_sample(self.rho, tau, hard, generator), self.probs()

    def scale_probs(self, weights: Tensor | None = None) -> dict[float, Tensor]:
        """``{scale: weight}`` from ``weights`` (a sample) or the probabilities; differentiable,
        usable as the supernet's ``expected_cost(scale_probs=...)``."""
        w = self.probs() if weights is None else weights
        return {s: w[k] for k, s in enumerate(self.scales)}

    def choose(self) -> float:
        """The most likely scale."""
        return self.scales[int(self.rho.argmax())]

    def to_dict(self) -> dict:
        return {"scales": list(self.scales), "probs": [round(float(p), 6) for p in self.probs().detach()],
                "inference_scale": self.choose()}
