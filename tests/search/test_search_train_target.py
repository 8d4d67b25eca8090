"""search.train_target: at the hand-over a data gate that saves more training energy than the target
needs gives images back to the deployed scale, and the run's measured total lands where the
projection said (search/cosearch/train_budget.py), on the tiny config."""
import json

import pytest
import torch
from search_testing import tiny_config

from search.config import load_config
from search.derive import shift_to_budget
from search.errors import UserError
from search.pipeline import run_pipeline

# one budget of 80 steps, the search at most 12 of them and cheap (an arch step every 2nd step at one
# sampled scale), so the training dominates the total; lambda_train 3 makes the gate slim hard
SHARED = ("train.budget=shared", "train.steps=80", "search.max_share=0.15", "search.steps=10",
          "search.arch_every=2", "search.arch_scales=sample", "search.lambda_train=3",
          "search.gate_actions=[0.5, 1.0]")


def run_with(tmp_path, cache, name: str, *overrides: str) -> dict:
    out = run_pipeline(tiny_config(cache, *SHARED, *overrides), tmp_path / name, echo=False)
    report = json.loads((out / "report.json").read_text())
    run, full = report["runs"][0], report["full_network"]
    return {"ratio": run["training"]["jetson_tx2"]["energy_j"] / full["training"]["jetson_tx2"]["energy_j"],
            "fit": run["search"].get("train_target"), "actions": report["data_slimming"]["action_histogram"],
            "log": (out / "log.txt").read_text(), "arch": json.loads((out / "arch.json").read_text())}


def test_a_gate_saving_more_than_the_target_needs_gives_images_back(tmp_path, cache):
    learned = run_with(tmp_path, cache, "learned")
    assert learned["fit"] is None and learned["actions"]["0.5"] > 0   # the gate as learned slims
    # a target no gate choice can exceed: every image back at the deployed scale
    everything = run_with(tmp_path, cache, "all", "search.train_target=1.0")
    assert everything["actions"]["0.5"] == 0 and everything["fit"]["moved"] == learned["actions"]["0.5"]
    low, high = everything["fit"]["learned"], everything["fit"]["fitted"]
    assert low == pytest.approx(learned["ratio"], rel=0.02)   # the projection of the learned gate is what it cost
    # a target between the two: some images go back, and the run costs what was projected, within the target
    target = (low + high) / 2
    half = run_with(tmp_path, cache, "half", f"search.train_target={target}")
    fit = half["fit"]
    assert 0 < fit["moved"] < everything["fit"]["moved"]
    assert fit["fitted"] <= target and half["ratio"] == pytest.approx(fit["fitted"], rel=0.02)
    assert learned["ratio"] < half["ratio"] < everything["ratio"]
    assert "given back" in half["log"] and half["arch"]["data"]["train_gate"] != learned["arch"]["data"]["train_gate"]


def test_a_gate_above_the_target_is_kept_as_learned(tmp_path, cache):
    run = run_with(tmp_path, cache, "low", "search.train_target=0.01")
    assert run["fit"]["moved"] == 0 and run["fit"]["shift"] == 0 and run["fit"]["learned"] > 0.01
    assert "the gate kept as learned" in run["log"]


def test_shift_to_budget_never_slims_and_stops_at_the_dearest_actions():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    costs = torch.tensor([0.25, 0.5, 1.0])

    def spent(choice):
        return float(costs[choice].sum())

    assert shift_to_budget(logits, costs, spent, limit=0.1) == 0.0   # over the limit already: unchanged
    shift = shift_to_budget(logits, costs, spent, limit=2.0)          # room for everything at the dearest
    assert (logits + shift * costs).argmax(-1).tolist() == [2, 2]
    shift = shift_to_budget(logits, costs, spent, limit=1.25)         # room for one image at 1.0, one at 0.25
    assert spent((logits + shift * costs).argmax(-1)) <= 1.25


@pytest.mark.parametrize("value", ["0", "1.5", "-0.2"])
def test_a_bad_train_target_is_a_user_error(value):
    with pytest.raises(UserError, match=r"search.train_target must be in \(0, 1\], got"):
        load_config(None, [f"search.train_target={value}"])
