"""Calibrate the ``host_cpu`` target by a short micro-benchmark of torch on this machine's CPU.

Measured (one process, fixed torch threads, a few seconds in all):

* per-layer overhead: the mean time of a conv, a batch-norm and a ReLU module call on a
  one-element tensor;
* element-wise op rate: fitted so that :func:`~cost_models.formulas.layer_cost` predicts a
  ReLU, a batch-norm, an add, a concatenation, a global average pool and a bilinear
  upsampling of a 40 x 60 x 60 tensor;
* memory bandwidth: a copy between two tensors far larger than the last-level cache;
* peak MAC rate and conv efficiency: 20 convolutions (dense k x k, depthwise, 1 x 1, a thin
  first layer), each timed back to back; ``peak`` is the best MAC rate among the large dense
  ones, and ``utilization`` and ``intensity_half`` are fitted so that
  :func:`cost_models.formulas.layer_cost` predicts their times (least squares on log time).

All of it runs in 3 passes (:func:`measure`) whose medians are fitted
(:func:`fit_calibration`); a benchmark can interleave passes with its own timing, so that
both see the same machine.

With one thread, times are the thread's CPU time (``time.thread_time``): on a machine shared
with other jobs that is what one inference costs when it has a core to itself; the wall
clock would add whatever the scheduler gave to others. With more threads it is wall time.

Memory is first set, through glibc's ``mallopt``, to stay with the process instead of going
back to the OS after every op (PyTorch's CPU tuning guide does the same with jemalloc or
tcmalloc): otherwise page faults on fresh outputs add erratic time that no layer model can
predict. Call :func:`tune_allocator` before timing networks against this target.

The result goes to this machine's cache (:func:`cost_models.target.calibrated_path`), never
over the tracked ``targets/host_cpu.yaml``; ``load_target("host_cpu")`` then reads it.

Usage (a real measurement of some seconds, so not a doctest)::

    cal = calibrate(threads=1, quick=True)
    write_target(cal)     # -> ~/.cache/cosearch/targets/host_cpu.yaml
"""
from __future__ import annotations

import ctypes
import ctypes.util
import datetime
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import least_squares
from torch import nn

from .formulas import (Work, activation_work, batchnorm_work, binary_work, concat_work, conv2d_work, layer_cost,
                       pool_work, resize_work)
from .target import Target, calibrated_path

# (c_in, c_out, kernel, groups, size, stride): channel counts in multiples of 16 (the vector
# width the kernels block channels by) and sizes unlike the usual network shapes, so that a
# benchmark on real networks is not fitted to itself
CONV_SHAPES = [
    (3, 32, 3, 1, 150, 2), (16, 16, 3, 1, 90, 1), (32, 32, 3, 1, 70, 1), (48, 96, 3, 1, 50, 2),
    (80, 80, 3, 1, 36, 1), (112, 112, 3, 1, 26, 1), (144, 144, 3, 1, 20, 1), (208, 208, 3, 1, 12, 1),
    (48, 48, 3, 48, 70, 1), (144, 144, 3, 144, 30, 1), (80, 80, 3, 80, 50, 2), (112, 112, 5, 112, 26, 1),
    (16, 80, 1, 1, 70, 1), (80, 16, 1, 1, 70, 1), (48, 192, 1, 1, 36, 1), (176, 176, 1, 1, 20, 1),
    (32, 112, 1, 1, 50, 1), (80, 320, 1, 1, 44, 1), (320, 80, 1, 1, 44, 1), (144, 144, 1, 1, 52, 1),
]
PEAK_SHAPES = 2  # the dense convs with the most MACs give the peak rate
ELEMENTWISE_SHAPE = (1, 40, 60, 60)


def elementwise_layers() -> dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Work]]:
    """The element-wise layers the vector rate is fitted on, each with its Work (graph.py's mapping)."""
    n = math.prod(ELEMENTWISE_SHAPE)
    return {
        "relu": (torch.relu, activation_work(n)),
        "batch_norm": (nn.BatchNorm2d(ELEMENTWISE_SHAPE[1]).eval(), batchnorm_work(n, ELEMENTWISE_SHAPE[1])),
        "add": (lambda x: x + x, binary_work(n, 2)),
        "cat": (lambda x: torch.cat([x, x], 1), concat_work(2 * n)),
        "adaptive_avg_pool2d": (nn.AdaptiveAvgPool2d(1), pool_work(n, ELEMENTWISE_SHAPE[1])),
        "interpolate": (lambda x: F.interpolate(x, scale_factor=2.0, mode="bilinear"), resize_work(n, 4 * n)),
    }


@dataclass
class Calibration:
    """What :func:`calibrate` measured: the fitted target (its energy fields are left at 0;
    :func:`target_yaml` fills them with cited assumptions) and how it was obtained."""

    target: Target
    threads: int
    allocator_tuned: bool
    conv_rows: list[dict] = field(default_factory=list)   # shape, measured and fitted seconds
    machine: dict = field(default_factory=dict)
    seconds: float = 0.0
    runs: int = 1                                          # passes of the micro-benchmark (medians)


def tune_allocator() -> bool:
    """Keep freed memory in the process (glibc ``mallopt``); False where that is not possible."""
    name = ctypes.util.find_library("c")
    if platform.system() != "Linux" or name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_threshold = -1, -3
        ok = libc.mallopt(m_mmap_threshold, 32 * 2**20) and libc.mallopt(m_trim_threshold, 2**31 - 1)
    except (OSError, AttributeError):
        return False
    return bool(ok)


def clock() -> Callable[[], float]:
    """The timer for this process: thread CPU time with one torch thread, else wall time."""
    return time.thread_time if torch.get_num_threads() == 1 else time.perf_counter


def median_time(fn: Callable[[], object], repeats: int = 7, warmup: int = 2) -> float:
    """Median time of ``fn()`` in seconds, by :func:`clock`."""
    now = clock()
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = now()
        fn()
        times.append(now() - start)
    return statistics.median(times)


def simd_lanes() -> int:
    """fp32 lanes of the widest vector unit torch uses here (AVX-512: 16, AVX2: 8, else 4)."""
    capability = torch.backends.cpu.get_cpu_capability().upper()
    return 16 if "AVX512" in capability else 8 if "AVX2" in capability else 4


def machine_info(threads: int) -> dict[str, str]:
    """Platform, CPU model, cores, cache sizes, torch version and threads, as text."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cores": str(os.cpu_count()),
            "caches": ", ".join(f"{k} {v / 2**20:g} MiB" if v >= 2**20 else f"{k} {v / 2**10:g} KiB"
                                for k, v in cache_sizes().items()),
            "torch": torch.__version__, "threads": str(threads)}


def machine_summary(threads: int | None = None) -> str:
    """:func:`machine_info` as one line, for the header of a benchmark's results."""
    info = machine_info(torch.get_num_threads() if threads is None else threads)
    return (f"{info['platform']}; CPU {info['cpu']}, {info['cores']} logical cores; caches {info['caches']}; "
            f"Python {platform.python_version()}; torch {info['torch']}, {info['threads']} thread(s)")


def cache_sizes() -> dict[str, int]:
    """Per-level data/unified cache sizes in bytes from sysfs (Linux), e.g. ``{"L2": 1048576}``."""
    sizes = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            if (index / "type").read_text().strip() == "Instruction":
                continue
            text = (index / "size").read_text().strip()
            factor = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1], 1)
            sizes[f"L{(index / 'level').read_text().strip()}"] = int(text.rstrip("KMG")) * factor
        except (OSError, ValueError):
            continue
    return sizes


def _conv_work(c_in: int, c_out: int, k: int, groups: int, size: int, stride: int):
    out = (size + 2 * (k // 2) - k) // stride + 1
    return conv2d_work(1, c_in, c_out, size, size, out, out, (k, k), groups)


def _time_convs(repeats: int) -> list[float]:
    """Median time of each of :data:`CONV_SHAPES`."""
    gen = torch.Generator().manual_seed(0)
    times = []
    with torch.no_grad():
        for c_in, c_out, k, groups, size, stride in CONV_SHAPES:
            conv = nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False).eval()
            x = torch.randn(1, c_in, size, size, generator=gen)
            times.append(median_time(lambda: conv(x), repeats=repeats))
    return times


def _time_elementwise(repeats: int) -> list[float]:
    """Median time of each of :func:`elementwise_layers`."""
    x = torch.randn(ELEMENTWISE_SHAPE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return [median_time(lambda: fn(x), repeats=repeats * 2) for fn, _ in elementwise_layers().values()]


def fit_vector_rate(base: Target, seconds: list[float]) -> float:
    """The element-wise op rate with which :func:`layer_cost` best predicts the times of
    :func:`elementwise_layers` (least squares on log time)."""
    works = [work for _, work in elementwise_layers().values()]

    def residuals(theta: np.ndarray) -> np.ndarray:
        t = replace(base, vector_ops_per_s=float(np.exp(theta[0])))
        return np.log([float(layer_cost(w, t).latency_s) for w in works]) - np.log(seconds)

    return float(np.exp(least_squares(residuals, x0=[np.log(1e10)]).x[0]))


def fit_conv_model(base: Target, seconds: list[float], intensity: bool = True) -> Target:
    """``base`` with ``utilization`` and ``intensity_half`` fitted to the times of
    :data:`CONV_SHAPES`, minimising the squared log-time error. ``intensity=False`` keeps
    ``intensity_half`` at 0 (a plain roofline, for comparison)."""
    works = [_conv_work(*shape) for shape in CONV_SHAPES]
    measured = np.log(seconds)

    def target(theta: np.ndarray) -> Target:
        return replace(base, utilization=float(theta[0]), intensity_half=float(theta[1]) if intensity else 0.0)

    def residuals(theta: np.ndarray) -> np.ndarray:
        t = target(theta)
        return np.log([float(layer_cost(w, t).latency_s) for w in works]) - measured

    fit = least_squares(residuals, x0=[0.9, 10.0], bounds=([0.01, 0.0], [1.0, 1e4]))
    return target(fit.x)


def _overhead() -> float:
    """Mean time of a conv, a batch-norm and a ReLU module call on one element."""
    tiny = torch.zeros(1, 1, 1, 1)
    modules = [nn.Conv2d(1, 1, 1).eval(), nn.BatchNorm2d(1).eval(), nn.ReLU()]
    return statistics.mean(median_time(lambda: m(tiny), repeats=50, warmup=10) for m in modules)


@dataclass
class Measurements:
    """The raw results of one pass of the micro-benchmark."""

    per_layer_overhead_s: float
    dram_bandwidth: float    # B/s
    conv_seconds: list[float]
    elementwise_seconds: list[float]


def measure(quick: bool = False) -> Measurements:
    """One pass of the micro-benchmark with the current torch threads (about a second)."""
    repeats = 3 if quick else 9
    last_level = max(cache_sizes().values(), default=32 * 2**20)
    with torch.no_grad():
        overhead = _overhead()
        numel = max(last_level, 2**24)  # fp32 elements: each tensor 4x the cache, at least 64 MiB
        src, dst = torch.full((numel,), 1.0), torch.empty(numel)
        bandwidth = 2 * 4 * numel / median_time(lambda: dst.copy_(src), repeats=max(3, repeats // 2), warmup=1)
    return Measurements(per_layer_overhead_s=overhead, dram_bandwidth=bandwidth, conv_seconds=_time_convs(repeats),
                        elementwise_seconds=_time_elementwise(repeats))


def fit_calibration(runs: list[Measurements], threads: int, allocator_tuned: bool,
                    seconds: float = 0.0) -> Calibration:
    """The calibration of the median of every measurement over ``runs``, conv model fitted."""
    def med(name: str) -> float:
        return statistics.median(getattr(r, name) for r in runs)

    conv_seconds = [statistics.median(values) for values in zip(*(r.conv_seconds for r in runs))]
    elementwise_seconds = [statistics.median(values) for values in zip(*(r.elementwise_seconds for r in runs))]
    macs = [float(_conv_work(*s).macs) for s in CONV_SHAPES]
    dense = sorted((m, t) for m, t, s in zip(macs, conv_seconds, CONV_SHAPES) if s[2] > 1 and s[3] == 1)
    peak = max(m / t for m, t in dense[-PEAK_SHAPES:])
    last_level = float(max(cache_sizes().values(), default=32 * 2**20))
    base = Target(name="host_cpu", kind="cpu", description="this machine's CPU", precision="fp32",
                  bytes_per_element=4,
                  peak_macs_per_s=peak, utilization=1.0, vector_ops_per_s=1e10,
                  dram_bandwidth=med("dram_bandwidth"), onchip_buffer_bytes=last_level, register_reuse=8.0,
                  e_mac=0.0, e_onchip_byte=0.0, e_dram_byte=0.0, static_power_w=0.0,
                  per_layer_overhead_s=med("per_layer_overhead_s"), channel_block=float(simd_lanes()))
    base = replace(base, vector_ops_per_s=fit_vector_rate(base, elementwise_seconds))
    fitted = fit_conv_model(base, conv_seconds)
    rows = [{"shape": dict(zip(("c_in", "c_out", "kernel", "groups", "size", "stride"), s)), "macs": m,
             "measured_s": t, "predicted_s": float(layer_cost(_conv_work(*s), fitted).latency_s)}
            for s, m, t in zip(CONV_SHAPES, macs, conv_seconds)]
    return Calibration(target=fitted, threads=threads, allocator_tuned=allocator_tuned, conv_rows=rows,
                       machine=machine_info(threads), seconds=seconds, runs=len(runs))


def calibrate(threads: int | None = None, quick: bool = False, runs: int = 3) -> Calibration:
    """Measure this CPU with torch: ``runs`` passes of :func:`measure` (about a second each;
    ``quick``: one short pass, for tests), medians fitted by :func:`fit_calibration`."""
    start = time.perf_counter()
    threads = threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    tuned = tune_allocator()
    results = [measure(quick) for _ in range(1 if quick else runs)]
    return fit_calibration(results, threads, tuned, seconds=time.perf_counter() - start)


def fit_error(cal: Calibration) -> float:
    """Median absolute relative error of the fitted conv times (how well the model fits)."""
    return statistics.median(abs(r["predicted_s"] / r["measured_s"] - 1) for r in cal.conv_rows)


def target_yaml(cal: Calibration, command: str | None = None) -> str:
    """The ``host_cpu`` target file, every number with what measured it (``command``: what ran it)."""
    command = command or f"python -m search calibrate --threads {cal.threads}"
    m, t = cal.machine, cal.target
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    alloc = "glibc malloc kept from returning memory to the OS" if cal.allocator_tuned else "default allocator"
    capability = torch.backends.cpu.get_cpu_capability()
    sections = {
        "compute": [
            ("peak", f"{t.peak_macs_per_s / 1e9:.2f} GMAC/s",
             f"measured: best rate of the {PEAK_SHAPES} largest dense 3x3 convs"),
            ("utilization", f"{t.utilization:.3f}", "fitted on the conv shapes: share of peak"),
            ("intensity_half", f"{t.intensity_half:.2f}", "fitted on the conv shapes: MAC slots per touched element"),
            ("channel_block", f"{simd_lanes()}", f"torch.backends.cpu.get_cpu_capability() = {capability}: "
                                                 "fp32 lanes per vector"),
            ("vector_peak", f"{t.vector_ops_per_s / 1e9:.2f} Gop/s",
             "fitted: ReLU, batch-norm, add, concat, global average pool, bilinear resize"),
        ],
        "memory": [
            ("dram_bandwidth", f"{t.dram_bandwidth / 1e9:.2f} GB/s",
             "measured: copy of a tensor 4x the last-level cache, bytes read + written"),
            ("onchip_buffer", f"{t.onchip_buffer_bytes / 2**20:g} MiB", "sysfs: last-level cache"),
            ("register_reuse", "8", "assumption: operand reads served by vector registers per cache read"),
        ],
        "energy": [
            ("mac", "4.6 pJ", "Horowitz, ISSCC 2014: fp32 mult 3.7 pJ + add 0.9 pJ (45 nm)"),
            ("onchip", "12.5 pJ/B", "Horowitz, ISSCC 2014: 1 MB SRAM, 100 pJ per 64-bit read (lower bound for a "
                                    "larger cache)"),
            ("dram", "20 pJ/bit", "assumption: DDR4/5 server memory, between LPDDR4 8 and DDR3 70 pJ/bit "
                                  "(Accelergy CACTI tables)"),
            ("static_power", f"{5 * cal.threads} W", "assumption: 5 W per busy core"),
        ],
        "overhead": [
            ("per_layer", f"{t.per_layer_overhead_s * 1e6:.2f} us",
             "measured: mean of a conv, batch-norm and ReLU module call on one element"),
        ],
    }
    lines = [
        f"# host_cpu: calibrated by `{command}` on {when}",
        f"# in {cal.seconds:.1f} s ({cal.runs} passes, medians), torch {m['torch']} on the CPU, "
        f"{cal.threads} thread(s), {alloc},",
        f"# timed by {'thread CPU time' if cal.threads == 1 else 'wall clock'}.",
        f"# machine: {m['platform']}; {m['cpu']}; {m['cores']} cores; caches {m['caches']}",
        f"# conv fit: median abs error {100 * fit_error(cal):.1f} % over {len(cal.conv_rows)} conv shapes "
        "(cost_models/calibrate.py: CONV_SHAPES)",
        "name: host_cpu",
        "kind: cpu",
        f"description: this machine's CPU ({m['cpu']}), torch eager fp32, {cal.threads} thread(s)",
        "precision: fp32",
    ]
    for section, items in sections.items():
        lines.append(f"{section}:")
        lines += [f"  {f'{key}: {value}':<32} # {comment}" for key, value, comment in items]
    return "\n".join(lines) + "\n"


def check_writable(path: str | Path) -> Path:
    """``path`` as a yaml file that can be written (its folder made if missing); else ``OSError``/``ValueError``
    naming it. Run before the benchmark, so a bad ``--out`` fails in a second, not after it."""
    path = Path(path)
    if path.suffix not in (".yaml", ".yml"):
        raise ValueError(f"{path}: expected a .yaml file")
    if path.is_dir():
        raise ValueError(f"{path} is a directory; expected a .yaml file")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise ValueError(f"{blocking} is a file, not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    probe = path.with_name(f".{path.name}.probe")
    probe.write_text("")
    probe.unlink()
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(f"{path} is not writable")
    return path


def write_target(cal: Calibration, path: str | Path | None = None, command: str | None = None) -> Path:
    """Write :func:`target_yaml` to ``path`` (default: :func:`~cost_models.target.calibrated_path`,
    this machine's cache) through a temporary file renamed over it."""
    path = check_writable(path if path is not None else calibrated_path("host_cpu"))
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        tmp.write_text(target_yaml(cal, command))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
