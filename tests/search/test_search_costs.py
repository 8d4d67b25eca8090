"""search/costs.py: inference and training cost of a fixed net on every target."""
import pytest
from torch import nn

import cost_models
from search.report.costs import Deployed, inference_costs, training_costs


def net():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1))


def test_inference_cost_shrinks_with_scale_and_includes_the_upsampling():
    full = inference_costs(net(), (32, 64), 1.0, ["jetson_tx2"])["jetson_tx2"]
    half = inference_costs(net(), (32, 64), 0.5, ["jetson_tx2"])["jetson_tx2"]
    assert half["input_shape"] == [1, 3, 16, 32] and half["macs"] == pytest.approx(full["macs"] / 4)
    plain = cost_models.profile(net(), (1, 3, 16, 32), target="jetson_tx2")
    assert half["energy_j"] > plain.energy_j  # + resizing the logits to 32x64


def test_training_cost_counts_kept_images_only():
    one = training_costs(net(), (32, 64), {1.0: 1}, ["jetson_tx2"])["jetson_tx2"]
    mixed = training_costs(net(), (32, 64), {"drop": 5, 0.5: 2, 1.0: 3}, ["jetson_tx2"])["jetson_tx2"]
    assert mixed["images"] == 5 and mixed["per_action"]["drop"]["energy_j"] == 0.0
    assert 3 * one["energy_j"] < mixed["energy_j"] < 5 * one["energy_j"]
    train_one = cost_models.profile(Deployed(net(), (32, 64)), (1, 3, 32, 64), "jetson_tx2", training=True)
    assert one["macs"] == pytest.approx(train_one.macs)
