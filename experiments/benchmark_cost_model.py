"""Benchmark: predicted (``host_cpu``) vs measured CPU inference latency of >= 30 conv nets.

Calibrates ``host_cpu`` in the same run (same process, same torch threads), then for every
net: measures its latency (warm-up, then the median of interleaved rounds) and predicts it
with ``cost_models.profile``. Reports the Spearman rank correlation and the median absolute
percentage error against the goals (>= 0.9, <= 25 %), and how long ``profile`` takes on a
100-layer net. Writes ``experiments/results/cost_model.md`` and ``cost_model_latency.png``.

    .venv/bin/python experiments/benchmark_cost_model.py [--threads 1] [--rounds 9] [--out DIR]

The nets are defined here (plain, depthwise-separable, residual, inverted-residual and
encoder-decoder, each strided); none of their conv layers has a shape that the
calibration times (checked at run time).
"""
from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cost_models  # noqa: E402
from cost_models.calibrate import CONV_SHAPES, calibrate, clock, fit_error, target_yaml, tune_allocator  # noqa: E402

GOAL_SPEARMAN, GOAL_MDAPE = 0.9, 0.25


def cbr(c_in: int, c_out: int, k: int = 3, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    """conv + batch-norm + ReLU."""
    return [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True)]


def plain(width: int, depth: int, stages: int = 3) -> nn.Module:
    """VGG-like: a strided stem, then ``stages`` stages of ``depth`` 3x3 convs, each stage strided."""
    layers, c = cbr(3, width, stride=2), width
    for s in range(stages):
        out = width * 2 ** s
        layers += cbr(c, out, stride=2 if s else 1)
        layers += [m for _ in range(depth - 1) for m in cbr(out, out)]
        c = out
    return nn.Sequential(*layers)


def separable(width: int, depth: int, stages: int = 3) -> nn.Module:
    """MobileNet-v1-like: depthwise 3x3 + pointwise 1x1 blocks."""
    layers, c = cbr(3, width, stride=2), width
    for s in range(stages):
        out = width * 2 ** (s + 1)
        for d in range(depth):
            stride = 2 if d == 0 and s else 1
            layers += cbr(c, c, stride=stride, groups=c) + cbr(c, out, k=1)
            c = out
    return nn.Sequential(*layers)


class Basic(nn.Module):
    """ResNet basic block."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*cbr(c_in, c_out, stride=stride),
                                  nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.skip = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
                     if stride != 1 or c_in != c_out else nn.Identity())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.skip(x))


def residual(width: int, depth: int, stages: int = 3) -> nn.Module:
    layers, c = cbr(3, width, stride=2), width
    for s in range(stages):
        out = width * 2 ** s
        layers += [Basic(c if d == 0 else out, out, 2 if d == 0 and s else 1) for d in range(depth)]
        c = out
    return nn.Sequential(*layers)


class Inverted(nn.Module):
    """MobileNet-v2 inverted residual: 1x1 expand, depthwise 3x3, 1x1 project (+ skip)."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        self.body = nn.Sequential(*cbr(c_in, hidden, k=1), *cbr(hidden, hidden, stride=stride, groups=hidden),
                                  nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.skip else y


def inverted(width: int, depth: int, stages: int = 3, expand: int = 4) -> nn.Module:
    layers, c = cbr(3, width, stride=2), width
    for s in range(stages):
        out = width * 2 ** s
        layers += [Inverted(c if d == 0 else out, out, 2 if d == 0 and s else 1, expand) for d in range(depth)]
        c = out
    return nn.Sequential(*layers)


class EncoderDecoder(nn.Module):
    """A small segmentation net: strided encoder, bilinear upsampling, skip concatenation."""

    def __init__(self, width: int, classes: int = 8) -> None:
        super().__init__()
        self.enc1 = nn.Sequential(*cbr(3, width, stride=2), *cbr(width, width))
        self.enc2 = nn.Sequential(*cbr(width, 2 * width, stride=2), *cbr(2 * width, 2 * width))
        self.enc3 = nn.Sequential(*cbr(2 * width, 4 * width, stride=2), *cbr(4 * width, 4 * width))
        self.dec2 = nn.Sequential(*cbr(6 * width, 2 * width))
        self.dec1 = nn.Sequential(*cbr(3 * width, width))
        self.head = nn.Conv2d(width, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([F.interpolate(e3, size=e2.shape[-2:], mode="bilinear"), e2], 1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="bilinear"), e1], 1))
        return F.interpolate(self.head(d1), size=x.shape[-2:], mode="bilinear")


@dataclass
class Case:
    name: str
    model: nn.Module
    input_shape: tuple[int, int, int, int]


def build_cases() -> list[Case]:
    """The benchmark nets: 5 families x widths x depths x resolutions (36 nets)."""
    specs = []
    for family, fn, configs in [
        ("plain", plain, [(16, 1, 128), (16, 2, 192), (24, 2, 160), (32, 1, 224), (32, 3, 128), (48, 2, 96),
                          (64, 2, 64), (24, 3, 256)]),
        ("separable", separable, [(16, 1, 160), (16, 3, 224), (32, 2, 128), (32, 1, 256), (48, 2, 96),
                                  (64, 1, 128), (24, 2, 192)]),
        ("residual", residual, [(16, 1, 160), (16, 2, 224), (32, 1, 128), (32, 2, 96), (48, 1, 192),
                                (64, 1, 64), (24, 3, 128)]),
        ("inverted", inverted, [(16, 1, 128), (16, 2, 192), (24, 2, 160), (32, 1, 224), (32, 2, 96),
                                (48, 1, 128), (64, 2, 64)]),
    ]:
        for width, depth, size in configs:
            specs.append(Case(f"{family}-w{width}-d{depth}-{size}", fn(width, depth), (1, 3, size, size)))
    for width, size in [(16, 256), (24, 192), (32, 128), (32, 256), (48, 160), (64, 96), (16, 384)]:
        specs.append(Case(f"encdec-w{width}-{size}", EncoderDecoder(width), (1, 3, size, size)))
    torch.manual_seed(0)
    for case in specs:
        case.model.eval()
    return specs


def hundred_layers() -> nn.Module:
    """33 conv-bn-relu blocks + a 1x1 head: 100 layers."""
    layers = cbr(3, 32, stride=2) + [m for _ in range(32) for m in cbr(32, 32)] + [nn.Conv2d(32, 8, 1)]
    return nn.Sequential(*layers)


def check_disjoint(cases: list[Case]) -> None:
    """No benchmark conv has a calibration conv's (c_in, c_out, k, groups, size, stride)."""
    calib = set(CONV_SHAPES)
    for case in cases:
        for row in cost_models.profile(case.model, case.input_shape, "jetson_tx2").layers:
            if row["op"] == "conv2d":
                a = row["attrs"]
                key = (a["in"], a["out"], a["kernel"][0], a["groups"], row["input_shapes"][0][-1], a["stride"][0])
                if key in calib:
                    raise SystemExit(f"{case.name}: layer {row['name']} has a calibration shape {key}")


def measure(cases: list[Case], rounds: int, repeats: int = 3) -> list[float]:
    """Median latency of each net: in each of ``rounds`` rounds, one warm-up pass and
    ``repeats`` timed passes back to back (so a net runs with its own data in the caches,
    as in steady-state inference); rounds interleave the nets to spread slow spells of the
    machine over all of them."""
    inputs = [torch.randn(c.input_shape, generator=torch.Generator().manual_seed(1)) for c in cases]
    times: list[list[float]] = [[] for _ in cases]
    now = clock()
    with torch.no_grad():
        for r in range(rounds):
            for i, (case, x) in enumerate(zip(cases, inputs)):
                case.model(x)
                for _ in range(repeats):
                    start = now()
                    case.model(x)
                    times[i].append(now() - start)
            print(f"  round {r + 1}/{rounds} done", flush=True)
    return [statistics.median(t) for t in times]
