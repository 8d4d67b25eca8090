"""TensorBoard extras for a run's ``tb/``: one chart per choice site, the gate's actions by name,
the final metrics against the config (HPARAMS tab). Pure functions taking a ``SummaryWriter``.

The tags follow what the co-search logs: ``arch/<site>/<option>`` (probabilities),
``resolution/<scale>``; :func:`add_gate_actions` adds ``gate/choice/<action>``.

>>> layout = custom_layout({"head.width": (8, 16), "head.aspp.rate6": (False, True)}, [0.5, 1.0], ["drop", 0.5])
>>> layout["arch"]["head.width"]
['Multiline', ['^arch/head\\\\.width/8$', '^arch/head\\\\.width/16$']]
>>> layout["data"]["gate: share of training images per action"][1]
['^gate/choice/drop$', '^gate/choice/0\\\\.5x$']
>>> hparam_values({"search": {"lambda_inf": 0.5, "gate_actions": ["drop", 0.5]}, "run": {"device": None}})
{'search.lambda_inf': 0.5, 'search.gate_actions': "['drop', 0.5]", 'run.device': 'null'}
"""
from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import torch
from torch.utils.tensorboard.summary import hparams

GATE_PREFIX = "gate/choice"


def action_name(action: Any) -> str:
    """``"drop"`` or ``"0.5x"``: an action as a tag and a label."""
    return "drop" if action == "drop" else f"{float(action):g}x"


def _tags(tags: Sequence[str]) -> list[str]:
    return [f"^{re.escape(t)}$" for t in tags]


def custom_layout(sites: Mapping[str, Sequence[Any]], scales: Sequence[float] = (),
                  actions: Sequence[Any] = ()) -> dict[str, dict[str, list]]:
    """The ``add_custom_scalars`` layout: category ``arch`` with one chart per choice site holding
    every option's probability; category ``data`` with the inference-scale probabilities and the
    gate's share of images per action."""
    layout: dict[str, dict[str, list]] = {"arch": {}, "data": {}}
    for site, options in sites.items():
        layout["arch"][site] = ["Multiline", _tags([f"arch/{site}/{o}" for o in options])]
    if scales:
        layout["data"]["inference scale probabilities"] = ["Multiline", _tags([f"resolution/{s}" for s in scales])]
    if actions:
        layout["data"]["gate: share of training images per action"] = [
            "Multiline", _tags([f"{GATE_PREFIX}/{action_name(a)}" for a in actions])]
    if not layout["data"]:
        del layout["data"]
    return layout


def add_layout(writer: Any, sites: Mapping[str, Sequence[Any]], scales: Sequence[float] = (),
               actions: Sequence[Any] = ()) -> dict[str, dict[str, list]]:
    """Write :func:`custom_layout` once (CUSTOM SCALARS tab); e.g. ``add_layout(run.tb(),
    {n: s.options for n, s in net.sites.items()}, res.scales, gate.actions)``."""
    layout = custom_layout(sites, scales, actions)
    writer.add_custom_scalars(layout)
    return layout


def add_gate_actions(writer: Any, choice: torch.Tensor | Sequence[int], actions: Sequence[Any],
                     step: int) -> dict[str, float]:
    """The gate's choice per image (action indices) as one scalar per action name,
    ``gate/choice/<action>`` = the share of images given that action (the histogram
    ``gate/train_actions``, with names), plus a text table of the counts. Returns the shares."""
    choice = torch.as_tensor(choice, dtype=torch.long).flatten()
    counts = torch.bincount(choice, minlength=len(actions)).tolist() if choice.numel() else [0] * len(actions)
    total = max(1, sum(counts))
    shares = {action_name(a): n / total for a, n in zip(actions, counts)}
    for name, share in shares.items():
        writer.add_scalar(f"{GATE_PREFIX}/{name}", share, step)
    table = "| action | images | share |\n|---|---|---|\n" + "\n".join(
        f"| {action_name(a)} | {n} | {n / total:.3f} |" for a, n in zip(actions, counts))
    writer.add_text("gate/choice", table, step)
    return shares


def hparam_values(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The config flattened to ``section.key`` -> a value TensorBoard's HPARAMS accepts (bool,
    int, float, str: lists and dicts as their text, None as ``"null"``)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and not prefix:
            out.update(hparam_values(value, f"{name}."))
        elif value is None:
            out[name] = "null"
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            out[name] = str(value)
    return out


def final_metrics(report: Mapping[str, Any], run: str = "derived") -> dict[str, float]:
    """``{"hparam/miou", "hparam/<target>/inference_<cost>", "hparam/<target>/training_<cost>"}`` of
    the report's run named ``run`` (energy_j, latency_s, macs, dram_bytes)."""
    entry = next((r for r in report["runs"] if r["name"] == run), report["runs"][0])
    out = {"hparam/miou": float(entry["miou"])} if entry.get("miou") is not None else {}
    for key in ("inference", "training"):
        for target, cost in entry.get(key, {}).items():
            if isinstance(cost, Mapping):
                for metric in ("energy_j", "latency_s", "macs", "dram_bytes"):
                    if isinstance(cost.get(metric), (int, float)):
                        out[f"hparam/{target}/{key}_{metric}"] = float(cost[metric])
    return out


def add_hparams(writer: Any, config: Mapping[str, Any], metrics: Mapping[str, float], step: int = 0) -> None:
    """The run's config and its final ``metrics`` in the HPARAMS tab, written into this writer's
    own directory (``SummaryWriter.add_hparams`` would open a timestamped sub-run), so comparing
    several runs' ``tb/`` lists one row per run. ``metrics`` tags must not be used by other
    scalars (see :func:`final_metrics`)."""
    experiment, start, end = hparams(hparam_values(config), dict(metrics))
    file_writer = writer._get_file_writer()
    for summary in (experiment, start, end):
        file_writer.add_summary(summary, step)
    for tag, value in metrics.items():
        writer.add_scalar(tag, value, step)
    writer.flush()
