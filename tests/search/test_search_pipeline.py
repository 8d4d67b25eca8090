"""search/pipeline.py end to end on the tiny config: every file, exact resume, bad checkpoints."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from search_testing import TINY, run_cli, tiny_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import supernet
from search.engine.checkpoint import load_checkpoint
from search.engine.interrupt import Interrupted, StopAfter
from search.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parents[2]
RUN_FILES = ["config.yaml", "log.txt", "metrics.jsonl", "checkpoints/last.pt", "checkpoints/search.pt",
             "arch.json", "derived.pt", "derived.pt2", "derived.onnx", "report.json", "report.md", "pareto.png"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache):
    """One uninterrupted tiny run through the command line."""
    out = tmp_path_factory.mktemp("ref") / "run"
    code, stdout, stderr = run_cli("run", TINY, "--out", out, f"data.cache_dir={cache}")
    assert code == 0, stderr
    assert f"run directory: {out}" in stdout
    return out


def test_every_file_of_the_run_directory(reference):
    for name in RUN_FILES:
        assert (reference / name).is_file() and (reference / name).stat().st_size > 0, name
    (events,) = (reference / "tb").glob("events.out.tfevents.*")
    tb = EventAccumulator(str(events))
    tb.Reload()
    scalars = set(tb.Tags()["scalars"])
    assert {"search/val_loss", "search/penalty", "search/arch_loss", "search/tau", "search/expected_energy_j",
            "search/action/drop", "resolution/0.5", "retrain/loss", "final/miou"} <= scalars
    assert any(t.startswith("arch/backbone.stem.width/") for t in scalars)
    assert "gate/train_actions" in tb.Tags()["histograms"]
    records = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines()]
    search = [r for r in records if r["phase"] == "search"]
    assert {"w_loss", "tau", "val_loss", "penalty", "arch_loss", "expected_energy_j"} <= set(search[-1])
    assert search[0]["tau"] == 5.0 and search[-1]["tau"] == pytest.approx(0.1)
    assert any(r["phase"] == "retrain" for r in records) and records[-1]["phase"] == "final"

    report = json.loads((reference / "report.json").read_text())
    (run,) = report["runs"]
    assert run["name"] == "derived" and 0.0 <= run["miou"] <= 1.0 and len(run["iou"]) == 4
    assert run["inference"]["jetson_tx2"]["energy_j"] > 0 and run["training"]["jetson_tx2"]["energy_j"] > 0
    assert run["training"]["wall_s"] > 0
    slim = report["data_slimming"]
    assert set(slim) >= {"action_histogram", "kept_fraction", "spearman_complexity_vs_scale"}
    assert sum(slim["action_histogram"].values()) == 32

    arch = supernet.load_arch(reference / "arch.json")
    assert arch["metrics"]["miou"] == run["miou"] and arch["cost"]["jetson_tx2"]["macs"] > 0
    assert arch["data"]["train_gate"]["actions"] == ["drop", 0.5, 0.75, 1.0]
    assert "# cosearch report" in (reference / "report.md").read_text()

    derived = torch.load(reference / "derived.pt", weights_only=True)
    model = supernet.build_from_arch(derived["arch"]).eval()
    model.load_state_dict(derived["state_dict"])
    extra = {supernet.export.CONTRACT_FILE: ""}
    program = torch.export.load(reference / "derived.pt2", extra_files=extra)
    contract = json.loads(extra[supernet.export.CONTRACT_FILE])  # the deployed program: native image in
    dynamic = contract["dynamic"]
    size = (dynamic["height"], dynamic["width"]) if not dynamic["size"] else derived["arch"]["input"]["native_size"]
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        want = supernet.export.deployed_model(model, derived["arch"])(x)
    assert torch.allclose(program.module()(x), want, atol=1e-5)


def test_derive_eval_train_compare_commands(reference, cache, tmp_path):
    reference = Path(shutil.copytree(reference, tmp_path / "ref"))  # derive --force overwrites derived.pt
    before = (reference / "derived.pt").read_bytes()
    code, _, stderr = run_cli("derive", reference)
    assert code == 2 and "derived.pt exists" in stderr  # the retrained weights are not replaced silently
    code, stdout, _ = run_cli("derive", reference, "--force", "--no-onnx")
    assert code == 0 and "derived.pt2" in stdout
    assert (reference / "derived.pt").read_bytes() != before  # inherited supernet weights, not retrained
    code, stdout, _ = run_cli("eval", reference)
    assert code == 0 and "mIoU" in stdout
    assert 0.0 <= json.loads((reference / "eval.json").read_text())["miou"] <= 1.0

    base = tmp_path / "uniform"
    code, _, stderr = run_cli("train", TINY, "--baseline", "uniform:0.5", "--out", base, f"data.cache_dir={cache}")
    assert code == 0, stderr
    report = json.loads((base / "report.json").read_text())
    assert report["runs"][0]["name"] == "uniform" and report["data_slimming"] is None
    res = tmp_path / "res"
    code, _, stderr = run_cli("train", TINY, "--baseline", "resolution:0.5", "--out", res, f"data.cache_dir={cache}")
    assert code == 0, stderr
    run = json.loads((res / "report.json").read_text())["runs"][0]
    assert run["inference"]["jetson_tx2"]["input_shape"] == [1, 3, 16, 32]
    per_action = run["training"]["jetson_tx2"]["per_action"]
    assert set(per_action) == {"0.5", "bn_recalibration"} and per_action["0.5"]["images"] == 12
    # batch-norm recalibration: one forward per train image (32) at the inference scale, no backward
    assert per_action["bn_recalibration"]["images"] == 32
    assert 0 < per_action["bn_recalibration"]["macs"] < 32 / 12 * per_action["0.5"]["macs"] / 2
    gated = tmp_path / "gated"
    code, _, stderr = run_cli("train", TINY, "--baseline", "full", "--gates", reference / "arch.json",
                              "--out", gated, f"data.cache_dir={cache}")
    assert code == 0, stderr
    assert json.loads((gated / "report.json").read_text())["data_slimming"]["kept_fraction"] <= 1.0

    cmp_dir = tmp_path / "cmp"
    code, stdout, _ = run_cli("compare", reference, base, gated, "--out", cmp_dir)
    assert code == 0 and "uniform/uniform" in stdout
    for name in ("compare.md", "compare.json", "pareto.png", "pareto_training.png"):
        assert (cmp_dir / name).is_file()


@pytest.mark.parametrize("stop_after", [3, 6])  # inside the search (5 steps), inside the retraining
def test_resume_equals_uninterrupted(reference, cache, tmp_path, stop_after):
    cfg = tiny_config(cache)
    out = tmp_path / "run"
    with pytest.raises(Interrupted):
        run_pipeline(cfg, out, stop=StopAfter(stop_after), echo=False)
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert (ckpt["phase"], ckpt["step"]) == (("search", 3) if stop_after == 3 else ("retrain", 1))
    assert not (out / "report.json").exists()
    run_pipeline(cfg, out, resume=True, echo=False)

    want, got = (json.loads((d / "arch.json").read_text()) for d in (reference, out))
    assert got == want  # choices, cost and metrics
    want, got = (json.loads((d / "report.json").read_text())["runs"][0] for d in (reference, out))
    assert (got["miou"], got["iou"], got["inference"]) == (want["miou"], want["iou"], want["inference"])
    a, b = (torch.load(d / "derived.pt", weights_only=True)["state_dict"] for d in (reference, out))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_sigterm_saves_a_checkpoint_and_resume_finishes(cache, tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "search", "run", str(TINY), "--out", str(out), f"data.cache_dir={cache}",
            "search.steps=30", "run.checkpoint_every=1000"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 300  # a loaded machine can take a minute to import torch and start
    while time.time() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert ckpt["phase"] == "search" and 3 <= ckpt["step"] < 32
    code, _, stderr = run_cli("run", "--out", out, "--resume")  # the run's own config.yaml by default
    assert code == 0, stderr
    assert (out / "report.json").is_file()


def test_resume_errors(cache, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(Interrupted):
        run_pipeline(tiny_config(cache), out, stop=StopAfter(2), echo=False)
    code, _, stderr = run_cli("run", TINY, "--out", out, "--resume", f"data.cache_dir={cache}",
                              "search.lambda_inf=9")
    assert code == 2 and "search.lambda_inf: 0.1 in the checkpoint, 9.0 now" in stderr
    code, _, stderr = run_cli("run", TINY, "--out", out, f"data.cache_dir={cache}")
    assert code == 2 and "already holds a run" in stderr
    code, _, stderr = run_cli("run", TINY, "--resume", f"data.cache_dir={cache}")
    assert code == 2 and "--resume needs --out" in stderr
    ckpt = out / "checkpoints" / "last.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 3])
    code, _, stderr = run_cli("run", TINY, "--out", out, "--resume", f"data.cache_dir={cache}")
    assert code == 2 and "corrupt or truncated" in stderr and str(ckpt) in stderr
    ckpt.unlink()  # as if killed before its first checkpoint: --resume starts the run (issue 14)
    code, _, stderr = run_cli("run", TINY, "--out", out, "--resume", f"data.cache_dir={cache}")
    assert code == 0 and "starting it afresh" in stderr


@pytest.mark.parametrize("argv, needle", [
    (["run", TINY, "search.lamda=1"], "unknown key search.lamda; allowed in section 'search'"),
    (["run", TINY, "model.family=unet"], "unknown family 'unet'"),
    (["run", TINY, "search.target=tpu"], "search.target: unknown target 'tpu'"),
    (["run", TINY, "cost.targets=[jetson_tx2, nope]"], "cost.targets: unknown target 'nope'"),
    (["run", TINY, "search.gate_actions=[drop, 2.0]"], "search.gate_actions must be distinct"),
    (["run", "missing.yaml"], "config file missing.yaml does not exist"),
    (["train", TINY, "--baseline", "huge"], "unknown baseline 'huge'"),
    (["derive", "no/such/run"], "does not exist"),
])
def test_bad_input_is_one_clear_line(argv, needle, tmp_path):
    code, _, stderr = run_cli(*argv, "--out", tmp_path / "x") if argv[0] in ("run", "train") else run_cli(*argv)
    assert code == 2 and needle in stderr and "Traceback" not in stderr


def test_resume_may_raise_the_step_counts_but_not_lower_them(cache, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(Interrupted):  # tiny: 2 + 3 search steps, then 3 training steps: stop in training
        run_pipeline(tiny_config(cache), out, stop=StopAfter(6), echo=False)
    assert load_checkpoint(out / "checkpoints" / "last.pt")["phase"] == "retrain"
    code, _, err = run_cli("run", TINY, "--out", out, "--resume", f"data.cache_dir={cache}", "train.steps=2")
    assert code == 2 and "train.steps: 3 in the checkpoint, 2 now" in err
    run_pipeline(tiny_config(cache, "train.steps=5"), out, resume=True, echo=False)
    assert "resume extends train.steps from 3 to 5" in (out / "log.txt").read_text()
    report = json.loads((out / "report.json").read_text())
    assert report["runs"][0]["steps"]["train"] == 5


def test_validation_during_training_keeps_the_best_weights(cache, tmp_path):
    out = run_pipeline(tiny_config(cache, "eval.every=1"), tmp_path / "run", echo=False)
    val = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if r["phase"] == "val"]
    assert [r["step"] for r in val] == [1, 2, 3] and all(0 <= r["miou"] <= 1 for r in val)
    best = torch.load(out / "checkpoints" / "best.pt", weights_only=True)
    assert best["val_miou"] == max(r["miou"] for r in val) and best["step"] in (1, 2, 3)
    model = supernet.build_from_arch(best["arch"])
    model.load_state_dict(best["state_dict"])
