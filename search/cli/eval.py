"""``python -m search eval RUN_DIR``: mIoU and per-class IoU of the run's derived.pt."""
from __future__ import annotations

import argparse
from pathlib import Path

from search.config import load_config
from search.data.splits import build_split
from search.derive import inference_scale
from search.evaluate.evaluate import evaluate
from search.report.rundir import write_json
from supernet.export import load_derived


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    parser.add_argument("--split", choices=("train", "val", "test"), default="test",
                        help="which split of the run's dataset (default: test)")
    parser.add_argument("--scale", type=float, default=None,
                        help="input scale (default: the arch's data.inference_scale)")
    parser.epilog = "example: python -m search eval runs/lam05 --split val"


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.run_dir / "config.yaml")
    model, arch = load_derived(args.run_dir / "derived.pt")
    scale = args.scale if args.scale is not None else inference_scale(arch)
    dataset = build_split(cfg.data, args.split)
    result = evaluate(model, dataset, arch["num_classes"], scale, cfg.eval.batch_size)
    names = list(getattr(dataset, "class_names", [])) or [str(i) for i in range(arch["num_classes"])]
    print(f"mIoU {result['miou'] * 100:.2f} %  pixel accuracy {result['pixel_accuracy'] * 100:.2f} %  "
          f"({result['images']} images of the {args.split} split, scale {scale})")
    for name, iou in zip(names, result["iou"]):
        print(f"  {name:<20} {'–' if iou is None else f'{iou * 100:.2f}'}")
    write_json(args.run_dir / "eval.json", {"split": args.split, "scale": scale, **result, "class_names": names})
    return 0
