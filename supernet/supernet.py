"""The supernet: a family's network at its widest, its choice sites, sampling modes and costs.

>>> net = build_supernet("multires", num_classes=4)
>>> net.set_mode("gumbel_hard", tau=1.0)
>>> net(torch.zeros(2, 3, 32, 64)).shape
torch.Size([2, 4, 32, 64])
>>> cost = net.expected_cost("jetson_tx2", input_shape=(1, 3, 32, 64))
>>> cost.macs.backward()
>>> all(site.logits.grad is not None for site in net.sites.values())
True
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cost_models.formulas import Cost
from cost_models.target import Target, load_target

from .arch import build_network, make_arch, make_space, validate_arch
from .cost import CostPlan, Planner, Shape
from .expr import Const
from .families import build_family
from .layers import ConvBNAct
from .sites import ChoiceSite, gumbel_softmax, straight_through
from .sizes import scaled_size
from .space import ArchError, Dim, keep_one_per_group

MODES = ("gumbel_hard", "gumbel_soft", "argmax", "fixed")
COMPUTES = ("masked", "sliced")   # how a forward pass computes its sampled network (see Supernet.set_mode)
SKELETONS_KEPT = 64               # derived-network skeletons (meta device, one per set of kept branches)


_TARGETS: dict[str, Target] = {}


def _target(target: str | Target) -> Target:
    """A target by name, read once per process (expected_cost runs every search step)."""
    if isinstance(target, Target):
        return target
    if target not in _TARGETS:
        _TARGETS[target] = load_target(target)
    return _TARGETS[target]


class Supernet(nn.Module):
    """A family's searchable network. See the package docstring for the API."""

    def __init__(self, family: str, num_classes: int, **space_options: Any):
        super().__init__()
        space = make_space(None, space_options)
        self.family, self.num_classes = family, num_classes
        self.space_options = space.space_options()
        self.net = build_family(family, num_classes, space)
        self.choice_sites = nn.ModuleDict({name.replace(".", "/"): site for name, site in space.sites.items()})
        self.sites: OrderedDict[str, ChoiceSite] = OrderedDict(space.sites)
        self.group_names: list[tuple[str, ...]] = list(space.groups)  # keep sites, at least one kept
        self.groups = [tuple(self.sites[n] for n in group) for group in self.group_names]
        self.mode, self.tau, self.compute = "gumbel_hard", 1.0, "masked"
        self._skeletons: OrderedDict[tuple, tuple[nn.Module, list[str], list[tuple[nn.Conv2d, Dim]]]] = OrderedDict()
        self._plans: dict[tuple, CostPlan] = {}
        # E[value] of every site at once: flat option values and the site each belongs to
        self._site_values = torch.cat([s.values.cpu() for s in self.sites.values()])
        self._site_index = torch.cat([torch.full((len(s.options),), i) for i, s in enumerate(self.sites.values())])

    # --- parameters -------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        return [site.logits for site in self.sites.values()]

    def weight_parameters(self) -> list[nn.Parameter]:
        return list(self.net.parameters())

    def probabilities(self) -> dict[str, Tensor]:
        return {name: site.logits.softmax(-1) for name, site in self.sites.items()}

    def one_hot_probs(self, choices: Mapping[str, Any]) -> dict[str, Tensor]:
        """The probabilities that put every site on its option in ``choices`` (the ``probs`` of
        :meth:`expected_cost` for one fixed network)."""
        return {name: site.one_hot(choices[name]) for name, site in self.sites.items()}

    # --- sampling -----------------------------------------------------------------------
    def set_mode(self, mode: str, tau: float = 1.0, arch: Mapping[str, Any] | None = None,
                 compute: str = "masked") -> None:
        """``gumbel_hard`` / ``gumbel_soft`` (temperature ``tau``), ``argmax``, or ``fixed`` (``arch``).

        ``compute``: ``masked`` runs the widest network with the sampled widths as masks (gradients
        reach the arch logits); ``sliced`` runs only the sampled network, on slices of the same
        weights (:meth:`sliced_forward`: cheaper, no gradient to the logits; hard modes only).
        """
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        if compute not in COMPUTES:
            raise ValueError(f"unknown compute {compute!r}; expected one of {', '.join(COMPUTES)}")
        if compute == "sliced" and mode == "gumbel_soft":
            raise ValueError("compute 'sliced' runs one sampled network: it needs a hard mode, not gumbel_soft")
        if mode.startswith("gumbel") and not tau > 0:
            raise ValueError(f"Gumbel temperature must be > 0, got {tau!r}")
        if mode == "fixed":
            if arch is None:
                raise ValueError("mode 'fixed' needs an arch")
            choices = self._choices(arch)
            for name, site in self.sites.items():
                site.weights = site.one_hot(choices[name])
        self.mode, self.tau, self.compute = mode, float(tau), compute

    def sample(self) -> None:
        """Draw every site's weights for the next forward pass (``forward`` calls this)."""
        if self.mode == "fixed":
            return
        hard = self.mode != "gumbel_soft"
        softs = {}
        for name, site in self.sites.items():
            if self.mode == "argmax":
                softs[name] = site.logits.detach().softmax(-1)
                site.weights = F.one_hot(softs[name].argmax(), len(site.options)).to(softs[name].dtype)
            else:
                site.weights, softs[name] = gumbel_softmax(site.logits, self.tau, hard)
        if hard and self.group_names:
            self._keep_one_sampled(softs)

    def _keep_one_sampled(self, softs: Mapping[str, Tensor]) -> None:
        """:func:`keep_one_per_group` on a hard sample: a group with every branch dropped keeps
        the branch of largest soft keep weight, one-hot straight-through (one copy to the host)."""
        names = [name for group in self.group_names for name in group]
        values = torch.stack([torch.stack([self.sites[n].weights[1], softs[n][1]]) for n in names]).detach().tolist()
        sampled = {n: keep > 0.5 for n, (keep, _) in zip(names, values)}
        soft_keep = {n: soft for n, (_, soft) in zip(names, values)}
        kept = keep_one_per_group(sampled, self.group_names, pick=lambda group: self.likeliest_branch(group, soft_keep))
        for n in names:
            if kept[n] and not sampled[n]:
                self.sites[n].weights = straight_through(softs[n], 1)

    def forward(self, x: Tensor) -> Tensor:
        self.sample()
        if self.compute == "sliced":
            return self.sliced_forward(x, self.sampled_choices())
        return self.net(x)

    def sliced_forward(self, x: Tensor, choices: Mapping[str, Any]) -> Tensor:
        """The derived network of ``choices`` on ``x``, computed on slices of this supernet's weights
        (OFA-style weight sharing): the compute of the sampled network alone (its widths, no
        dropped branch). Equals the masked forward of the same sample; gradients reach the
        weights but not the arch logits; batch-norm running statistics move for the used channels."""
        skeleton, layers, depthwise = self._skeleton(choices)
        for conv, width in depthwise:  # built at other widths, maybe: a depthwise conv has one group per channel
            conv.groups = width.value(choices)
        return torch.func.functional_call(skeleton.train(self.training), self._sliced_tensors(choices, layers, False), (x,))

    def _skeleton(self, choices: Mapping[str, Any]) -> tuple[nn.Module, list[str], list[tuple[nn.Conv2d, Dim]]]:
        """A derived network with the branches of ``choices`` on the meta device (no memory), its
        ConvBNAct names, and its depthwise convs with the supernet width that sets their groups.
        Widths only set its tensors' shapes (and those groups, which :meth:`sliced_forward` sets),
        so one skeleton serves every width of the same branches."""
        key = tuple(choices[n] for n, site in self.sites.items() if site.is_keep)
        if key in self._skeletons:
            self._skeletons.move_to_end(key)
        else:
            net = build_network(self.family, self.num_classes, choices, self.space_options, device="meta")
            layers = [n for n, m in net.named_modules() if isinstance(m, ConvBNAct)]
            depthwise = [(net.get_submodule(n).conv, self.net.get_submodule(n).out) for n in layers
                         if net.get_submodule(n).depthwise]
            self._skeletons[key] = (net, layers, depthwise)
            if len(self._skeletons) > SKELETONS_KEPT:
                self._skeletons.popitem(last=False)
        return self._skeletons[key]

    def _sliced_tensors(self, choices: Mapping[str, Any], layers: Sequence[str], detach: bool) -> dict[str, Tensor]:
        """Every tensor of the derived network of ``choices`` (whose ConvBNActs are ``layers``), sliced from this one."""
        tensors = {}
        for name in layers:
            state = self.net.get_submodule(name).sliced_state(choices, detach)
            tensors.update({f"{name}.{k}": v for k, v in state.items()})
        return tensors

    # --- architectures ------------------------------------------------------------------
    def argmax_choices(self) -> dict[str, Any]:
        """The most likely option of every site (a group with nothing kept keeps its likeliest)."""
        choices = {name: site.options[int(site.logits.argmax())] for name, site in self.sites.items()}
        return keep_one_per_group(choices, self.group_names, pick=self.likeliest_branch)

    def likeliest_branch(self, group: Sequence[str], scores: Mapping[str, float] | None = None) -> str:
        """The keep site of ``group`` (names) with the largest score (the first of equals): by
        default its logit margin ``logits[1] - logits[0]`` (the order of P(keep)). The branch
        :func:`keep_one_per_group` keeps when a group has none."""
        if scores is None:
            scores = {n: float((self.sites[n].logits[1] - self.sites[n].logits[0]).detach()) for n in group}
        return max(group, key=lambda n: scores[n])

    def sampled_choices(self) -> dict[str, Any]:
        """The option each site's current (hard or fixed) weights select: the sampled arch."""
        if any(site.weights is None for site in self.sites.values()):
            raise RuntimeError("no sample yet: run a forward pass or call sample() first")
        return {name: site.options[int(site.weights.argmax())] for name, site in self.sites.items()}

    def argmax_arch(self) -> dict:
        """The arch.json dict of :meth:`argmax_choices`."""
        return make_arch(self.family, self.num_classes, self.argmax_choices(), self.space_options)

    def _choices(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        """Validated choices from an arch dict (or a bare ``choices`` mapping) of this supernet."""
        if "choices" in arch:
            arch = validate_arch(dict(arch))
            for key, mine in (("family", self.family), ("num_classes", self.num_classes),
                              ("space", self.space_options)):
                if arch[key] != mine:
                    raise ArchError(f"arch {key} is {arch[key]!r}, but this supernet's is {mine!r}")
            return dict(arch["choices"])
        build_network(self.family, self.num_classes, arch, self.space_options, device="meta")
        return dict(arch)

    def derive(self, arch: Mapping[str, Any]) -> nn.Module:
        """The slim plain network of ``arch`` with this supernet's weights sliced in."""
        choices = self._choices(arch)
        device = next(self.net.parameters()).device
        net = build_network(self.family, self.num_classes, choices, self.space_options, device=device)
        state = self._sliced_tensors(choices, [n for n, m in net.named_modules() if isinstance(m, ConvBNAct)], True)
        net.load_state_dict({k: state[k] for k in net.state_dict()})
        return net.train(self.training)

    # --- cost ---------------------------------------------------------------------------
    def expected_cost(self, target: str | Target, input_shape: Sequence[int] = (1, 3, 512, 1024),
                      scale_probs: Mapping[float, Tensor] | None = None, training: bool = False,
                      probs: Mapping[str, Tensor] | None = None) -> Cost:
        """Differentiable expected cost on ``target`` (see :mod:`supernet.cost`).

        ``probs`` default to :meth:`probabilities`; ``scale_probs`` ({scale: probability})
        mixes the costs at the input resized by each scale (:func:`scaled_size`).
        """
        probs = self.probabilities() if probs is None else probs
        names = list(self.sites)
        flat = torch.cat([probs[n].reshape(-1) for n in names]).to(torch.float64).cpu()
        means = dict(zip(names, torch.zeros(len(names), dtype=torch.float64).index_add(
            0, self._site_index, flat * self._site_values).unbind()))
        if scale_probs:
            scales = tuple(sorted(scale_probs))
            weights = torch.stack([torch.as_tensor(scale_probs[s]).to(torch.float64).cpu() for s in scales])
        else:
            scales, weights = (1.0,), torch.ones(1, dtype=torch.float64)
        plan = self._plan(tuple(input_shape), scales)
        return plan.evaluate(means, _target(target), training, weights)

    def _plan(self, input_shape: tuple, scales: tuple) -> CostPlan:
        key = (input_shape, scales)
        if key not in self._plans:
            if len(input_shape) != 4:
                raise ValueError(f"input_shape must be (N, C, H, W), got {input_shape!r}")
            n, c, h, w = input_shape
            plans = []
            for s in scales:
                planner = Planner(batch=n)
                self.net.plan(planner, Shape(Const(c), scaled_size(h, s), scaled_size(w, s)))
                plans.append(planner.terms)
            self._plans[key] = CostPlan(n, plans)
        return self._plans[key]


def build_supernet(family: str, num_classes: int, **space_options: Any) -> Supernet:
    """The supernet of ``family`` (space options: ``widest``, ``width_fractions``; see :class:`Space`)."""
    return Supernet(family, num_classes, **space_options)
