"""The whole run, as resumable phases: search -> retrain -> final (evaluate, cost, export, report).

``checkpoints/last.pt`` names the phase to continue: ``search`` (step t of the co-search),
``retrain`` (step t of the retraining; the arch and the data-slimming decisions are in the
checkpoint), ``final`` (training done), ``done``. ``checkpoints/search.pt`` keeps the
supernet at the end of the search for ``python -m search derive``.

>>> STAGES["search"]
('search',)
"""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any, Callable

import torch

import supernet
from cost_models.target import TargetError, load_target
from supernet.export import save_derived
from supernet.gates import DataGate, InferenceResolution, parse_actions

from search.baselines.plan import plan_baseline
from search.data.batches import seed_step
from search.errors import UserError
from search.config import Config
from search.cosearch.cosearch import CoSearch, gate_from_description, summarize_gate
from search.report.costs import inference_costs, training_costs
from search.engine.distributed import broadcast_object, check_synchronised, teardown
from search.evaluate.evaluate import evaluate
from search.engine.interrupt import Interrupted, StopFlag, stop_on_signals
from search.report.plots import pareto_plot
from search.report.report import build_report, markdown_report, run_entry
from search.train.trainer import Retrain, recalibrate_at_scale
from search.engine.session import Session
from search.data.splits import Splits, load_splits

PHASES = ("search", "retrain", "final", "baselines", "done")
STAGES = {"run": PHASES, "search": ("search",), "train": ("retrain", "final", "done")}
SEARCH_CHECKPOINT = "checkpoints/search.pt"


def run_pipeline(cfg: Config, out: str | Path, resume: bool = False, stages: tuple[str, ...] = PHASES,
                 stop: StopFlag | None = None, initial: Callable[[Splits], dict[str, Any]] | None = None,
                 echo: bool = True) -> Path:
    """Run (or continue) the phases in ``stages``; returns the run directory.

    ``initial(splits)``: the ``retrain`` state to start from when the run has no search
    phase (``python -m search train``).
    """
    check_names(cfg)
    with stop_on_signals(stop) as flag:
        session = Session.open(cfg, out, resume, flag, echo=echo)
        try:
            _run(session, stages, initial)
        finally:
            session.run.close()
            teardown()
    return session.run.path


def _open_and_run(cfg: Config, out: Path, stages: tuple[str, ...], stop: StopFlag,
                  initial: Callable[[Splits], dict[str, Any]] | None, echo: bool) -> None:
    """A run inside a run (a baseline): resumed when its directory holds a checkpoint."""
    session = Session.open(cfg, out, (out / "checkpoints" / "last.pt").exists(), stop, echo=echo)
    try:
        _run(session, stages, initial)
    finally:
        session.run.close()


def _read_report(session: Session, path: Path) -> dict[str, Any]:
    return broadcast_object(json.loads(path.read_text()) if session.env.is_main else None, session.env)


def baselines_phase(session: Session, splits: Splits) -> dict[str, Any]:
    """Train every ``cfg.baselines`` entry in ``baselines/<name>/`` (a run directory of its own,
    resumable) and merge their runs into this run's report."""
    cfg, run = session.cfg, session.run
    report = _read_report(session, run.path / "report.json")
    derived = next(r for r in report["runs"] if r["name"] == "derived")
    size = tuple(cfg.cost.input_size or splits.test_size)
    if cfg.train.init == "inherit":
        run.log("note: train.init=inherit: the derived network's training started from the supernet's weights, "
                "the baselines' from fresh ones; train.init=fresh compares them on equal terms")
    runs = [derived]
    for name in cfg.baselines:
        plan = plan_baseline(name, cfg, splits.num_classes, size, derived["inference"][cfg.cost.targets[0]]["macs"])
        out = run.path / "baselines" / name.replace(":", "_")
        run.log(f"baseline {name}: {'co-search' if plan.arch is None else _describe(plan.arch)} -> {out}")
        initial = None
        if plan.arch is not None:
            def initial(s: Splits, arch: dict[str, Any] = plan.arch) -> dict[str, Any]:
                return initial_train_state(arch, name, None, s, cfg.run.seed)
        stages = PHASES if plan.arch is None else STAGES["train"]
        try:
            _open_and_run(plan.config, out, stages, session.stop, initial, run.echo)
        except Interrupted:  # the parent's checkpoint (phase "baselines") continues the nested run
            raise Interrupted(f"stopped in baseline {name}; continue with --resume --out {run.path}") from None
        sub = _read_report(session, out / "report.json")
        runs.append({**sub["runs"][0], "name": name, "dir": str(out.relative_to(run.path)), "matched": plan.matched})
    report["runs"] = runs
    if run.main:
        run.write_json("report.json", report)
        arch = supernet.load_arch(run.path / "arch.json")
        run.write_text("report.md", markdown_report(report, arch))
        pareto_plot(runs, run.path / "pareto.png")
        pareto_plot(runs, run.path / "pareto_training.png", key="training")
    return report


def check_names(cfg: Config) -> None:
    """Fail fast, before any data is read, on a family, target, action or scale that does not exist."""
    if cfg.model.family not in supernet.FAMILIES:
        raise UserError(f"model.family: unknown family {cfg.model.family!r}; known families: "
                        f"{', '.join(supernet.FAMILIES)}")
    for where, name in [("search.target", cfg.search.target)] + [("cost.targets", t) for t in cfg.cost.targets]:
        try:
            load_target(name)
        except TargetError as err:
            raise UserError(f"{where}: {err}") from None
    try:
        parse_actions(cfg.search.gate_actions)
        InferenceResolution(cfg.search.inference_scales)
    except ValueError as err:
        raise UserError(f"search.gate_actions / search.inference_scales: {err}") from None


def _run(session: Session, stages: tuple[str, ...], initial: Callable[[Splits], dict[str, Any]] | None) -> None:
    run, cfg = session.run, session.cfg
    phase = session.resumed["phase"] if session.resumed else stages[0]
    if phase == "done":
        run.log(f"{run.path} is already complete")
        return
    run.log(f"run directory: {run.path}", echo=False)
    splits = load_splits(cfg.data, features=True, progress=cfg.run.progress and run.main)
    state = session.resumed["state"] if session.resumed else (initial(splits) if initial else None)
    if phase == "search" and "search" in stages:
        state = search_phase(session, splits)
        phase = "retrain"
    if phase == "retrain" and "retrain" in stages:
        state = retrain_phase(session, splits, state)
        phase = "final"
    if phase == "final" and "final" in stages:
        final_phase(session, splits, state)
        phase = "baselines"
        session.save(phase, 0, {})
    if phase == "baselines":
        if "baselines" in stages and cfg.baselines:
            baselines_phase(session, splits)
        session.save("done", 0, {})


def search_phase(session: Session, splits: Splits) -> dict[str, Any]:
    """Co-search, then the derived arch.json and the state the retraining starts from."""
    cfg, run = session.cfg, session.run
    seed_step(cfg.run.seed, "init")  # the supernet's and the gate's initial weights
    cs = CoSearch(cfg, splits, session)
    step, state = session.resume_point("search")
    if state is not None:
        cs.load_state_dict(state)
    run.log(f"co-search: {cfg.model.family} on {cfg.data.name}, {cs.total_steps} steps "
            f"({cfg.search.warmup_steps} warm-up), target {cfg.search.target}, lambda_inf {cfg.search.lambda_inf}, "
            f"budget {cs.budget:.4g} {cfg.search.cost_metric}")
    t0 = time.perf_counter()
    cs.run()
    check_synchronised(cs.net.arch_parameters() + [cs.res.rho] + list(cs.gate.parameters()), session.env,
                       "arch, resolution and gate parameters")
    arch = cs.derive_arch()
    session.save("searched", cs.step, {**cs.state_dict(), "arch": arch}, path=run.path / SEARCH_CHECKPOINT)
    if run.main:
        supernet.save_arch(arch, run.path / "arch.json")
    run.log(f"derived arch: {_describe(arch)}")
    seed_step(cfg.run.seed, "init-train")
    model = cs.net.derive(arch) if cfg.train.init == "inherit" else supernet.build_from_arch(arch)
    gate = cs.gate if cfg.search.data_gates and cfg.train.data_gates else None
    search = {"steps": cs.total_steps, "wall_s": time.perf_counter() - t0, "budget": cs.budget,
              "cost_metric": cfg.search.cost_metric, "target": cfg.search.target}
    state = retrain_state("derived", arch, model, gate, splits.features["train"].to(session.device), search)
    session.save("retrain", 0, state)
    return state


def retrain_state(name: str, arch: dict[str, Any], model: torch.nn.Module, gate: DataGate | None,
                  features: torch.Tensor, search: dict[str, Any] | None = None) -> dict[str, Any]:
    """The state the retraining starts from: the arch, initial weights, and (with a learned
    ``gate``) each training image's action and the gate's probabilities for it. Without a gate
    every image trains at the arch's inference scale."""
    choice = probs = slimming = None
    actions: list[Any] = [inference_scale(arch)]
    if gate is not None:
        with torch.no_grad():
            choice, probs = gate.choose(features).cpu(), torch.softmax(gate(features), dim=-1).cpu()
        actions, slimming = list(gate.actions), summarize_gate(gate, features)
    return {"name": name, "arch": arch, "actions": actions, "choice": choice, "probs": probs,
            "data_slimming": slimming, "search": search,
            "trainer": {"model": model.state_dict(), "opt": None, "step": 0,
                        "action_counts": torch.zeros(len(actions), dtype=torch.int64), "wall_s": 0.0}}


def inference_scale(arch: dict[str, Any]) -> float:
    return float(arch.get("data", {}).get("inference_scale", arch["choices"].get("data.inference_scale", 1.0)))


def _describe(arch: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in arch["choices"].items())


def _trainer(session: Session, splits: Splits, state: dict[str, Any]) -> Retrain:
    model = supernet.build_from_arch(state["arch"])
    trainer = Retrain(model, session.cfg, splits, session, actions=state["actions"],
                      choice=state["choice"], probs=state["probs"])
    trainer.load_state_dict(state["trainer"])
    return trainer


def retrain_phase(session: Session, splits: Splits, state: dict[str, Any]) -> dict[str, Any]:
    if state is None:
        raise UserError("nothing to train: the run has no retrain state (run the search first)")
    trainer = _trainer(session, splits, state)
    session.run.log(f"training {state['name']} for {trainer.total_steps} steps "
                    f"({'with' if state['choice'] is not None else 'without'} data slimming)")

    def snapshot() -> dict[str, Any]:
        return {**state, "trainer": trainer.state_dict()}

    trainer.run("retrain", snapshot)
    state = snapshot()
    session.save("final", trainer.step, state)
    return state


def final_phase(session: Session, splits: Splits, state: dict[str, Any]) -> dict[str, Any]:
    """Evaluate, cost on every target, export derived.pt / .pt2, write arch.json and the report."""
    cfg, run, env = session.cfg, session.run, session.env
    trainer = _trainer(session, splits, state)
    model, arch = trainer.model, copy.deepcopy(state["arch"])
    scale = inference_scale(arch)
    bn_pass, wall_s = None, trainer.wall_s
    if cfg.train.recalibrate_bn:
        t0 = time.perf_counter()
        bn_pass = (scale, recalibrate_at_scale(model, splits.train, scale, cfg.data.batch_size, session.device))
        wall_s += time.perf_counter() - t0
    metrics = evaluate(model, splits.test, splits.num_classes, scale, cfg.eval.batch_size, env, session.device)
    run.log(f"{state['name']}: mIoU {metrics['miou'] * 100:.2f} % on the {cfg.data.test_split} split "
            f"at inference scale {scale}")
    if not run.main:
        return {}
    cpu_model = copy.deepcopy(model).cpu().eval()
    test_size = tuple(cfg.cost.input_size or splits.test_size)
    inference = inference_costs(cpu_model, test_size, scale, cfg.cost.targets)
    counts = {a: int(n) for a, n in zip(trainer.actions, trainer.action_counts.tolist())}
    training = training_costs(cpu_model, splits.image_size, counts, cfg.cost.targets, bn_pass)
    keys = ("macs", "dram_bytes", "energy_j", "latency_s")
    arch["cost"] = {t: {k: inference[t][k] for k in keys} for t in cfg.cost.targets}
    arch["metrics"] = {"miou": metrics["miou"], "iou": metrics["iou"], "pixel_accuracy": metrics["pixel_accuracy"]}
    supernet.save_arch(arch, run.path / "arch.json")
    example = torch.zeros(1, 3, *inference[cfg.cost.targets[0]]["input_shape"][2:])
    save_derived(cpu_model, arch, run.path / "derived.pt", run.path / "derived.pt2", example)
    entry = run_entry(state["name"], metrics, inference, training, wall_s, inference_scale=scale,
                      search=state.get("search"))
    report = build_report([entry], state.get("data_slimming"), session.config_dict(), splits.class_names,
                          family=arch["family"], arch="arch.json")
    run.write_json("report.json", report)
    run.write_text("report.md", markdown_report(report, arch))
    pareto_plot(report["runs"], run.path / "pareto.png")
    run.record("final", trainer.step, {"miou": metrics["miou"],
                                       **{f"{t}/inference_energy_j": inference[t]["energy_j"] for t in inference},
                                       **{f"{t}/training_energy_j": training[t]["energy_j"] for t in training}})
    run.log(f"wrote {run.path / 'report.md'}")
    return report


def initial_train_state(arch: dict[str, Any], name: str, gate_desc: dict[str, Any] | None,
                        splits: Splits, seed: int) -> dict[str, Any]:
    """The retrain state of ``python -m search train``: fresh weights, optional learned data gate."""
    seed_step(seed, "init-train")
    model = supernet.build_from_arch(arch)
    features = splits.features["train"]
    gate = None
    if gate_desc is not None:
        if features.shape[1] != gate_desc["num_features"]:
            raise UserError(f"the data gate takes {gate_desc['num_features']} features, the dataset has "
                            f"{features.shape[1]}")
        gate = gate_from_description(gate_desc)
    return retrain_state(name, arch, model, gate, features)
