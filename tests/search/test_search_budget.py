"""One budget (train.budget shared) and the accounting of every phase, on the tiny config.

The search is made to stop early: a huge lambda_inf and arch learning rate pin the arch to the
cheapest choices after a step or two, so the stability rule (one check per step, two unchanged
checks) must end it well before its cap (max_share 0.5 of 20 steps = 10, 2 of them warm-up).
"""
import json

import pytest
import torch
from search_testing import TINY, run_cli, tiny_config

import supernet
from search.engine.checkpoint import load_checkpoint
from search.engine.interrupt import Interrupted, StopAfter
from search.pipeline import run_pipeline
from search.report.costs import PHASES, WORK_KEYS

BUDGET = 20
SHARED = ("train.budget=shared", f"train.steps={BUDGET}", "search.max_share=0.5", "search.steps=8",
          "search.stable_every=1", "search.stable_checks=2", "search.lambda_inf=1000", "search.arch_lr=10")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache):
    out = tmp_path_factory.mktemp("shared") / "run"
    run_pipeline(tiny_config(cache, *SHARED), out, echo=False)
    return out


def run_of(out):
    return json.loads((out / "report.json").read_text())["runs"][0]


def test_search_stops_early_and_the_steps_fill_the_budget(reference):
    run = run_of(reference)
    steps = run["steps"]
    assert run["search"]["stopped_early"] and 2 < steps["search"] < 10
    assert steps["search"] + steps["train"] == BUDGET
    records = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in records if r["phase"] == "search") == steps["search"]
    assert max(r["step"] for r in records if r["phase"] == "retrain") == steps["train"]
    assert "stable" in (reference / "log.txt").read_text()


def test_phase_costs_sum_to_the_totals(reference):
    training = run_of(reference)["training"]
    for target in ("jetson_tx2",):
        cost = training[target]
        assert list(cost["phases"]) == list(PHASES)
        for key in WORK_KEYS:
            assert sum(p[key] for p in cost["phases"].values()) == cost[key]
            assert all(p[key] > 0 for p in cost["phases"].values())
    assert list(training["wall_phases"]) == list(PHASES)
    assert sum(training["wall_phases"].values()) == training["wall_s"]
    # the search's work: every arch step evaluates each inference scale on a val batch of 4,
    # every gate probe one full-resolution forward (gate_regret labels)
    run = run_of(reference)
    arch_steps = run["steps"]["search"] - 2
    work: dict = {}
    for kind, scale, n, _, batch, *_ in run["search"]["work"]:
        work[(kind, scale)] = work.get((kind, scale), 0) + n
        assert batch == 4 or kind == "train"   # arch steps and probes: one val batch of 4 per step
    assert {s: work[("arch", s)] for s in (0.5, 0.75, 1.0)} == {s: 4 * arch_steps for s in (0.5, 0.75, 1.0)}
    assert work[("probe", 1.0)] == 4 * arch_steps and ("probe", 0.5) not in work
    assert sum(n for (kind, _), n in work.items() if kind == "train") <= 4 * run["steps"]["search"]
    # two batch-norm passes over the 32 train images: at the hand-over and after training
    assert training["jetson_tx2"]["per_action"]["bn_recalibration"]["images"] == 64
    assert "its share of the training energy" in (reference / "report.md").read_text()


def test_learning_probes_every_other_arch_step_are_counted(cache, tmp_path):
    out = tmp_path / "run"
    run_pipeline(tiny_config(cache, *SHARED, "search.gate_regret=learning", "search.gate_every=2"), out,
                 stages=("search",), echo=False)
    state = load_checkpoint(out / "checkpoints" / "search.pt")["state"]
    work: dict = {}
    for kind, scale, n, *_ in state["work"]:
        work[(kind, scale)] = work.get((kind, scale), 0) + n
    arch_steps = state["step"] - 2
    probes = (arch_steps + 1) // 2                        # after arch steps 0, 2, 4, ...
    assert probes >= 2 and len(state["probe_regret"]) == 4 * probes
    # each probe: a forward and backward at 1.0 (counted as an arch step's), one more forward at
    # 1.0 after the move and two at every other scale (test_a_learning_probe_runs_each_forward_it_is_charged_for)
    assert work[("probe", 1.0)] == 4 * probes
    assert work[("probe", 0.5)] == work[("probe", 0.75)] == 2 * 4 * probes
    assert work[("arch", 1.0)] == 4 * arch_steps + 4 * probes


def test_sliced_weight_steps_are_charged_for_the_network_they_compute(cache, tmp_path):
    """search.compute sliced (the default): each weight step's and probe's work row names the network
    it computed (sampled, argmax), and the search costs less than the same search computing the
    widest network with masks; the arch steps run the widest network either way."""
    search_energy, rows = {}, {}
    for compute in ("sliced", "masked"):
        out = tmp_path / compute
        run_pipeline(tiny_config(cache, *SHARED, f"search.compute={compute}"), out, echo=False)
        run = run_of(out)
        rows[compute] = [row for row in run["search"]["work"] if row[0] in ("train", "probe")]
        assert all(len(row) == 5 for row in run["search"]["work"] if row[0] == "arch")
        search_energy[compute] = run["training"]["jetson_tx2"]["phases"]["search"]["energy_j"]
    arch = json.loads((tmp_path / "sliced" / "arch.json").read_text())
    sites = set(supernet.build_supernet(arch["family"], arch["num_classes"], **arch["space"]).sites)
    assert {row[0] for row in rows["sliced"]} == {"train", "probe"}
    assert all(len(row) == 6 and set(row[5]) == sites for row in rows["sliced"])
    assert rows["masked"] and all(len(row) == 5 for row in rows["masked"])
    assert search_energy["sliced"] < search_energy["masked"]


def test_a_run_without_a_search_has_no_search_phase(cache, tmp_path):
    out = tmp_path / "full"
    code, _, stderr = run_cli("train", TINY, "--baseline", "full", "--out", out, f"data.cache_dir={cache}")
    assert code == 0, stderr
    training = run_of(out)["training"]
    assert set(training["jetson_tx2"]["phases"]) == {"train", "bn_recalibration"}
    assert set(training["wall_phases"]) == {"train", "bn_recalibration"}
    assert run_of(out)["steps"] == {"train": 3}


@pytest.mark.parametrize("shrink", [1.0, 0.5])
def test_training_continues_from_the_searched_weights(cache, tmp_path, shrink):
    out = tmp_path / "run"
    run_pipeline(tiny_config(cache, *SHARED, f"train.inherit_shrink={shrink}"), out, stages=("search",), echo=False)
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert (ckpt["phase"], ckpt["step"]) == ("retrain", 0)
    handed = ckpt["state"]["trainer"]["model"]
    searched = load_checkpoint(out / "checkpoints" / "search.pt")["state"]
    net = supernet.build_supernet("deeplabv3plus", 4, widest=0.5)
    net.load_state_dict(searched["net"])
    sliced = net.derive(searched["arch"]).state_dict()
    assert set(handed) == set(sliced)
    weights = [k for k in sliced if k.endswith("weight") and sliced[k].dim() == 4]
    assert weights and all(torch.allclose(handed[k], shrink * sliced[k]) for k in weights)   # shrink and perturb
    # batch-norm statistics recalibrated at the inference scale, not the supernet's
    means = [k for k in sliced if k.endswith("running_mean")]
    assert means and any(not torch.equal(handed[k], sliced[k]) for k in means)
    assert ckpt["state"]["steps"] == BUDGET - searched["step"]


def test_fresh_weights_in_the_shared_budget(cache, tmp_path):
    """train.init=fresh with the one budget (the early-bird schedule): new weights, the same steps."""
    out = tmp_path / "run"
    run_pipeline(tiny_config(cache, *SHARED, "train.init=fresh"), out, stages=("search",), echo=False)
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    handed = ckpt["state"]["trainer"]["model"]
    searched = load_checkpoint(out / "checkpoints" / "search.pt")["state"]
    net = supernet.build_supernet("deeplabv3plus", 4, widest=0.5)
    net.load_state_dict(searched["net"])
    sliced = net.derive(searched["arch"]).state_dict()
    weights = [k for k in sliced if k.endswith("weight") and sliced[k].dim() == 4]
    assert weights and not any(torch.equal(handed[k], sliced[k]) for k in weights)
    assert ckpt["state"]["steps"] == BUDGET - searched["step"]
    assert "starts from fresh weights" in (out / "log.txt").read_text()


@pytest.mark.parametrize("where", ["search", "stop", "train"])
def test_resume_in_every_phase_equals_uninterrupted(reference, cache, tmp_path, where):
    searched = run_of(reference)["steps"]["search"]
    stop_after = {"search": 3, "stop": searched, "train": searched + 2}[where]
    cfg = tiny_config(cache, *SHARED)
    out = tmp_path / "run"
    with pytest.raises(Interrupted):
        run_pipeline(cfg, out, stop=StopAfter(stop_after), echo=False)
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    want_phase = {"search": ("search", 3), "stop": ("search", searched), "train": ("retrain", 2)}[where]
    assert (ckpt["phase"], ckpt["step"]) == want_phase
    run_pipeline(cfg, out, resume=True, echo=False)
    want, got = (json.loads((d / "arch.json").read_text()) for d in (reference, out))
    assert got == want
    want, got = run_of(reference), run_of(out)
    assert (got["miou"], got["iou"], got["steps"]) == (want["miou"], want["iou"], want["steps"])
    for key in WORK_KEYS:
        assert got["training"]["jetson_tx2"][key] == want["training"]["jetson_tx2"][key]
