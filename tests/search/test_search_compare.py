"""search compare: files written, the table's columns, the change against full across run
directories, seeds grouped (mean ± std), settings kept apart, --reference, bad input."""
import json

import pytest

from search.config import dump_yaml
from search.report.compare import collect, compare, group_seeds
from search.report.report import setting_cell
from search_testing import run_cli, tiny_config


def _cost(e):
    return {"macs": e * 1e9, "energy_j": e, "latency_s": e / 10, "dram_bytes": e * 1e6}


def _run(name, miou, inf, train, **extra):
    return {"name": name, "miou": miou, "inference": {"jetson_tx2": _cost(inf), "zc706": _cost(2 * inf)},
            "training": {"jetson_tx2": _cost(train), "zc706": _cost(3 * train), "wall_s": 12.5}, **extra}


def _report(path, runs, config=None, **extra):
    path.mkdir(parents=True)
    (path / "report.json").write_text(json.dumps({"format": "cosearch-report", "runs": runs, **extra}))
    if config is not None:
        (path / "config.yaml").write_text(dump_yaml(config))
    return path


def _line(md, start):
    return next(line for line in md.splitlines() if line.startswith(start))


def test_compare_writes_table_and_plots(tmp_path):
    a = _report(tmp_path / "a", [_run("derived", 0.80, 0.004, 10.0), _run("full", 0.81, 0.008, 20.0)])
    b = _report(tmp_path / "b", [_run("uniform", 0.70, 0.005, 12.0)])
    code, stdout, stderr = run_cli("compare", a, b, "--out", tmp_path / "cmp")
    assert code == 0, stderr
    for name in ("compare.md", "compare.json", "pareto.png", "pareto_training.png", "pareto.pdf",
                 "pareto_training.pdf"):
        assert (tmp_path / "cmp" / name).stat().st_size > 0
    md = (tmp_path / "cmp" / "compare.md").read_text()
    header = md.splitlines()[2]
    for target in ("jetson_tx2", "zc706"):
        for col in ("inf. MMACs", "inf. energy mJ", "inf. latency ms", "train energy J"):
            assert f"{target} {col}" in header
    assert "mIoU %" in header and "train wall s" in header
    row = _line(md, "| a/derived |")
    assert "| 80.00 | 4.00 | 4.000 | 0.400 |" in row  # MMACs, mJ, ms
    assert "mIoU vs a/full (points)" in md
    assert _line(md, "| a/derived | -1.00").endswith("| -50.0 | -50.0 | -50.0 | -50.0 |")
    # b has no full run of its own: it is compared with a's (the issue: it used to get no row)
    assert _line(md, "| b/uniform | -11.00").endswith("| -37.5 | -40.0 | -37.5 | -40.0 |")
    assert _line(md, "| a/full | +0.00")
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert len(data["runs"]) == 3 and data["settings"][0]["references"]["b/uniform"] == "a/full"


def _three_runs(tmp_path):
    """A full network (``train --baseline full``), a co-search with three seeds, a uniform baseline:
    every run directory has its own report.json and config.yaml, as the CLI writes them."""
    cache = tmp_path / "cache"
    full = _report(tmp_path / "full", [_run("full", 0.60, 0.010, 20.0)], tiny_config(cache))
    seeds = [_report(tmp_path / f"lam-s{s}", [_run("derived", m, e, t, search={
                         "cost_metric": "energy_j", "target": "jetson_tx2",
                         "cost_target": {"value": 0.005, "ratio": r, "tolerance": 0.05}})],
                     tiny_config(cache, f"run.seed={s}", "run.threads=2"))
             for s, m, e, t, r in ((0, 0.56, 0.004, 8.0, 0.8), (1, 0.58, 0.005, 9.0, 1.0), (2, 0.60, 0.006, 10.0, 0.4))]
    uni = _report(tmp_path / "u05", [_run("uniform", 0.50, 0.005, 12.0)], tiny_config(cache, "run.seed=5"))
    return full, seeds, uni


def test_three_runs_against_full_with_seeds_grouped(tmp_path):
    full, seeds, uni = _three_runs(tmp_path)
    code, stdout, stderr = run_cli("compare", *seeds, uni, full, "--out", tmp_path / "cmp")
    assert code == 0, stderr
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "Setting" not in md  # one setting
    grouped = _line(md, "| lam-s0/derived (3 seeds: 0, 1, 2) |")
    assert "| 58.00 ± 2.00 |" in grouped and "| 5.00 ± 1.00 |" in grouped  # mIoU %, inference MMACs
    # vs full: mIoU 58 - 60 = -2 points (± the seeds' 2 points), inference energy 5/10 - 1, training 9/20 - 1
    rel = _line(md, "| lam-s0/derived (3 seeds: 0, 1, 2) | -2.00 ± 2.00 |")
    assert rel.endswith("| -50.0 | -55.0 | -50.0 | -55.0 |")
    assert _line(md, "| u05/uniform | -10.00 |").endswith("| -50.0 | -40.0 | -50.0 | -40.0 |")
    assert _line(md, "| full/full | +0.00 |")
    targets = md.split("Cost target:")[1]  # one line per seed of the grouped row
    assert "* lam-s0/derived: 0.80x its cost target (energy_j on jetson_tx2)\n" in targets
    assert "* lam-s2/derived: 0.40x its cost target (energy_j on jetson_tx2). WARNING: under 0.5x" in targets
    rows = json.loads((tmp_path / "cmp" / "compare.json").read_text())["settings"][0]["rows"]
    row = next(r for r in rows if r["name"] == "derived")
    assert row["n"] == 3 and row["seeds"] == [0, 1, 2] and row["std"]["miou"] == pytest.approx(0.02)
    assert row["std"]["training"]["jetson_tx2"]["energy_j"] == pytest.approx(1.0)


def test_different_settings_are_kept_apart(tmp_path):
    full, seeds, uni = _three_runs(tmp_path)
    other = _report(tmp_path / "big", [_run("derived", 0.9, 0.001, 1.0)],
                    tiny_config(tmp_path / "cache", "data.image_size=[64, 128]"))
    classes = _report(tmp_path / "eight", [_run("derived", 0.9, 0.001, 1.0, iou=[0.9] * 8)],
                      tiny_config(tmp_path / "cache", "data.num_classes=8"))
    result = compare([full, seeds[0], other, classes])
    assert [s["description"] for s in result["settings"]] == [
        "synthetic (seed 0), 4 classes, 32x64 px", "synthetic (seed 0), 4 classes, 64x128 px",
        "synthetic (seed 0), 8 classes, 32x64 px"]
    assert [len(s["pairs"]) for s in result["settings"]] == [2, 0, 0]
    code, stdout, stderr = run_cli("compare", full, seeds[0], other, "--out", tmp_path / "cmp")
    assert code == 0, stderr
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "## Setting 2: synthetic (seed 0), 4 classes, 64x128 px" in md and "different settings" in md
    assert not any(line.startswith("| big/derived | ") and "%" not in line and "+" in line for line in md.splitlines())
    assert (tmp_path / "cmp" / "pareto_2.png").is_file() and "![inference](pareto_2.png)" in md


def test_reference_option(tmp_path):
    full, seeds, uni = _three_runs(tmp_path)
    # the uniform run as reference, by directory (not among the compared ones: added)
    code, _, stderr = run_cli("compare", full, seeds[0], "--reference", uni, "--out", tmp_path / "c1")
    assert code == 0, stderr
    md = (tmp_path / "c1" / "compare.md").read_text()
    assert "mIoU vs u05/uniform (points)" in md and _line(md, "| full/full | +10.00 |")
    # by label
    code, _, stderr = run_cli("compare", full, uni, "--reference", "u05/uniform", "--out", tmp_path / "c2")
    assert code == 0 and "| full/full | +10.00 |" in (tmp_path / "c2" / "compare.md").read_text()
    code, _, stderr = run_cli("compare", full, uni, "--reference", "nope", "--out", tmp_path / "c3")
    assert code == 2 and "--reference nope" in stderr and "full/full" in stderr


def test_full_network_cost_model_is_the_fallback_reference(tmp_path):
    full_network = {"inference": {"jetson_tx2": _cost(0.02)}, "training": {"jetson_tx2": _cost(40.0)}}
    a = _report(tmp_path / "a", [_run("derived", 0.5, 0.01, 10.0)], full_network=full_network)
    result = compare([a])
    ((row, ref),) = result["settings"][0]["pairs"]
    assert ref["label"] == "a: full network (cost model)" and ref["miou"] is None
    code, _, stderr = run_cli("compare", a, "--out", tmp_path / "cmp")
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert code == 0 and _line(md, "| derived | – | -50.0 | -75.0 |")


def test_degenerate_runs_are_flagged(tmp_path):
    bg = _run("derived", 0.2, 0.001, 1.0, iou=[0.8, 0.0, 0.0, 0.0])
    tiny = _run("resolution", 0.3, 0.001, 1.0)
    tiny["inference"]["jetson_tx2"]["input_shape"] = [1, 3, 8, 16]
    a = _report(tmp_path / "a", [bg, tiny, _run("full", 0.5, 0.01, 10.0)])
    code, stdout, stderr = run_cli("compare", a, "--out", tmp_path / "cmp")
    assert code == 0, stderr
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "* WARNING derived: only class 0 has an IoU above 0" in md
    assert "* WARNING resolution: inference input of 8x16 px" in md and "WARNING full" not in md


def test_unmatched_baselines_and_settings_in_the_table(tmp_path):
    # as a report.json written before "within_tolerance" was stored: the ratio comes from the MACs
    uniform = {"metric": "macs", "reference": 1e6, "macs": 3.7e6, "width_mult": 0.0625}
    resolution = {"metric": "macs", "reference": 1e6, "macs": 1.05e6, "inference_scale": 0.62}
    a = _report(tmp_path / "a", [_run("derived", 0.5, 0.004, 10.0), _run("uniform", 0.4, 0.01, 10.0, matched=uniform),
                                 _run("resolution", 0.45, 0.004, 10.0, matched=resolution),
                                 _run("random", 0.4, 0.004, 10.0, matched={"seed": 7}),
                                 _run("full", 0.6, 0.02, 20.0, matched={})])
    code, stdout, stderr = run_cli("compare", a, "--out", tmp_path / "cmp")
    assert code == 0, stderr
    md = (tmp_path / "cmp" / "compare.md").read_text()
    for text in (md, stdout):
        assert "| run | setting | mIoU % |" in text
        assert "| uniform | width 0.0625; unmatched (3.70× the derived MACs) | 40.00 |" in text
        assert "| uniform, unmatched (3.70× the derived MACs) | -20.00 |" in text  # the change against full
        assert "| resolution | scale 0.62 | 45.00 |" in text and "| random | seed 7 | 40.00 |" in text
        assert "| derived | – |" in text and "| full | – |" in text


def test_grouped_seeds_show_each_setting():
    base = {"name": "uniform", "miou": 0.5, "inference": {}, "setting": {}, "config_key": "k"}
    seeds = [{**base, "seed": s, "run_dir": f"s{s}", "matched": {"reference": 1.0, "macs": macs, "width_mult": w}}
             for s, macs, w in ((0, 1.0, 0.25), (1, 1.5, 0.3))]
    rows = group_seeds(seeds)
    assert setting_cell(rows[0]) == "width 0.25, width 0.3; unmatched (1.50× the derived MACs)"


def test_sweep_uses_the_report_package():
    import search.baselines.sweep as sweep
    import inspect
    assert "search.cli" not in inspect.getsource(sweep)
    assert collect is not None and group_seeds([]) == []


def test_compare_bad_input(tmp_path):
    code, _, stderr = run_cli("compare", tmp_path, "--out", tmp_path / "cmp")
    assert code != 0 and "has no report.json" in stderr
    (tmp_path / "report.json").write_text("{not json")
    code, _, stderr = run_cli("compare", tmp_path, "--out", tmp_path / "cmp")
    assert code != 0 and "not valid JSON" in stderr


def test_collect_leaves_the_search_work_ledger_in_report_json(tmp_path):
    work = [["train", 1.0, 8, True, 8, {"stem.width": 8}], ["arch", 1.0, 8, True, 8]]
    d = _report(tmp_path / "a", [_run("derived", 0.5, 1.0, 2.0, search={"work": work, "wall_s": 3.0})])
    (run,) = collect([d])
    assert run["search"] == {"wall_s": 3.0}
    assert json.loads((d / "report.json").read_text())["runs"][0]["search"]["work"] == work
