"""search/report/plots.py and the report's full-network, warning and saving lines."""
import json

import matplotlib.pyplot as plt
import pytest
from PIL import Image

import supernet
from search.report.costs import full_network_reference
from search.report.plots import arch_plot, arch_rows, cost_axis, gate_plot, pareto_plot
from search.report.report import degenerate_reasons, markdown_report, saving_summary, si_format
from search.report.write import gate_inputs, write_report_files
from search_testing import TINY, run_cli


def _run(name, miou, inf, train, metric="energy_j", **extra):
    return {"name": name, "miou": miou, "inference": {"jetson_tx2": {metric: inf}},
            "training": {"jetson_tx2": {metric: train}, "wall_s": 1.0}, **extra}


def _tick_labels(values, metric, key="training"):
    fig, ax = plt.subplots()
    ax.plot(values, [1] * len(values), "o")
    cost_axis(ax, metric, key, values)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    plt.close(fig)
    return labels, ax.get_xlabel()


def test_cost_axis_units_follow_the_data():
    labels, xlabel = _tick_labels([140.0, 150.0, 160.0], "energy_j")  # ~150 J: no mJ ticks (the issue)
    assert labels and all(label.endswith("\N{THIN SPACE}J") for label in labels), labels
    assert xlabel == "training energy of the whole training"
    labels, _ = _tick_labels([3e-3, 4e-3], "energy_j", "inference")
    assert all(label.endswith("mJ") for label in labels)
    labels, _ = _tick_labels([5e6, 8e7], "macs")  # a wide span: log axis, 1-2-5 ticks
    assert "10\N{THIN SPACE}MMACs" in labels and len(labels) <= 6
    labels, _ = _tick_labels([2e-3, 3e-3], "latency_s")
    assert all(label.endswith("ms") for label in labels)
    labels, _ = _tick_labels([2e6, 3e6], "dram_bytes")
    assert all(label.endswith("MB") for label in labels)
    assert si_format(151.2, "J") == "151 J" and si_format(999.7e-3, "J") == "1 J"


def test_pareto_plot_png_and_pdf(tmp_path):
    runs = [_run("derived", 0.6, 3e-3, 150.0, search={"cost_metric": "energy_j"}),
            {**_run("uniform", 0.55, 3.2e-3, 160.0), "std": {"miou": 0.01, "inference": {"jetson_tx2": {"energy_j": 1e-4}}}}]
    ref = {"inference": {"jetson_tx2": {"energy_j": 4e-3}}, "training": {"jetson_tx2": {"energy_j": 200.0}}}
    png = pareto_plot(runs, tmp_path / "p.png", key="training", reference=ref)
    assert png.is_file() and (tmp_path / "p.pdf").read_bytes()[:4] == b"%PDF"
    with Image.open(png) as im:
        assert round(im.info["dpi"][0]) == 200
    macs = [_run("derived", 0.6, 6e6, 6e10, metric="macs", search={"cost_metric": "macs"})]
    assert pareto_plot(macs, tmp_path / "m.png").is_file()  # no energy in the runs: the run's own metric


def test_arch_rows_and_plot(tmp_path):
    arch = supernet.baseline_arch("multires", 4, width_mult=0.5, widest=0.5)
    arch["choices"]["backbone.branch32.keep"] = False
    widths, branches = arch_rows(arch)
    full = supernet.baseline_arch("multires", 4, widest=0.5)["choices"]
    assert all(widest == full[name] and chosen == arch["choices"][name] for name, chosen, widest, _ in widths)
    assert dict(branches) == {"backbone.branch16.keep": True, "backbone.branch32.keep": False}
    assert [alive for name, *_, alive in widths if name.startswith("backbone.branch32.")] == [False]
    aspp = supernet.baseline_arch("deeplabv3plus", 4, widest=0.5)
    aspp["choices"]["head.aspp.rate6"] = False
    assert all(alive for *_, alive in arch_rows(aspp)[0])  # a dropped ASPP rate keeps the shared width
    assert arch_plot(arch, tmp_path / "arch.png").is_file() and (tmp_path / "arch.pdf").is_file()


def test_gate_plot(tmp_path):
    complexity = [0.1 * i for i in range(20)]
    choice = [1 if i < 10 else 3 for i in range(20)]
    assert gate_plot(complexity, choice, ["drop", 0.5, 0.75, 1.0], tmp_path / "gate.png").is_file()
    with pytest.raises(ValueError):
        gate_plot(complexity[:3], choice, ["drop", 0.5, 0.75, 1.0], tmp_path / "bad.png")
    report = {"data_slimming": {"choice": choice, "action_histogram": {"drop": 0, "0.5": 10, "0.75": 0, "1.0": 10}}}
    assert gate_inputs(report, None) is None  # no per-image complexity in the report
    assert gate_inputs(report, None, complexity)[2] == ["drop", 0.5, 0.75, 1.0]


def test_degenerate_reasons():
    assert degenerate_reasons({"name": "ok", "iou": [0.5, 0.4, None],
                               "inference": {"t": {"input_shape": [1, 3, 16, 32]}}}) == []
    assert "IoU 0" in degenerate_reasons({"name": "z", "iou": [0.0, 0.0]})[0]
    (reason,) = degenerate_reasons({"name": "bg", "iou": [0.9, 0.0, None, 0.0]}, ["road", "car", "bus", "sky"])
    assert "class 0 (road)" in reason
    assert "8x16 px" in degenerate_reasons({"name": "r", "inference": {"t": {"input_shape": [1, 3, 8, 16]}}})[0]
    md = markdown_report({"runs": [{"name": "derived", "miou": 0.2, "iou": [0.8, 0.0], "inference": {},
                                    "training": {}}]})
    assert "## Warnings: degenerate results" in md and "* WARNING derived: only class 0" in md


def test_full_network_reference_equals_a_trained_full_baseline(tmp_path):
    """The cost model's full network costs what ``train --baseline full`` reports, without training."""
    out = tmp_path / "full"
    code, _, stderr = run_cli("train", TINY, "--baseline", "full", "--out", out, f"data.cache_dir={tmp_path / 'c'}")
    assert code == 0, stderr
    report = json.loads((out / "report.json").read_text())
    (run,) = report["runs"]
    per_action = run["training"]["jetson_tx2"]["per_action"]
    cfg = report["config"]
    ref = full_network_reference(cfg["model"]["family"], 4, cfg["model"]["space"], (32, 64), (32, 64),
                                 per_action["1.0"]["images"], ["jetson_tx2"],
                                 bn_images=per_action["bn_recalibration"]["images"], batch=cfg["data"]["batch_size"])
    for key in ("inference", "training"):
        for metric in ("macs", "energy_j", "latency_s", "dram_bytes"):
            assert ref[key]["jetson_tx2"][metric] == pytest.approx(run[key]["jetson_tx2"][metric], rel=1e-9)

    derived = {**run, "name": "derived", "inference": {"jetson_tx2": {**run["inference"]["jetson_tx2"],
                                                                      "energy_j": ref["inference"]["jetson_tx2"]["energy_j"] / 2}}}
    line = saving_summary(derived, ref)
    assert line.startswith("derived vs the full network (cost model) on jetson_tx2: inference energy")
    assert "(-50.0 %)" in line and "(+0.0 %)" in line
    report = {**report, "runs": [derived], "full_network": ref}
    md = markdown_report(report)
    assert "## vs full network (cost model)" in md and "| full network (cost model) | – |" in md
    assert "| jetson_tx2 | inference energy per image |" in md and "| -50.0 % |" in md
    arch = supernet.load_arch(out / "arch.json")
    written = write_report_files(out, report, arch)
    assert {p.name for p in written} == {"report.md", "pareto.png", "pareto_training.png", "arch.png"}
