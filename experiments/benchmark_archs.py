"""What the benchmark's searches chose, seed by seed: for the derived network and the
network_only baseline of every family and seed, the inference scale, the branches kept, the
inference MACs as a fraction of the full network's, whether the search stopped early, and the
test mIoU. Reads the run directories ``experiments/benchmark.py`` wrote; trains nothing.

    .venv/bin/python experiments/benchmark_archs.py [--runs runs/benchmark]

Writes ``experiments/results/benchmark_archs.md``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "experiments" / "results" / "benchmark_archs.md"
FAMILIES = ("deeplabv3plus", "pspnet", "multires")
TARGET = "jetson_tx2"


def row(run_dir: Path, full_macs: float) -> dict[str, Any]:
    """The choices and results of the network ``run_dir`` trained (its report's first run)."""
    arch = json.loads((run_dir / "arch.json").read_text())["choices"]
    run = json.loads((run_dir / "report.json").read_text())["runs"][0]
    branches = [".".join(k.split(".")[-2:]) for k, v in arch.items() if isinstance(v, bool)]
    kept = [".".join(k.split(".")[-2:]) for k, v in arch.items() if v is True]
    return {"scale": arch.get("data.inference_scale"), "kept": f"{len(kept)}/{len(branches)} ({', '.join(kept) or 'none'})",
            "macs": run["inference"][TARGET]["macs"] / full_macs, "miou": run["miou"],
            "search_steps": (run.get("steps") or {}).get("search"), "stopped": (run.get("search") or {}).get("stopped_early")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "benchmark")
    args = p.parse_args()
    lines = ["# What the benchmark's searches chose, per seed", "",
             f"Reproduce: `.venv/bin/python experiments/benchmark_archs.py --runs {args.runs}` (reads the run "
             "directories of `experiments/benchmark.py`). MACs: inference on "
             f"{TARGET}, as a fraction of the full network's; mIoU on the test split.", "",
             "| family | seed | run | inference scale | branches kept | MACs / full | search steps | stopped early "
             "| mIoU % |", "|---|---|---|---|---|---|---|---|---|"]
    for family in FAMILIES:
        for seed_dir in sorted((args.runs / family).glob("seed*")):
            run_dir = seed_dir / "run"
            report = json.loads((run_dir / "report.json").read_text())
            full = next(r for r in report["runs"] if r["name"] == "full")["inference"][TARGET]["macs"]
            for name, path in (("derived", run_dir), ("network_only", run_dir / "baselines" / "network_only")):
                r = row(path, full)
                lines.append(f"| {family} | {seed_dir.name[4:]} | {name} | {r['scale']} | {r['kept']} | {r['macs']:.3f} "
                             f"| {r['search_steps']} | {r['stopped']} | {r['miou'] * 100:.2f} |")
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
