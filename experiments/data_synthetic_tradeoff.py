"""Is data slimming a real trade-off on the synthetic dataset?

Trains a fixed baseline network on the synthetic train split (full resolution, standard
random scale / crop / flip; :func:`data_common.train`, the engine's loop and weight step),
then evaluates the validation split at full resolution and at 0.5x input (logits upsampled
to the full-resolution labels). The validation images are split into quarters by complexity
score (:func:`search.data.complexity_score`). Goal: the most complex quarter loses at least
twice as much mIoU at 0.5x as the simplest quarter.

    .venv/bin/python experiments/data_synthetic_tradeoff.py            # ~10 min on 2 CPU cores
    .venv/bin/python experiments/data_synthetic_tradeoff.py --quick    # a smoke run
"""
from __future__ import annotations

import argparse
import json
import tempfile

import torch

from data_common import Split, Timer, baseline_net, machine, miou_of, per_image_confusion, quartiles, train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", default="deeplabv3plus")
    p.add_argument("--width", type=float, default=0.5)
    p.add_argument("--image-size", type=int, nargs=2, default=[128, 256])
    p.add_argument("--train", type=int, default=320)
    p.add_argument("--val", type=int, default=160)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="tiny sizes, a smoke test")
    p.add_argument("--out", default=None, help="write the markdown result here")
    args = p.parse_args()
    if args.quick:
        args.image_size, args.train, args.val, args.epochs = [64, 128], 64, 32, 1
    torch.set_num_threads(args.threads)
    timer = Timer()
    cache = tempfile.mkdtemp(prefix="cosearch-features-")
    size = tuple(args.image_size)
    train_split = Split("train", args.train, size, args.seed, cache, augment=True)
    val = Split("val", args.val, size, args.seed, cache)
    num_classes = train_split.ds.num_classes
    model, arch = baseline_net(args.family, num_classes, args.width, args.seed)
    print(f"data ready {timer():.0f}s; {args.family} width {args.width}: "
          f"{sum(p.numel() for p in model.parameters())} parameters")
    train(model, train_split, args.epochs, args.batch, args.lr, args.seed)  # full resolution
    cms = {s: per_image_confusion(model, val, s, num_classes) for s in (1.0, 0.5)}
    rows = []
    for name, key in (("complexity score", val.score), ("generator level", val.level)):
        for q, idx in enumerate(quartiles(key)):
            full, half = miou_of(cms[1.0], idx), miou_of(cms[0.5], idx)
            rows.append({"by": name, "quarter": q + 1, "miou_full": full, "miou_half": half, "loss": full - half})
    overall = {s: miou_of(cms[s], range(args.val)) for s in cms}
    by_score = [r for r in rows if r["by"] == "complexity score"]
    simple, complex_ = by_score[0]["loss"], by_score[3]["loss"]
    ratio = complex_ / simple if simple > 0 else (float("inf") if complex_ > 0 else float("nan"))
    result = {"machine": machine(), "args": vars(args), "overall_miou": overall, "quarters": rows,
              "ratio_complex_vs_simple": ratio, "goal_met": complex_ > 0 and complex_ >= 2 * max(simple, 0.0),
              "wall_s": timer()}
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            f.write(report(result))


def report(r: dict) -> str:
    a = r["args"]
    lines = [
        "# Synthetic dataset: is data slimming a real trade-off?", "",
        f"Machine: {r['machine']}", "",
        "Command: `.venv/bin/python experiments/data_synthetic_tradeoff.py "
        f"--out experiments/results/data_synthetic_tradeoff.md` (defaults: {a['family']} width {a['width']}, "
        f"{a['image_size'][0]}x{a['image_size'][1]} images, {a['train']} train / {a['val']} val, "
        f"{a['epochs']} epochs, batch {a['batch']}, AdamW lr {a['lr']}, seed {a['seed']}, {a['threads']} threads); "
        f"wall time {r['wall_s'] / 60:.1f} min.", "",
        "The network is trained at full resolution (random scale 0.5-2.0, crop, flip) and evaluated on the",
        "validation split at full resolution and with the input downsampled to 0.5x (logits upsampled",
        "to the full-resolution labels). Quarters: validation images sorted by complexity score",
        "(features, what the gates see) or by the generator's own complexity level.", "",
        f"Overall mIoU: full {100 * r['overall_miou'][1.0]:.2f}, 0.5x {100 * r['overall_miou'][0.5]:.2f}.", "",
        "| quarters by | quarter | mIoU full | mIoU 0.5x | loss (points) |", "|---|---|---|---|---|"]
    for row in r["quarters"]:
        lines.append(f"| {row['by']} | {row['quarter']} | {100 * row['miou_full']:.2f} | "
                     f"{100 * row['miou_half']:.2f} | {100 * row['loss']:.2f} |")
    lines += ["", f"Loss of the most complex quarter / loss of the simplest quarter (by complexity score): "
              f"**{r['ratio_complex_vs_simple']:.2f}x** (goal >= 2x: {'met' if r['goal_met'] else 'MISSED'}).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
