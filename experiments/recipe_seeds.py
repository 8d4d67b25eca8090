"""Choose the synthetic benchmark's training recipe on the VALIDATION split, over families and seeds.

For each recipe, family and seed, trains the full network and the uniform-width network at width
0.5 (about 0.25 of the full MACs, the size the benchmark's target cost asks for):
``python -m search train experiments/configs/benchmark_FAMILY.yaml --baseline {full,uniform:0.5}
run.seed=S data.test_split=val ...``, so the training command's own final evaluation is on val
and the test split is never read. Reports each (family, network, recipe)'s mean ± std val mIoU
over the seeds and its worst class IoU (a class a seed failed to learn), and writes
experiments/results/recipe_synthetic.md. A run directory that holds a report is reused (same
--work), so an interrupted invocation picks up where it stopped.

    .venv/bin/python experiments/recipe_seeds.py --jobs 2                 # ~20 min on 2 CPU cores
    .venv/bin/python experiments/recipe_seeds.py --steps 4 --seeds 0 --families multires --out /tmp/r.md  # smoke
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmark import resume, sh, val_header  # the benchmark's runner, --resume rule and results head

ROOT = Path(__file__).resolve().parent.parent
#: name -> overrides of the training recipe; the search's weight steps follow it in the benchmark configs
RECIPES = {
    "sgd lr 0.05": ["train.optimizer=sgd", "train.lr=0.05"],
    "adamw lr 0.003": ["train.optimizer=adamw", "train.lr=0.003"],
    "adamw lr 0.006": ["train.optimizer=adamw", "train.lr=0.006"],
}
NETWORKS = ("full", "uniform:0.5")


def run_dir(work: Path, family: str, network: str, recipe: str, seed: int) -> Path:
    return work / f"{family}-{network.split(':')[0]}-{recipe.replace(' ', '_')}-s{seed}"


def train(work: Path, family: str, network: str, recipe: str, seed: int, common: list[str]) -> dict:
    """Train one network with one recipe (or reuse its finished run); its val figures."""
    out = run_dir(work, family, network, recipe, seed)
    if not (out / "report.json").exists():
        sh([sys.executable, "-m", "search", "train", f"experiments/configs/benchmark_{family}.yaml",
            "--baseline", network, f"run.seed={seed}", *common, *RECIPES[recipe], "--out", str(out), *resume(out)],
           work / "log.txt")
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["data"]["test_split"] == "val", out
    run = report["runs"][0]
    return {"miou": run["miou"], "worst_iou": min(run["iou"])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", default="pspnet,deeplabv3plus,multires")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the configs' train.steps)")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time")
    p.add_argument("--work", type=Path, default=None, help="run directories (default: a temporary folder)")
    p.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "recipe_synthetic.md")
    args = p.parse_args()
    families, seeds = args.families.split(","), [int(s) for s in args.seeds.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="recipe_synthetic_"))
    work.mkdir(parents=True, exist_ok=True)
    common = ["data.test_split=val", "run.threads=1", "cost.targets=[jetson_tx2]",
              *([f"train.steps={args.steps}"] if args.steps else [])]
    jobs = [(f, n, r, s) for f in families for n in NETWORKS for r in RECIPES for s in seeds]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        results = dict(zip(jobs, pool.map(lambda job: train(work, *job, common), jobs)))

    title = "# Training recipe for the synthetic benchmark, chosen on the validation split"
    lines = [*val_header(title, "experiments/recipe_seeds.py", args.jobs, t0),
             "Each cell: val mIoU (%) mean ± std over seeds " + ", ".join(map(str, seeds)) + ", and the worst "
             "class IoU of any seed (a class a seed did not learn). Every run: "
             "`python -m search train experiments/configs/benchmark_FAMILY.yaml --baseline NETWORK run.seed=S "
             f"{' '.join(common)} RECIPE` (fresh weights, the config's budget and schedule, no data slimming).", "",
             "| family | network | " + " | ".join(RECIPES) + " |", "|---|---|" + "---|" * len(RECIPES)]
    means: dict[str, list[float]] = {r: [] for r in RECIPES}
    for f in families:
        for n in NETWORKS:
            cells = []
            for r in RECIPES:
                miou = [results[f, n, r, s]["miou"] * 100 for s in seeds]
                worst = min(results[f, n, r, s]["worst_iou"] for s in seeds) * 100
                spread = statistics.stdev(miou) if len(miou) > 1 else 0.0
                cells.append(f"{statistics.mean(miou):.2f} ± {spread:.2f} (worst class {worst:.0f})")
                means[r].append(statistics.mean(miou))
            lines.append(f"| {f} | {n} | " + " | ".join(cells) + " |")
    lines += ["", "Mean over every (family, network) row: " +
              ", ".join(f"{r} {statistics.mean(v):.2f}" for r, v in means.items()) + ".", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
