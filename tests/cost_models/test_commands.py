"""The cost_models commands: ``python -m search targets | cost | calibrate``."""
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

import search.cli.calibrate as calibrate_command
from cost_models import list_targets, load_target
from cost_models.calibrate import calibrate
from search.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_targets_lists_every_target(capsys):
    code, out, _ = run(capsys, "targets")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["target", "kind", "precision"]
    assert [line.split()[0] for line in lines[1:]] == list_targets()
    assert "zc706  " in out and "fpga" in out and "cost_models/targets/zc706.yaml" in out


def test_cost_of_a_baseline_in_text_and_json(capsys):
    code, out, _ = run(capsys, "cost", "--baseline", "pspnet", "--target", "zc706", "--input", "3x64x96",
                       "--width-mult", "0.5", "--inference-scale", "0.5")
    assert code == 0 and "input 3x64x96 at inference scale 0.5 -> 3x32x48, target zc706, inference" in out
    assert "model" in out and "MACs" in out
    code, out, _ = run(capsys, "cost", "--baseline", "pspnet", "--target", "zc706", "--input", "3x64x96",
                       "--width-mult", "0.5", "--inference-scale", "0.5", "--json", "--training")
    report = json.loads(out)
    assert code == 0 and report["family"] == "pspnet" and report["input_shape"] == [1, 3, 32, 48]
    assert report["training"] is True and report["macs"] > 0 and "layers" not in report


def test_cost_of_an_arch_file_per_layer(capsys, tmp_path):
    import supernet
    arch = supernet.baseline_arch("deeplabv3plus", 4, width_mult=0.25)
    path = tmp_path / "arch.json"
    supernet.save_arch(arch, path)
    code, out, _ = run(capsys, "cost", str(path), "--target", "eyeriss", "--input", "3x32x32", "--per-layer", "--json")
    report = json.loads(out)
    assert code == 0 and report["network"] == str(path) and len(report["layers"]) > 10
    code, out, _ = run(capsys, "cost", str(path), "--target", str(ROOT / "cost_models/targets/a100.yaml"),
                       "--input", "3x32x32", "--per-layer")
    assert code == 0 and "a100, input (1, 3, 32, 32), inference" in out


@pytest.mark.parametrize("argv, message", [
    (["--baseline", "pspnet", "--target", "tx9"], "error: unknown target 'tx9'; built-in targets are"),
    (["--baseline", "pspnet", "--target", "zc706", "--input", "512x1024"],
     "error: --input '512x1024': expected CxHxW like 3x512x1024"),
    (["--baseline", "pspnet", "--target", "zc706", "--input", "3x0x8"], "error: --input '3x0x8': expected CxHxW"),
    (["missing/arch.json", "--target", "zc706"], "error: missing/arch.json: no such file"),
    (["--target", "zc706"], "error: give either ARCH_JSON or --baseline FAMILY"),
    (["--baseline", "vgg", "--target", "zc706"], "error: unknown family 'vgg'"),
])
def test_cost_errors_are_one_line_with_exit_2(capsys, argv, message):
    code, out, err = run(capsys, "cost", *argv)
    assert code == 2 and err.startswith(message) and len(err.strip().splitlines()) == 1 and out == ""


def test_calibrate_writes_a_loadable_target(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(calibrate_command, "calibrate", functools.partial(calibrate, quick=True))
    code, out, _ = run(capsys, "calibrate", "--threads", "1", "--out", str(tmp_path / "cpu.yaml"))
    assert code == 0 and f"wrote {tmp_path / 'cpu.yaml'}" in out and "GMAC/s" in out
    assert load_target(tmp_path / "cpu.yaml").name == "host_cpu"
    code, _, err = run(capsys, "calibrate", "--threads", "0")
    assert code == 2 and "--threads must be a positive integer" in err
    code, _, err = run(capsys, "calibrate", "--out", str(tmp_path / "cpu.txt"))
    assert code == 2 and "expected a .yaml file" in err


def test_module_entry_point_exit_code():
    proc = subprocess.run([sys.executable, "-m", "search", "cost", "--baseline", "pspnet", "--target", "nope"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown target 'nope'")
