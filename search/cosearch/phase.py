"""The search phase: run the co-search in the loop, derive arch.json, hand over to training.

>>> from search.config import Config
>>> SEARCH_CHECKPOINT
'checkpoints/search.pt'
"""
from __future__ import annotations

from typing import Any

import torch

import supernet
from search.cosearch.cosearch import CoSearch
from search.data.splits import Splits
from search.derive import derive_arch, describe
from search.engine.distributed import check_synchronised
from search.engine.hooks import Checkpoint, Metrics, Progress, WallClock
from search.engine.loop import Loop
from search.engine.seeding import seed_step
from search.engine.session import Session
from search.train.phase import train_state

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


def search_phase(session: Session, splits: Splits) -> dict[str, Any]:
    """Co-search, then the derived arch.json and the state the training starts from."""
    cfg, run = session.cfg, session.run
    s = cfg.search
    seed_step(cfg.run.seed, "init")  # the supernet's and the gate's initial weights
    cs = CoSearch(cfg, splits, session)
    step, state = session.resume_point("search")
    clock = WallClock()
    if state is not None:
        cs.load_state_dict(state)
        clock.wall_s = float(state.get("wall_s", 0.0))
    run.log(f"co-search: {cfg.model.family} on {cfg.data.name}, {cs.total_steps} steps "
            f"({s.warmup_steps} warm-up), target {s.target}, lambda_inf {s.lambda_inf}, "
            f"budget {cs.budget:.4g} {s.cost_metric}")
    hooks = [clock, Metrics(run, cfg.run.log_every, cfg.data.batch_size, on_record=lambda t: record_arch(cs, t)),
             Progress(("w_loss", "tau", "cost_ratio"), enabled=cfg.run.progress and run.main),
             Checkpoint(session, lambda: {**cs.state_dict(), "wall_s": clock.wall_s})]
    Loop("search", cs.run_step, cs.total_steps, start=cs.step, hooks=hooks).run()
    check_synchronised(cs.net.arch_parameters() + [cs.res.rho] + list(cs.gate.parameters()), session.env,
                       "arch, resolution and gate parameters")
    gate = cs.gate if s.data_gates else None
    arch = derive_arch(cs.net, cs.res, gate, s.derive_rule, s.network, s.search_resolution, cs.full_choices)
    session.save("searched", cs.step, {**cs.state_dict(), "arch": arch}, path=run.path / SEARCH_CHECKPOINT)
    if run.main:
        supernet.save_arch(arch, run.path / "arch.json")
    run.log(f"derived arch: {describe(arch)}")
    seed_step(cfg.run.seed, "init-train")
    model = cs.net.derive(arch) if cfg.train.init == "inherit" else supernet.build_from_arch(arch)
    search = {"steps": cs.total_steps, "wall_s": clock.wall_s, "budget": cs.budget,
              "cost_metric": s.cost_metric, "target": s.target}
    state = train_state("derived", arch, model, gate if cfg.train.data_gates else None,
                        splits.features["train"].to(session.device), search)
    session.save("retrain", 0, state)
    return state
