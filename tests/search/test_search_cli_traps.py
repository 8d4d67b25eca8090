"""What users hit on the command line: default config of train/search, run-directory names and
runs/latest, Ctrl-C in sweep, cost of a derived.pt and of several targets, the config command."""
import json
import os
import re
from pathlib import Path

import pytest
import yaml

import search.cli.runargs as runargs
import supernet
from search.config import DEFAULT_CONFIG, load_config, to_dict
from search.engine.interrupt import StopAfter
from search_testing import TINY, run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def launched(monkeypatch):
    """Replace the pipeline by a recorder: the config and run directory each command would use."""
    calls = []

    def fake_launch(cfg, out, resume, stages, message, initial=None):
        calls.append({"cfg": cfg, "out": Path(out), "stages": stages})
        return 0

    for module in ("search.cli.search", "search.cli.train", "search.cli.run"):
        monkeypatch.setattr(f"{module}.launch", fake_launch)
    return calls


@pytest.mark.parametrize("argv", [["search"], ["train", "--baseline", "full"]])
def test_train_and_search_default_to_quick_yaml(launched, tmp_path, argv):
    code, _, stderr = run_cli(*argv, "--out", tmp_path / "r")
    assert code == 0, stderr
    assert to_dict(launched[0]["cfg"]) == to_dict(load_config(DEFAULT_CONFIG))
    code, stdout, _ = run_cli(argv[0], "--help")
    assert code == 0 and "quick.yaml" in stdout and "a config file is required" not in stdout


def test_default_run_dir_names_and_latest(launched, tmp_path, monkeypatch):
    monkeypatch.setattr(runargs, "RUNS_ROOT", tmp_path / "runs")
    assert run_cli("run", TINY, "model.family=pspnet")[0] == 0
    assert run_cli("search")[0] == 0
    first, second = (c["out"] for c in launched)
    assert re.fullmatch(r"tiny-pspnet-\d{8}-\d{6}", first.name), first
    assert re.fullmatch(r"quick-deeplabv3plus-\d{8}-\d{6}(-\d+)?", second.name), second
    latest = tmp_path / "runs" / "latest"
    assert latest.is_symlink() and os.readlink(latest) == second.name and latest.resolve() == second.resolve()
    assert not [p for p in (tmp_path / "runs").iterdir() if p.name.startswith(".")]  # no temporary link left
    # an explicit --out does not move runs/latest
    assert run_cli("search", "--out", tmp_path / "elsewhere")[0] == 0
    assert os.readlink(latest) == second.name


def test_sweep_ctrl_c_exits_130_with_one_line(tmp_path, monkeypatch):
    import search.pipeline

    real = search.pipeline.run_pipeline

    def interrupted_after_two_steps(*args, **kwargs):
        return real(*args, **{**kwargs, "stop": StopAfter(2)})

    monkeypatch.setattr(search.pipeline, "run_pipeline", interrupted_after_two_steps)
    code, _, stderr = run_cli("sweep", TINY, f"data.cache_dir={tmp_path / 'cache'}", "--values", "0.1",
                                   "--widths", "0.5", "--out", tmp_path / "sweep")
    assert code == 130
    assert "Traceback" not in stderr
    (line,) = [l for l in stderr.splitlines() if l.startswith("interrupted")]
    assert "run the same sweep command again" in line
    assert (tmp_path / "sweep" / "lambda_0.1" / "checkpoints" / "last.pt").is_file()


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    d = tmp_path_factory.mktemp("derived")
    arch = supernet.baseline_arch("multires", 4, width_mult=0.5, inference_scale=0.75, widest=0.25)
    supernet.save_arch(arch, d / "arch.json")
    net = supernet.build_from_arch(arch).eval()
    import torch

    supernet.export.save_derived(net, arch, d / "derived.pt", d / "derived.pt2", torch.zeros(1, 3, 24, 48))
    return d


def test_cost_of_a_derived_pt_on_several_targets(derived):
    code, stdout, stderr = run_cli("cost", derived / "derived.pt", "--target", "jetson_tx2", "--target", "zc706",
                                   "--input", "3x32x64", "--json")
    assert code == 0, stderr
    from_pt = json.loads(stdout)
    assert [r["target"] for r in from_pt] == ["jetson_tx2", "zc706"]
    code, stdout, _ = run_cli("cost", derived / "arch.json", "--target", "jetson_tx2,zc706", "--input", "3x32x64",
                              "--json")
    assert code == 0
    from_json = json.loads(stdout)
    for a, b in zip(from_pt, from_json):
        assert a["energy_j"] == b["energy_j"] and a["macs"] == b["macs"] and a["inference_scale"] == 0.75
    assert from_pt[0]["energy_j"] != from_pt[1]["energy_j"]
    code, stdout, _ = run_cli("cost", derived / "derived.pt", "--target", "jetson_tx2", "--target", "zc706",
                              "--input", "3x32x64")
    assert code == 0 and "target jetson_tx2" in stdout and "target zc706" in stdout
    code, stdout, _ = run_cli("cost", derived / "arch.json", "--target", "zc706", "--json", "--input", "3x32x64")
    assert json.loads(stdout)["target"] == "zc706"  # one target: one object, as before


def test_cost_refuses_other_files_in_one_line(derived, tmp_path):
    code, _, stderr = run_cli("cost", derived / "derived.pt2", "--target", "jetson_tx2")
    assert code == 2 and "torch.export program" in stderr and "Traceback" not in stderr
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04 not a zip")
    code, _, stderr = run_cli("cost", tmp_path / "junk.pt", "--target", "jetson_tx2")
    assert code == 2 and "not a derived.pt" in stderr
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00binary")
    code, _, stderr = run_cli("cost", tmp_path / "bin.json", "--target", "jetson_tx2")
    assert code == 2 and "not valid JSON" in stderr
    code, _, stderr = run_cli("cost", derived / "arch.json", "--target", "jetson_tx2", "--target", "nope")
    assert code == 2 and "nope" in stderr


def test_config_command(tmp_path):
    code, stdout, stderr = run_cli("config", TINY, "search.lambda_inf=0.5")
    assert code == 0, stderr
    assert yaml.safe_load(stdout) == to_dict(load_config(TINY, ["search.lambda_inf=0.5"]))
    code, stdout, _ = run_cli("config")
    assert code == 0 and yaml.safe_load(stdout) == to_dict(load_config(DEFAULT_CONFIG))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(Path(TINY).read_text())
    code, stdout, _ = run_cli("config", run, "--changed")
    changed = yaml.safe_load(stdout)
    assert code == 0 and changed["data"]["num_train"] == 32 and "name" not in changed["data"]
    code, _, stderr = run_cli("config", TINY, "search.nope=1")
    assert code == 2 and "unknown key search.nope" in stderr


def test_readme_names_the_run_config_keys():
    readme = (ROOT / "README.md").read_text()
    assert "data.num_train" in readme and "python -m search config" in readme
    assert "runs/latest" in readme


def test_saving_line_for_the_terminal(tmp_path):
    derived = {"name": "derived", "inference": {"t": {"energy_j": 1e-3}}, "training": {"t": {"energy_j": 5.0}},
               "search": {"cost_metric": "energy_j"}}
    full = {"inference": {"t": {"energy_j": 2e-3}}, "training": {"t": {"energy_j": 10.0}}}
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"runs": [derived], "full_network": full}))
    assert runargs.saving_line(path) == ("derived vs the full network (cost model) on t: inference energy 1 mJ vs "
                                         "2 mJ (-50.0 %), training energy 5 J vs 10 J (-50.0 %)")
    path.write_text(json.dumps({"runs": [derived, {**full, "name": "full"}]}))
    assert runargs.saving_line(path).startswith("derived vs the trained full network on t:")
    path.write_text(json.dumps({"runs": [derived]}))
    assert runargs.saving_line(path) is None and runargs.saving_line(tmp_path / "missing.json") is None


def test_degenerate_lines_for_the_terminal(tmp_path):
    path = tmp_path / "report.json"
    runs = [{"name": "derived", "iou": [0.7, 0.0, 0.0]}]
    path.write_text(json.dumps({"runs": runs, "class_names": ["bg", "a", "b"]}))
    (line,) = runargs.degenerate_lines(path)
    assert line.startswith("WARNING derived: only class 0 (bg) has an IoU above 0")
    assert runargs.degenerate_lines(tmp_path / "missing.json") == []


def test_derive_on_a_training_run_says_what_it_needs(tmp_path):
    run = tmp_path / "full"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("run: {seed: 0}\n")
    code, _, err = run_cli("derive", run, "--out", tmp_path / "d")
    assert code == 2 and "no searched supernet" in err and "Traceback" not in err
