"""search/sweep.py: the dominance check, the summary files, and the command's argument checks."""
import json

from search_testing import TINY, run_cli

from search.baselines.sweep import dominance, summarize, sweep_dirs


def _run(name, miou, energy):
    return {"name": name, "miou": miou, "inference": {"jetson_tx2": {"energy_j": energy, "macs": 1.0}},
            "training": {"jetson_tx2": {"energy_j": 10 * energy}, "wall_s": 1.0}}


def test_dominance():
    derived = [_run("derived", 0.6, 1.0), _run("derived", 0.7, 2.0)]
    assert dominance(derived, [_run("u", 0.65, 2.5), _run("v", 0.5, 1.0)], "jetson_tx2")["dominates"]
    check = dominance(derived, [_run("u", 0.75, 2.5), _run("v", 0.1, 0.5)], "jetson_tx2")
    assert not check["dominates"] and check["compared"] == 1 and check["margins"]["u"] < 0
    assert check["margins"]["v"] is None  # cheaper than every derived net: not comparable
    assert not dominance(derived, [], "jetson_tx2")["dominates"]


def test_summarize_writes_files(tmp_path):
    lam, uni = sweep_dirs(tmp_path, [0.1, 1.0], [0.5, 1.0])
    for d, run in zip(lam + uni, [_run("derived", 0.8, 2.0), _run("derived", 0.7, 1.0),
                                  _run("uniform:0.5", 0.6, 1.5), _run("uniform:1.0", 0.82, 4.0)]):
        d.mkdir(parents=True)
        (d / "report.json").write_text(json.dumps({"runs": [run]}))
    result = summarize(tmp_path, [0.1, 1.0], [0.5, 1.0], ["jetson_tx2"])
    assert result["dominance"]["jetson_tx2"]["margins"] == {"uniform 0.5": 0.1, "uniform 1": -0.02}
    assert not result["dominance"]["jetson_tx2"]["dominates"]
    for name in ("sweep.md", "sweep.json", "sweep.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "lambda_inf=0.1" in (tmp_path / "sweep.md").read_text()


def test_sweep_arguments(tmp_path):
    code, _, stderr = run_cli("sweep", TINY, "--values", "0.1,x", "--out", tmp_path)
    assert code != 0 and "--values" in stderr
    code, _, stderr = run_cli("sweep", TINY, "--values", "0.1", "--widths", "0,1", "--out", tmp_path)
    assert code != 0 and "--widths" in stderr
