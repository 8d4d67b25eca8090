"""arch.json (version 2 on): the ``input`` contract, the ``cost`` block and the single inference scale.

``input`` says what the deployed program takes (all keys optional in a file; missing ones get
these defaults)::

    {"layout": "NCHW", "channels": 3, "dtype": "float32", "value_range": [0.0, 1.0],
     "normalization": null, "native_size": [512, 1024], "resize_in_model": true}

``value_range`` and ``normalization`` are what ``search.data`` produces: RGB divided by 255, no
mean/std (``normalization`` is ``null``, or ``{"mean": [3 numbers], "std": [3 numbers]}``
applied by the caller). ``native_size`` is the image size the network is deployed at (and
``layers`` are listed at); ``resize_in_model``: the exported programs resize it to the inference
scale themselves (``supernet.deployed.DeployedNet``), else they take the resized image.

The inference scale has one home, ``data.inference_scale`` (``choices["data.inference_scale"]``
may repeat it and must agree). ``data.resolution`` (the learned distribution over scales) must
not hold another: a ``data.resolution.inference_scale`` (version 1 files, which stored its
argmax there) is read as ``data.resolution.argmax_scale``.

``cost`` holds one entry per target name plus ``input_shape`` ((N, C, H, W) the costs are for)
and ``cost_model_version`` (:data:`cost_models.COST_MODEL_VERSION` when they were computed).

>>> validate_input({"native_size": [64, 128]}, "arch.input")["value_range"]
[0.0, 1.0]
>>> cost_block({"host_cpu": {"macs": 1.0}}, (1, 3, 64, 128))["input_shape"]
[1, 3, 64, 128]
"""
from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

from .space import ArchError

DEFAULT_NATIVE_SIZE = (512, 1024)
INPUT_DEFAULTS: dict[str, Any] = {"layout": "NCHW", "channels": 3, "dtype": "float32", "value_range": [0.0, 1.0],
                                  "normalization": None, "native_size": list(DEFAULT_NATIVE_SIZE),
                                  "resize_in_model": True}
COST_KEYS = ("input_shape", "cost_model_version")


def _positive_ints(value: Any, n: int) -> bool:
    return isinstance(value, list) and len(value) == n and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)


def _numbers(value: Any, n: int) -> bool:
    return isinstance(value, list) and len(value) == n and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def validate_input(block: Any, where: str) -> dict[str, Any]:
    """The ``input`` block with defaults filled in; a bad value is an :class:`ArchError` naming it."""
    if block is None:
        block = {}
    if not isinstance(block, dict):
        raise ArchError(f"{where}: expected a JSON object")
    unknown = [k for k in block if k not in INPUT_DEFAULTS]
    if unknown:
        raise ArchError(f"{where}: unknown field {unknown[0]!r}; allowed: {', '.join(INPUT_DEFAULTS)}")
    out = {**copy.deepcopy(INPUT_DEFAULTS), **copy.deepcopy(block)}
    fixed = {"layout": "NCHW", "channels": 3, "dtype": "float32"}
    for key, value in fixed.items():
        if out[key] != value:
            raise ArchError(f"{where}.{key}: only {value!r} is supported, got {out[key]!r}")
    if not _numbers(out["value_range"], 2) or not out["value_range"][0] < out["value_range"][1]:
        raise ArchError(f"{where}.value_range: expected [low, high] with low < high, got {out['value_range']!r}")
    out["value_range"] = [float(v) for v in out["value_range"]]
    norm = out["normalization"]
    if norm is not None:
        if not isinstance(norm, dict) or set(norm) != {"mean", "std"} or not _numbers(norm["mean"], 3) \
                or not _numbers(norm["std"], 3) or min(norm["std"]) <= 0:
            raise ArchError(f"{where}.normalization: expected null or {{\"mean\": [3 numbers], \"std\": "
                            f"[3 positive numbers]}}, got {norm!r}")
    if not _positive_ints(out["native_size"], 2):
        raise ArchError(f"{where}.native_size: expected [height, width] of positive integers, "
                        f"got {out['native_size']!r}")
    if not isinstance(out["resize_in_model"], bool):
        raise ArchError(f"{where}.resize_in_model: expected true or false, got {out['resize_in_model']!r}")
    return out


def validate_cost(block: Mapping[str, Any], where: str) -> None:
    """``input_shape`` and ``cost_model_version`` well-formed when present, every other key a
    target name mapping to an object of numbers."""
    if "input_shape" in block and not _positive_ints(block["input_shape"], 4):
        raise ArchError(f"{where}.input_shape: expected [N, C, H, W] of positive integers, "
                        f"got {block['input_shape']!r}")
    version = block.get("cost_model_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ArchError(f"{where}.cost_model_version: expected a positive integer, got {version!r}")
    for name, entry in block.items():
        if name in COST_KEYS:
            continue
        if not isinstance(entry, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                  for v in entry.values()):
            raise ArchError(f"{where}.{name}: expected an object of numbers (the costs on target {name!r})")


def cost_block(costs: Mapping[str, Mapping[str, float]], input_shape: Sequence[int],
               keys: Sequence[str] = ("macs", "dram_bytes", "energy_j", "latency_s")) -> dict[str, Any]:
    """The arch.json ``cost`` block: ``{target: {key: value}}`` for ``input_shape``, with the cost-model version."""
    from cost_models import COST_MODEL_VERSION  # noqa: PLC0415 (cost_models is a light import)

    out: dict[str, Any] = {"input_shape": [int(s) for s in input_shape], "cost_model_version": COST_MODEL_VERSION}
    for target, values in costs.items():
        out[target] = {k: float(values[k]) for k in keys if k in values}
    return out


def single_inference_scale(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``data`` whose ``resolution`` holds no second inference scale (see the module docstring)."""
    resolution = data.get("resolution")
    if not isinstance(resolution, dict) or "inference_scale" not in resolution:
        return dict(data)
    resolution = dict(resolution)
    argmax = resolution.pop("inference_scale")
    if "argmax_scale" in resolution and resolution["argmax_scale"] != argmax:
        raise ArchError(f"{where}.resolution: inference_scale and argmax_scale differ")
    resolution["argmax_scale"] = argmax
    return {**data, "resolution": resolution}
