"""A look at the ``synthetic_shapes`` dataset: 12 images, from the simplest to the most complex
(by the generator's level), each beside its mask (one colour per class, legend below), and
the generation time of 256 images at 64x128 and 128x256.

    .venv/bin/python experiments/shapes_montage.py     # writes results/synthetic_shapes_montage.png
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search.data import build_dataset  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def generation_time(image_size: tuple[int, int], n: int = 256, seed: int = 0) -> float:
    ds = build_dataset({"name": "synthetic_shapes", "split": "train", "size": n, "image_size": list(image_size),
                        "seed": seed, "augment": False})
    start = time.perf_counter()
    for i in range(n):
        ds.load(i)
    return time.perf_counter() - start


def montage(out: Path, image_size: tuple[int, int], num_classes: int, seed: int, n_show: int = 12) -> None:
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    ds = build_dataset({"name": "synthetic_shapes", "split": "train", "size": 256, "image_size": list(image_size),
                        "num_classes": num_classes, "seed": seed, "augment": False})
    levels = np.array([ds.level(i) for i in range(len(ds))])
    order = np.argsort(levels)
    picks = order[np.linspace(0, len(order) - 1, n_show).round().astype(int)]
    palette = matplotlib.colormaps["tab10"](np.arange(10))[:, :3]
    palette = np.concatenate([palette, matplotlib.colormaps["Set3"](np.arange(12))[:, :3]])
    palette[0] = 0.15  # background: dark grey
    cols = 4
    rows = -(-n_show // cols)
    panel = 2.2  # inches per panel's width
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(2 * cols * panel, rows * (panel * image_size[0] / image_size[1] + 0.3) + 0.4))
    for ax, i in zip(axes.reshape(rows, cols, 2).reshape(-1, 2), picks):
        image, mask = ds.load(int(i))
        m = mask.numpy()
        shown = np.where((m == ds.ignore_index)[..., None], 1.0, palette[np.minimum(m, len(palette) - 1)])
        ax[0].imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax[1].imshow(shown, interpolation="nearest")
        ax[0].set_title(f"#{i}  level {levels[i]:.2f}", fontsize=8)
        for a in ax:
            a.set_xticks([])
            a.set_yticks([])
    handles = [Patch(color=palette[k], label=name) for k, name in enumerate(ds.class_names)]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "synthetic_shapes_montage.png")
    parser.add_argument("--image-size", type=int, nargs=2, default=[64, 128], metavar=("H", "W"),
                        help="default: the benchmark's")
    parser.add_argument("--num-classes", type=int, default=5, help="default: the benchmark's")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    montage(args.out, tuple(args.image_size), args.num_classes, args.seed)
    for size in ((64, 128), (128, 256)):
        print(f"generation of 256 images at {size[0]}x{size[1]}: {generation_time(size):.2f} s")


if __name__ == "__main__":
    main()
