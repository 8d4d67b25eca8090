"""How far the cost model lets a smaller network go: energy of uniform-width networks at reduced
input scales, as a fraction of the full network's, for the benchmark's three families.

Inference: one image (batch 1, the deployed case) of the benchmark's native size, the deployed
computation (resize, network, logits back). Training: one step on a batch of 1 and of
``--batch`` images (per image), the same network. Everything comes from the cost model
(``search.report.costs``); nothing is trained or timed, so the figures do not depend on the machine.

    .venv/bin/python experiments/cost_floor.py [--size 64x128] [--batch 8]

Writes ``experiments/results/cost_floor.md``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import supernet
from search.report.costs import Work, inference_costs, work_costs

FAMILIES = ("deeplabv3plus", "pspnet", "multires")
TARGETS = ("jetson_tx2", "zc706")
WIDTHS = (1.0, 0.75, 0.5, 0.35, 0.25)
SCALES = (1.0, 0.75, 0.5)
CLASSES = 8
OUT = Path(__file__).resolve().parent / "results" / "cost_floor.md"


def ratios(family: str, size: tuple[int, int], batch: int) -> list[dict]:
    """One row per (width, scale): MACs and energies over the full network's."""
    rows, full = [], None
    for width in WIDTHS:
        model = supernet.build_from_arch(supernet.baseline_arch(family, CLASSES, width_mult=width)).eval()
        for scale in SCALES:
            inf = inference_costs(model, size, scale, TARGETS)
            train = {b: work_costs(model, size, [Work("x", scale, b, True, b)], TARGETS) for b in (1, batch)}
            row = {"width": width, "scale": scale, "macs": inf[TARGETS[0]]["macs"],
                   **{f"inf {t}": inf[t]["energy_j"] for t in TARGETS},
                   **{f"train b{b} {t}": train[b][t]["energy_j"] / b for b in (1, batch) for t in TARGETS}}
            full = full or dict(row)
            rows.append({k: (v / full[k] if k not in ("width", "scale") else v) for k, v in row.items()})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="64x128", help="native image size HxW (default 64x128)")
    parser.add_argument("--batch", type=int, default=8, help="training batch size (default 8)")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    lines = [f"# Cost floor: energy of smaller networks over the full network's ({args.size}, cost model)", "",
             f"Reproduce: `.venv/bin/python experiments/cost_floor.py --size {args.size} --batch {args.batch}`. "
             "Uniform width x input scale; inference per image at batch 1; training per image of one step "
             f"at batch 1 and at batch {args.batch}. A column at 0.6 or below meets the benchmark's energy goals.", ""]
    for family in FAMILIES:
        rows = ratios(family, size, args.batch)
        keys = [k for k in rows[0] if k not in ("width", "scale")]
        lines += [f"## {family}", "", "| width | scale | " + " | ".join(keys) + " |",
                  "|---|---|" + "---|" * len(keys)]
        lines += [f"| {r['width']} | {r['scale']} | " + " | ".join(f"{r[k]:.2f}" for k in keys) + " |" for r in rows]
        floor = {t: min(r[f"inf {t}"] for r in rows) for t in TARGETS}
        lines += ["", "Lowest inference energy in this grid: " +
                  ", ".join(f"{floor[t]:.2f} ({t})" for t in TARGETS) + ".", ""]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
