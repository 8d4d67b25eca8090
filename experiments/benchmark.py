"""The co-search benchmark (issue 6): per family, the derived network against every baseline.

For each family: ``python -m search run experiments/configs/benchmark_<family>.yaml`` (derived
network + baselines full, uniform, resolution, network_only, data_only, random), a
``lambda_inf`` sweep against the uniform-width curve (``python -m search sweep``), and
``python -m search compare`` for the table and Pareto plots. Then the issue's goals are checked
on jetson_tx2 and zc706 and written to experiments/results/benchmark.md (plots beside it in
experiments/results/benchmark_<family>/). Finished sub-runs are resumed, not redone.

    .venv/bin/python experiments/benchmark.py                       # all three families
    .venv/bin/python experiments/benchmark.py --families deeplabv3plus
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cost_models.calibrate import machine_summary

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ("deeplabv3plus", "pspnet", "multires")
TARGETS = ("jetson_tx2", "zc706")
GOALS = {"training_energy_cut": 0.25, "inference_energy_cut": 0.31, "miou_drop_max": 0.01}


def sh(cmd: list[str], log: Path) -> float:
    """Run ``cmd`` from the repository root, its output appended to ``log``; returns wall seconds."""
    t0 = time.perf_counter()
    with log.open("a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        code = subprocess.call(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if code != 0:
        raise SystemExit(f"failed ({code}): {' '.join(cmd)}; see {log}")
    return time.perf_counter() - t0


def rel(path: Path) -> str:
    """``path`` relative to the repository root (for the commands shown), when it is inside it."""
    return os.path.relpath(path, ROOT) if Path(path).resolve().is_relative_to(ROOT) else str(path)


def run_cmd(family: str, out: Path, *overrides: str) -> list[str]:
    cfg = f"experiments/configs/benchmark_{family}.yaml"
    resume = ["--resume"] if (out / "checkpoints" / "last.pt").exists() else []
    return ["python", "-m", "search", "run", cfg, *overrides, "--out", rel(out), *resume]


def goal_table(rows: list[dict[str, Any]]) -> str:
    table = ["| goal | target | measured | needed | met |", "|---|---|---|---|---|"]
    table += [f"| {r['goal']} | {r['target']} | {r['value']} | {r['needed']} | {'yes' if r['met'] else '**no**'} |"
              for r in rows]
    return "\n".join(table)


def vs_full(d: dict[str, Any], full: dict[str, Any]) -> list[dict[str, Any]]:
    """The goals against the full network: energy cuts per target and the mIoU drop."""
    out = []
    for t in TARGETS:
        cut_train = 1 - d["training"][t]["energy_j"] / full["training"][t]["energy_j"]
        cut_inf = 1 - d["inference"][t]["energy_j"] / full["inference"][t]["energy_j"]
        out += [{"goal": "training energy vs full", "target": t, "value": f"-{cut_train * 100:.1f} %",
                 "needed": f"<= -{GOALS['training_energy_cut'] * 100:.0f} %",
                 "met": cut_train >= GOALS["training_energy_cut"]},
                {"goal": "inference energy vs full", "target": t, "value": f"-{cut_inf * 100:.1f} %",
                 "needed": f"<= -{GOALS['inference_energy_cut'] * 100:.0f} %",
                 "met": cut_inf >= GOALS["inference_energy_cut"]}]
    drop = full["miou"] - d["miou"]
    out.append({"goal": "mIoU vs full", "target": "-", "value": f"{-drop * 100:+.2f} points",
                "needed": f">= -{GOALS['miou_drop_max'] * 100:.0f} point", "met": drop <= GOALS["miou_drop_max"]})
    return out


def sweep_vs_full(sweep: dict[str, Any], full: dict[str, Any]) -> str:
    """Every sweep point against the run's full network: the same goals as the derived network's."""
    rows = [(r["label"], vs_full(r, full)) for r in sweep["derived"]]
    head = [f"{g['goal']} ({g['target']})" if g["target"] != "-" else g["goal"] for g in rows[0][1]]
    table = ["| sweep point | " + " | ".join(head) + " | all met |", "|---" * (len(head) + 2) + "|"]
    table += [f"| {label} | " + " | ".join(g["value"] for g in goals) + f" | {'yes' if all(g['met'] for g in goals) else 'no'} |"
              for label, goals in rows]
    return "\n".join(table)


def checks(report: dict[str, Any], sweep: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The issue's goals, each ``{goal, target, value, needed, met}`` (values measured by the runs)."""
    runs = {r["name"]: r for r in report["runs"]}
    d = runs["derived"]
    out = vs_full(d, runs["full"])
    for name in ("uniform", "resolution"):
        if name in runs:
            gap = d["miou"] - runs[name]["miou"]
            out.append({"goal": f"mIoU vs {name} (same MACs)", "target": "-", "value": f"{gap * 100:+.2f} points",
                        "needed": "> 0", "met": gap > 0})
    for t in TARGETS:
        if sweep is None:
            out.append({"goal": "sweep front dominates uniform curve", "target": t, "value": "not run",
                        "needed": "dominates", "met": False})
            continue
        c = sweep["dominance"][t]
        worst = min((m for m in c["margins"].values() if m is not None), default=None)
        value = f"{c['dominated']}/{c['compared']} points" + ("" if worst is None else f", worst margin {worst * 100:+.2f}")
        out.append({"goal": "sweep front dominates uniform curve", "target": t, "value": value,
                    "needed": "all comparable points", "met": c["dominates"]})
    return out


def machine() -> str:
    return machine_summary(threads=1) + " per run (run.threads=1)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--values", default="0.01,0.03,0.1,0.5,1,2", help="lambda_inf values of the sweep")
    p.add_argument("--widths", default="0.25,0.5,0.75,1.0", help="uniform curve width multipliers")
    p.add_argument("--no-sweep", action="store_true", help="skip the sweep (its goal is then reported not run)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "benchmark", help="run directories")
    p.add_argument("--results", type=Path, default=ROOT / "experiments" / "results")
    args = p.parse_args()
    families = [f for f in args.families.split(",") if f]
    python = sys.executable
    sections, commands = [], []
    for family in families:
        out = args.out / family
        out.mkdir(parents=True, exist_ok=True)
        log = out / "benchmark.log"
        figs = args.results / f"benchmark_{family}"
        cmd = run_cmd(family, out / "run")
        commands.append(" ".join(cmd[:-1] if cmd[-1] == "--resume" else cmd))
        walls = out / "wall.json"  # the first, uninterrupted measurement of each step is kept
        wall = json.loads(walls.read_text()) if walls.exists() else {}

        def timed(key: str, command: list[str]) -> None:
            seconds = sh([python, *command[1:]], log)
            wall.setdefault(key, seconds)
            walls.write_text(json.dumps(wall))

        timed("run", cmd)
        sweep = None
        if not args.no_sweep:
            sweep_cmd = ["python", "-m", "search", "sweep", f"experiments/configs/benchmark_{family}.yaml",
                         "--values", args.values, "--widths", args.widths, "--out", rel(out / "sweep"), "baselines=[]"]
            commands.append(" ".join(sweep_cmd))
            timed("sweep", sweep_cmd)
            sweep = json.loads((out / "sweep" / "sweep.json").read_text())
        cmp_cmd = ["python", "-m", "search", "compare", rel(out / "run"), "--out", rel(figs)]
        commands.append(" ".join(cmp_cmd))
        sh([python, *cmp_cmd[1:]], log)
        if sweep is not None:
            shutil.copy(out / "sweep" / "sweep.png", figs / "sweep.png")
            shutil.copy(out / "sweep" / "sweep.md", figs / "sweep.md")
        report = json.loads((out / "run" / "report.json").read_text())
        rows = checks(report, sweep)
        compare_md = (figs / "compare.md").read_text().split("\n", 2)[2].split("![")[0].strip()
        link = figs.relative_to(args.results) if figs.is_relative_to(args.results) else figs
        sections += [f"## {family}", "", f"wall time: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in wall.items()),
                     "", goal_table(rows), "", compare_md, "",
                     f"![inference]({link}/pareto.png)", "", f"![training]({link}/pareto_training.png)", ""]
        if sweep is not None:
            full = next(r for r in report["runs"] if r["name"] == "full")
            sections += [f"![sweep]({link}/sweep.png) (details: {link}/sweep.md)", "",
                         "Each sweep point against the full network above:", "", sweep_vs_full(sweep, full), ""]
        print(f"{family}: " + "; ".join(f"{r['goal']} {r['target']}: {r['value']} ({'met' if r['met'] else 'MISSED'})"
                                        for r in rows), flush=True)
    head = ["# Benchmark: co-search against fixed baselines (synthetic, CPU)", "",
            f"Machine: {machine()}.", "",
            "Goals (issue 6), derived network against the full one on jetson_tx2 and zc706: training energy "
            ">= 25 % lower, inference energy >= 31 % lower, mIoU at most 1 point lower; mIoU above the uniform-width "
            "and resolution-only baselines of the same inference MACs; the lambda_inf sweep's front dominating the "
            "uniform-width curve. Training energy is the retraining's (every image trained, at the scale its "
            "data-gate action chose; dropped images cost nothing); the co-search itself is not counted. Every "
            "network, derived or baseline, is trained from fresh weights on the same schedule (train.init: fresh).", "",
            "Reproduce (from the repository root):", "", "```",
            f".venv/bin/python experiments/benchmark.py --families {','.join(families)} --values {args.values} "
            f"--widths {args.widths}", "# which runs:", *commands, "```", ""]
    args.results.mkdir(parents=True, exist_ok=True)
    notes = args.results / "benchmark_notes.md"  # hand-written reading of the results, if any
    if notes.exists():
        head += [notes.read_text(), ""]
    (args.results / "benchmark.md").write_text("\n".join(head + sections))
    print(f"wrote {args.results / 'benchmark.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
