"""The baselines phase: every ``cfg.baselines`` entry trained in ``baselines/<name>/`` (a run
directory of its own, resumable), its run merged into this run's report."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import supernet
from search.baselines.plan import plan_baseline
from search.config import Config
from search.data.splits import Splits
from search.derive import describe
from search.engine.distributed import broadcast_object
from search.engine.interrupt import Interrupted
from search.engine.session import Session
from search.report.report import unmatched_text
from search.report.write import write_report_files
from search.train.phase import initial_train_state

# run_nested(config, out, stages, initial): the pipeline runs a baseline as a run of its own
RunNested = Callable[[Config, Path, str, Callable[[Splits], dict[str, Any]] | None], None]


def fresh_start(arch: dict[str, Any], name: str, seed: int) -> Callable[[Splits], dict[str, Any]]:
    """The ``initial`` of a fixed-network baseline: fresh weights, no data gate."""
    return lambda splits: initial_train_state(arch, name, None, splits, seed)


def read_report(session: Session, path: Path) -> dict[str, Any]:
    """``report.json`` as rank 0 reads it, on every rank."""
    return broadcast_object(json.loads(path.read_text()) if session.env.is_main else None, session.env)


def baselines_phase(session: Session, splits: Splits, run_nested: RunNested) -> dict[str, Any]:
    """Train every baseline (``run_nested`` with stages "run" for a co-search baseline, "train"
    for a fixed network) and merge their runs into this run's report."""
    cfg, run = session.cfg, session.run
    report = read_report(session, run.path / "report.json")
    derived = next(r for r in report["runs"] if r["name"] == "derived")
    size = tuple(cfg.cost.input_size or splits.test_size)
    if cfg.train.init == "inherit" and cfg.train.budget == "separate":
        run.log("note: train.init=inherit with train.budget=separate: the derived network continued from the "
                "supernet's weights after a whole search, the baselines trained from fresh ones; train.budget=shared "
                "(one budget for search and training) or train.init=fresh compares them on equal terms")
    runs = [derived]
    for name in cfg.baselines:
        plan = plan_baseline(name, cfg, splits.num_classes, size, derived["inference"][cfg.cost.targets[0]]["macs"])
        out = run.path / "baselines" / name.replace(":", "_")
        unmatched = unmatched_text(plan.matched)
        run.log(f"baseline {name}: {'co-search' if plan.arch is None else describe(plan.arch)} -> {out}"
                + (f" ({unmatched})" if unmatched else ""))
        initial = None if plan.arch is None else fresh_start(plan.arch, name, cfg.run.seed)
        try:
            run_nested(plan.config, out, "run" if plan.arch is None else "train", initial)
        except Interrupted:  # the parent's checkpoint (phase "baselines") continues the nested run
            raise Interrupted(f"stopped in baseline {name}; continue with --resume --out {run.path}") from None
        sub = read_report(session, out / "report.json")
        runs.append({**sub["runs"][0], "name": name, "dir": str(out.relative_to(run.path)), "matched": plan.matched})
    report["runs"] = runs
    if run.main:
        run.write_json("report.json", report)
        write_report_files(run.path, report, supernet.load_arch(run.path / "arch.json"))
    run.log("baselines done")
    return report
