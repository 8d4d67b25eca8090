"""search/report.py and search/plots.py: the report schema, markdown and Pareto plots."""
from search.baselines.plan import matched_record
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
    assert "| derived | – | 61.00 | 2000.00 | 10.000 | 2.000 | 3.00 | 12 | 4.0 |" in table
    md = markdown_report(report, {"family": "pspnet", "choices": {"head.width": 16}})
    assert "| road | 50.00 |" in md and "| sky | – |" in md and "kept fraction" in md and "| head.width | 16 |" in md
    pareto_plot(runs, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000


def _baseline(name, macs, matched, **inference):
    return run_entry(name, {"miou": 0.5, "iou": [0.5, 0.5]}, {"jetson_tx2": {**COST, "macs": macs, **inference}},
                     {"jetson_tx2": {"energy_j": 10.0}}, wall_s=1.0, matched=matched)


def test_baseline_settings_and_flags_in_report_md():
    runs = [_baseline("derived", 2e9, None), _baseline("full", 8e9, {}),
            _baseline("uniform", 5e9, matched_record(2e9, 5e9, width_mult=0.0156)),
            _baseline("resolution", 2.1e9, matched_record(2e9, 2.1e9, inference_scale=0.0625),
                      input_shape=[1, 3, 4, 8]),
            _baseline("random", 1.9e9, matched_record(2e9, 1.9e9, seed=7))]
    md = markdown_report(build_report(runs, None, {}))
    assert "| run | setting | mIoU % |" in md and "| derived | – | 50.00 |" in md
    assert "| uniform | width 0.0156; unmatched (2.50× the derived MACs) | 50.00 |" in md
    assert "| uniform, unmatched (2.50× the derived MACs) | +0.00 |" in md  # the table against full
    assert "| resolution | scale 0.0625; degenerate (see warnings) | 50.00 |" in md  # within the tolerance
    assert "* WARNING resolution: inference input of 4x8 px" in md
    assert "| random | seed 7 | 50.00 |" in md and md.count("unmatched") == 2


def test_report_md_says_where_each_searched_network_landed_against_its_cost_target():
    def searched(name, ratio):
        return run_entry(name, {"miou": 0.5}, {"jetson_tx2": COST}, {"jetson_tx2": {"energy_j": 1.0}}, wall_s=1.0,
                         search={"cost_metric": "macs", "target": "jetson_tx2",
                                 "cost_target": {"value": 1e6, "ratio": ratio, "tolerance": 0.05}})
    md = markdown_report(build_report([searched("derived", 0.98), searched("network_only", 0.38),
                                       searched("data_only", 1.4), _baseline("full", 8e9, {})], None, {}))
    section = md.split("## Cost target")[1].split("##")[0]
    assert "* derived: 0.98x its cost target (macs on jetson_tx2)\n" in section
    assert "* network_only: 0.38x its cost target (macs on jetson_tx2). WARNING: under 0.5x" in section
    assert "* data_only: 1.40x its cost target (macs on jetson_tx2). WARNING: above 1.05x" in section
    assert "full" not in section  # no search, no target
    assert "## Cost target" not in markdown_report(build_report([_baseline("full", 8e9, {})], None, {}))


def test_pareto_front():
    pts = [(3.0, 0.7), (1.0, 0.5), (2.0, 0.4), (2.5, 0.7)]
    assert pareto_front(pts) == [(1.0, 0.5), (2.5, 0.7)]
