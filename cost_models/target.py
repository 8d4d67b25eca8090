"""Hardware targets: ``targets/*.yaml`` read into a validated :class:`Target`.

>>> t = load_target("jetson_tx2")
>>> t.peak_macs_per_s > 0
True

``host_cpu`` describes the machine at hand: ``python -m search calibrate`` writes its
calibration to :func:`calibrated_path` (``$COSEARCH_CACHE/targets/host_cpu.yaml``, else
``~/.cache/cosearch/targets/host_cpu.yaml``), and ``load_target("host_cpu")`` reads that file
when it exists, the tracked ``targets/host_cpu.yaml`` (a reference machine) otherwise.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .units import UnitError, parse_quantity
from .yamlfile import load_yaml_file

TARGETS_DIR = Path(__file__).parent / "targets"
CALIBRATED = ("host_cpu",)  # targets that `calibrate` measures on this machine
KINDS = ("gpu", "cpu", "fpga", "asic")
BYTES_PER_ELEMENT = {"fp32": 4, "fp16": 2, "bf16": 2, "int16": 2, "int8": 1}


class TargetError(ValueError):
    """A target name is unknown or its yaml file is malformed."""


@dataclass(frozen=True)
class Target:
    """One hardware description, every quantity in base units (J, B, B/s, s, MAC/s)."""

    name: str
    kind: str
    description: str
    precision: str
    bytes_per_element: int
    peak_macs_per_s: float          # MAC/s at 100 % utilisation
    utilization: float              # achieved fraction of peak on conv/linear layers
    vector_ops_per_s: float         # element-wise ops/s (batch-norm, activations, pooling, ...)
    dram_bandwidth: float           # B/s
    onchip_buffer_bytes: float      # the buffer the tiling model fills (L2, BRAM, global buffer)
    register_reuse: float           # operand reads per MAC served by registers / PE-local storage
    e_mac: float                    # J per MAC
    e_onchip_byte: float            # J per on-chip buffer byte accessed
    e_dram_byte: float              # J per DRAM byte
    static_power_w: float           # W drawn for as long as the work runs
    per_layer_overhead_s: float     # fixed cost per layer (kernel launch, layer reconfiguration)
    intensity_half: float = 0.0     # MAC slots per touched element (see formulas.compute_time)
    channel_block: float = 1.0      # channels computed side by side (SIMD lanes, PE columns)
    source: str = ""                # the file it came from

    @property
    def effective_macs_per_s(self) -> float:
        return self.peak_macs_per_s * self.utilization

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# yaml schema: section -> field -> dimension ("number", "text" or a units.UNITS dimension)
_SCHEMA: dict[str, dict[str, str]] = {
    "": {"name": "text", "kind": "text", "description": "text", "precision": "text"},
    "compute": {"peak": "compute_rate", "dsp": "number", "clock": "frequency",
                "macs_per_dsp_cycle": "number", "utilization": "number", "vector_peak": "op_rate",
                "intensity_half": "number", "channel_block": "number"},
    "memory": {"dram_bandwidth": "bandwidth", "onchip_buffer": "size", "register_reuse": "number"},
    "energy": {"mac": "energy", "onchip": "energy_per_byte", "dram": "energy_per_byte",
               "static_power": "power"},
    "overhead": {"per_layer": "time"},
}
# yaml fields that must be > 0 (every number must be finite, every Target number >= 0)
_POSITIVE = ("compute.peak", "compute.dsp", "compute.clock", "compute.macs_per_dsp_cycle", "compute.vector_peak",
             "memory.dram_bandwidth", "memory.onchip_buffer")
# Target attribute -> the yaml field it comes from (for error messages)
_FIELD_OF = {"peak_macs_per_s": "compute.peak", "utilization": "compute.utilization",
             "vector_ops_per_s": "compute.vector_peak", "dram_bandwidth": "memory.dram_bandwidth",
             "onchip_buffer_bytes": "memory.onchip_buffer", "register_reuse": "memory.register_reuse",
             "e_mac": "energy.mac", "e_onchip_byte": "energy.onchip", "e_dram_byte": "energy.dram",
             "static_power_w": "energy.static_power", "per_layer_overhead_s": "overhead.per_layer",
             "intensity_half": "compute.intensity_half", "channel_block": "compute.channel_block"}


def cache_dir() -> Path:
    """Where calibrated targets live: ``$COSEARCH_CACHE/targets``, else ``~/.cache/cosearch/targets``."""
    base = os.environ.get("COSEARCH_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "cosearch") / "targets"


def calibrated_path(name: str = "host_cpu") -> Path:
    """The calibration file of target ``name`` on this machine (it may not exist yet)."""
    return cache_dir() / f"{name}.yaml"


def list_targets() -> list[str]:
    """Names of the built-in targets (``targets/*.yaml``), sorted."""
    return sorted(p.stem for p in TARGETS_DIR.glob("*.yaml"))


def load_target(name_or_path: str | Path | Target) -> Target:
    """A built-in target by name (``host_cpu``: this machine's calibration when there is one), or a
    yaml file by path."""
    if isinstance(name_or_path, Target):
        return name_or_path
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = TARGETS_DIR / f"{name_or_path}.yaml"
        if str(name_or_path) in CALIBRATED and calibrated_path(str(name_or_path)).is_file():
            path = calibrated_path(str(name_or_path))
        if not path.is_file():
            raise TargetError(f"unknown target {str(name_or_path)!r}; built-in targets are "
                              f"{', '.join(list_targets())}, or give a path to a .yaml file")
    if not path.is_file():
        raise TargetError(f"target file {path} does not exist")
    raw = load_yaml_file(path, TargetError)
    if not isinstance(raw, dict):
        raise TargetError(f"{path}: expected a mapping of target fields at the top level")
    return _target_from_dict(raw, str(path))


def _target_from_dict(raw: dict[str, Any], where: str) -> Target:
    values = _read_schema(raw, where)
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise TargetError(f"{where}: {key} must be a finite number, got {_raw_text(raw, key)!r}")
    for key in _POSITIVE:
        if key in values and not values[key] > 0:
            raise TargetError(f"{where}: {key} must be positive, got {_raw_text(raw, key)!r}")

    def get(key: str, default: Any = None) -> Any:
        if key in values:
            return values[key]
        if default is None:
            raise TargetError(f"{where}: missing field {key!r}")
        return default

    kind = get("kind")
    if kind not in KINDS:
        raise TargetError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    precision = get("precision")
    if precision not in BYTES_PER_ELEMENT:
        raise TargetError(f"{where}: precision {precision!r} is not one of {', '.join(BYTES_PER_ELEMENT)}")
    if "compute.peak" in values:
        peak = values["compute.peak"]
    elif all(k in values for k in ("compute.dsp", "compute.clock")):
        peak = values["compute.dsp"] * values["compute.clock"] * values.get("compute.macs_per_dsp_cycle", 1.0)
    else:
        raise TargetError(f"{where}: missing field 'compute.peak' (or 'compute.dsp' with 'compute.clock')")
    utilization, dram_bandwidth = get("compute.utilization"), get("memory.dram_bandwidth")
    if not 0.0 < utilization <= 1.0:
        raise TargetError(f"{where}: compute.utilization must be in (0, 1], got {utilization}")
    target = Target(
        name=str(get("name")), kind=kind, description=str(values.get("description", "")),
        precision=precision, bytes_per_element=BYTES_PER_ELEMENT[precision],
        peak_macs_per_s=peak, utilization=utilization,
        vector_ops_per_s=values.get("compute.vector_peak", peak * utilization),
        dram_bandwidth=dram_bandwidth, onchip_buffer_bytes=get("memory.onchip_buffer"),
        register_reuse=get("memory.register_reuse"),
        e_mac=get("energy.mac"), e_onchip_byte=get("energy.onchip"), e_dram_byte=get("energy.dram"),
        static_power_w=values.get("energy.static_power", 0.0),
        per_layer_overhead_s=values.get("overhead.per_layer", 0.0),
        intensity_half=values.get("compute.intensity_half", 0.0),
        channel_block=values.get("compute.channel_block", 1.0), source=where,
    )
    for f in fields(target):
        value = getattr(target, f.name)
        field = _FIELD_OF.get(f.name, f.name)
        if isinstance(value, float) and not math.isfinite(value):  # finite fields whose product overflows
            raise TargetError(f"{where}: {f.name} must be finite, got {value} (field {field!r})")
        if isinstance(value, float) and value < 0:
            raise TargetError(f"{where}: {f.name} must not be negative, got {value} (field {field!r})")
    for key, value in (("compute.peak", peak), ("compute.vector_peak", target.vector_ops_per_s)):
        if not value > 0:  # derived from positive numbers, but may underflow to 0
            raise TargetError(f"{where}: {key} must be positive, got {value}")
    if target.channel_block < 1 or target.channel_block != int(target.channel_block):
        raise TargetError(f"{where}: compute.channel_block must be a whole number >= 1, got {target.channel_block}")
    if target.register_reuse < 1:
        raise TargetError(f"{where}: memory.register_reuse must be >= 1, got {target.register_reuse}")
    return target


def _raw_text(raw: dict[str, Any], key: str) -> Any:
    """The value of ``section.field`` as written in the yaml."""
    section, _, name = key.rpartition(".")
    return (raw.get(section, {}) if section else raw).get(name)


def _read_schema(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """Flatten the yaml into ``{"section.field": value}``, checking names and units."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _SCHEMA[""]:
            section, items = "", {key: value}
        elif key in _SCHEMA:
            if not isinstance(value, dict):
                raise TargetError(f"{where}: section {key!r} must be a mapping of fields")
            section, items = key, value
        else:
            allowed = [k for k in _SCHEMA if k] + list(_SCHEMA[""])
            raise TargetError(f"{where}: unknown field {key!r}; allowed: {', '.join(allowed)}")
        for name, item in items.items():
            full = f"{section}.{name}" if section else name
            dimension = _SCHEMA[section].get(name)
            if dimension is None:
                raise TargetError(f"{where}: unknown field {full!r}; allowed in {section!r}: "
                                  f"{', '.join(_SCHEMA[section])}")
            out[full] = _convert(item, dimension, f"{where}: {full}")
    return out


def _convert(value: Any, dimension: str, where: str) -> Any:
    if dimension == "text":
        return str(value)
    if dimension == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TargetError(f"{where}: expected a plain number, got {value!r}")
        return float(value)
    try:
        return parse_quantity(value, dimension, where)
    except UnitError as err:
        raise TargetError(str(err)) from None
