"""The search phase: run the co-search in the loop, derive arch.json, hand over to training.

>>> from search.config import Config
>>> SEARCH_CHECKPOINT
'checkpoints/search.pt'
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

import supernet
from search.config import Config
from search.cosearch.cosearch import CoSearch
from search.data.splits import Splits
from search.cosearch.train_budget import TrainingProjection, fit_gate_to_train_target
from search.derive import derive_arch, describe, gate_description, inference_scale, within_options
from search.engine.checkpoint import load_checkpoint
from search.engine.distributed import check_synchronised
from search.engine.hooks import Checkpoint, Metrics, Progress, StopWhenUnchanged, WallClock
from search.engine.loop import Loop
from search.engine.seeding import seed_step
from search.engine.session import Session
from search.report.tensorboard import add_gate_actions, add_layout
from search.errors import UserError
from search.train.phase import shrink_perturb, train_state
from search.train.trainer import recalibrate_at_scale
from supernet.gates import DataGate

SEARCH_CHECKPOINT = "checkpoints/search.pt"


def record_arch(cs: CoSearch, step: int) -> None:
    """Arch probabilities per site and option, inference-scale probabilities, gate histogram."""
    run = cs.session.run
    if not run.main:
        return
    tb = run.tb()
    with torch.no_grad():
        for name, p in cs.net.probabilities().items():
            site = cs.net.sites[name]
            for option, value in zip(site.options, p.tolist()):
                tb.add_scalar(f"arch/{name}/{option}", value, step)
            tb.add_scalar(f"arch_expected/{name}", float(site.expected(p)), step)
        for sc, p in cs.res.scale_probs().items():
            tb.add_scalar(f"resolution/{sc}", float(p), step)
        choice = cs.gate.choose(cs.splits.features["train"].to(cs.session.device)).cpu()
    run.histogram("gate/train_actions", choice.float(), step, bins=torch.arange(len(cs.actions) + 1).float() - 0.5)
    add_gate_actions(tb, choice, cs.actions, step)


def search_config(cfg: Config) -> Config:
    """The config the co-search runs with: under ``train.budget: shared`` its warm-up and search
    steps fit in ``search.max_share`` of ``train.steps`` (the temperature anneals over what is left).

    >>> cfg = Config()
    >>> s = search_config(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=200))).search
    >>> s.warmup_steps + s.steps
    80
    """
    if cfg.train.budget != "shared":
        return cfg
    s = cfg.search
    cap = int(s.max_share * cfg.train.steps)
    if cap <= s.warmup_steps:
        raise UserError(f"train.budget shared: search.max_share {s.max_share} of train.steps {cfg.train.steps} "
                        f"is {cap} steps, no more than search.warmup_steps {s.warmup_steps}: the search would "
                        f"never update the arch; raise train.steps or search.max_share, or lower the warm-up")
    steps = min(s.steps, cap - s.warmup_steps)
    return dataclasses.replace(cfg, search=dataclasses.replace(s, steps=steps))


def fitted_gate(session: Session, splits: Splits, arch: dict[str, Any], gate: DataGate, search: dict[str, Any],
                steps_left: int) -> DataGate:
    """The gate the derived network trains with under ``search.train_target`` (:mod:`.train_budget`)."""
    cfg = session.cfg
    target = cfg.search.train_target
    projection = TrainingProjection(cfg, arch, search, len(splits.train), splits.image_size,
                                    cfg.cost.input_size or splits.test_size, steps_left,
                                    handover_bn=cfg.train.budget == "shared", min_batch=max(2, session.env.world_size))
    features = splits.features["train"].to(session.device)
    fitted, fit = fit_gate_to_train_target(gate, features, projection, target)
    verdict = ("above it, the gate kept as learned" if fit["learned"] > target else
               f"{fit['moved']} images given back to dearer actions (logit shift {fit['shift']:.3g} x cost): "
               f"{fit['fitted']:.3f}")
    session.run.log(f"hand-over: training energy on {cfg.search.target} projected at {fit['learned']:.3f} of the "
                    f"full network's with the learned gate, search.train_target {target}: {verdict}")
    search["train_target"] = fit
    return fitted


def search_phase(session: Session, splits: Splits) -> dict[str, Any]:
    """Co-search, then the derived arch.json and the state the training starts from.

    ``train.budget: shared``: the search ends early once the derived arch is stable, and the
    derived network (from the supernet's weights with ``train.init: inherit``, or fresh ones: the
    early-bird schedule; batch-norm recalibrated at its inference scale) trains for the rest of
    ``train.steps``."""
    cfg, run = session.cfg, session.run
    shared = cfg.train.budget == "shared"
    scfg = search_config(cfg)
    s = scfg.search
    seed_step(cfg.run.seed, "init")  # the supernet's and the gate's initial weights
    cs = CoSearch(scfg, splits, session)
    gate = cs.gate if s.data_gates else None

    def derived(log: bool = False) -> dict[str, Any]:
        def fit(choices: dict[str, Any], scale: float) -> dict[str, Any]:
            fitted, cuts = cs.fit_to_target(choices, scale)
            if log and cuts:
                run.log(f"derive: cost {cs.arch_cost(choices, scale) / cs.target_cost:.3f} of the target, cut to "
                        f"{cs.arch_cost(fitted, scale) / cs.target_cost:.3f} (search.target_tolerance "
                        f"{s.target_tolerance}): {', '.join(cuts)}")
            return fitted
        return derive_arch(cs.net, cs.res, gate, s.derive_rule, s.network, s.search_resolution, cs.full_choices,
                           fit=fit)

    options = {name: site.options for name, site in cs.net.sites.items()}
    stable = StopWhenUnchanged(lambda: derived()["choices"], s.stable_every, s.stable_checks if shared else 0,
                               start=s.warmup_steps,
                               same=lambda a, b: within_options(a, b, options, s.stable_tolerance))
    step, state = session.resume_point("search")
    searched = run.path / SEARCH_CHECKPOINT  # written when the search ends: a resumed run does not repeat it
    finished = session.resumed is not None and state is not None and searched.is_file()
    if finished:
        state = load_checkpoint(searched)["state"]
    clock = WallClock()
    if state is not None:
        cs.load_state_dict(state)
        clock.wall_s = float(state.get("wall_s", 0.0))
        if "stable" in state:
            stable.load_state_dict(state["stable"])
    budget = (f"; one budget of {cfg.train.steps} steps, the search at most {cs.total_steps}, ending when the "
              f"arch is unchanged for {s.stable_checks} checks {s.stable_every} steps apart" if shared else "")
    run.log(f"co-search: {cfg.model.family} on {cfg.data.name}, {cs.total_steps} steps "
            f"({s.warmup_steps} warm-up), target {s.target}, "
            f"{f'cost target {s.target_cost}' if s.target_cost is not None else f'lambda_inf {s.lambda_inf}'}, "
            f"budget {cs.budget:.4g} {s.cost_metric}{budget}")
    if run.main:  # one TensorBoard chart per site, its options together
        add_layout(run.tb(), {n: site.options for n, site in cs.net.sites.items()}, cs.res.scales, cs.actions)
    hooks = [clock, Metrics(run, cfg.run.log_every, cfg.data.batch_size, on_record=lambda t: record_arch(cs, t)),
             Progress(("w_loss", "tau", "cost_ratio"), enabled=cfg.run.progress and run.main), stable,
             Checkpoint(session, lambda: {**cs.state_dict(), "wall_s": clock.wall_s, "stable": stable.state_dict()})]
    if finished:
        run.log(f"co-search: finished before the stop ({SEARCH_CHECKPOINT}, step {cs.step}); not repeated")
    else:
        Loop("search", cs.run_step, cs.total_steps, start=cs.step, hooks=hooks).run()
    if stable.stopped:
        run.log(f"co-search: the derived arch is stable, stopping at step {cs.step} of {cs.total_steps}")
    check_synchronised(cs.net.arch_parameters() + [cs.res.rho] + list(cs.gate.parameters()), session.env,
                       "arch, resolution and gate parameters")
    arch = derived(log=True)
    search = {"steps": cs.step, "wall_s": clock.wall_s, "budget": cs.budget,
              "cost_metric": s.cost_metric, "target": s.target, "work": cs.work_items(),
              "stopped_early": stable.stopped}
    if cs.target_cost is not None and s.network:  # where the searched network landed against the stated target
        ratio = cs.arch_cost(arch["choices"], inference_scale(arch)) / cs.target_cost
        search["cost_target"] = {"value": cs.target_cost, "ratio": ratio, "tolerance": s.target_tolerance}
        run.log(f"derive: the derived network costs {ratio:.3f} of the cost target ({s.cost_metric} on {s.target})")
    if gate is not None and cfg.train.data_gates and s.train_target is not None:
        gate = fitted_gate(session, splits, arch, gate, search, cfg.train.steps - cs.step if shared else cfg.train.steps)
        arch["data"]["train_gate"] = gate_description(gate)
    session.save("searched", cs.step, {**cs.state_dict(), "arch": arch, "wall_s": clock.wall_s,
                                       "stable": stable.state_dict()}, path=searched)
    if run.main:
        supernet.save_arch(arch, run.path / "arch.json")
    run.log(f"derived arch: {describe(arch)}")
    resolution = arch["data"]["resolution"]
    if s.search_resolution and len(resolution["scales"]) > 1:  # how sure the search was of the scale it deploys
        run.log("derive: inference scale probabilities " + ", ".join(
            f"{sc}: {p:.3f}" for sc, p in zip(resolution["scales"], resolution["probs"])))
    seed_step(cfg.run.seed, "init-train")
    model = cs.net.derive(arch) if cfg.train.init == "inherit" else supernet.build_from_arch(arch)
    shrink, noise = cfg.train.inherit_shrink, cfg.train.inherit_noise
    if cfg.train.init == "inherit" and (shrink != 1.0 or noise):
        shrink_perturb(model, supernet.build_from_arch(arch), shrink, noise)
        run.log(f"hand-over: inherited weights x {shrink} + fresh weights x {noise}")
    state = train_state("derived", arch, model, gate if cfg.train.data_gates else None,
                        splits.features["train"].to(session.device), search)
    if shared:  # hand-over: statistics at the inference scale, then the rest of the budget
        scale, t0 = inference_scale(arch), time.perf_counter()
        n = recalibrate_at_scale(model, splits.train, scale, cfg.data.batch_size, session.device)
        search.update(bn_passes=[[scale, n, cfg.data.batch_size]], bn_wall_s=time.perf_counter() - t0)
        state["trainer"]["model"] = model.state_dict()
        state["steps"] = cfg.train.steps - cs.step
        run.log(f"hand-over: batch-norm recalibrated at scale {scale} on {n} images; the derived network "
                f"{'continues' if cfg.train.init == 'inherit' else 'starts from fresh weights'} for {state['steps']} "
                f"of {cfg.train.steps} steps")
    session.save("retrain", 0, state)
    return state
