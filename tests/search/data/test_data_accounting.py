"""Training-cost accounting per step / epoch / action, with a counting stand-in for cost_models.profile."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import cost_models

from search.data.accounting import TrainingCost, slimming_summary


class Counting:
    """profile(model, input_shape, target, training) -> MACs proportional to pixels (x3 when training)."""

    def __init__(self):
        self.calls = []

    def __call__(self, model, input_shape, target, training):
        self.calls.append((tuple(input_shape), training))
        pixels = input_shape[2] * input_shape[3]
        return SimpleNamespace(macs=pixels * (3 if training else 1), energy_j=pixels * 1e-9)


def make(model=None):
    prof = Counting()
    acc = TrainingCost(model or nn.Conv2d(3, 2, 1), image_size=(16, 32), profile=prof)
    return acc, prof


def test_per_image_cost_cached_per_resolution():
    acc, prof = make()
    assert acc.image_cost("drop") == {"macs": 0.0, "energy_j": 0.0}
    assert acc.image_cost(1.0)["macs"] == 3 * 16 * 32
    assert acc.image_cost(0.5)["macs"] == 3 * 8 * 16
    acc.image_cost(0.5)
    acc.record_step(torch.tensor([1, 1, 3]))
    assert prof.calls == [((1, 3, 16, 32), True), ((1, 3, 8, 16), True), ((1, 3, 12, 24), True)]
    assert acc.relative_cost().tolist() == pytest.approx([0, 0.25, 0.5625, 1.0])


def test_upsampling_logits_to_full_labels_is_charged():
    acc, _ = make()
    half = acc.image_cost(0.5)
    assert half["macs"] == 3 * 8 * 16  # resizing is not a MAC ...
    assert half["energy_j"] > 8 * 16 * 1e-9  # ... but it costs energy on top of the network's


def test_steps_epochs_and_totals():
    acc, _ = make()
    one_hot = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 3]), 4)
    step = acc.record_step(one_hot, probe_images=2, probe_scales=(0.5, 1.0))
    assert step["images"] == {"drop": 1, "0.5": 1, "0.75": 1, "1.0": 1}
    assert step["macs"]["drop"] == 0 and step["macs"]["probe"] == 2 * (8 * 16 + 16 * 32)
    assert step["macs"]["total"] == pytest.approx(3 * (128 + 288 + 512) + 2 * (128 + 512))
    acc.record_step(torch.tensor([3, 3]))
    first = acc.end_epoch()
    assert first["steps"] == 2 and first["images"]["1.0"] == 3
    acc.record_step(torch.tensor([0, 0]))
    report = acc.to_dict()
    assert len(report["epochs"]) == 2 and report["total"]["images"]["drop"] == 3
    assert report["full_resolution"]["macs"] == 8 * 3 * 512
    expected = (3 * (128 + 288 + 3 * 512)) / (8 * 3 * 512)
    assert report["relative_to_full_without_probes"]["macs"] == pytest.approx(expected)
    assert report["relative_to_full"]["macs"] > report["relative_to_full_without_probes"]["macs"]


def test_with_the_real_cost_model():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))
    acc = TrainingCost(net, image_size=(16, 32), target="jetson_tx2")
    rel = acc.relative_cost("macs")
    assert rel.tolist() == pytest.approx([0.0, 0.25, 0.5625, 1.0], rel=1e-6)
    own = cost_models.profile(net, input_shape=(1, 3, 8, 16), target="jetson_tx2", training=True)
    assert acc.image_cost(0.5)["macs"] == own.macs
    assert acc.image_cost(0.5)["energy_j"] > own.energy_j  # + upsampling the logits to 16x32
    step = acc.record_step(torch.tensor([3, 1]), probe_images=1)
    assert step["energy_j"]["probe"] > 0 and step["macs"]["total"] > acc.image_cost(1.0)["macs"]


def test_slimming_summary():
    feats = torch.tensor([[0.0, 0.0], [1.0, 2.0], [2.0, 1.0], [3.0, 3.0], [4.0, 5.0]])
    s = slimming_summary(torch.tensor([0, 1, 1, 2, 3]), ["drop", 0.5, 0.75, 1.0], feats)
    assert s["action_histogram"] == {"drop": 1, "0.5": 2, "0.75": 1, "1.0": 1} and s["kept_fraction"] == 0.8
    assert s["spearman_complexity_vs_scale"] > 0.9
    reverse = slimming_summary(torch.tensor([3, 2, 2, 1, 0]), ["drop", 0.5, 0.75, 1.0], feats)
    assert reverse["spearman_complexity_vs_scale"] < -0.9
    same = slimming_summary(torch.tensor([1, 1, 1, 1, 1]), [0.5, 1.0], feats)
    assert same["kept_fraction"] == 1.0 and same["spearman_complexity_vs_scale"] != same["spearman_complexity_vs_scale"]
