"""search/cosearch.py: temperature schedule, derive rules, the learned gate's summary."""
import random

import pytest
import torch
from search_testing import tiny_config

import supernet
from search.cosearch.schedule import temperature
from search.data.slimming import slimming_summary
from search.derive import expected_choices, gate_from_description, nearest
from search.pipeline import STAGES, run_pipeline
from supernet.gates import DataGate


def test_nearest_and_ties_to_the_larger():
    assert nearest([4, 8, 12], 7.0) == 8 and nearest([4, 8, 12], 10.0) == 12 and nearest([0.5, 1.0], 0.6) == 0.5


def test_expected_choices_follow_the_probabilities():
    net = supernet.build_supernet("pspnet", 3)
    with torch.no_grad():
        for site in net.sites.values():
            site.logits.zero_()
            site.logits[0] = 10.0  # nearly certain: the narrowest width, every branch dropped
    choices = expected_choices(net)
    for name, site in net.sites.items():
        if not site.is_keep:
            assert choices[name] == site.options[0]
    keeps = [n for n, s in net.sites.items() if s.is_keep]
    assert sum(choices[n] for n in keeps) == 1  # a group with nothing kept keeps one branch
    supernet.arch.make_arch("pspnet", 3, choices, net.space_options)  # a valid arch


def test_expected_choice_is_smoother_than_argmax():
    net = supernet.build_supernet("multires", 3)
    site = next(s for s in net.sites.values() if not s.is_keep)
    with torch.no_grad():  # almost uniform, with the widest barely ahead
        site.logits.zero_()
        site.logits[-1] = 0.01
    assert net.argmax_choices()[site.name] == max(site.options)
    mean = sum(site.options) / len(site.options)
    assert abs(expected_choices(net)[site.name] - mean) <= 4


def test_temperature_anneals_from_start_to_end():
    taus = [temperature(t, warmup=2, steps=5, start=5.0, end=0.1) for t in range(7)]
    assert taus[:3] == [5.0, 5.0, 5.0] and taus[-1] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(taus[2:], taus[3:]))


def feature0_gate() -> DataGate:
    """A gate over (drop, 0.5, 1.0) that never drops: feature 0 high -> full resolution, low -> half."""
    gate = DataGate(2, ("drop", 0.5, 1.0))
    with torch.no_grad():
        gate.net[0].weight.zero_()
        gate.net[0].bias.zero_()
        gate.net[0].weight[0, 0] = 5.0
        gate.net[2].weight.zero_()
        gate.net[2].weight[2, 0] = 1.0
        gate.net[2].bias.copy_(torch.tensor([-100.0, 0.1, 0.0]))
    return gate


def test_gate_summary_and_round_trip():
    gate = feature0_gate()
    rng = random.Random(0)
    feats = torch.tensor([[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(50)])
    summary = slimming_summary(gate.choose(feats), gate.actions, feats)
    assert sum(summary["action_histogram"].values()) == 50 and summary["action_histogram"]["drop"] == 0
    assert summary["kept_fraction"] == 1.0 and 0 < summary["action_histogram"]["1.0"] < 50
    assert summary["spearman_complexity_vs_scale"] is not None
    desc = {**gate.to_dict(), "state": {k: v.tolist() for k, v in gate.state_dict().items()}}
    assert torch.allclose(gate_from_description(desc)(feats), gate(feats))


def test_data_side_only_keeps_the_full_network(tmp_path):
    cfg = tiny_config(tmp_path / "cache", "search.network=false")
    out = run_pipeline(cfg, tmp_path / "run", stages=STAGES["search"], echo=False)
    arch = supernet.load_arch(out / "arch.json")
    full = supernet.baseline_arch("deeplabv3plus", 4, widest=0.5)["choices"]
    assert {k: v for k, v in arch["choices"].items() if k != "data.inference_scale"} == \
        {k: v for k, v in full.items() if k != "data.inference_scale"}


@pytest.mark.parametrize("reference, same", [("labels", True), ("network", False)])
def test_label_regret_does_not_follow_the_network(tmp_path, reference, same):
    # two searches whose networks differ (another training-cost weight sends other images to
    # other scales) probe the same val batches: with the labels as reference their downsample
    # regrets agree exactly, with the network as reference they do not
    regrets = []
    for lam in (0.0, 10.0):
        cfg = tiny_config(tmp_path / "cache", f"search.gate_regret={reference}", f"search.lambda_train={lam}")
        out = run_pipeline(cfg, tmp_path / f"{reference}{lam}", stages=STAGES["search"], echo=False)
        regrets.append(torch.load(out / "checkpoints" / "search.pt", weights_only=True)["state"]["probe_regret"])
    scale_columns = [r[:, 1:-1] for r in regrets]   # drop and 1.0 left out
    assert torch.all(scale_columns[0] >= 0) and scale_columns[0].abs().sum() > 0
    assert torch.equal(*scale_columns) == same


def test_a_gate_that_keeps_complex_images_larger_has_a_positive_spearman():
    gate = feature0_gate()  # both features equal below: the complexity score is monotone in feature 0
    x = torch.linspace(-1, 1, 40)
    feats = torch.stack([x, x], 1)
    summary = slimming_summary(gate.choose(feats), gate.actions, feats)
    assert summary["spearman_complexity_vs_scale"] > 0.5


@pytest.mark.parametrize("limit, searched", [(1.0, [0.5, 0.75, 1.0]), (0.0, [1.0])])
def test_scales_that_lose_pixels_are_not_searched(tmp_path, limit, searched):
    cfg = tiny_config(tmp_path / "cache", f"search.scale_regret_limit={limit}")
    out = run_pipeline(cfg, tmp_path / "run", stages=STAGES["search"], echo=False)
    arch = supernet.load_arch(out / "arch.json")
    assert arch["data"]["resolution"]["scales"] == searched
    assert arch["data"]["inference_scale"] in searched
    log = (out / "log.txt").read_text()
    assert ("0.75 loses" in log) == ("(not searched)" in log) == (limit == 0.0)  # limit 1: nothing measured
