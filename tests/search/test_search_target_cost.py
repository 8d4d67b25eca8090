"""search.target_cost: the derived network lands within TOLERANCE of the stated cost (issue "The
co-search must pay for itself", part 3), on the tiny config."""
import json

import pytest
import torch
from search_testing import tiny_config

import cost_models
import supernet
from search.config import load_config
from search.errors import UserError
from search.pipeline import STAGES, run_pipeline

TOLERANCE = 0.15  # relative, on the derived arch's MACs at its inference scale
SIZE = (32, 64)   # tiny.yaml's image size


def macs(arch: dict) -> float:
    scale = arch["data"]["inference_scale"]
    shape = (1, 3, supernet.scaled_size(SIZE[0], scale), supernet.scaled_size(SIZE[1], scale))
    return cost_models.profile(supernet.build_from_arch(arch), shape, target="jetson_tx2").macs


def test_the_derived_network_meets_the_cost_target(tmp_path):
    ratios = {}
    for target in (0.3, 0.6):
        cfg = tiny_config(tmp_path / "cache", f"search.target_cost={target}", "search.cost_metric=macs",
                          "search.steps=20", "search.arch_lr=0.1", "search.lambda_inf=5")
        out = run_pipeline(cfg, tmp_path / f"t{target}", stages=STAGES["search"], echo=False)
        arch = json.loads((out / "arch.json").read_text())
        full = macs(supernet.baseline_arch(arch["family"], arch["num_classes"], **cfg.model.space))
        ratios[target] = macs(arch) / full
        assert abs(ratios[target] / target - 1) <= TOLERANCE, (target, ratios)
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        last = [r for r in records if "multiplier" in r][-1]
        assert last["target_ratio"] == pytest.approx(ratios[target] / target, rel=1e-3)  # the search saw this cost
        log = (out / "log.txt").read_text()
        assert "lambda_inf 5.0 ignored" in log and "cost target at step" in log
        state = torch.load(out / "checkpoints" / "search.pt", weights_only=True)
        assert state["state"]["multiplier"] == pytest.approx(last["multiplier"])  # resumes with it
    assert ratios[0.3] < ratios[0.6], ratios


@pytest.mark.parametrize("overrides, message", [
    (["search.target_cost=1.5"], "search.target_cost must be a fraction in (0, 1]"),
    (["search.target_cost=0"], "search.target_cost must be > 0"),
    (["search.target_cost=-3", "search.target_cost_absolute=true"], "search.target_cost must be > 0"),
    (["search.target_cost=0.4", "search.target_lr=0"], "search.target_lr must be > 0"),
    (["search.target_cost=0.4", "search.target_penalty=-1"], "search.target_penalty must be >= 0"),
])
def test_bad_cost_targets_are_user_errors(overrides, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(None, overrides)


def test_an_absolute_target_is_taken_as_is():
    cfg = load_config(None, ["search.target_cost=2500000", "search.target_cost_absolute=true"])
    assert cfg.search.target_cost == 2.5e6
