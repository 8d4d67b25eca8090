"""GPU smoke test: a short run of each family on CUDA, then its derived network measured on CUDA
beside the ``a100`` target's prediction.

For each family: ``python -m search run experiments/configs/quick.yaml`` with ``run.device=cuda``,
``model.family=F``, ``data.image_size=[256, 512]`` and few steps (in this process, through the
CLI), then ``search.evaluate.measure`` of the run's ``derived.pt`` (eager, on CUDA) and ``derived.pt2``
(if it moves to CUDA) at batch 1 and 8, timed by the wall clock around synchronised runs, and
``cost_models.profile`` of the same computation on ``--target`` (default ``a100``: the roofline of
an A100; on another GPU the error is expected to be large, the check is that it runs).

    .venv/bin/python experiments/gpu_smoke.py [--target a100] [--steps 20] [--out runs/gpu_smoke]

Writes ``<out>/gpu_smoke.md``. Without CUDA it exits with status 2 and says so.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="a100", help="cost-model target to compare with (a100)")
    parser.add_argument("--steps", type=int, default=20, help="search and training steps per run (20)")
    parser.add_argument("--repeats", type=int, default=50, help="timed runs per measurement (50)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "gpu_smoke")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_smoke: CUDA is not available here (torch.cuda.is_available() is False; torch "
              f"{torch.__version__}, built for CUDA {torch.version.cuda}); this smoke test needs an NVIDIA GPU. "
              "Nothing was run.", file=sys.stderr)
        return 2

    import supernet  # noqa: PLC0415
    from search.cli import main as cli  # noqa: PLC0415
    from search.errors import UserError  # noqa: PLC0415
    from search.evaluate.measure import Protocol, measure  # noqa: PLC0415

    gpu = torch.cuda.get_device_name(0)
    rows, started = [], time.perf_counter()
    for family in supernet.FAMILIES:
        out = args.out / family
        warmup = max(1, args.steps // 4)
        code = cli(["run", str(ROOT / "experiments" / "configs" / "quick.yaml"), "--out", str(out),
                    f"model.family={family}", "run.device=cuda", "run.threads=0", "data.image_size=[256, 512]",
                    f"search.warmup_steps={warmup}", f"search.steps={args.steps}", f"train.steps={args.steps}",
                    "cost.targets=[a100, jetson_tx2]"] + (["--resume"] if (out / "checkpoints" / "last.pt").exists()
                                                           else []))
        if code != 0:
            print(f"gpu_smoke: the {family} run failed (exit {code}); see {out / 'log.txt'}", file=sys.stderr)
            return 1
        for name in ("derived.pt", "derived.pt2"):
            for batch in (1, 8):
                protocol = Protocol(device="cuda", batch=batch, warmup=10, repeats=args.repeats)
                try:
                    m = measure(out / name, protocol, target=args.target)
                except UserError as err:
                    rows.append((family, name, batch, None, None, str(err)))
                    continue
                print(m.describe(), flush=True)
                rows.append((family, name, batch, m.median_s, m.prediction["latency_s"], ""))
    lines = [f"# GPU smoke test on {gpu}", "",
             f"{time.perf_counter() - started:.0f} s; torch {torch.__version__}, CUDA {torch.version.cuda}; "
             f"predictions on target `{args.target}`; command: `{' '.join(sys.argv)}`", "",
             "| family | file | batch | measured (ms) | predicted (ms) | error | note |",
             "|---|---|---|---|---|---|---|"]
    for family, name, batch, measured, predicted, note in rows:
        if measured is None:
            lines.append(f"| {family} | {name} | {batch} | | | | {note} |")
        else:
            lines.append(f"| {family} | {name} | {batch} | {1e3 * measured:.3f} | {1e3 * predicted:.3f} | "
                         f"{100 * (predicted / measured - 1):+.1f} % | |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_smoke.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
