"""Supernet overhead on the CPU: training-step time and peak memory vs the widest derived net.

For each family, at batch 4 x 3 x 128 x 256 (19 classes), one training step is forward,
cross-entropy against random labels, backward and an SGD-momentum step on the weights.
The supernet runs in ``gumbel_hard`` mode (a new sample every step, its architecture
logits receiving gradients too); *widest* is the derived net of ``baseline_arch(family)``
(every branch kept, every width at its widest): the same convolutions without masks. *sliced* is
the supernet step with ``compute="sliced"`` (``search.compute``, the co-search's default for weight
steps): a new sample every step, computed alone on slices of the supernet's weights; its time,
against the widest step's, is what a weight step costs here (the sampled networks are narrower,
but each new one builds a skeleton and meets new convolution shapes).

* time, one process per family and round: the supernet step, an expected-cost evaluation,
  the widest step and another expected-cost evaluation are *interleaved* after warm-up,
  so that load from other jobs on a shared machine hits all of them alike; reported are
  the median per-step ratio supernet / widest over all rounds and the median step times;
* expected cost: forward + backward of ``expected_cost("jetson_tx2", (1, 3, 512, 1024))``
  mixed over 3 inference scales, for the inference and for the training cost, as a share
  of the supernet's step (the plan is built by the first call and cached); timed in the
  interleaved loop (each right after a training step, as in a search, Python's garbage
  collector included) and, for reference, back to back after the loop ("warm");
* peak memory, a fresh process per family, kind and round: the peak resident set size
  *during* a step minus the resident size just before it (Linux: the peak is reset through
  ``/proc/self/clear_refs`` before the step and read from ``VmHWM``), with
  ``MALLOC_MMAP_THRESHOLD_=65536`` so that glibc hands every large tensor back to the OS
  when it is freed and RSS tracks live memory; the largest value over 3 steps after 1
  warm-up step.

One torch thread by default: on a 2-core machine shared with other jobs, two OpenMP threads
spin against the other jobs and single steps vary tenfold; ``--threads 2`` is available.

    .venv/bin/python experiments/benchmark_supernet.py    # writes experiments/results/supernet.{md,json}
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "experiments" / "results"
FAMILIES = ("deeplabv3plus", "pspnet", "multires")
COST_SHAPE, COST_SCALES = (1, 3, 512, 1024), (0.5, 0.75, 1.0)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _setup(family: str, args: argparse.Namespace):
    import torch
    import torch.nn.functional as F

    import supernet

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = supernet.build_supernet(family, args.classes).train()
    net.set_mode("gumbel_hard", tau=1.0)
    widest = net.derive(supernet.baseline_arch(family, args.classes)).train()
    x = torch.randn(args.batch, 3, args.height, args.width)
    y = torch.randint(0, args.classes, (args.batch, args.height, args.width))

    def stepper(model, weights, extra=(), compute=None):
        opt = torch.optim.SGD(weights, lr=0.01, momentum=0.9)

        def step() -> None:
            if compute is not None:
                net.set_mode("gumbel_hard", tau=1.0, compute=compute)
            opt.zero_grad(set_to_none=True)
            for p in extra:
                p.grad = None
            F.cross_entropy(model(x), y).backward()
            opt.step()
        return step

    steps = {"supernet": stepper(net, net.weight_parameters(), net.arch_parameters(), "masked"),
             "widest": stepper(widest, list(widest.parameters())),
             "sliced": stepper(net, net.weight_parameters(), net.arch_parameters(), "sliced")}
    scales = {s: torch.tensor(1 / len(COST_SCALES)) for s in COST_SCALES}

    def cost(training: bool):
        def run() -> None:
            c = net.expected_cost("jetson_tx2", COST_SHAPE, scale_probs=scales, training=training)
            (c.energy_j + c.latency_s).backward()
        return run

    # each cost evaluation runs right after a training step, as in a search
    return {"supernet": steps["supernet"], "cost_infer": cost(False), "widest": steps["widest"],
            "cost_train": cost(True), "sliced": steps["sliced"]}


def measure_time(family: str, args: argparse.Namespace) -> dict:
    steps = _setup(family, args)
    for _ in range(args.warmup):
        for run in steps.values():
            run()
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(args.steps):
        for name, run in steps.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    for name in ("cost_infer", "cost_train"):  # back to back, warm: the evaluation's own time
        times[f"{name}_warm"] = []
        for _ in range(args.steps):
            start = time.perf_counter()
            steps[name]()
            times[f"{name}_warm"].append(time.perf_counter() - start)
    return times


def measure_memory(family: str, kind: str, args: argparse.Namespace) -> float:
    step = _setup(family, args)[kind]
    step()
    peaks = []
    for _ in range(3):
        before = _status_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS (VmHWM)
        step()
        peaks.append(_status_kib("VmHWM") - before)
    return max(peaks) / 1024


def _child(args: argparse.Namespace, *what: str, env: dict | None = None):
    cmd = [sys.executable, __file__, "--child", *what] + sum(
        ([f"--{k}", str(getattr(args, k))] for k in ("batch", "height", "width", "classes", "warmup", "steps",
                                                     "threads")), [])
    res = subprocess.run(cmd, env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})), capture_output=True,
                         text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--classes", type=int, default=19)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--out", type=Path, default=RESULTS / "supernet.md")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        what, family, *kind = args.child
        out = measure_time(family, args) if what == "time" else measure_memory(family, kind[0], args)
        print(json.dumps(out))
        return 0
    load_start = Path("/proc/loadavg").read_text().split()[0]
    results = {f: {"times": {}, "peak_mib": {"supernet": [], "widest": []}} for f in args.families}
    for r in range(args.rounds):
        for family in args.families:
            for name, ts in _child(args, "time", family).items():
                results[family]["times"].setdefault(name, []).extend(ts)
            for kind in ("supernet", "widest"):
                peak = _child(args, "memory", family, kind, env={"MALLOC_MMAP_THRESHOLD_": "65536"})
                results[family]["peak_mib"][kind].append(peak)
            t = results[family]["times"]
            print(f"round {r + 1}/{args.rounds} {family:14s} supernet {statistics.median(t['supernet']) * 1e3:7.1f} ms"
                  f"  widest {statistics.median(t['widest']) * 1e3:7.1f} ms  peak "
                  f"{results[family]['peak_mib']['supernet'][-1]:.1f} / {results[family]['peak_mib']['widest'][-1]:.1f}"
                  f" MiB", flush=True)
    load = f"1-minute load average {load_start} at the start, {Path('/proc/loadavg').read_text().split()[0]} at the end"
    from cost_models.calibrate import machine_summary  # torch is imported late on purpose (see --child)

    report = render(results, args, f"{machine_summary(args.threads)}; shared with other jobs while this ran; {load}")
    args.out.write_text(report)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    print(report)
    return 0


def render(results: dict, args: argparse.Namespace, machine_line: str) -> str:
    med = statistics.median
    lines = [
        "# Supernet overhead (CPU)", "",
        f"Machine: {machine_line}.", "",
        "Command: `.venv/bin/python experiments/benchmark_supernet.py` (defaults: batch "
        f"{args.batch} x 3 x {args.height} x {args.width}, {args.classes} classes, {args.warmup} warm-up + "
        f"{args.steps} interleaved timed steps per process, {args.rounds} rounds). Method: see the script's "
        "docstring (interleaved timing in one process; peak RSS during a step, a fresh process per "
        "measurement). Raw numbers: `supernet.json`.", "",
        "| family | supernet step (ms) | widest step (ms) | time ratio (median of per-step ratios) "
        "| supernet peak (MiB) | widest peak (MiB) | memory ratio | expected cost, inference (ms) | share "
        "| expected cost, training (ms) | share | warm: inference / training (ms) | warm share "
        "| sliced step (ms) | sliced / widest |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for family, res in results.items():
        t = res["times"]
        ratio = med([a / b for a, b in zip(t["supernet"], t["widest"])])
        s_t, w_t = med(t["supernet"]), med(t["widest"])
        s_m, w_m = med(res["peak_mib"]["supernet"]), med(res["peak_mib"]["widest"])
        c_i = med([c / s for c, s in zip(t["cost_infer"], t["supernet"])])
        c_t = med([c / s for c, s in zip(t["cost_train"], t["supernet"])])
        lines.append(f"| {family} | {s_t * 1e3:.1f} | {w_t * 1e3:.1f} | {ratio:.3f} | {s_m:.1f} | {w_m:.1f} "
                     f"| {s_m / w_m:.3f} | {med(t['cost_infer']) * 1e3:.2f} | {100 * c_i:.1f} % "
                     f"| {med(t['cost_train']) * 1e3:.2f} | {100 * c_t:.1f} % "
                     f"| {med(t['cost_infer_warm']) * 1e3:.2f} / {med(t['cost_train_warm']) * 1e3:.2f} "
                     f"| {100 * med(t['cost_infer_warm']) / s_t:.1f} % / {100 * med(t['cost_train_warm']) / s_t:.1f} % "
                     f"| {med(t['sliced']) * 1e3:.1f} | {med([a / b for a, b in zip(t['sliced'], t['widest'])]):.3f} |")
    lines += ["", "Goals: time ratio <= 1.3, memory ratio <= 1.5, expected cost <= 5 % of a supernet step "
              "(in-loop shares are medians of per-step ratios; warm shares: warm time / median supernet step).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
