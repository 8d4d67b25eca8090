"""search compare: files written, the table's columns, the change against full, bad input."""
import json

from search_testing import run_cli


def _run(name, miou, inf, train):
    cost = lambda e: {"macs": e * 1e9, "energy_j": e, "latency_s": e / 10, "dram_bytes": e * 1e6}  # noqa: E731
    return {"name": name, "miou": miou, "inference": {"jetson_tx2": cost(inf), "zc706": cost(2 * inf)},
            "training": {"jetson_tx2": cost(train), "zc706": cost(3 * train), "wall_s": 12.5}}


def _report(path, runs):
    path.mkdir(parents=True)
    (path / "report.json").write_text(json.dumps({"format": "cosearch-report", "runs": runs}))
    return path


def test_compare_writes_table_and_plots(tmp_path):
    a = _report(tmp_path / "a", [_run("derived", 0.80, 0.004, 10.0), _run("full", 0.81, 0.008, 20.0)])
    b = _report(tmp_path / "b", [_run("uniform", 0.70, 0.005, 12.0)])
    code, stdout, stderr = run_cli("compare", a, b, "--out", tmp_path / "cmp")
    assert code == 0, stderr
    for name in ("compare.md", "compare.json", "pareto.png", "pareto_training.png"):
        assert (tmp_path / "cmp" / name).stat().st_size > 0
    md = (tmp_path / "cmp" / "compare.md").read_text()
    header = md.splitlines()[2]
    for target in ("jetson_tx2", "zc706"):
        for col in ("inf. MMACs", "inf. energy mJ", "inf. latency ms", "train energy J"):
            assert f"{target} {col}" in header
    assert "mIoU %" in header and "train wall s" in header
    row = next(line for line in md.splitlines() if line.startswith("| a/derived |"))
    assert "| 80.00 | 4.00 | 4.000 | 0.400 |" in row  # MMACs, mJ, ms
    # change against full, within a/ only (b has no full run)
    rel = next(line for line in md.splitlines() if line.startswith("| a/derived | -1.00"))
    assert rel.endswith("| -50.0 | -50.0 | -50.0 | -50.0 |")
    assert not any(line.startswith("| b/uniform | -") for line in md.splitlines())
    assert len(json.loads((tmp_path / "cmp" / "compare.json").read_text())["runs"]) == 3


def test_compare_bad_input(tmp_path):
    code, _, stderr = run_cli("compare", tmp_path, "--out", tmp_path / "cmp")
    assert code != 0 and "has no report.json" in stderr
    (tmp_path / "report.json").write_text("{not json")
    code, _, stderr = run_cli("compare", tmp_path, "--out", tmp_path / "cmp")
    assert code != 0 and "not valid JSON" in stderr
