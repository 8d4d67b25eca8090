"""search/report/costs.py: inference and training cost of a fixed net on every target, and
work_costs (the one accounting: training steps per action scale, probes as forward passes)."""
import pytest
import torch
from torch import nn

import cost_models
from search.report import costs
from search.report.costs import Deployed, Work, inference_costs, step_work, training_costs, work_costs
from search.train.trainer import add_batch_groups, new_batch_groups


def net():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1))


def test_inference_cost_shrinks_with_scale_and_includes_the_upsampling():
    full = inference_costs(net(), (32, 64), 1.0, ["jetson_tx2"])["jetson_tx2"]
    half = inference_costs(net(), (32, 64), 0.5, ["jetson_tx2"])["jetson_tx2"]
    assert half["input_shape"] == [1, 3, 16, 32] and half["macs"] == pytest.approx(full["macs"] / 4)
    plain = cost_models.profile(net(), (1, 3, 16, 32), target="jetson_tx2")
    assert half["energy_j"] > plain.energy_j  # + resizing the logits to 32x64


def test_training_cost_counts_kept_images_only():
    one = training_costs(net(), (32, 64), [Work("1.0", 1.0, 1, True)], ["jetson_tx2"])["jetson_tx2"]
    mixed = training_costs(net(), (32, 64), step_work(["drop", 0.5, 1.0], [[0, 5], [0, 2], [0, 3]]),
                           ["jetson_tx2"])["jetson_tx2"]
    assert mixed["images"] == 5 and mixed["per_action"]["drop"] == {"images": 5, "energy_j": 0.0, "macs": 0.0}
    assert 3 * one["energy_j"] < mixed["energy_j"] < 5 * one["energy_j"]
    train_one = cost_models.profile(Deployed(net(), (32, 64)), (1, 3, 32, 64), "jetson_tx2", training=True)
    assert one["macs"] == pytest.approx(train_one.macs)


def test_a_batch_pays_its_fixed_costs_once():
    """Eight images in one batch: the same MACs as eight batches of one, less energy and time
    (a kernel launch per layer and the weights' reads are paid once per batch)."""
    t = "jetson_tx2"
    apart = work_costs(net(), (32, 64), [Work("x", 1.0, 8, True, 1)], [t])[t]
    together = work_costs(net(), (32, 64), [Work("x", 1.0, 8, True, 8)], [t])[t]
    assert together["macs"] == pytest.approx(apart["macs"])
    assert together["energy_j"] < apart["energy_j"] and together["latency_s"] < apart["latency_s"]
    batch = cost_models.profile(Deployed(net(), (32, 64)), (8, 3, 32, 64), t, training=True)
    assert together["energy_j"] == pytest.approx(batch.energy_j)


def test_step_groups_record_each_actions_batch_per_step():
    groups = new_batch_groups(3, 4)                      # actions drop, 0.5, 1.0; batches of 4
    for counts in ([0, 1, 3], [0, 1, 3], [4, 0, 0]):
        add_batch_groups(groups, torch.tensor(counts))
    assert groups.tolist() == [[0, 0, 0, 0, 1], [0, 2, 0, 0, 0], [0, 0, 0, 2, 0]]
    work = step_work(["drop", 0.5, 1.0], groups)
    assert work == [Work("drop", 0.0, 4, True, 4), Work("0.5", 0.5, 2, True, 1), Work("1.0", 1.0, 6, True, 3)]


def conv():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))


def test_work_costs_profiles_each_scale_and_mode_once(monkeypatch):
    calls = []
    real = cost_models.profile

    def counting(model, shape, target, training):
        calls.append((tuple(shape), training))
        return real(model, shape, target=target, training=training)

    monkeypatch.setattr(costs.cost_models, "profile", counting)
    work = [Work("0.5", 0.5, 2, True), Work("1.0", 1.0, 1, True), Work("0.5", 0.5, 3, True),
            Work("probe", 1.0, 4, False), Work("probe", 0.5, 4, False)]
    work_costs(conv(), (16, 32), work, ["jetson_tx2"])
    assert sorted(calls) == sorted([((1, 3, 8, 16), True), ((1, 3, 16, 32), True),
                                    ((1, 3, 16, 32), False), ((1, 3, 8, 16), False)])


def test_work_costs_adds_up_per_action_and_probes():
    size, t = (16, 32), "jetson_tx2"
    one = {(s, tr): work_costs(conv(), size, [Work("x", s, 1, tr)], [t])[t]
           for s in (0.5, 0.75, 1.0) for tr in (True, False)}
    work = [Work("drop", 0.0, 5, True), Work("0.5", 0.5, 1, True), Work("0.75", 0.75, 1, True),
            Work("1.0", 1.0, 1, True), Work("1.0", 1.0, 2, True),
            Work("probe", 0.5, 2, False), Work("probe", 1.0, 2, False)]
    got = work_costs(conv(), size, work, [t])[t]
    per = got["per_work"]
    assert got["images"] == 5  # trained images; dropped ones and probes are not counted
    assert per["drop"] == {"images": 5, "macs": 0.0, "dram_bytes": 0.0, "energy_j": 0.0, "latency_s": 0.0}
    assert per["1.0"]["images"] == 3 and per["1.0"]["macs"] == pytest.approx(3 * one[(1.0, True)]["macs"])
    assert per["probe"]["images"] == 4
    assert per["probe"]["energy_j"] == pytest.approx(2 * (one[(0.5, False)]["energy_j"] + one[(1.0, False)]["energy_j"]))
    for k in ("macs", "energy_j", "dram_bytes", "latency_s"):
        assert got[k] == pytest.approx(sum(p[k] for p in per.values()))
    assert one[(1.0, False)]["macs"] < one[(1.0, True)]["macs"]  # a probe is a forward, not a training step


def test_training_step_cost_scales_with_pixels_and_charges_the_upsampling():
    t = "jetson_tx2"
    per = work_costs(conv(), (16, 32), [Work(str(s), s, 1, True) for s in (0.5, 0.75, 1.0)], [t])[t]["per_work"]
    rel = [per[str(s)]["macs"] / per["1.0"]["macs"] for s in (0.5, 0.75, 1.0)]
    assert rel == pytest.approx([0.25, 0.5625, 1.0], rel=1e-6)
    own = cost_models.profile(conv(), (1, 3, 8, 16), target=t, training=True)
    assert per["0.5"]["macs"] == own.macs             # resizing the logits is not a MAC ...
    assert per["0.5"]["energy_j"] > own.energy_j      # ... but it costs energy on top of the network's


@pytest.mark.parametrize("family", ["deeplabv3plus", "multires"])
def test_a_sliced_step_costs_what_profiling_its_network_does(family):
    """Work on a network cut from a supernet (a sliced pass) is costed by the supernet's plan,
    with the logits' resize to the labels: exactly the profile of that network built on its own."""
    import supernet
    net = supernet.build_supernet(family, 4, widest=0.5)
    arch = supernet.random_arch(family, 4, 3, widest=0.5)
    choices = {k: v for k, v in arch["choices"].items() if k in net.sites}
    for scale, training in ((1.0, True), (0.5, True), (0.5, False)):
        built = work_costs(net.derive(arch).eval(), (32, 64), [Work("w", scale, 8, training, 4)], ["jetson_tx2"])
        cut = work_costs(None, (32, 64), [Work("w", scale, 8, training, 4, choices)], ["jetson_tx2"], net)
        for key in costs.WORK_KEYS:
            assert cut["jetson_tx2"][key] == pytest.approx(built["jetson_tx2"][key], rel=1e-9), (scale, training, key)
    widest = {n: max(site.options) for n, site in net.sites.items()}
    widest = work_costs(None, (32, 64), [Work("w", 1.0, 8, True, 4, widest)], ["jetson_tx2"], net)
    assert cut["jetson_tx2"]["macs"] < widest["jetson_tx2"]["macs"]
