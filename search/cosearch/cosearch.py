"""The state and the steps of one co-search (DESIGN.md §2); ``search.cosearch.phase`` runs them.

``search.warmup_steps`` steps train the weights W alone on randomly sampled archs; then
every step trains W on a train batch (all its images at one action drawn from the data gate), on a
sampled network or, for ``search.w_derived_share`` of the steps, the network derive would hand over
then (so the derived network's own training begins inside the search),
and every ``search.arch_every`` steps the arch logits
alpha and the inference-resolution logits rho take one step on a validation batch against

    val loss (expected over the inference scales)  +  lambda_inf * E[inference cost] / budget

or, when ``search.target_cost`` states the inference cost to reach (a fraction of the full
network's, or absolute), the augmented Lagrangian ``+ lam * e + target_penalty / 2 * e**2`` with
``e = cost / target - 1``, where ``cost`` is the cost of the network the search would derive now
(``search.derive_rule``, at its inference scale) in value and E[inference cost] in gradient
(straight-through), and the Lagrange multiplier ``lam`` is updated by dual ascent after every arch
step: ``lam <- lam + target_lr * e`` (kept >= 0 unless ``search.target_two_sided``). lambda_inf is
then ignored, and a search ending above ``target x (1 + search.target_tolerance)`` is cut to it at
derive (:meth:`CoSearch.fit_to_target`).
and, after every ``search.gate_every``-th arch step, the data gate phi ``search.gate_steps`` steps on
``sum_i sum_k p_ik (regret_ik + lambda_train * cost_train_k)`` over the recently probed images.
The Gumbel temperature falls exponentially from ``tau_start`` to ``tau_end`` over the search
steps. Every random draw of step ``t`` comes from a seed made of ``(run.seed, t)``, so a
resumed run replays exactly.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

import supernet
from cost_models.target import load_target
from search.config import Config
from search.cosearch.schedule import temperature
from search.data.loader import StepBatches
from search.derive import derived_choices, fit_to_cost
from search.data.splits import Splits
from search.engine.distributed import MultiInput, all_reduce_grads, wrap_ddp
from search.engine.seeding import seed_step
from search.engine.session import Session
from search.report.costs import row_batch
from search.train.loss import LOSSES, precision_for, weight_step
from search.train.optim import make_optimizer
from supernet.gates import (
    DataGate,
    InferenceResolution,
    class_balanced_loss,
    estimate_regret,
    forward_at_scale,
    gate_sample,
    per_image_loss,
    pixels_lost,
)

COST_KEYS = ("macs", "energy_j", "latency_s", "dram_bytes")
SCALE_PROBE_IMAGES = 64  # val images whose labels decide which inference scales are searched


def cost_metric(cost: Any, metric: str) -> Tensor:
    return getattr(cost, metric)


def scaled(size: tuple[int, int], scale: float) -> tuple[int, int]:
    return supernet.scaled_size(size[0], scale), supernet.scaled_size(size[1], scale)


def action_scale(action: Any) -> float:
    return 0.0 if action == "drop" else float(action)


class CoSearch:
    """The state of one co-search (supernet, gate, resolution, optimisers) and its steps."""

    def __init__(self, cfg: Config, splits: Splits, session: Session) -> None:
        s, dev = cfg.search, session.device
        self.cfg, self.splits, self.session, self.env = cfg, splits, session, session.env
        self.net = supernet.build_supernet(cfg.model.family, splits.num_classes, **cfg.model.space).to(dev)
        self.gate = DataGate(splits.features["train"].shape[1], s.gate_actions).to(dev)
        self.gate.fit_normalization(splits.features["train"].to(dev))
        self.res = InferenceResolution(self.searchable_scales() if s.search_resolution else s.inference_scales).to(dev)
        self.w_opt = make_optimizer(s.w_optimizer, self.net.weight_parameters(), s.w_lr, s.w_momentum,
                                    s.w_weight_decay, s.w_betas, s.w_nesterov)
        self.a_opt = torch.optim.Adam(self.net.arch_parameters() + [self.res.rho], lr=s.arch_lr,
                                      betas=(0.5, 0.999), weight_decay=s.arch_weight_decay)
        self.g_opt = torch.optim.Adam(self.gate.parameters(), lr=s.gate_lr)
        multi = MultiInput(self.net)
        arch_ids = {id(p) for p in self.net.arch_parameters()}
        self.w_model = wrap_ddp(multi, self.env, [n for n, p in multi.named_parameters() if id(p) in arch_ids])
        self.target = load_target(s.target)
        self.train_size = splits.image_size
        self.cost_size = tuple(cfg.cost.input_size or splits.test_size)
        self.actions = self.gate.actions
        self.full_action = self.actions.index(max(self.actions, key=action_scale))
        full = supernet.baseline_arch(cfg.model.family, splits.num_classes, **cfg.model.space)["choices"]
        self.full_choices = {k: v for k, v in full.items() if k in self.net.sites}
        self.budget = float(s.budget) if s.budget else float(self.full_network_cost())
        self.target_cost = self.resolve_target_cost()
        self.multiplier = 0.0  # the Lagrange multiplier of the cost target (search.target_cost)
        if self.target_cost is not None:
            session.run.log(f"cost target: {self.target_cost:.4g} {s.cost_metric} on {s.target} "
                            f"({self.target_cost / float(self.full_network_cost()):.3g} of the full network); "
                            f"multiplier by dual ascent (lr {s.target_lr}, "
                            f"{'two-sided' if s.target_two_sided else 'upper bound'}), lambda_inf {s.lambda_inf} ignored")
        self.action_counts = torch.zeros(len(self.actions), dtype=torch.int64)
        self.probe_feats = torch.zeros(0, splits.features["val"].shape[1])
        self.probe_regret = torch.zeros(0, len(self.actions))
        # work done, for the search's cost: {(kind, scale, batch, arch): images}, kind train (a weight
        # step), arch (forward + backward on a val image), probe (a forward); arch: the (site, value)
        # pairs of the network computed (a sliced pass: search.compute), None for the widest supernet
        self.work: dict[tuple[str, float, int, tuple | None], int] = {}
        self.step = 0
        self.val_baseline: float | None = None   # running mean of the sampled-scale val loss (arch_scales sample)
        d = cfg.data
        self.precision = precision_for(cfg.run.amp, dev)
        self.batches = {which: StepBatches(getattr(splits, which), d.batch_size, cfg.run.seed, which, self.env, dev,
                                           d.workers) for which in ("train", "val")}

    def searchable_scales(self) -> list[float]:
        """``search.inference_scales`` without those whose best prediction loses more than
        ``search.scale_regret_limit`` of the val pixels (the largest scale always stays): detail an
        input scale destroys for any network, which a briefly trained supernet's loss does not show.
        Measured on at most ``SCALE_PROBE_IMAGES`` val images, evenly spaced (large val splits)."""
        s, val = self.cfg.search, self.splits.val
        if s.scale_regret_limit >= 1:
            return list(s.inference_scales)
        probe = range(0, len(val), -(-len(val) // SCALE_PROBE_IMAGES))
        lost = pixels_lost((val[i][1] for i in probe), s.inference_scales, self.splits.num_classes)
        keep = [sc for sc, frac in zip(s.inference_scales, lost)
                if frac <= s.scale_regret_limit or sc == max(s.inference_scales)]
        self.session.run.log("inference scales: " + ", ".join(
            f"{sc} loses {100 * frac:.2f} % of val pixels{'' if sc in keep else ' (not searched)'}"
            for sc, frac in zip(s.inference_scales, lost)) + f"; search.scale_regret_limit {100 * s.scale_regret_limit:g} %")
        return keep

    @property
    def total_steps(self) -> int:
        return self.cfg.search.warmup_steps + self.cfg.search.steps

    # -- costs ------------------------------------------------------------------------------
    def full_network_cost(self) -> Tensor:
        """The cost metric of the widest network with every branch, at scale 1.0."""
        with torch.no_grad():
            cost = self.net.expected_cost(self.target, (1, 3, *self.cost_size),
                                          probs=self.net.one_hot_probs(self.full_choices))
        return cost_metric(cost, self.cfg.search.cost_metric)

    def resolve_target_cost(self) -> float | None:
        """``search.target_cost`` in cost_metric units (None when unset)."""
        s = self.cfg.search
        if s.target_cost is None:
            return None
        return float(s.target_cost) if s.target_cost_absolute else float(s.target_cost) * float(self.full_network_cost())

    @torch.no_grad()
    def arch_cost(self, choices: dict[str, Any], scale: float = 1.0) -> float:
        """The cost metric of the network of ``choices`` at input scale ``scale``."""
        cost = self.net.expected_cost(self.target, (1, 3, *self.cost_size), probs=self.net.one_hot_probs(choices),
                                      scale_probs=None if scale == 1.0 else {scale: torch.tensor(1.0)})
        return float(cost_metric(cost, self.cfg.search.cost_metric))

    @torch.no_grad()
    def derived_cost(self) -> float:
        """The cost metric of the network ``derive_arch`` would cut out now, at its inference scale,
        before :meth:`fit_to_target` (what the cost multiplier answers to)."""
        return self.arch_cost(*self.derived_now())

    def derived_now(self) -> tuple[dict[str, Any], float]:
        """``(choices, inference scale)`` the derive rule gives now, before any fit to the cost target."""
        s = self.cfg.search
        return derived_choices(self.net, self.res, s.derive_rule, s.network, s.search_resolution, self.full_choices)

    def fit_to_target(self, choices: dict[str, Any], scale: float) -> tuple[dict[str, Any], list[str]]:
        """``choices`` cut to at most the cost target x (1 + ``search.target_tolerance``) at ``scale``
        (:func:`search.derive.fit_to_cost`), and the cuts; unchanged without a target or tolerance."""
        s = self.cfg.search
        if self.target_cost is None or s.target_tolerance is None:
            return dict(choices), []
        return fit_to_cost(self.net, choices, lambda c: self.arch_cost(c, scale),
                           self.target_cost * (1 + s.target_tolerance))

    def trains_derived(self, t: int) -> bool:
        """Whether weight step ``t`` trains the network derive would hand over (``search.w_derived_share``
        of the steps after the warm-up, evenly spread) rather than a sample."""
        s = self.cfg.search
        k = t - s.warmup_steps
        return s.network and k >= 0 and int((k + 1) * s.w_derived_share) > int(k * s.w_derived_share)

    @torch.no_grad()
    def handover_choices(self) -> dict[str, Any]:
        """The choices derive would hand over now: the derive rule's, cut to the cost target."""
        return self.fit_to_target(*self.derived_now())[0]

    def expected_inference_cost(self):
        scale_probs = self.res.scale_probs() if self.cfg.search.search_resolution else None
        probs = None if self.cfg.search.network else self.net.one_hot_probs(self.full_choices)
        return self.net.expected_cost(self.target, (1, 3, *self.cost_size), scale_probs=scale_probs, probs=probs)

    def set_mode(self, mode: str, tau: float = 1.0, compute: str = "masked") -> None:
        """Sample the network (``search.network``), or hold it at the full network; ``compute``:
        :meth:`supernet.Supernet.set_mode`."""
        if self.cfg.search.network:
            self.net.set_mode(mode, tau=tau, compute=compute)
        else:
            self.net.set_mode("fixed", arch=self.full_choices, compute=compute)

    @torch.no_grad()
    def relative_train_cost(self) -> Tensor:
        """Training energy of an image per action on the search target, relative to full resolution
        (drop: 0): a batch of ``data.batch_size`` images at that action's scale, on the network the
        search would derive now in expectation. The gate's cost term is the energy it saves."""
        batch = self.cfg.data.batch_size
        per = {}
        for a in self.actions:
            if a != "drop":
                shape = (batch, 3, *scaled(self.train_size, a))
                per[a] = float(self.net.expected_cost(self.target, shape, training=True).energy_j)
        full = per[max(per)]
        return torch.tensor([per[a] / full if a != "drop" else 0.0 for a in self.actions], device=self.session.device)

    def count(self, kind: str, scale: float, images: int, choices: dict[str, Any] | None = None) -> None:
        """One batch of ``images`` images of ``kind`` (train, arch, probe) at ``scale``, on the widest
        supernet, or on the network of ``choices`` (a sliced pass)."""
        if images > 0:
            key = (kind, float(scale), int(images), tuple(choices.items()) if choices else None)
            self.work[key] = self.work.get(key, 0) + int(images)

    def computed_choices(self) -> dict[str, Any] | None:
        """The choices of the network the last pass computed on its own (``search.compute`` sliced),
        None when it ran the widest supernet (masked)."""
        return self.net.sampled_choices() if self.net.compute == "sliced" else None

    def count_probes(self, images: int) -> None:
        """The work of one :func:`estimate_regret` on ``images`` val images: a full-resolution forward
        (``learning``: with its backward); ``network``: a forward at every other scale; ``learning``:
        two forwards at every other scale and one more at full resolution (the weights moved)."""
        reference, choices = self.cfg.search.gate_regret, self.computed_choices()
        scales = [a for a in self.actions if a not in ("drop", 1.0)]
        if reference == "learning":
            self.count("arch", 1.0, images, choices)
            for sc in [1.0] + scales + scales:
                self.count("probe", sc, images, choices)
            return
        self.count("probe", 1.0, images, choices)
        if reference == "network":
            for sc in scales:
                self.count("probe", sc, images, choices)

    def work_items(self) -> list[list[Any]]:
        """The work done so far as ``[kind, scale, images, training, batch]`` rows, plus the choices of
        the network computed where it is not the widest supernet (``search.report.costs.Work``)."""
        rows = sorted(self.work.items(), key=lambda item: (*item[0][:3], item[0][3] or ()))
        return [[kind, scale, n, kind != "probe", batch, *([dict(arch)] if arch else [])]
                for (kind, scale, batch, arch), n in rows]

    # -- data -------------------------------------------------------------------------------
    def batch(self, which: str, t: int) -> tuple[list[int], list[int], Tensor, Tensor]:
        """Global indices, this rank's positions in the global batch, local images and masks."""
        return self.batches[which](t)

    # -- steps ------------------------------------------------------------------------------
    def run_step(self, t: int) -> dict[str, float]:
        s, seed = self.cfg.search, self.cfg.run.seed
        tau = temperature(t, s.warmup_steps, s.steps, s.tau_start, s.tau_end)
        seed_step(seed, "search", t, "weights")  # each sub-step its own seed: the same draws on every rank
        stats = {"tau": tau, **self.weight_step(t, tau)}
        if t >= s.warmup_steps and (t - s.warmup_steps) % s.arch_every == 0:
            k = (t - s.warmup_steps) // s.arch_every
            batch = self.batch("val", k)
            if s.network or s.search_resolution:
                seed_step(seed, "search", t, "arch")
                stats.update(self.arch_step(batch, tau))
            if s.data_gates and k % s.gate_every == 0:
                seed_step(seed, "search", t, "gate")
                stats.update(self.gate_step(batch))
        self.step = t + 1
        return stats

    def weight_step(self, t: int, tau: float) -> dict[str, float]:
        """W: one step on a train batch, the network sampled (computed alone on slices of the
        supernet's weights, or masked: ``search.compute``), the batch's action (one for all its
        images: one forward at one scale, a dropped batch computes nothing) drawn from the gate's
        mean probabilities over the batch; each image weighted by its own probabilities."""
        if self.trains_derived(t):
            self.net.set_mode("fixed", arch=self.handover_choices(), compute=self.cfg.search.compute)
        else:
            self.set_mode("gumbel_hard", tau=tau, compute=self.cfg.search.compute)
        idx, pos, images, masks = self.batch("train", t)
        bs = len(idx)
        if self.cfg.search.data_gates:
            with torch.no_grad():
                probs = torch.softmax(self.gate(self.splits.features["train"][idx].to(self.session.device)), dim=-1)
                action = int(gate_sample(probs.mean(0).log(), tau).argmax())
                choice = torch.full((bs,), action, device=self.session.device)
                weights = self.gate.loss_weights(F.one_hot(choice, len(self.actions)).float(), probs)
        else:
            choice = torch.full((bs,), self.full_action, device=self.session.device)
            weights = torch.ones(bs, device=self.session.device)
        out = weight_step(self.w_model, self.w_opt, images, masks, pos, choice, weights, self.actions,
                          self.env.world_size, self.precision, LOSSES[self.cfg.train.loss])
        self.action_counts += out["counts"]
        choices = self.computed_choices() if out["kept_fraction"] > 0 else None   # a dropped batch ran nothing
        for a, n in zip(self.actions, out["counts"].tolist()):
            if a != "drop":
                self.count("train", a, n, choices)
        stats = {**({"w_loss": out["loss"]} if "loss" in out else {}), "kept_fraction": out["kept_fraction"]}
        stats.update({f"action/{a}": float(c) / bs for a, c in zip(self.actions, out["counts"].tolist())})
        return stats

    def arch_step(self, batch, tau: float) -> dict[str, float]:
        """alpha, rho: validation loss (expected over inference scales) + lambda_inf * E[cost] / budget."""
        s = self.cfg.search
        idx, _, images, masks = batch
        self.set_mode("gumbel_soft" if s.arch_sampling == "soft" else "gumbel_hard", tau=tau)
        val_loss, surrogate = self.val_loss(images, masks, len(idx))
        cost = self.expected_inference_cost()
        expected = cost_metric(cost, s.cost_metric).float()
        penalty = self.cost_penalty(expected)
        total = surrogate + penalty
        params = (self.net.arch_parameters() if s.network else []) + ([self.res.rho] if s.search_resolution else [])
        grads = torch.autograd.grad(total, params, allow_unused=True)
        for p, g in zip(params, grads):
            p.grad = g if g is not None else torch.zeros_like(p)
        all_reduce_grads(params, self.env)
        self.a_opt.step()
        self.a_opt.zero_grad(set_to_none=True)
        out = {"val_loss": val_loss.item(), "penalty": penalty.item(), "arch_loss": total.item(),
               "cost_ratio": expected.item() / self.budget}
        out.update({f"expected_{k}": getattr(cost, k).item() for k in COST_KEYS})
        if self.target_cost is not None:
            out.update(self.target_step(self.derived_cost(), expected.item()))  # after the step: what derive gets
        return out

    def cost_penalty(self, expected: Tensor) -> Tensor:
        """The arch step's cost term for E[inference cost] ``expected``: ``lambda_inf * expected /
        budget``, or with a cost target the augmented Lagrangian, straight-through (the value is the
        derived network's cost, the gradient E[cost]'s; ``search.target_signal: expected``: E[cost] in both)."""
        s = self.cfg.search
        if self.target_cost is None:
            return s.lambda_inf * expected / self.budget
        value = expected + (self.derived_cost() - expected).detach() if s.target_signal == "derived" else expected
        excess = value / self.target_cost - 1.0
        return self.multiplier * excess + 0.5 * s.target_penalty * excess ** 2

    def val_loss(self, images: Tensor, masks: Tensor, n_global: int) -> tuple[Tensor, Tensor]:
        """``(validation loss, what to differentiate)`` of the arch step (``search.arch_loss``).

        ``search.arch_scales``: ``all`` evaluates every inference scale and weighs the losses by
        their probabilities; ``sample`` evaluates one scale drawn from them (a fraction of the
        compute) and gives rho the score-function gradient ``(loss - baseline) * grad log p``,
        unbiased for the same expectation, with a running-mean baseline."""
        s = self.cfg.search

        def loss_at(scale: float) -> Tensor:
            self.count("arch", scale, n_global)
            logits = forward_at_scale(self.net, images, scale)
            return class_balanced_loss(logits, masks) if s.arch_loss == "class_balanced" \
                else per_image_loss(logits, masks).mean()

        if not s.search_resolution:
            loss = loss_at(1.0)
            return loss, loss
        if s.arch_scales == "all":
            loss = (self.res.probs() * torch.stack([loss_at(sc) for sc in self.res.scales])).sum()
            return loss, loss
        log_p = torch.log_softmax(self.res.rho, dim=-1)
        k = int(torch.multinomial(log_p.detach().exp().cpu(), 1))
        loss = loss_at(self.res.scales[k])
        value = loss.item()
        advantage = value - self.val_baseline if self.val_baseline is not None else 0.0
        self.val_baseline = value if self.val_baseline is None else 0.9 * self.val_baseline + 0.1 * value
        return loss, loss + advantage * log_p[k]

    def target_step(self, derived: float, expected: float) -> dict[str, float]:
        """Dual ascent of the cost multiplier against the target, on the derived network's cost (or
        on E[cost], ``search.target_signal: expected``)."""
        s = self.cfg.search
        ratio, expected_ratio = derived / self.target_cost, expected / self.target_cost
        self.multiplier += s.target_lr * ((ratio if s.target_signal == "derived" else expected_ratio) - 1.0)
        if not s.target_two_sided:
            self.multiplier = max(0.0, self.multiplier)
        arch_step = (self.step - s.warmup_steps) // s.arch_every
        if arch_step % self.cfg.run.log_every == 0 or self.step + 1 >= self.total_steps:
            self.session.run.log(f"cost target at step {self.step}: multiplier {self.multiplier:.4g}, derived cost / "
                                 f"target {ratio:.3f}, E[cost] / target {expected_ratio:.3f}", echo=False)
        return {"multiplier": self.multiplier, "target_ratio": ratio, "expected_target_ratio": expected_ratio}

    def gate_step(self, batch) -> dict[str, float]:
        """phi: probe the regret of every action on the val batch, then ``search.gate_steps`` steps of
        the expected regret plus lambda_train times the relative training cost, over the most recent
        ``search.gate_buffer`` probed images."""
        s = self.cfg.search
        idx, pos, images, masks = batch
        self.set_mode("argmax", compute=s.compute)
        regret = estimate_regret(self.net, images, masks, self.actions, reference=s.gate_regret,
                                 objective=class_balanced_loss if s.arch_loss == "class_balanced" else None)
        self.count_probes(len(idx))
        feats = self.splits.features["val"][[idx[p] for p in pos]].to(self.session.device)
        self.probe_feats = torch.cat([self.probe_feats.to(feats.device), feats])[-s.gate_buffer:]
        self.probe_regret = torch.cat([self.probe_regret.to(regret.device), regret.float()])[-s.gate_buffer:]
        train_cost = self.relative_train_cost()
        for _ in range(s.gate_steps):
            probs = torch.softmax(self.gate(self.probe_feats), dim=-1)
            objective = self.gate.objective(probs, self.probe_regret, train_cost, s.lambda_train)
            self.g_opt.zero_grad(set_to_none=True)
            objective.backward()
            all_reduce_grads(list(self.gate.parameters()), self.env)
            self.g_opt.step()
        return {"gate_objective": objective.item(), "regret_half": float(regret[:, self.actions.index(
            min(a for a in self.actions if a != "drop"))].mean())}

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "gate": self.gate.state_dict(), "res": self.res.state_dict(),
                "w_opt": self.w_opt.state_dict(), "a_opt": self.a_opt.state_dict(),
                "g_opt": self.g_opt.state_dict(), "action_counts": self.action_counts.clone(), "step": self.step,
                "budget": self.budget, "cost_size": list(self.cost_size), "multiplier": self.multiplier,
                "probe_feats": self.probe_feats.cpu(), "probe_regret": self.probe_regret.cpu(),
                "scaler": self.precision.scaler.state_dict() if self.precision.scaler else None,
                "work": self.work_items(), "val_baseline": self.val_baseline}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.gate.load_state_dict(state["gate"])
        self.res.load_state_dict(state["res"])
        self.w_opt.load_state_dict(state["w_opt"])
        self.a_opt.load_state_dict(state["a_opt"])
        self.g_opt.load_state_dict(state["g_opt"])
        self.action_counts = state["action_counts"].clone()
        self.step, self.budget = int(state["step"]), float(state["budget"])
        self.multiplier = float(state.get("multiplier", 0.0))
        self.probe_feats, self.probe_regret = state["probe_feats"].clone(), state["probe_regret"].clone()
        if state.get("scaler") is not None and self.precision.scaler is not None:
            self.precision.scaler.load_state_dict(state["scaler"])
        self.val_baseline = state.get("val_baseline")
        self.work = {(row[0], float(row[1]), row_batch(row, 4), tuple(row[5].items()) if len(row) > 5 else None):
                     int(row[2]) for row in state.get("work", [])}
