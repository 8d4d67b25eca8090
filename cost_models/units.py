"""Physical quantities with units, as written in targets/*.yaml ("59.7 GB/s", "3.7 pJ").

Every quantity is converted to one SI-style base unit per dimension:
joules, joules per byte, bytes, bytes per second, hertz, watts, seconds, MACs per second,
element-wise ops per second.

>>> parse_quantity("59.7 GB/s", "bandwidth")
59700000000.0
"""
from __future__ import annotations

import re

# unit -> factor to the dimension's base unit
UNITS: dict[str, dict[str, float]] = {
    "energy": {"fJ": 1e-15, "pJ": 1e-12, "nJ": 1e-9, "uJ": 1e-6, "J": 1.0},
    "energy_per_byte": {
        "fJ/B": 1e-15, "pJ/B": 1e-12, "nJ/B": 1e-9,
        "fJ/bit": 8e-15, "pJ/bit": 8e-12, "nJ/bit": 8e-9,
    },
    "size": {
        "B": 1.0, "KB": 1e3, "MB": 1e6, "GB": 1e9,
        "KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30,
        "Kb": 1e3 / 8, "Mb": 1e6 / 8, "Gb": 1e9 / 8,
    },
    "bandwidth": {"B/s": 1.0, "KB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9, "TB/s": 1e12, "GiB/s": 2.0**30},
    "frequency": {"Hz": 1.0, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9},
    "power": {"mW": 1e-3, "W": 1.0},
    "time": {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0},
    # element-wise op rates: one op (an add, a max, ...) is one FLOP
    "op_rate": {"op/s": 1.0, "Gop/s": 1e9, "Top/s": 1e12, "FLOP/s": 1.0, "GFLOP/s": 1e9, "TFLOP/s": 1e12},
    # compute rates are stored as MACs per second; one MAC = 2 FLOPs
    "compute_rate": {
        "MAC/s": 1.0, "GMAC/s": 1e9, "TMAC/s": 1e12,
        "FLOP/s": 0.5, "GFLOP/s": 0.5e9, "TFLOP/s": 0.5e12,
    },
}

_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z/]+)\s*$")


class UnitError(ValueError):
    """A quantity is missing its unit or has one of the wrong dimension."""


def parse_quantity(text: object, dimension: str, where: str = "value") -> float:
    """Parse ``"<number> <unit>"`` of the given dimension into its base unit.

    ``where`` names the field for the error message, e.g. ``"a100.yaml: memory.dram_bandwidth"``.
    """
    allowed = UNITS[dimension]
    example = f"'1.5 {next(iter(allowed))}'"
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        raise UnitError(f"{where}: got the bare number {text!r}; expected a {dimension} with a unit, "
                        f"e.g. {example} (units: {', '.join(allowed)})")
    match = _QUANTITY.match(str(text))
    if match is None:
        raise UnitError(f"{where}: cannot read {text!r}; expected '<number> <unit>', e.g. {example}")
    number, unit = match.groups()
    if unit not in allowed:
        raise UnitError(f"{where}: unit {unit!r} in {text!r} is not a {dimension} unit; "
                        f"expected one of {', '.join(allowed)}")
    return float(number) * allowed[unit]
