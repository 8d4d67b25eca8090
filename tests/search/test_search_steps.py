"""The co-search's steps on their own: the sign of what one arch step and one gate step do."""
import pytest
import torch

from search.cosearch.cosearch import CoSearch
from search.data.splits import load_splits
from search.engine.session import Session
from search_testing import tiny_config
from supernet import scaled_size


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("steps")
    cfg = tiny_config(tmp / "cache")
    return cfg, load_splits(cfg.data, features=True), tmp


def _cosearch(parts, name, *overrides):
    cfg, splits, tmp = parts
    cfg = tiny_config(tmp / "cache", *overrides)
    torch.manual_seed(0)
    return CoSearch(cfg, splits, Session.open(cfg, tmp / name, resume=False, echo=False))


def test_arch_steps_under_a_heavy_penalty_lower_the_expected_cost(parts):
    cs = _cosearch(parts, "arch", "search.lambda_inf=100", "search.arch_lr=0.1")
    before = float(cs.expected_inference_cost().energy_j.detach())
    batch = cs.batch("val", 0)
    for _ in range(5):
        out = cs.arch_step(batch, tau=1.0)
    assert out["penalty"] > 0
    assert float(cs.expected_inference_cost().energy_j.detach()) < before


def test_arch_steps_without_a_penalty_do_not_follow_the_cost(parts):
    cs = _cosearch(parts, "arch0", "search.lambda_inf=0")
    out = cs.arch_step(cs.batch("val", 0), tau=1.0)
    assert out["penalty"] == 0.0 and out["arch_loss"] == pytest.approx(out["val_loss"])


def test_gate_steps_under_a_heavy_training_cost_move_images_to_cheaper_actions(parts):
    cs = _cosearch(parts, "gate", "search.lambda_train=100", "search.gate_lr=0.1")
    feats = cs.splits.features["train"]
    cost = cs.relative_train_cost()
    assert cost[cs.actions.index("drop")] == 0 and torch.all(cost[1:] > 0) and cost[-1] == 1.0

    def expected_cost() -> float:  # of a kept image: drop is penalised apart (never the optimum)
        with torch.no_grad():
            p = torch.softmax(cs.gate(feats), -1)[:, 1:]
            return float(((p * cost[1:]).sum(1) / p.sum(1)).mean())

    before = expected_cost()
    batch = cs.batch("val", 0)
    for _ in range(3):
        cs.gate_step(batch)
    assert expected_cost() < before


def test_a_gated_weight_step_puts_its_whole_batch_at_one_action(parts):
    cs = _cosearch(parts, "one-action")
    bs, seen = cs.cfg.data.batch_size, set()
    for t in range(6):
        before = cs.action_counts.clone()
        cs.weight_step(t, tau=1.0)
        step = (cs.action_counts - before).tolist()
        assert sorted(step) == [0] * (len(step) - 1) + [bs]      # one action for every image
        seen.add(step.index(bs))
    assert len(seen) > 1                                          # drawn per step, not fixed
    assert all(batch == bs for (kind, _, batch, _) in cs.work if kind == "train")   # costed as whole batches


def test_a_batch_the_gate_drops_first_computes_and_charges_nothing(parts):
    """A first weight step whose whole batch is dropped runs no network (no sample yet): no work,
    then the next kept batch is charged at the network it sampled."""
    cs = _cosearch(parts, "all-dropped")
    with torch.no_grad():
        cs.gate.net[-1].bias.fill_(-50.0)
        cs.gate.net[-1].bias[cs.gate.drop_index] = 50.0
    out = cs.weight_step(0, tau=1.0)
    assert out["kept_fraction"] == 0.0 and cs.work == {}
    with torch.no_grad():
        cs.gate.net[-1].bias.fill_(0.0)
        cs.gate.net[-1].bias[cs.gate.drop_index] = -50.0
    cs.weight_step(1, tau=1.0)
    (key, _), = cs.work.items()
    assert key[0] == "train" and dict(key[3]) == cs.net.sampled_choices()


def test_a_relative_train_cost_is_the_energy_of_a_batch_per_image(parts):
    cs = _cosearch(parts, "train-cost")
    cost = cs.relative_train_cost()
    b = cs.cfg.data.batch_size
    half_size = [scaled_size(s, 0.5) for s in cs.train_size]
    with torch.no_grad():
        half = cs.net.expected_cost(cs.target, (b, 3, *half_size), training=True).energy_j
        full = cs.net.expected_cost(cs.target, (b, 3, *cs.train_size), training=True).energy_j
    assert float(cost[cs.actions.index(0.5)]) == pytest.approx(float(half / full), rel=1e-6)


def test_weight_step_counts_every_image_once(parts):
    cs = _cosearch(parts, "weights")
    stats = cs.weight_step(0, tau=1.0)
    assert int(cs.action_counts.sum()) == cs.cfg.data.batch_size
    assert 0.0 <= stats["kept_fraction"] <= 1.0 and stats["w_loss"] > 0


def test_a_sampled_scale_arch_step_evaluates_one_scale_and_follows_the_penalty(parts):
    cs = _cosearch(parts, "sampled", "search.arch_scales=sample", "search.lambda_inf=100", "search.arch_lr=0.1")
    before = cs.res.probs()[0].item()  # the smallest, cheapest inference scale
    batch = cs.batch("val", 0)
    for _ in range(5):
        cs.arch_step(batch, tau=1.0)
    arch_images = sum(n for (kind, *_), n in cs.work.items() if kind == "arch")
    assert arch_images == 5 * len(batch[0])  # one scale per step, not three
    assert cs.res.probs()[0].item() > before and cs.val_baseline is not None


@pytest.mark.parametrize("signal", ["derived", "expected"])
def test_the_cost_multiplier_follows_its_target_signal(parts, signal):
    cs = _cosearch(parts, f"signal-{signal}", "search.target_cost=0.3", "search.cost_metric=macs",
                   f"search.target_signal={signal}")
    out = cs.arch_step(cs.batch("val", 0), tau=1.0)
    ratio = out["target_ratio"] if signal == "derived" else out["expected_target_ratio"]
    assert out["target_ratio"] != pytest.approx(out["expected_target_ratio"])  # the two signals differ here
    assert cs.multiplier == pytest.approx(cs.cfg.search.target_lr * (ratio - 1.0))
    with torch.no_grad():
        expected = cs.expected_inference_cost().macs.float()
    excess = (expected if signal == "expected" else cs.derived_cost()) / cs.target_cost - 1.0
    assert float(cs.cost_penalty(expected)) == pytest.approx(
        float(cs.multiplier * excess + 0.5 * cs.cfg.search.target_penalty * excess ** 2), rel=1e-5)


def test_derived_share_weight_steps_train_the_network_the_search_would_hand_over(parts):
    """search.w_derived_share 0.5: every other weight step after the warm-up computes the derive
    rule's network cut to the cost target (and is charged at it); the others, and the warm-up, a sample."""
    cs = _cosearch(parts, "derived-share", "search.w_derived_share=0.5", "search.data_gates=false",
                   "search.target_cost=0.2", "search.cost_metric=macs", "search.target_tolerance=0.0")
    warmup = cs.cfg.search.warmup_steps
    assert [cs.trains_derived(t) for t in range(warmup + 4)] == [False] * warmup + [False, True, False, True]
    handed = cs.handover_choices()
    choices, scale = cs.derived_now()
    assert cs.arch_cost(choices, scale) > cs.target_cost >= cs.arch_cost(handed, scale)   # the cut is in it
    cs.weight_step(warmup + 1, tau=1.0)
    assert cs.computed_choices() == handed
    assert any(arch == tuple(handed.items()) for (kind, *_, arch) in cs.work if kind == "train")
    cs.weight_step(warmup + 2, tau=1.0)
    assert cs.computed_choices() != handed   # a sample again (a sample equal to it is unlikely in this space)


def test_derived_share_zero_trains_samples_only(parts):
    cs = _cosearch(parts, "no-derived-share", "search.w_derived_share=0")
    assert not any(cs.trains_derived(t) for t in range(20))
