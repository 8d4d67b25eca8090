"""Write a run's human-readable report files: report.md, the Pareto plots, arch.png, gate.png."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from search.report.plots import arch_plot, gate_plot, pareto_plot
from search.report.report import markdown_report
from search.report.rundir import write_text_atomic


def gate_inputs(report: Mapping[str, Any], arch: Mapping[str, Any] | None,
                complexity: Sequence[float] | None = None) -> tuple[list[float], list[int], list[Any]] | None:
    """``(complexity, choice, actions)`` for :func:`search.report.plots.gate_plot`, or None when the
    run has no learned data gate or no per-image complexity (argument, else
    ``report["data_slimming"]["complexity"]``)."""
    slim = report.get("data_slimming") or {}
    choice = slim.get("choice")
    complexity = complexity if complexity is not None else slim.get("complexity")
    gate = ((arch or {}).get("data") or {}).get("train_gate") or {}
    # the actions ``choice`` indexes: the histogram's (the gate's, plus the inference scale when the
    # gate has no such action), else the gate's
    actions = [a if a == "drop" else float(a) for a in slim.get("action_histogram", {})] or gate.get("actions")
    if choice is None or complexity is None or not actions or len(choice) != len(complexity):
        return None
    return [float(c) for c in complexity], [int(k) for k in choice], list(actions)


def write_report_files(path: Any, report: Mapping[str, Any], arch: Mapping[str, Any] | None = None,
                       complexity: Sequence[float] | None = None) -> list[Any]:
    """Write a run's human-readable report into the run directory ``path``: report.md, pareto.png
    and pareto_training.png (with the full network's cost-model cost when
    ``report["full_network"]`` is there), arch.png (with ``arch``) and gate.png (with a learned
    data gate and each training image's complexity score). Each figure also as PDF. Returns the
    paths written."""
    path = Path(path)
    write_text_atomic(path / "report.md", markdown_report(report, arch))
    written = [path / "report.md"]
    full = report.get("full_network")
    for name, key in (("pareto.png", "inference"), ("pareto_training.png", "training")):
        written.append(pareto_plot(report["runs"], path / name, key=key, reference=full))
    if arch is not None:
        written.append(arch_plot(arch, path / "arch.png"))
    gate = gate_inputs(report, arch, complexity)
    if gate is not None:
        written.append(gate_plot(*gate, path / "gate.png"))
    return written
