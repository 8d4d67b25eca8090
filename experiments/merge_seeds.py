"""The benchmark's goals over the seeds of several benchmark.json files (seeds added in a later invocation).

Each file's per-seed figures (``families.<family>.seeds``) are pooled, a seed in two files is refused,
and the goals and mean ± std are recomputed with ``experiments/benchmark.py``'s own functions. Only
meaningful for files written by the same code and configs (the script cannot check that; say so).

    .venv/bin/python experiments/merge_seeds.py --family deeplabv3plus \\
        experiments/results/benchmark.json /tmp/more_seeds/benchmark.json
    .venv/bin/python experiments/merge_seeds.py --family multires --dataset shapes \\
        experiments/results/shapes/benchmark.json experiments/results/shapes/benchmark_seeds3-4.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import FRESH, GOALS, NO_GATE, RUNS, aggregate, fmt, goal_table, goals


def pooled_seeds(paths: list[Path], family: str) -> dict[int, dict[str, dict[str, Any]]]:
    """{seed: {run: figures}} of ``family`` over every file; a seed found twice is an error."""
    seeds: dict[int, dict[str, dict[str, Any]]] = {}
    for path in paths:
        families = json.loads(path.read_text())["families"]
        if family not in families:
            raise SystemExit(f"{path}: no family {family!r} (has {', '.join(families)})")
        for seed, runs in families[family]["seeds"].items():
            if int(seed) in seeds:
                raise SystemExit(f"{path}: seed {seed} of {family} is also in an earlier file")
            seeds[int(seed)] = runs
    return dict(sorted(seeds.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path, help="benchmark.json files")
    ap.add_argument("--family", required=True)
    ap.add_argument("--dataset", choices=tuple(GOALS), default=None,
                    help="whose goals (default: the first file's 'dataset', else synthetic)")
    args = ap.parse_args()
    seeds = pooled_seeds(args.files, args.family)
    dataset = args.dataset or json.loads(args.files[0].read_text()).get("dataset", "synthetic")
    agg = aggregate(seeds)
    print(f"{args.family}, seeds {', '.join(map(str, seeds))}, goals of the {dataset} benchmark\n")
    print(goal_table(goals(agg, GOALS[dataset])) + "\n")
    print("| run | mIoU % (mean ± std) | per seed |\n|---|---|---|")
    for name in (n for n in (*RUNS, NO_GATE, FRESH) if n in agg):
        per_seed = ", ".join(f"{s[name]['miou'] * 100:.2f}" for s in seeds.values())
        print(f"| {name} | {fmt('miou', *agg[name]['miou'])} | {per_seed} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
