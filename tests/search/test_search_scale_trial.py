"""search.scale_rule: val: derive tries every searched inference scale on the val split and hands
over the best candidate, cut to the cost target at its scale, with the trial counted as search work."""
import json

import pytest
from search_testing import tiny_config

import cost_models
import supernet
from search.cosearch.scale_trial import best_scale
from search.pipeline import run_pipeline

SIZE = (32, 64)   # tiny.yaml's image size
TARGET = 0.5


def macs(arch: dict) -> float:
    scale = arch["data"]["inference_scale"]
    shape = (1, 3, supernet.scaled_size(SIZE[0], scale), supernet.scaled_size(SIZE[1], scale))
    return cost_models.profile(supernet.build_from_arch(arch), shape, target="jetson_tx2").macs


@pytest.fixture(scope="module")
def trial_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scale_trial")
    cfg = tiny_config(tmp / "cache", "search.scale_rule=val", f"search.target_cost={TARGET}", "search.cost_metric=macs")
    out = run_pipeline(cfg, tmp / "run", echo=False)
    return cfg, out, json.loads((out / "report.json").read_text())["runs"][0]


def test_the_best_scale_of_the_trial_is_handed_over(trial_run):
    cfg, out, run = trial_run
    trial = {row["scale"]: row for row in run["search"]["scale_trial"]}
    assert sorted(trial) == sorted(cfg.search.inference_scales)   # tiny.yaml searches every scale
    assert all(0 <= row["miou"] <= 1 for row in trial.values())
    arch = json.loads((out / "arch.json").read_text())
    assert arch["data"]["inference_scale"] == best_scale(trial)
    # every candidate was cut to the target at its own scale
    assert all(row["cost_ratio"] <= 1 + cfg.search.target_tolerance + 1e-6 for row in trial.values())
    full = macs(supernet.baseline_arch(arch["family"], arch["num_classes"], **cfg.model.space))
    assert macs(arch) / full == pytest.approx(TARGET * trial[best_scale(trial)]["cost_ratio"], rel=0.02)
    assert "inference scale tried on the val split" in (out / "log.txt").read_text()


def test_the_trial_is_counted_as_search_work(trial_run):
    cfg, _, run = trial_run
    # a candidate's passes: one forward per train image (batch-norm statistics) and per val image;
    # the gate's label probes run at 1.0 only, so below 1.0 the trial is the only probe work
    per_scale = cfg.data.num_train + cfg.data.num_val
    for scale in (0.5, 0.75):
        rows = [r for r in run["search"]["work"] if r[0] == "probe" and r[1] == scale]
        assert sum(r[2] for r in rows) == per_scale and all(not r[3] and len(r) == 6 for r in rows)


def test_the_probability_rule_runs_no_trial(tmp_path):
    out = run_pipeline(tiny_config(tmp_path / "cache"), tmp_path / "run", echo=False)
    search = json.loads((out / "report.json").read_text())["runs"][0]["search"]
    assert "scale_trial" not in search
    assert not [r for r in search["work"] if r[0] == "probe" and r[1] != 1.0]
