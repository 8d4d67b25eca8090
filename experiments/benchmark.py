"""The co-search benchmark: per family and seed, the derived network against every baseline.

For each family and seed k: ``python -m search run experiments/configs/benchmark_<family>.yaml
run.seed=k`` (the derived network at ``search.target_cost`` and the baselines full, uniform,
resolution, network_only, data_only, random), then the derived architecture retrained without its data gate
(``python -m search train CONFIG --arch RUN/arch.json train.data_gates=false``: same arch, same
budget), and the fairness check: the derived arch with its gate from fresh weights for the whole
``train.steps`` (``train CONFIG --arch RUN/arch.json``, the old separate schedule's training).
``--jobs`` (family, seed) pairs run at a time. Every figure is reported as mean ± std over the seeds, with the spread of the derived architectures' MACs, and the goals are checked on the
means. Writes experiments/results/benchmark.md and benchmark.json (every run of every family and
seed: mIoU, inference energy and MACs, total training energy and wall time). Finished sub-runs are
resumed, not redone. ``--sweep`` adds the lambda_inf sweep against the uniform-width curve (seed 0,
``search.target_cost=null`` so lambda_inf applies); ``--quick`` is a smoke run of the script (a few
steps per phase, output in experiments/results/benchmark_quick/), not a result.

The configs are sized for about 75 minutes for 3 families x 3 seeds with --jobs 2 on 2 cores; the
measured wall time is written into benchmark.md.

    .venv/bin/python experiments/benchmark.py --seeds 0,1,2 --jobs 2             # the benchmark
    .venv/bin/python experiments/benchmark.py --quick                            # smoke run
    .venv/bin/python experiments/benchmark.py --families pspnet --sweep
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cost_models.calibrate import machine_summary
from search.report.rundir import write_json

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ("deeplabv3plus", "pspnet", "multires")
TARGETS = ("jetson_tx2", "zc706")
RUNS = ("derived", "full", "uniform", "resolution", "network_only", "data_only", "random")
NO_GATE = "derived_no_gate"  # the derived arch retrained with train.data_gates=false
FRESH = "derived_fresh"      # fairness check: the derived arch and its gate, fresh weights, the whole budget
# the goals per --dataset, each against the full network's mean over seeds. synthetic: issue "The co-search
# must pay for itself" (within 0.5 points of full, above uniform by more than the larger seed std); shapes:
# issue "Results that generalize" (within 1 point of full, above uniform), on the same cost goals
BY_STD = "larger seed std"   # uniform_margin: above uniform by more than the larger of the two seed stds
COST_GOALS = {"training_energy_max": 0.6, "training_wall_max": 0.8, "inference_energy_max": 0.6}
GOALS = {"synthetic": {**COST_GOALS, "miou_drop_max": 0.005, "uniform_margin": BY_STD},
         "shapes": {**COST_GOALS, "miou_drop_max": 0.01, "uniform_margin": "any margin"}}
QUICK = ["search.warmup_steps=2", "search.steps=4", "train.steps=16", "search.arch_every=1", "data.num_train=32", "data.num_val=16",
         "data.num_test=16", "run.log_every=2"]
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


def val_header(title: str, script: str, jobs: int, t0: float) -> list[str]:
    """The head of a results file that an experiments/ script writes from val runs reused by ``--work``:
    title, machine, the command that made it and its minutes since ``t0``."""
    command = " ".join(["python", script, *sys.argv[1:]])
    return [title, "", f"Machine: {machine_summary(1)}; {jobs} runs at a time.", "",
            f"Command: `{command}` ({(time.perf_counter() - t0) / 60:.1f} min in this invocation; finished runs "
            "of an earlier one with the same --work are reused).", ""]


def rel(path: Path) -> str:
    """``path`` relative to the repository root (for the commands shown), when it is inside it."""
    return os.path.relpath(path, ROOT) if Path(path).resolve().is_relative_to(ROOT) else str(path)


CONFIG_PREFIX = {"synthetic": "benchmark_", "shapes": "benchmark_shapes_"}  # --dataset -> config file prefix
PREFIX = CONFIG_PREFIX["synthetic"]


def config(family: str) -> str:
    return f"experiments/configs/{PREFIX}{family}.yaml"


def resume(out: Path) -> list[str]:
    return ["--resume"] if (out / "checkpoints" / "last.pt").exists() else []


def run_cmd(family: str, seed: int, out: Path, extra: list[str]) -> list[str]:
    return ["python", "-m", "search", "run", config(family), f"run.seed={seed}", *extra, "--out", rel(out), *resume(out)]


def no_gate_cmd(family: str, seed: int, run: Path, out: Path, extra: list[str]) -> list[str]:
    return ["python", "-m", "search", "train", config(family), "--arch", rel(run / "arch.json"), f"run.seed={seed}",
            "train.data_gates=false", *extra, "--out", rel(out), *resume(out)]


def fresh_cmd(family: str, seed: int, run: Path, out: Path, extra: list[str]) -> list[str]:
    return ["python", "-m", "search", "train", config(family), "--arch", rel(run / "arch.json"), f"run.seed={seed}",
            *extra, "--out", rel(out), *resume(out)]


def shown(cmd: list[str]) -> str:
    return " ".join(c for c in cmd if c != "--resume")


# -- reading the runs ---------------------------------------------------------------------------------

def figures(run: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's figures of one report.json run."""
    out = {"miou": run["miou"], "training.wall_s": run["training"]["wall_s"]}
    for t in TARGETS:
        out[f"inference.{t}.energy_j"] = run["inference"][t]["energy_j"]
        out[f"inference.{t}.macs"] = run["inference"][t]["macs"]
        out[f"training.{t}.energy_j"] = run["training"][t]["energy_j"]
    return out


def read_seed(seed_dir: Path) -> dict[str, dict[str, Any]]:
    """{run name: figures} of one family and seed: the run's report.json, the no-gate and fresh runs'."""
    report = json.loads((seed_dir / "run" / "report.json").read_text())
    runs = {r["name"]: figures(r) for r in report["runs"] if r["name"] in RUNS}
    for name, sub in ((NO_GATE, "no_gate"), (FRESH, "fresh")):
        path = seed_dir / sub / "report.json"
        if path.exists():
            runs[name] = figures(next(r for r in json.loads(path.read_text())["runs"] if r["name"] == "derived"))
    return runs


def summed_wall(out: Path, this_invocation_s: float) -> float:
    """Seconds spent building ``out`` over every invocation (a rerun reuses finished runs, so its
    own time alone would understate the benchmark), kept in ``out/wall_s.json``."""
    ledger = out / "wall_s.json"
    before = json.loads(ledger.read_text())["wall_s"] if ledger.exists() else 0.0
    total = before + this_invocation_s
    out.mkdir(parents=True, exist_ok=True)
    write_json(ledger, {"wall_s": total})   # atomic: an interrupted write keeps the earlier sum
    return total


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def aggregate(seeds: dict[int, dict[str, dict[str, Any]]]) -> dict[str, dict[str, list[float]]]:
    """{run name: {figure: [mean, std]}} over the seeds."""
    names = [n for n in (*RUNS, NO_GATE, FRESH) if all(n in s for s in seeds.values())]
    keys = list(next(iter(seeds.values()))["derived"])
    return {n: {k: list(mean_std([s[n][k] for s in seeds.values()])) for k in keys} for n in names}


def fmt(key: str, m: float, s: float) -> str:
    if key == "miou":
        return f"{m * 100:.2f} ± {s * 100:.2f}"
    if key.endswith("macs"):
        return f"{m / 1e6:.2f} ± {s / 1e6:.2f}"
    if key.endswith("energy_j"):
        return f"{m * 1e3:.3g} ± {s * 1e3:.2g}"
    return f"{m:.1f} ± {s:.1f}"


UNITS = {"miou": "mIoU %", "training.wall_s": "train wall s"}


def header(key: str) -> str:
    if key in UNITS:
        return UNITS[key]
    kind, target, what = key.split(".")
    return f"{kind} {target} {'MMACs' if what == 'macs' else 'mJ'}"


def figures_table(agg: dict[str, dict[str, list[float]]]) -> str:
    keys = list(agg["derived"])
    rows = ["| run | " + " | ".join(header(k) for k in keys) + " |", "|---" * (len(keys) + 1) + "|"]
    rows += [f"| {n} | " + " | ".join(fmt(k, *agg[n][k]) for k in keys) + " |" for n in agg]
    return "\n".join(rows)


def spread(seeds: dict[int, dict[str, dict[str, Any]]], target: str) -> dict[str, Any]:
    """The derived architectures' inference MACs across seeds, and as a fraction of the full network's."""
    macs = [s["derived"][f"inference.{target}.macs"] for s in seeds.values()]
    frac = [s["derived"][f"inference.{target}.macs"] / s["full"][f"inference.{target}.macs"] for s in seeds.values()]
    m, sd = mean_std(macs)
    return {"macs": macs, "mean": m, "std": sd, "min": min(macs), "max": max(macs),
            "fraction_of_full": frac, "fraction_mean": mean_std(frac)[0], "fraction_std": mean_std(frac)[1]}


def goals(agg: dict[str, dict[str, list[float]]], limits: dict[str, Any]) -> list[dict[str, Any]]:
    """The goals ``limits`` (one of ``GOALS``) on the means over seeds, each ``{goal, target, value, needed, met}``."""
    d, full = agg["derived"], agg["full"]
    out = []
    for kind, limit in (("training", "training_energy_max"), ("inference", "inference_energy_max")):
        for t in TARGETS:
            r = d[f"{kind}.{t}.energy_j"][0] / full[f"{kind}.{t}.energy_j"][0]
            out.append({"goal": f"{kind} energy{' (total)' if kind == 'training' else ''} / full", "target": t,
                        "value": f"{r:.3f}", "needed": f"<= {limits[limit]}", "met": r <= limits[limit]})
    r = d["training.wall_s"][0] / full["training.wall_s"][0]
    out.append({"goal": "training wall time (total) / full", "target": "-", "value": f"{r:.3f}",
                "needed": f"<= {limits['training_wall_max']}", "met": r <= limits["training_wall_max"]})
    drop = full["miou"][0] - d["miou"][0]
    out.append({"goal": "mIoU vs full", "target": "-", "value": f"{-drop * 100:+.2f} points",
                "needed": f">= -{limits['miou_drop_max'] * 100:.1f} points", "met": drop <= limits["miou_drop_max"]})
    if "uniform" in agg:
        gap = d["miou"][0] - agg["uniform"]["miou"][0]
        margin = max(d["miou"][1], agg["uniform"]["miou"][1]) if limits["uniform_margin"] == BY_STD else 0.0
        out.append({"goal": "mIoU vs uniform (same MACs)", "target": "-", "value": f"{gap * 100:+.2f} points",
                    "needed": f"> {margin * 100:.2f} ({limits['uniform_margin']})", "met": gap > margin})
    return out


def goals_line(limits: dict[str, Any]) -> str:
    """The goals ``limits`` in one sentence (the head of benchmark.md)."""
    above = ("by more than the larger of the two seed stds" if limits["uniform_margin"] == BY_STD
             else f"({limits['uniform_margin']})")
    return (f"Goals, derived network against the full one, on the means over seeds: training energy (total over "
            f"every phase, search included) <= {limits['training_energy_max']}x full on {' and '.join(TARGETS)}; "
            f"training wall time (total) <= {limits['training_wall_max']}x full; inference energy <= "
            f"{limits['inference_energy_max']}x full; mIoU >= full - {limits['miou_drop_max'] * 100:.1f} points; "
            f"mIoU above the uniform-width baseline of the same MACs {above}.")


def versus(agg: dict[str, dict[str, list[float]]], run: str, other: str) -> str:
    """``run`` against ``other`` on the means: mIoU difference (with both seed stds) and the
    ratio of total training energy per target."""
    a, b = agg[run], agg[other]
    energy = ", ".join(f"{a[f'training.{t}.energy_j'][0] / b[f'training.{t}.energy_j'][0]:.3f}x ({t})" for t in TARGETS)
    return (f"{run} vs {other}: mIoU {(a['miou'][0] - b['miou'][0]) * 100:+.2f} points (seed stds "
            f"{a['miou'][1] * 100:.2f} / {b['miou'][1] * 100:.2f}), total training energy {energy}")


def comparisons(agg: dict[str, dict[str, list[float]]]) -> list[str]:
    """What the data side adds (against network_only), what the gate costs or saves (the same arch
    from fresh weights on the same budget, with and without it), and the fairness check (fresh
    weights on the whole budget against the one-budget derived network)."""
    pairs = [("derived", "network_only"), (FRESH, NO_GATE), (FRESH, "derived")]
    return [f"* {versus(agg, a, b)}" for a, b in pairs if a in agg and b in agg]


def goal_table(rows: list[dict[str, Any]]) -> str:
    table = ["| goal | target | measured (mean over seeds) | needed | met |", "|---|---|---|---|---|"]
    table += [f"| {r['goal']} | {r['target']} | {r['value']} | {r['needed']} | {'yes' if r['met'] else '**no**'} |"
              for r in rows]
    return "\n".join(table)


# -- running ------------------------------------------------------------------------------------------

def run_one(family: str, seed: int, out: Path, extra: list[str], python: str) -> dict[str, Any]:
    """The run and the no-gate run of one family and seed; their commands and wall seconds."""
    seed_dir = out / family / f"seed{seed}"
    seed_dir.mkdir(parents=True, exist_ok=True)
    log = seed_dir / "benchmark.log"
    cmds = [run_cmd(family, seed, seed_dir / "run", extra)]
    wall = {"run": sh([python, *cmds[0][1:]], log)}
    cmds.append(no_gate_cmd(family, seed, seed_dir / "run", seed_dir / "no_gate", extra))
    wall["no_gate"] = sh([python, *cmds[1][1:]], log)
    cmds.append(fresh_cmd(family, seed, seed_dir / "run", seed_dir / "fresh", extra))
    wall["fresh"] = sh([python, *cmds[2][1:]], log)
    print(f"{family} seed {seed}: done in {sum(wall.values()) / 60:.1f} min", flush=True)
    return {"commands": [shown(c) for c in cmds], "wall_s": wall}


def sweep(family: str, out: Path, figs: Path, extra: list[str], args: argparse.Namespace, python: str) -> str:
    """The lambda_inf sweep of one family (seed 0) against the uniform-width curve; its markdown."""
    cmd = ["python", "-m", "search", "sweep", config(family), "--values", args.values, "--widths", args.widths,
           "--out", rel(out / family / "sweep"), "baselines=[]", "search.target_cost=null", *extra]
    sh([python, *cmd[1:]], out / family / "sweep.log")
    figs.mkdir(parents=True, exist_ok=True)
    for name in ("sweep.png", "sweep.md"):
        shutil.copy(out / family / "sweep" / name, figs / name)
    return f"{shown(cmd)}\n"


def machine() -> str:
    return machine_summary(threads=1) + " per run (run.threads=1)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--seeds", default="0,1,2", help="run.seed values, comma-separated (at least 3 for results)")
    p.add_argument("--jobs", type=int, default=2, help="(family, seed) runs at a time")
    p.add_argument("--sweep", action="store_true", help="also the lambda_inf sweep against the uniform curve")
    p.add_argument("--values", default="0.01,0.03,0.1,0.5,1,2", help="lambda_inf values of the sweep")
    p.add_argument("--widths", default="0.25,0.5,0.75,1.0", help="uniform curve width multipliers")
    p.add_argument("--quick", action="store_true", help="smoke run: a few steps per phase; not a result")
    p.add_argument("--dataset", choices=tuple(CONFIG_PREFIX), default="synthetic",
                   help="synthetic (benchmark_<family>.yaml) or shapes (benchmark_shapes_<family>.yaml: "
                        "synthetic_shapes; results under experiments/results/shapes/)")
    p.add_argument("--out", type=Path, default=None, help="run directories (default runs/benchmark[_quick])")
    p.add_argument("--results", type=Path, default=None,
                   help="default experiments/results (--quick: experiments/results/benchmark_quick)")
    args = p.parse_args()
    global PREFIX
    PREFIX = CONFIG_PREFIX[args.dataset]
    sub = "" if args.dataset == "synthetic" else args.dataset
    families = [f for f in args.families.split(",") if f]
    seeds = [int(s) for s in args.seeds.split(",") if s != ""]
    extra = QUICK if args.quick else []
    out = args.out or ROOT / "runs" / ("benchmark_quick" if args.quick else "benchmark") / sub
    results = args.results or ROOT / "experiments" / "results" / ("benchmark_quick" if args.quick else "") / sub
    python = sys.executable
    t0 = time.perf_counter()
    pairs = [(f, s) for f in families for s in seeds]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        done = dict(zip(pairs, pool.map(lambda fs: run_one(*fs, out, extra, python), pairs)))
    total_wall = summed_wall(out, time.perf_counter() - t0)

    data: dict[str, Any] = {"format": "cosearch-benchmark", "version": 1, "quick": args.quick, "seeds": seeds,
                            "targets": list(TARGETS), "dataset": args.dataset, "goals": GOALS[args.dataset],
                            "machine": machine(),
                            "wall_s": total_wall, "families": {}}
    sections, commands = [], []
    for family in families:
        per_seed = {s: read_seed(out / family / f"seed{s}") for s in seeds}
        agg = aggregate(per_seed)
        rows = goals(agg, GOALS[args.dataset])
        arch_spread = {t: spread(per_seed, t) for t in TARGETS}
        data["families"][family] = {"seeds": {str(s): v for s, v in per_seed.items()}, "mean_std": agg,
                                    "derived_macs_spread": arch_spread, "goals": rows,
                                    "wall_s": {str(s): done[(family, s)]["wall_s"] for s in seeds}}
        for s in seeds:
            commands += done[(family, s)]["commands"]
        figs = results / f"benchmark_{family}"
        cmp_cmd = ["python", "-m", "search", "compare", *[rel(out / family / f"seed{s}" / "run") for s in seeds],
                   "--out", rel(figs)]
        commands.append(shown(cmp_cmd))
        sh([python, *cmp_cmd[1:]], out / family / "compare.log")
        link = figs.relative_to(results) if figs.is_relative_to(results) else figs
        sp = arch_spread[TARGETS[0]]
        wall = [sum(done[(family, s)]["wall_s"].values()) / 60 for s in seeds]
        sections += [f"## {family}", "",
                     f"wall time per seed (run + no-gate + fresh runs): {', '.join(f'{w:.1f}' for w in wall)} min",
                     "", goal_table(rows), "", *comparisons(agg), "",
                     f"Mean ± std over seeds {', '.join(map(str, seeds))} (energies in mJ, MACs in millions; "
                     f"{NO_GATE}: the derived arch retrained with train.data_gates=false; {FRESH}: the derived arch "
                     "and its gate from fresh weights for the whole train.steps, search not counted):", "",
                     figures_table(agg), "",
                     f"Derived architectures across seeds ({TARGETS[0]} inference MACs): "
                     f"{', '.join(f'{m / 1e6:.2f}' for m in sp['macs'])} M (mean {sp['mean'] / 1e6:.2f} ± "
                     f"{sp['std'] / 1e6:.2f}, range {sp['min'] / 1e6:.2f}-{sp['max'] / 1e6:.2f}); as a fraction of "
                     f"the full network: {', '.join(f'{f:.3f}' for f in sp['fraction_of_full'])} "
                     f"(search.target_cost as configured).", "",
                     f"![inference]({link}/pareto.png)", "", f"![training]({link}/pareto_training.png)", ""]
        if args.sweep:
            commands.append(sweep(family, out, figs, extra, args, python).strip())
            sections += [f"lambda_inf sweep (seed 0): {link}/sweep.md", "", f"![sweep]({link}/sweep.png)", ""]
        print(f"{family}: " + "; ".join(f"{r['goal']} {r['target']}: {r['value']} ({'met' if r['met'] else 'MISSED'})"
                                        for r in rows), flush=True)
    dataset = {"synthetic": "synthetic", "shapes": "synthetic_shapes"}[args.dataset]
    title = f"# Benchmark: co-search against fixed baselines ({dataset}, CPU)"
    if args.quick:
        title = "# SMOKE RUN ONLY (--quick): a few steps per phase to prove the script works; NOT results"
    head = [title, "", f"Machine: {machine()}. Whole benchmark: {total_wall / 60:.1f} min (summed over its invocations), "
            f"{args.jobs} runs at a time.",
            "", goals_line(GOALS[args.dataset]) + " Every family searches for the same search.target_cost (a "
            "fraction of the full network's inference cost).", "", "Reproduce (from the repository root):", "", "```",
            f".venv/bin/python experiments/benchmark.py --families {','.join(families)} --seeds {args.seeds} "
            f"--jobs {args.jobs}" + (" --quick" if args.quick else "") + (" --sweep" if args.sweep else "")
            + ("" if args.dataset == "synthetic" else f" --dataset {args.dataset}"),
            "# which runs:", *commands, "```", ""]
    results.mkdir(parents=True, exist_ok=True)
    notes = results / "benchmark_notes.md"  # hand-written reading of the results, if any
    if notes.exists() and not args.quick:
        head += [notes.read_text(), ""]
    (results / "benchmark.md").write_text("\n".join(head + sections))
    (results / "benchmark.json").write_text(json.dumps(data, indent=1))
    print(f"wrote {results / 'benchmark.md'} and {results / 'benchmark.json'} ({total_wall / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
