"""search/report.py and search/plots.py: the report schema, markdown and Pareto plots."""
from search.report.plots import pareto_front, pareto_plot
from search.report.report import (
    build_report,
    markdown_report,
    markdown_table,
    run_entry,
)

COST = {"macs": 2e9, "energy_j": 0.01, "latency_s": 0.002, "dram_bytes": 3e6}


def test_report_schema_and_markdown(tmp_path):
    runs = [run_entry("derived", {"miou": 0.61, "iou": [0.5, None]}, {"jetson_tx2": COST},
                      {"jetson_tx2": {"energy_j": 12.0}}, wall_s=4.0),
            run_entry("full", {"miou": 0.6}, {"jetson_tx2": {**COST, "energy_j": 0.02}},
                      {"jetson_tx2": {"energy_j": 20.0}}, wall_s=5.0)]
    slim = {"action_histogram": {"drop": 1, "0.5": 3}, "kept_fraction": 0.75, "spearman_complexity_vs_scale": 0.4}
    report = build_report(runs, slim, {"run": {"seed": 0}}, ["road", "sky"])
    assert report["runs"][0]["training"] == {"jetson_tx2": {"energy_j": 12.0}, "wall_s": 4.0}
    table = markdown_table(runs)
    assert "| derived | 61.00 | 2000.00 | 10.000 | 2.000 | 3.00 | 12 | 4.0 |" in table
    md = markdown_report(report, {"family": "pspnet", "choices": {"head.width": 16}})
    assert "| road | 50.00 |" in md and "| sky | – |" in md and "kept fraction" in md and "| head.width | 16 |" in md
    pareto_plot(runs, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_pareto_front():
    pts = [(3.0, 0.7), (1.0, 0.5), (2.0, 0.4), (2.5, 0.7)]
    assert pareto_front(pts) == [(1.0, 0.5), (2.5, 0.7)]
