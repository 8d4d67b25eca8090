"""Measured vs predicted (``host_cpu``) latency of the three families' derived networks, as deployed.

For each family a derived-like network (``supernet.baseline_arch(family, 19, width_mult=0.5,
inference_scale=0.75)``) is exported as ``python -m search derive`` does (``derived.pt2``, the
deployed computation: native image -> 0.75x -> network -> native-size logits) and measured with
the logic of ``python -m search measure`` (``search.evaluate.measure``) at two native input sizes, one
torch thread, timed by the thread's CPU time. The protocol is the cost-model benchmark's
(``experiments/benchmark_cost_model.py``): the ``host_cpu`` target is calibrated in the same
process, one calibration pass before each timing round, and the rounds interleave the networks so
that slow spells of the shared machine spread over all of them; each network runs one warm-up
and ``--repeats`` timed passes per round. Goal: median absolute error <= 25 %.

    .venv/bin/python experiments/measure_families.py [--rounds 7] [--repeats 3] [--onnx]

Writes ``experiments/results/measure.md`` and ``measure_host_cpu.yaml`` (the in-run calibration).
"""
from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import supernet  # noqa: E402
from cost_models.calibrate import fit_calibration, fit_error, machine_summary, target_yaml, tune_allocator  # noqa: E402
from cost_models.calibrate import measure as calibration_pass  # noqa: E402
from search.evaluate.measure import Protocol, predict, resolve, runner, time_runs  # noqa: E402
from supernet.export import save_derived  # noqa: E402

GOAL = 0.25
SCALE, WIDTH, CLASSES = 0.75, 0.5, 19
SIZES = [(128, 256), (256, 512)]


def export_families(folder: Path, onnx: bool) -> dict[str, Path]:
    """``{family: its folder}`` with derived.pt, derived.pt2 (and derived.onnx) of the derived-like net."""
    out = {}
    torch.manual_seed(0)
    for family in supernet.FAMILIES:
        arch = supernet.baseline_arch(family, CLASSES, width_mult=WIDTH, inference_scale=SCALE)
        arch["input"] = {"native_size": list(SIZES[-1])}
        net = supernet.build_from_arch(arch).eval()
        d = folder / family
        result = save_derived(net, arch, d / "derived.pt", d / "derived.pt2",
                              path_onnx=d / "derived.onnx" if onnx else None)
        assert result.contract["dynamic"]["size"], result.notes
        out[family] = d
        print(f"  exported {family}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds (7)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per network, size and round (3)")
    parser.add_argument("--onnx", action="store_true", help="also measure derived.onnx in ONNX Runtime")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "results")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    load_before = loadavg()
    torch.set_num_threads(1)
    tuned = tune_allocator()
    runtimes = ["torch", "onnxruntime"] if args.onnx else ["torch"]
    with tempfile.TemporaryDirectory() as tmp:
        print("exporting ...", flush=True)
        folders = export_families(Path(tmp), args.onnx)
        cases = []  # (family, runtime, size, source, run, x)
        for family, folder in folders.items():
            for runtime in runtimes:
                source = resolve(folder / ("derived.pt2" if runtime == "torch" else "derived.onnx"))
                for size in SIZES:
                    protocol = Protocol(runtime=runtime, size=size, threads=1, warmup=1, repeats=args.repeats)
                    run, convert = runner(source, protocol)
                    x = convert(torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(1)))
                    cases.append((family, runtime, size, source, run, x, protocol))
        times: list[list[float]] = [[] for _ in cases]
        passes = []
        print(f"timing {len(cases)} cases: {args.rounds} rounds x {args.repeats} passes ...", flush=True)
        for r in range(args.rounds):
            passes.append(calibration_pass())
            for i, (*_, run, x, protocol) in enumerate(cases):
                times[i] += time_runs(run, x, protocol)
            print(f"  round {r + 1}/{args.rounds}", flush=True)
        cal = fit_calibration(passes, 1, tuned)
        args.out.mkdir(parents=True, exist_ok=True)
        target_path = args.out / "measure_host_cpu.yaml"
        command = f".venv/bin/python experiments/measure_families.py --rounds {args.rounds} --repeats {args.repeats}" \
                  + (" --onnx" if args.onnx else "")
        target_path.write_text(target_yaml(cal, command))
        rows = []
        for (family, runtime, size, source, *_), t in zip(cases, times):
            shape = (1, 3, *size)
            in_run = predict(source.arch, source.contract, shape, str(target_path))
            default = predict(source.arch, source.contract, shape, "host_cpu")
            rows.append({"family": family, "runtime": runtime, "size": size, "measured": statistics.median(t),
                         "iqr": iqr(t), "predicted": in_run["latency_s"], "macs": in_run["macs"],
                         "default": default["latency_s"], "default_file": default["target_file"]})
    md = render(rows, cal, target_path, command, time.perf_counter() - started, load_before, loadavg(), args.repeats)
    (args.out / "measure.md").write_text(md)
    print(md)
    print(f"wrote {args.out / 'measure.md'} and {target_path}")
    return 0


def iqr(times: list[float]) -> float:
    q = statistics.quantiles(times, n=4, method="inclusive")
    return q[2] - q[0]


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def render(rows: list[dict], cal, target_path: Path, command: str, seconds: float, load_before: str,
           load_after: str, repeats: int) -> str:
    t = cal.target

    def summary(key: str, runtime: str) -> tuple[float, float]:
        errs = [abs(r[key] / r["measured"] - 1) for r in rows if r["runtime"] == runtime]
        return statistics.median(errs), max(errs)

    torch_median, torch_max = summary("predicted", "torch")
    default_median, _ = summary("default", "torch")
    default_file = Path(rows[0]["default_file"])
    shown = default_file.relative_to(ROOT) if default_file.is_relative_to(ROOT) else default_file
    lines = [
        "# Measured vs predicted latency of the families' derived networks",
        "",
        f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC in {seconds:.0f} s with",
        "",
        f"    {command}",
        "",
        f"Machine: {machine_summary(1)}. Load average (1/5/15 min) before {load_before}, after {load_after} "
        "(the machine is shared with other jobs).",
        "",
        f"Networks: `supernet.baseline_arch(family, {CLASSES}, width_mult={WIDTH}, inference_scale={SCALE})`, "
        "exported as `derive` does (`derived.pt2`: the deployed computation, native image -> "
        f"{SCALE}x bilinear (antialiased) -> network -> logits resized to the native size), run by "
        "`search.measure` (the logic of `python -m search measure`). Predicted: `cost_models.profile` of the "
        "same computation at the same input.",
        "",
        f"Protocol (as `experiments/benchmark_cost_model.py`): one torch thread, timed by the thread's CPU time; "
        f"{cal.runs} rounds, each after a `host_cpu` calibration pass, interleave the "
        f"cases; per round and case one warm-up and {repeats} timed passes; the median over all "
        "rounds. The in-run calibration (medians of the passes, "
        f"`{target_path.name}`): peak {t.peak_macs_per_s / 1e9:.1f} GMAC/s, utilization {t.utilization:.2f}, "
        f"intensity_half {t.intensity_half:.1f}, element-wise {t.vector_ops_per_s / 1e9:.1f} Gop/s, DRAM "
        f"{t.dram_bandwidth / 1e9:.1f} GB/s, per layer {t.per_layer_overhead_s * 1e6:.1f} us, conv fit error "
        f"{100 * fit_error(cal):.1f} %.",
        "",
        "## Summary",
        "",
        "| figure | value | goal |",
        "|---|---|---|",
        f"| median absolute error, torch (derived.pt2), in-run host_cpu | {100 * torch_median:.1f} % | <= 25 % "
        f"({'met' if torch_median <= GOAL else 'MISSED'}) |",
        f"| max absolute error, same | {100 * torch_max:.1f} % | |",
        f"| median absolute error against `load_target(\"host_cpu\")` ({shown}) | {100 * default_median:.1f} % | |",
    ]
    if any(r["runtime"] == "onnxruntime" for r in rows):
        ort_median, _ = summary("predicted", "onnxruntime")
        lines.append(f"| median absolute error, ONNX Runtime (derived.onnx), in-run host_cpu | "
                     f"{100 * ort_median:.1f} % | (host_cpu models torch eager) |")
    lines += ["", "## Every case", "",
              "| family | runtime | native input | MACs | predicted (ms) | measured (ms) | IQR (ms) | error | "
              "error vs host_cpu file |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['family']} | {r['runtime']} | 3x{r['size'][0]}x{r['size'][1]} | {r['macs'] / 1e6:.0f}M | "
                     f"{1e3 * r['predicted']:.2f} | {1e3 * r['measured']:.2f} | {1e3 * r['iqr']:.2f} | "
                     f"{100 * (r['predicted'] / r['measured'] - 1):+.1f} % | "
                     f"{100 * (r['default'] / r['measured'] - 1):+.1f} % |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
