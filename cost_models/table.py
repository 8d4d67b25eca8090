"""Human-readable per-layer cost table of a :class:`~cost_models.profile.Report`, grouped by module.

>>> print(_si(1.5e9), _si(2.5e-3, "J"), _si(0, "s"))
1.5G 2.5mJ 0
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COLUMNS = [("macs", "MACs", ""), ("params", "params", ""), ("dram_bytes", "DRAM", "B"),
           ("energy_j", "energy", "J"), ("latency_s", "latency", "s")]
_PREFIXES = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"), (1.0, ""), (1e-3, "m"), (1e-6, "u"),
             (1e-9, "n"), (1e-12, "p")]


def _si(value: float, unit: str = "") -> str:
    """``value`` with an SI prefix, 3 significant digits."""
    if value == 0:
        return "0"
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale * 0.9995 or scale == 1e-12:
            if not unit and scale < 1:
                return f"{value:.3g}"
            return f"{value / scale:.3g}{prefix}{unit}" if abs(value / scale) < 100 else \
                f"{value / scale:.0f}{prefix}{unit}"
    return f"{value:g}{unit}"  # pragma: no cover


@dataclass
class _Group:
    name: str
    sums: dict[str, float] = field(default_factory=lambda: {key: 0.0 for key, _, _ in COLUMNS})
    children: list[Any] = field(default_factory=list)  # _Group or a layer row (dict)


def _add(sums: dict[str, float], row: dict[str, Any]) -> None:
    for key, _, _ in COLUMNS:
        sums[key] += row[key]


def format_table(report: Any, max_depth: int | None = None) -> str:
    """Rows: the whole model, then modules (aggregated) and their layers in execution order.

    Modules below ``max_depth`` (the model is depth 0) are shown as one aggregated row.
    """
    root = _Group("model")
    groups = {"": root}
    for row in report.layers:
        _add(root.sums, row)
        parent, parts = root, row["module"].split(".") if row["module"] else []
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            if prefix not in groups:
                groups[prefix] = _Group(prefix)
                parent.children.append(groups[prefix])
            parent = groups[prefix]
            _add(parent.sums, row)
        parent.children.append(row)
    root.sums["params"] = report.params  # each weight once
    header = ["module / layer", "op", "output", *[title for _, title, _ in COLUMNS]]
    lines: list[list[str]] = []

    def cells(name: str, op: str, shape: str, sums: dict[str, float]) -> list[str]:
        return [name, op, shape, *[_si(sums[key], unit) for key, _, unit in COLUMNS]]

    def walk(group: _Group, depth: int) -> None:
        only = group.children[0] if len(group.children) == 1 else None
        if isinstance(only, dict) and only["name"] == group.name:  # a leaf module: its one op
            lines.append(cells("  " * depth + group.name, only["op"], _shape(only["output_shape"]), only))
            return
        lines.append(cells("  " * depth + group.name, "", "", group.sums))
        if max_depth is not None and depth >= max_depth:
            return
        for child in group.children:
            if isinstance(child, _Group):
                walk(child, depth + 1)
            else:
                lines.append(cells("  " * (depth + 1) + child["name"], child["op"],
                                   _shape(child["output_shape"]), child))

    walk(root, 0)
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    title = (f"{report.target}, input {tuple(report.input_shape)}, "
             f"{'one training step' if report.training else 'inference'}")
    out = [title, "  ".join(h.ljust(w) if i < 3 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    out.append("-" * len(out[-1]))
    for r in lines:
        out.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    if report.unsupported_ops:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(report.unsupported_ops.items()))
        out.append(f"not counted (no cost handler): {listed}")
    return "\n".join(out)


def _shape(shape: Any) -> str:
    return "x".join(str(s) for s in shape)
