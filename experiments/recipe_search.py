"""Choose the training recipe (optimizer, learning rate) of the synthetic_shapes benchmark on the VALIDATION split.

Trains the full deeplabv3plus network (``python -m search train CONFIG --baseline full``) with a
short budget for each candidate recipe on synthetic_shapes, then measures its mIoU on the
validation split (``python -m search eval RUN --split val``). The test split is never read:
the training runs get ``data.test_split=val``, so even their final phase evaluates on val.
Writes experiments/results/recipe_shapes.md (val mIoU per recipe, the machine, the command).

    .venv/bin/python experiments/recipe_search.py                  # ~6 min on 2 CPU cores (320 steps a recipe)
    .venv/bin/python experiments/recipe_search.py --steps 10 --out /tmp/r.md   # a smoke run
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml
from benchmark import resume, sh  # the benchmark's runner (a failure stops the script) and --resume rule
from cost_models.calibrate import machine_summary

ROOT = Path(__file__).resolve().parent.parent
CONFIG = "experiments/configs/benchmark_shapes_deeplabv3plus.yaml"
#: name -> overrides; weight decay, momentum, betas, warm-up and the cosine schedule stay the config's
RECIPES = {
    "sgd lr 0.05": ["train.optimizer=sgd", "train.lr=0.05"],
    "adamw lr 0.001": ["train.optimizer=adamw", "train.lr=0.001"],
    "adamw lr 0.003": ["train.optimizer=adamw", "train.lr=0.003"],
    "adamw lr 0.006": ["train.optimizer=adamw", "train.lr=0.006"],
    # without the random scale (0.5-2x), crop and flip of the training images
    "adamw lr 0.003, no augmentation": ["train.optimizer=adamw", "train.lr=0.003", "data.augment=false"],
    "adamw lr 0.006, no augmentation": ["train.optimizer=adamw", "train.lr=0.006", "data.augment=false"],
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=320, help="training steps per recipe (the benchmark's train.steps)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", type=Path, default=None, help="run directories (default: a temporary folder)")
    p.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "recipe_shapes.md")
    args = p.parse_args()
    budget = yaml.safe_load((ROOT / CONFIG).read_text())["train"]["steps"]
    work = args.work or Path(tempfile.mkdtemp(prefix="recipe_shapes_"))
    common = [f"train.steps={args.steps}", f"run.threads={args.threads}", "data.test_split=val",
              f"data.cache_dir={work / 'cache'}", "cost.targets=[jetson_tx2]"]
    log = work / "log.txt"
    work.mkdir(parents=True, exist_ok=True)
    rows, t_all = [], time.perf_counter()
    for name, overrides in RECIPES.items():
        out = work / name.replace(" ", "_")
        t0, done = time.perf_counter(), (out / "eval.json").exists()
        if not done:  # a finished recipe is reused, an interrupted one resumed (same --work)
            sh([sys.executable, "-m", "search", "train", CONFIG, "--baseline", "full", "--out", str(out),
                *common, *overrides, *resume(out)], log)
            sh([sys.executable, "-m", "search", "eval", str(out), "--split", "val"], log)
        result = json.loads((out / "eval.json").read_text())
        assert result["split"] == "val"
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        losses = [r["loss"] for r in records if r.get("phase") == "retrain" and "loss" in r]
        rows.append({"name": name, "overrides": overrides, "miou": result["miou"],
                     "pixel_accuracy": result["pixel_accuracy"], "last_loss": losses[-1] if losses else float("nan"),
                     "wall_s": time.perf_counter() - t0 if not done else float("nan")})
        print(f"{name}: val mIoU {result['miou'] * 100:.2f} %  ({rows[-1]['wall_s']:.0f} s)", flush=True)
    best = max(rows, key=lambda r: r["miou"])
    command = " ".join(["python", "experiments/recipe_search.py", *sys.argv[1:]])
    lines = [
        "# Training recipe for the synthetic_shapes benchmark, chosen on the validation split",
        "",
        f"Machine: {machine_summary(args.threads)}",
        "",
        f"Command: `{command}` (wall time {(time.perf_counter() - t_all) / 60:.1f} min, other work sharing the cores).",
        "",
        f"Each recipe trains the full deeplabv3plus network (`python -m search train {CONFIG} --baseline full`, "
        f"fresh weights, {args.steps} steps of batch 8 at 64x128, 5 warm-up steps then cosine decay, weight decay "
        f"1e-4, no data slimming) with `{' '.join(common[:3])}`, and is measured with "
        "`python -m search eval RUN --split val` (64 validation images, scale 1.0). The test split is never read "
        "(`data.test_split=val`: even the training command's own final evaluation is on val).",
        "",
        "| recipe | overrides | val mIoU (%) | val pixel acc. (%) | last train loss | wall (s) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['name']}{' (chosen)' if r is best else ''} | `{' '.join(r['overrides'])}` | {r['miou'] * 100:.2f} "
              f"| {r['pixel_accuracy'] * 100:.2f} | {r['last_loss']:.3f} | {r['wall_s']:.0f} |" for r in rows]
    lines += ["", "Wall time: one recipe's training and evaluation in this invocation (nan: reused from an "
              "earlier invocation with the same --work; an interrupted recipe is resumed, so its time is partial)."]
    lines += [
        "",
        f"Chosen on val: **{best['name']}** (`{' '.join(best['overrides'])}`), the highest validation mIoU; "
        f"experiments/configs/benchmark_shapes_*.yaml use it. One seed and a short budget "
        f"({args.steps} steps; the benchmark trains {budget}): a ranking of recipes on one seed, not a final accuracy.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {os.path.relpath(args.out, ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
