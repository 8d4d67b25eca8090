"""Raising lambda_inf lowers the derived network's cost (DESIGN.md §2), on the tiny config."""
import json

from search_testing import tiny_config

import cost_models
import supernet
from search.pipeline import STAGES, run_pipeline


def derived_macs(arch: dict, size=(32, 64)) -> float:
    scale = arch["data"]["inference_scale"]
    shape = (1, 3, supernet.scaled_size(size[0], scale), supernet.scaled_size(size[1], scale))
    return cost_models.profile(supernet.build_from_arch(arch), shape, target="jetson_tx2").macs


def test_raising_lambda_lowers_the_derived_cost(tmp_path):
    costs = []
    for lam in (0.0, 0.3, 10.0):
        cfg = tiny_config(tmp_path / "cache", f"search.lambda_inf={lam}", "search.steps=6",
                          "search.cost_metric=macs", "search.arch_lr=0.2")
        out = run_pipeline(cfg, tmp_path / f"lam{lam}", stages=STAGES["search"], echo=False)
        costs.append(derived_macs(json.loads((out / "arch.json").read_text())))
    assert costs[0] > costs[1] > costs[2], costs
    assert costs[2] < 0.5 * costs[0], costs
