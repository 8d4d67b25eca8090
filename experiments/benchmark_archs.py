"""What the benchmark's searches chose, seed by seed: for the derived network and the
network_only baseline of every family and seed, the inference scale, the branches kept, the
sites cut the most (width as a fraction of the widest), the inference MACs as a fraction of the
full network's, whether the search stopped early, the learned gate's actions on the train split
and their Spearman correlation with image complexity, and the test mIoU. Reads the run
directories ``experiments/benchmark.py`` wrote; trains nothing.

    .venv/bin/python experiments/benchmark_archs.py [--runs runs/benchmark] [--out FILE]

Writes ``experiments/results/benchmark_archs.md`` by default.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import supernet

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "experiments" / "results" / "benchmark_archs.md"
FAMILIES = ("deeplabv3plus", "pspnet", "multires")
TARGET = "jetson_tx2"


def narrowest(arch: dict[str, Any], widest: dict[str, Any], n: int = 3) -> str:
    """The ``n`` width sites cut the most, as ``site fraction-of-widest``."""
    cut = sorted((v / widest[k], k) for k, v in arch.items() if isinstance(v, int) and not isinstance(v, bool)
                 and isinstance(widest.get(k), int) and widest[k] > 0)
    return ", ".join(f"{k.removeprefix('backbone.')} {f:.2f}" for f, k in cut[:n])


def gate(run: dict[str, Any]) -> tuple[str, str]:
    """The gate's action histogram on the train split and Spearman(complexity, scale), or '-'."""
    slim = run.get("data_slimming") or {}
    hist = slim.get("action_histogram")
    if not hist:
        return "-", "-"
    rho = slim.get("spearman_complexity_vs_scale")
    return " / ".join(f"{a}:{n}" for a, n in hist.items()), "-" if rho is None else f"{rho:+.2f}"


def row(run_dir: Path, full_macs: float) -> dict[str, Any]:
    """The choices and results of the network ``run_dir`` trained (its report's first run)."""
    full_arch = json.loads((run_dir / "arch.json").read_text())
    arch = full_arch["choices"]
    widest = supernet.baseline_arch(full_arch["family"], full_arch["num_classes"],
                                    **full_arch.get("space", {}))["choices"]
    report = json.loads((run_dir / "report.json").read_text())
    run = report["runs"][0]
    branches = [".".join(k.split(".")[-2:]) for k, v in arch.items() if isinstance(v, bool)]
    kept = [".".join(k.split(".")[-2:]) for k, v in arch.items() if v is True]
    actions, rho = gate(report)
    return {"scale": arch.get("data.inference_scale"), "kept": f"{len(kept)}/{len(branches)} ({', '.join(kept) or 'none'})",
            "narrowest": narrowest(arch, widest), "macs": run["inference"][TARGET]["macs"] / full_macs,
            "miou": run["miou"], "search_steps": (run.get("steps") or {}).get("search"),
            "stopped": (run.get("search") or {}).get("stopped_early"), "gate": actions, "rho": rho}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "benchmark")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    lines = ["# What the benchmark's searches chose, per seed", "",
             f"Reproduce: `.venv/bin/python experiments/benchmark_archs.py --runs {args.runs}` (reads the run "
             "directories of `experiments/benchmark.py`). MACs: inference on "
             f"{TARGET}, as a fraction of the full network's; mIoU on the test split.", "",
             "Gate: the learned gate's action per train image (histogram) and Spearman(complexity, scale); "
             "'-' without a gate (network_only).", "",
             "| family | seed | run | inference scale | branches kept | sites cut most (width / widest) | MACs / full "
             "| search steps | stopped early | gate actions | gate Spearman | mIoU % |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for family in FAMILIES:
        for seed_dir in sorted((args.runs / family).glob("seed*")):
            run_dir = seed_dir / "run"
            report = json.loads((run_dir / "report.json").read_text())
            full = next(r for r in report["runs"] if r["name"] == "full")["inference"][TARGET]["macs"]
            for name, path in (("derived", run_dir), ("network_only", run_dir / "baselines" / "network_only")):
                r = row(path, full)
                lines.append(f"| {family} | {seed_dir.name[4:]} | {name} | {r['scale']} | {r['kept']} | {r['narrowest']} "
                             f"| {r['macs']:.3f} | {r['search_steps']} | {r['stopped']} | {r['gate']} | {r['rho']} "
                             f"| {r['miou'] * 100:.2f} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
