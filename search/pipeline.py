"""The whole run, as resumable phases in order: search -> train -> final -> baselines -> done.

config -> data (splits + complexity features) -> co-search (cost model in the loss) -> derive
-> train the derived network with its data slimming -> evaluate, cost, export, report ->
baselines. ``checkpoints/last.pt`` names the phase to continue: ``search`` (step t of the
co-search), ``retrain`` (step t of the training; the arch and the data-slimming decisions are in
the checkpoint), ``final`` (training done), ``baselines``, ``done``. ``checkpoints/search.pt``
keeps the supernet at the end of the search for ``python -m search derive``.

>>> STAGES["search"]
('search',)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import supernet
from cost_models.target import TargetError, load_target
from search.baselines.phase import baselines_phase
from search.config import Config, apply_limits
from search.cosearch.phase import SEARCH_CHECKPOINT, search_phase
from search.data.splits import Splits, load_splits
from search.engine.distributed import teardown
from search.engine.interrupt import StopFlag, stop_on_signals
from search.engine.session import Session
from search.errors import UserError
from search.evaluate.final import final_phase
from search.train.phase import train_phase
from supernet.gates import InferenceResolution, parse_actions

__all__ = ["PHASES", "STAGES", "SEARCH_CHECKPOINT", "run_pipeline", "check_names"]

PHASES = ("search", "retrain", "final", "baselines", "done")
STAGES = {"run": PHASES, "search": ("search",), "train": ("retrain", "final", "done")}
Initial = Callable[[Splits], dict[str, Any]]


def run_pipeline(cfg: Config, out: str | Path, resume: bool = False, stages: tuple[str, ...] = PHASES,
                 stop: StopFlag | None = None, initial: Initial | None = None, echo: bool = True) -> Path:
    """Run (or continue) the phases in ``stages``; returns the run directory.

    ``initial(splits)``: the train state to start from when the run has no search phase
    (``python -m search train``).
    """
    check_names(cfg)
    apply_limits(cfg)
    with stop_on_signals(stop) as flag:
        session = Session.open(cfg, out, resume, flag, echo=echo)
        try:
            _run(session, stages, initial)
        finally:
            session.close()
            teardown()
    return session.run.path


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


def _run_nested(session: Session) -> Callable[[Config, Path, str, Initial | None], None]:
    """A run inside this run (a baseline), resumed when its directory holds a checkpoint."""
    def run_nested(cfg: Config, out: Path, stages: str, initial: Initial | None) -> None:
        nested = Session.open(cfg, out, (out / "checkpoints" / "last.pt").exists(), session.stop,
                              echo=session.run.echo)
        try:
            _run(nested, STAGES[stages], initial)
        finally:
            nested.close()
    return run_nested


def _run(session: Session, stages: tuple[str, ...], initial: Initial | None) -> None:
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
        state = train_phase(session, splits, state)
        phase = "final"
    if phase == "final" and "final" in stages:
        final_phase(session, splits, state)
        phase = "baselines"
        session.save(phase, 0, {})
    if phase == "baselines":
        if "baselines" in stages and cfg.baselines:
            baselines_phase(session, splits, _run_nested(session))
        session.save("done", 0, {})
    run.log("run complete")
