"""Choose the benchmark's training loss (``train.loss``) on the VALIDATION split, per dataset.

For each dataset, family, seed and loss: the whole co-search pipeline (search, hand-over, continued
training of the derived network) with ``python -m search run experiments/configs/CONFIG run.seed=S
'baselines=[]' data.test_split=val train.loss=LOSS``, and the full network trained alone on the same
budget with ``python -m search train CONFIG --baseline full ...``: every final evaluation is on val,
the test split is never read. Reports each cell's val mIoU per seed, the mean, and the worst class
IoU of any seed (a class not learnt; background only is one class of a shapes image), and writes
experiments/results/loss_val.md. A run directory that holds a report is reused (same --work), so an
interrupted invocation picks up where it stopped.

    .venv/bin/python experiments/loss_val.py --work runs/loss_val --jobs 2     # ~50 min on 2 CPU cores
    .venv/bin/python experiments/loss_val.py --datasets synthetic --families multires --seeds 0 --work /tmp/lv \\
        --out /tmp/lv.md --set train.steps=16 search.warmup_steps=2 search.steps=2   # smoke
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
CONFIGS = {"synthetic": "benchmark_{family}.yaml", "shapes": "benchmark_shapes_{family}.yaml"}
LOSSES = ("ce", "class_balanced")
NETWORKS = ("derived", "full")


def run_dir(work: Path, dataset: str, family: str, network: str, loss: str, seed: int) -> Path:
    return work / f"{loss}_{dataset}" / family / f"{'seed' if network == 'derived' else 'full'}{seed}"


def run(work: Path, dataset: str, family: str, network: str, loss: str, seed: int, common: list[str]) -> dict:
    """One pipeline (derived) or one training (full) on val (or its finished run); its val figures."""
    out = run_dir(work, dataset, family, network, loss, seed)
    config = "experiments/configs/" + CONFIGS[dataset].format(family=family)
    if not (out / "report.json").exists():
        command = ["run", config, "baselines=[]"] if network == "derived" else ["train", config, "--baseline", "full"]
        out.parent.mkdir(parents=True, exist_ok=True)
        sh([sys.executable, "-m", "search", *command, f"run.seed={seed}", f"train.loss={loss}", *common,
            "--out", str(out), *resume(out)], work / "log.txt")
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["data"]["test_split"] == "val", out
    assert report["config"]["train"].get("loss", "ce") == loss, out   # "ce" before train.loss existed
    figures = report["runs"][0]
    return {"miou": figures["miou"] * 100, "worst_iou": min(figures["iou"]) * 100}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="shapes,synthetic")
    p.add_argument("--families", default="pspnet,multires,deeplabv3plus")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--set", nargs="*", default=[], help="more overrides for every run (a smoke test's shorter budget)")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time")
    p.add_argument("--work", type=Path, default=None, help="run directories (default: a temporary folder)")
    p.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "loss_val.md")
    args = p.parse_args()
    datasets, families = args.datasets.split(","), args.families.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="loss_val_"))
    work.mkdir(parents=True, exist_ok=True)
    common = ["data.test_split=val", *args.set]
    jobs = [(d, f, n, loss, s) for d in datasets for f in families for n in NETWORKS for loss in LOSSES for s in seeds]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        results = dict(zip(jobs, pool.map(lambda job: run(work, *job, common), jobs)))

    title = "# The training loss (`train.loss`), chosen on the validation split per dataset"
    lines = [*val_header(title, "experiments/loss_val.py", args.jobs, t0),
             "Each cell: val mIoU (%) of seeds " + ", ".join(map(str, seeds)) + ", their mean, and the worst class "
             "IoU of any seed. derived: the whole pipeline (`python -m search run CONFIG 'baselines=[]'`); full: "
             "the full network alone on the same budget (`python -m search train CONFIG --baseline full`); both "
             f"with `run.seed=S train.loss=LOSS {' '.join(common)}`.", ""]
    for d in datasets:
        lines += [f"## {d} (`experiments/configs/{CONFIGS[d].format(family='FAMILY')}`)", "",
                  "| family | network | " + " | ".join(LOSSES) + " |", "|---|---|" + "---|" * len(LOSSES)]
        for f in families:
            for n in NETWORKS:
                cells = []
                for loss in LOSSES:
                    miou = [results[d, f, n, loss, s]["miou"] for s in seeds]
                    worst = min(results[d, f, n, loss, s]["worst_iou"] for s in seeds)
                    cells.append(" / ".join(f"{m:.2f}" for m in miou) +
                                 f" (mean {statistics.mean(miou):.2f}, worst class {worst:.0f})")
                lines.append(f"| {f} | {n} | " + " | ".join(cells) + " |")
        lines.append("")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
