"""search.target_cost: the derived network lands within TOLERANCE of the stated cost (issue "The
co-search must pay for itself", part 3), on the tiny config."""
import json

import pytest
import torch
from search_testing import tiny_config

import cost_models
import supernet
from search.config import load_config
from search.derive import fit_to_cost
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


def supernet_favouring(choices: dict, family: str = "deeplabv3plus", undecided: tuple[str, ...] = ()):
    """A supernet whose arch probabilities favour ``choices`` (logit 5), uniform at ``undecided``."""
    net = supernet.build_supernet(family, 4)
    with torch.no_grad():
        for name, site in net.sites.items():
            site.logits.zero_()
            if name not in undecided:
                site.logits[site.options.index(choices[name])] = 5.0
    return net


def profiled_macs(net, choices: dict) -> float:
    return float(net.expected_cost("jetson_tx2", (1, 3, 32, 64), probs=net.one_hot_probs(choices)).macs)


def test_fit_to_cost_takes_the_cut_the_search_was_least_sure_of():
    full = supernet.baseline_arch("deeplabv3plus", 4)["choices"]
    undecided = "backbone.stage3.width"
    net = supernet_favouring(full, undecided=(undecided,))
    def cost(choices):
        return profiled_macs(net, choices)

    fitted, cuts = fit_to_cost(net, full, cost, cost(full) * 0.999)
    options = net.sites[undecided].options
    assert cuts == [f"{undecided}: {options[-1]} -> {options[-2]}"]
    assert fitted == {**full, undecided: options[-2]}
    assert fit_to_cost(net, full, cost, cost(full)) == (full, [])  # already within: unchanged


def test_fit_to_cost_stops_at_the_smallest_network_and_keeps_a_branch_per_group():
    full = supernet.baseline_arch("deeplabv3plus", 4)["choices"]
    net = supernet_favouring(full)
    def cost(choices):
        return profiled_macs(net, choices)

    fitted, cuts = fit_to_cost(net, full, cost, 0.0)  # out of reach
    for name, site in net.sites.items():
        if not site.is_keep:
            assert fitted[name] == site.options[0], name
    for group in net.group_names:
        assert sum(fitted[n] for n in group) == 1, group
    assert len(cuts) == sum(1 for n, s in net.sites.items() if full[n] != fitted[n] and s.is_keep) + sum(
        s.options.index(full[n]) for n, s in net.sites.items() if not s.is_keep)
    limit = cost(full) * 0.4
    fitted, _ = fit_to_cost(net, full, cost, limit)
    assert cost(fitted) <= limit


def test_a_search_ending_above_its_target_is_cut_to_it(tmp_path):
    """Too few arch steps to reach the target: derive cuts the network to within target_tolerance."""
    target = 0.1   # below what two arch steps reach, even with the blocks dropped
    cfg = tiny_config(tmp_path / "cache", f"search.target_cost={target}", "search.cost_metric=macs", "search.steps=2",
                      "search.target_tolerance=0.05")
    out = run_pipeline(cfg, tmp_path / "run", stages=STAGES["search"], echo=False)
    arch = json.loads((out / "arch.json").read_text())
    full = macs(supernet.baseline_arch(arch["family"], arch["num_classes"], **cfg.model.space))
    assert macs(arch) / full <= target * 1.05 * (1 + 1e-6)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r for r in records if "target_ratio" in r][-1]["target_ratio"] > 1.05  # the search alone missed it
    assert "derive: cost " in (out / "log.txt").read_text()
    handed = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["state"]["search"]["cost_target"]
    assert handed["ratio"] == pytest.approx(macs(arch) / full / target, rel=1e-3) and handed["tolerance"] == 0.05
    assert f"derive: the derived network costs {handed['ratio']:.3f} of the cost target" in (out / "log.txt").read_text()


def test_derive_logs_how_sure_the_search_was_of_its_inference_scale(tmp_path):
    cfg = tiny_config(tmp_path / "cache", "search.steps=2")
    out = run_pipeline(cfg, tmp_path / "run", stages=STAGES["search"], echo=False)
    resolution = json.loads((out / "arch.json").read_text())["data"]["resolution"]
    lines = [line for line in (out / "log.txt").read_text().splitlines() if "inference scale probabilities" in line]
    assert len(resolution["scales"]) > 1 and len(lines) == 1  # tiny.yaml searches several scales
    assert lines[0].endswith(", ".join(f"{s}: {p:.3f}" for s, p in zip(resolution["scales"], resolution["probs"])))


def test_a_run_that_keeps_the_full_network_records_no_cost_target(tmp_path):
    """data_only (search.network false) keeps the full network, which derive never cuts: no landing to report."""
    cfg = tiny_config(tmp_path / "cache", "search.target_cost=0.2", "search.cost_metric=macs", "search.steps=2",
                      "search.network=false")
    out = run_pipeline(cfg, tmp_path / "run", stages=STAGES["search"], echo=False)
    search = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["state"]["search"]
    assert search["cost_metric"] == "macs" and "cost_target" not in search
