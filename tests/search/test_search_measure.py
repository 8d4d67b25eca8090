"""search.evaluate.measure and ``python -m search measure``: the stated protocol, the prediction beside it, --write."""
import importlib.util
import json

import pytest

import supernet
from search.errors import UserError
from search.evaluate.measure import Protocol, measure, record, resolve
from search_testing import run_cli
from supernet.export import save_derived

HAVE_ORT = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory with a finished report and the exports of a tiny pspnet."""
    out = tmp_path_factory.mktemp("measure") / "run"
    arch = supernet.baseline_arch("pspnet", 3, width_mult=0.25)
    arch["input"] = {"native_size": [24, 32]}
    net = supernet.build_from_arch(arch).eval()
    save_derived(net, arch, out / "derived.pt", out / "derived.pt2",
                 path_onnx=out / "derived.onnx" if HAVE_ORT else None)
    (out / "config.yaml").write_text("{}\n")
    (out / "report.json").write_text(json.dumps({"runs": [{"name": "derived"}]}))
    return out


def test_measure_states_its_protocol_and_the_prediction(run_dir):
    m = measure(run_dir, Protocol(repeats=3, warmup=1))
    assert m.source == str(run_dir / "derived.pt2") and m.protocol.runtime == "torch"
    assert m.input_shape == [1, 3, 24, 32] and len(m.times_s) == 3 and m.timer == "thread CPU time"
    pred = m.prediction
    assert pred["target"] == "host_cpu" and pred["latency_s"] > 0 and pred["macs"] > 0
    assert pred["relative_error"] == pytest.approx(pred["latency_s"] / m.median_s - 1)
    text = m.describe()
    assert "1 warm-up + 3 timed runs, thread CPU time" in text and "median" in text and "IQR" in text
    assert "predicted" in text and "host_cpu" in text and "torch" in text
    d = m.to_dict()
    assert d["q1_s"] <= d["median_s"] <= d["q3_s"] and d["versions"]["torch"] and d["machine"]
    bigger = measure(run_dir / "derived.pt", Protocol(repeats=2, warmup=0, batch=2, size=(48, 64)))
    assert bigger.input_shape == [2, 3, 48, 64] and bigger.prediction["macs"] == pytest.approx(8 * pred["macs"],
                                                                                              rel=0.05)


@pytest.mark.skipif(not HAVE_ORT, reason="onnx, onnxscript or onnxruntime not installed")
def test_onnxruntime(run_dir):
    m = measure(run_dir, Protocol(runtime="onnxruntime", repeats=2, warmup=1))
    assert m.source.endswith("derived.onnx") and "onnxruntime" in m.versions and m.prediction is not None
    assert resolve(run_dir / "derived.onnx").runtime == "onnxruntime"


def test_write_appends_to_the_report(run_dir, tmp_path):
    code, stdout, stderr = run_cli("measure", run_dir, "--repeats", "2", "--warmup", "0", "--write")
    assert code == 0, stderr
    assert "thread CPU time" in stdout and f"recorded in {run_dir / 'report.json'}" in stdout
    code, _, stderr = run_cli("measure", run_dir / "derived.pt2", "--repeats", "2", "--warmup", "0", "--write")
    assert code == 0, stderr
    report = json.loads((run_dir / "report.json").read_text())
    assert report["runs"] == [{"name": "derived"}] and len(report["measurements"]) == 2
    assert report["measurements"][0]["protocol"]["threads"] == 1
    with pytest.raises(UserError, match="report.json does not exist"):
        record(tmp_path, measure(run_dir, Protocol(repeats=1, warmup=0)))


@pytest.mark.parametrize("argv, message", [
    (["--input", "3x8x32"], "takes H, W >= 17 that are multiples of 1, got 8x32"),
    (["--input", "1x24x32"], "3 channels"),
    (["--runtime", "onnxruntime", "--device", "tpu"], "--device 'tpu'"),
    (["--batch", "0"], "--batch must be a positive integer"),
    (["--target", "nope"], "unknown target 'nope'"),
])
def test_bad_arguments_are_one_line_errors(run_dir, argv, message):
    code, _, stderr = run_cli("measure", run_dir, "--repeats", "1", *argv)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1


def test_bad_sources(run_dir, tmp_path):
    with pytest.raises(UserError, match="no such file or run directory"):
        resolve(tmp_path / "missing")
    with pytest.raises(UserError, match="no derived.pt2 or derived.pt to measure"):
        resolve(tmp_path)
    with pytest.raises(UserError, match="runs in torch, not --runtime onnxruntime"):
        resolve(run_dir / "derived.pt2", "onnxruntime")
