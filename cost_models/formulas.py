"""The cost formulas, written once, in torch.

Two steps, kept apart:

1. ``*_work``: what a layer does, whatever runs it (:class:`Work`: MACs, weights,
   activations, element-wise ops).
2. :func:`layer_cost`: what that work costs on one :class:`~cost_models.target.Target`
   (:class:`Cost`: DRAM and on-chip traffic, energy, latency), for inference or for one
   training step.

Arguments may be Python numbers (``profile`` of a fixed network) or tensors (expected
channel counts and resolutions of the supernet); results are float64 tensors that carry
gradients back to tensor arguments.

>>> from cost_models.target import load_target
>>> work = conv2d_work(batch=1, c_in=16, c_out=32, h_in=64, w_in=64, h_out=64, w_out=64, kernel=(3, 3))
>>> int(work.macs)
18874368
>>> cost = layer_cost(work, load_target("jetson_tx2"))
>>> bool(cost.energy_j == cost.compute_j + cost.onchip_j + cost.dram_j + cost.static_j)
True
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Union

import torch
from torch import Tensor

from .target import Target

Number = Union[int, float, Tensor]


def _t(x: Number) -> Tensor:
    return x if torch.is_tensor(x) else torch.tensor(float(x), dtype=torch.float64)


@dataclass
class Work:
    """Hardware-independent description of one layer's work (element counts, not bytes)."""

    macs: Tensor        # fused multiply-adds, fvcore's convention
    params: Tensor      # weight elements the layer reads (its parameters)
    act_in: Tensor      # input activation elements, all inputs together
    act_out: Tensor     # output activation elements
    vector_ops: Tensor  # element-wise arithmetic that is not a MAC (normalise, activate, pool, resize)
    in_channels: Tensor = 0.0   # MAC layers: input channels per group (the reduction's channel axis)
    out_channels: Tensor = 0.0  # MAC layers: output channels, all groups (the axis split across lanes)

    def __post_init__(self) -> None:
        for f in fields(self):
            setattr(self, f.name, _t(getattr(self, f.name)))


def conv2d_work(batch: Number, c_in: Number, c_out: Number, h_in: Number, w_in: Number,
                h_out: Number, w_out: Number, kernel: tuple[int, int], groups: Number = 1,
                bias: bool = False, transposed: bool = False) -> Work:
    """A (grouped, dilated, strided or transposed) 2-d convolution.

    For a depthwise convolution whose width is searched, pass the same expected channel
    count as ``c_in``, ``c_out`` and ``groups``.
    """
    k = kernel[0] * kernel[1]
    c_in, c_out, groups = _t(c_in), _t(c_out), _t(groups)
    if transposed:  # every input pixel scatters into c_out/groups channels (fvcore's count)
        macs = batch * c_in * h_in * w_in * (c_out / groups) * k
    else:
        macs = batch * c_out * h_out * w_out * (c_in / groups) * k
    params = c_out * (c_in / groups) * k + (c_out if bias else 0.0)
    return Work(macs=macs, params=params, act_in=batch * c_in * h_in * w_in,
                act_out=batch * c_out * h_out * w_out, vector_ops=0.0, in_channels=c_in / groups,
                out_channels=c_out)


def linear_work(rows: Number, in_features: Number, out_features: Number, bias: bool = False) -> Work:
    """A fully connected layer applied to ``rows`` vectors."""
    in_features, out_features = _t(in_features), _t(out_features)
    params = in_features * out_features + (out_features if bias else 0.0)
    return Work(macs=rows * in_features * out_features, params=params,
                act_in=rows * in_features, act_out=rows * out_features, vector_ops=0.0,
                in_channels=in_features, out_channels=out_features)


def elementwise_work(act_in: Number, act_out: Number, ops_per_output: Number = 1.0,
                     params: Number = 0.0) -> Work:
    """Batch-norm, activations, additions, pooling, resizing, concatenation (0 ops: a copy)."""
    return Work(macs=0.0, params=params, act_in=act_in, act_out=act_out,
                vector_ops=_t(act_out) * ops_per_output)


@dataclass
class Cost:
    """What some work costs on a target. Energy is the sum of its four parts."""

    macs: Tensor
    params: Tensor
    activations: Tensor   # output activation elements
    onchip_bytes: Tensor
    dram_bytes: Tensor
    compute_j: Tensor
    onchip_j: Tensor
    dram_j: Tensor
    static_j: Tensor
    latency_s: Tensor

    @property
    def energy_j(self) -> Tensor:
        return self.compute_j + self.onchip_j + self.dram_j + self.static_j

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def scale(self, factor: Number) -> "Cost":
        return Cost(**{f.name: getattr(self, f.name) * factor for f in fields(self)})

    @staticmethod
    def zero() -> "Cost":
        return Cost(**{f.name: _t(0.0) for f in fields(Cost)})

    def to_dict(self) -> dict[str, float]:
        out = {f.name: float(getattr(self, f.name)) for f in fields(self)}
        out["energy_j"] = float(self.energy_j)
        return out


def dram_traffic(work: Work, target: Target) -> tuple[Tensor, Tensor, Tensor]:
    """DRAM bytes under a two-way tiling model, with its compulsory and no-reuse bounds.

    Half the on-chip buffer holds a tile of the stationary operand. Weight-stationary:
    weights are split into ``W / (buffer/2)`` tiles (at least 1) and the input is streamed
    once per tile. Input-stationary: the mirror image. The cheaper order is taken. When a
    tile fits, traffic is compulsory (everything read or written once); it never exceeds
    the no-reuse bound (both operands of every MAC from DRAM, every output written once).
    Returns ``(dram_bytes, compulsory_bytes, no_reuse_bytes)``.
    """
    b = target.bytes_per_element
    weights, inputs, outputs = work.params * b, work.act_in * b, work.act_out * b
    compulsory = weights + inputs + outputs
    half_buffer = target.onchip_buffer_bytes / 2
    weight_tiles = torch.clamp_min(weights / half_buffer, 1.0)
    input_tiles = torch.clamp_min(inputs / half_buffer, 1.0)
    tiled = torch.minimum(weights + inputs * weight_tiles, inputs + weights * input_tiles) + outputs
    no_reuse = torch.maximum(compulsory, (2 * work.macs + work.act_out) * b)
    return torch.minimum(tiled, no_reuse), compulsory, no_reuse


def lane_padding(work: Work, block: float) -> Tensor:
    """How many more MAC slots a layer takes when channels run in blocks of ``block`` lanes.

    Output channels are rounded up to a multiple of ``block``, and so are input channels
    per group when there are at least ``block`` of them (thin inputs, like an RGB first
    layer or a depthwise conv's one channel per group, are not split across lanes).

    The factor is returned detached (straight-through): its value is exact, and the cost's
    gradient with respect to a channel count is the factor times the unpadded gradient.
    The exact derivative of the padded cost is zero inside a block, which would tell a
    width search nothing.
    """
    if block <= 1:
        return torch.ones_like(work.macs)

    def factor(c: Tensor, always: bool) -> Tensor:
        padded = torch.ceil(c / block) * block
        use = (c > 0) if always else (c >= block)
        return torch.where(use, padded / torch.where(c > 0, c, 1.0), 1.0)

    with torch.no_grad():
        return factor(work.out_channels, True) * factor(work.in_channels, False)


def compute_time(work: Work, target: Target) -> Tensor:
    """Seconds of arithmetic for ``work`` on ``target``, if DRAM were free.

    MACs run at ``peak * utilization`` times an efficiency that falls with the arithmetic
    intensity ``I = macs / (act_in + act_out + params)``: every element a MAC layer touches
    costs ``intensity_half`` extra MAC slots (loading, storing, re-laying it out), so the
    efficiency is ``I / (I + intensity_half)``, low for depthwise and 1 x 1 convs and thin
    layers, near 1 for wide k x k convs; channel counts that do not fill the target's
    ``channel_block`` lanes waste the rest (:func:`lane_padding`, a constant for gradients).
    Element-wise ops run at ``vector_ops_per_s``.
    """
    touched = torch.where(work.macs > 0, work.act_in + work.act_out + work.params, 0.0)
    mac_slots = (work.macs + target.intensity_half * touched) * lane_padding(work, target.channel_block)
    return mac_slots / target.effective_macs_per_s + work.vector_ops / target.vector_ops_per_s


def _pass_cost(work: Work, target: Target) -> Cost:
    b = target.bytes_per_element
    dram, _, _ = dram_traffic(work, target)
    onchip = b * (2 * work.macs / target.register_reuse + work.act_in + work.act_out + work.params)
    # a pass with no work at all (a weight update of a layer without weights) is not launched
    launched = (work.macs + work.vector_ops + work.act_in + work.act_out + work.params) > 0
    overhead = torch.where(launched, target.per_layer_overhead_s, 0.0)
    latency = torch.maximum(compute_time(work, target), dram / target.dram_bandwidth) + overhead
    return Cost(macs=work.macs, params=work.params, activations=work.act_out,
                onchip_bytes=onchip, dram_bytes=dram,
                compute_j=(work.macs + work.vector_ops) * target.e_mac,
                onchip_j=onchip * target.e_onchip_byte, dram_j=dram * target.e_dram_byte,
                static_j=latency * target.static_power_w, latency_s=latency)


def training_passes(work: Work) -> list[Work]:
    """One training step of a layer: forward, input gradient, weight gradient, SGD-momentum update.

    A layer without weights (ReLU, add, ...) has no weight gradient and no update: those
    passes are all zero, so they cost nothing, not even a launch.
    """
    zero = torch.zeros_like(work.macs)

    def if_weights(x: Tensor) -> Tensor:
        return torch.where(work.params > 0, x, zero)

    grad_input = Work(macs=work.macs, params=work.params, act_in=work.act_out, act_out=work.act_in,
                      vector_ops=work.vector_ops, in_channels=work.in_channels, out_channels=work.out_channels)
    grad_weight = Work(macs=if_weights(work.macs), params=zero, act_in=if_weights(work.act_in + work.act_out),
                       act_out=work.params, vector_ops=if_weights(work.vector_ops),
                       in_channels=work.in_channels, out_channels=work.out_channels)
    update = Work(macs=zero, params=zero, act_in=3 * work.params, act_out=2 * work.params,
                  vector_ops=3 * work.params)
    return [work, grad_input, grad_weight, update]


def layer_cost(work: Work, target: Target, training: bool = False) -> Cost:
    """Cost of one layer on ``target``: one inference pass, or one training step.

    ``params`` and ``activations`` stay those of the layer itself in both modes.
    """
    if not training:
        return _pass_cost(work, target)
    total = Cost.zero()
    for part in training_passes(work):
        total = total + _pass_cost(part, target)
    total.params, total.activations = work.params, work.act_out
    return total


# Per-op conventions for the layers that are not conv/linear. ``profile`` (tracing) and the
# supernet's expected cost both call these, so the two agree exactly at a one-hot arch.

def batchnorm_work(numel: Number, channels: Number) -> Work:
    """Inference batch-norm: a scale and a shift per element, read as 2 numbers per channel.

    (At inference the running mean and variance fold into that scale and shift, so the
    layer reads as many numbers as ``nn.BatchNorm2d`` has parameters.)
    """
    return elementwise_work(numel, numel, ops_per_output=2.0, params=2 * _t(channels))


def activation_work(numel: Number) -> Work:
    """ReLU, ReLU6, sigmoid, hard-swish, ...: one op per element."""
    return elementwise_work(numel, numel, ops_per_output=1.0)


def binary_work(numel_out: Number, num_inputs: int = 2) -> Work:
    """Element-wise add / multiply of ``num_inputs`` tensors of the output's size."""
    return elementwise_work(num_inputs * _t(numel_out), numel_out, ops_per_output=num_inputs - 1)


def pool_work(numel_in: Number, numel_out: Number, window: Number | None = None) -> Work:
    """Max / average pooling: one op per window element of each output, ``window`` (k x k of a
    fixed pooling, windows may overlap) or, when not given (adaptive pooling), the input
    elements per output element: every input element read and combined once."""
    numel_in, numel_out = _t(numel_in), _t(numel_out)
    ops = numel_in / numel_out if window is None else _t(window)
    return elementwise_work(numel_in, numel_out, ops_per_output=ops)


# source taps per output element of F.interpolate
RESIZE_TAPS = {"nearest": 1, "nearest-exact": 1, "linear": 2, "bilinear": 4, "trilinear": 8, "bicubic": 16}


def resize_work(numel_in: Number, numel_out: Number, mode: str = "bilinear") -> Work:
    """``F.interpolate``: per output element and source tap (:data:`RESIZE_TAPS`), a load from
    a computed address and a multiply-add: 3 ops per tap (bilinear: 12); nearest: 1 op, the
    load. An unknown mode (``area``) counts as bilinear."""
    taps = RESIZE_TAPS.get(mode, 4)
    return elementwise_work(numel_in, numel_out, ops_per_output=1.0 if taps == 1 else 3.0 * taps)


def concat_work(numel_out: Number) -> Work:
    """``torch.cat``: a copy of all inputs into the output."""
    return elementwise_work(numel_out, numel_out, ops_per_output=0.0)
