"""search/baselines.py: cost matching by bisection and by sampling, plans, and a run that trains every baseline."""
import json

import pytest
from search_testing import TINY, run_cli, tiny_config

import supernet
from search.baselines.plan import (
    SEARCHED,
    arch_macs,
    matched_random,
    matched_resolution,
    matched_uniform,
    plan_baseline,
    uniform_arch,
)
from search.config import BASELINE_KINDS
from search.errors import UserError
from search.report.report import MATCH_TOLERANCE
from supernet.space import MIN_WIDTH_FRACTION

SPACE = {"widest": 0.5}
SIZE = (32, 64)


def test_uniform_match_recovers_a_width():
    goal = arch_macs(supernet.baseline_arch("deeplabv3plus", 4, width_mult=0.5, **SPACE), SIZE)
    w, arch, macs = matched_uniform("deeplabv3plus", 4, SPACE, SIZE, goal)
    assert macs == goal  # the same widths, found by bisection
    assert arch["choices"] == supernet.baseline_arch("deeplabv3plus", 4, width_mult=w, **SPACE)["choices"]


def test_uniform_match_goes_below_the_old_narrowest_width():
    # the bisection used to stop at width 1/16, which the space rounds up to its narrowest option (1/4)
    old_floor = arch_macs(supernet.baseline_arch("deeplabv3plus", 4, width_mult=1 / 16, **SPACE), SIZE)
    goal = old_floor / 2
    w, arch, macs = matched_uniform("deeplabv3plus", 4, SPACE, SIZE, goal)
    assert w < 1 / 4 and arch_macs(arch, SIZE) == macs < old_floor
    assert abs(macs / goal - 1) <= MATCH_TOLERANCE


def test_plan_records_how_near_the_match_came():
    cfg = tiny_config(".")
    floor = arch_macs(uniform_arch("deeplabv3plus", 4, MIN_WIDTH_FRACTION, SPACE), SIZE)
    far = plan_baseline("uniform", cfg, 4, SIZE, reference_macs=floor / 3).matched  # below the narrowest uniform net
    assert far["within_tolerance"] is False and far["ratio"] == pytest.approx(3.0, rel=0.01)
    assert far["width_mult"] == pytest.approx(MIN_WIDTH_FRACTION, abs=1e-4) and far["macs"] == pytest.approx(floor)
    near = plan_baseline("uniform", cfg, 4, SIZE, reference_macs=1.02 * floor).matched
    assert near["within_tolerance"] is True and near["ratio"] == near["macs"] / near["reference"]


def test_resolution_match_within_tolerance():
    full = supernet.baseline_arch("pspnet", 4, **SPACE)
    goal = 0.3 * arch_macs(full, SIZE)
    s, arch, macs = matched_resolution("pspnet", 4, SPACE, SIZE, goal)
    assert abs(macs - goal) / goal < 0.08  # the side lengths are integers: steps of 1/32 in scale here
    assert arch["choices"] == full["choices"] | {"data.inference_scale": s}
    assert 0.4 < s < 0.7


def test_random_match_is_the_nearest_sample():
    goal = arch_macs(supernet.baseline_arch("deeplabv3plus", 4, width_mult=0.5, inference_scale=0.75, **SPACE), SIZE)
    seed, arch, macs = matched_random("deeplabv3plus", 4, SPACE, SIZE, goal, [0.5, 0.75, 1.0], seed=0, samples=6)
    assert 0 <= seed < 6 and arch_macs(arch, SIZE) == macs
    farther = matched_random("deeplabv3plus", 4, SPACE, SIZE, goal, [0.5, 0.75, 1.0], seed=0, samples=2)[2]
    assert abs(macs - goal) <= abs(farther - goal)


def test_plans():
    cfg = tiny_config(".", "baselines=[full]")
    assert plan_baseline("data_only", cfg, 4, SIZE).config.search.network is False
    # the data side is what data_only searches, also where the derived run holds the scale
    held = tiny_config(".", "baselines=[full]", "search.search_resolution=false")
    assert plan_baseline("data_only", held, 4, SIZE).config.search.search_resolution is True
    assert plan_baseline("network_only", held, 4, SIZE).config.search.search_resolution is False
    assert plan_baseline("full", cfg, 4, SIZE).config.baselines == []  # no baselines of baselines
    assert plan_baseline("uniform:0.5", cfg, 4, SIZE).matched == {"width_mult": 0.5}
    assert plan_baseline("resolution:0.75", cfg, 4, SIZE).arch["data"]["inference_scale"] == 0.75
    with pytest.raises(UserError, match="matches the derived network's cost"):
        plan_baseline("uniform", cfg, 4, SIZE)
    assert set(SEARCHED) < set(BASELINE_KINDS)


@pytest.mark.parametrize("names, message", [("[huge]", "unknown baseline 'huge'"), ("[full, full]", "twice"),
                                            ("['uniform:2']", "number in \\(0, 1\\]"),
                                            ("['full:0.5']", "expected full:VALUE")])
def test_bad_baselines_config(names, message):
    with pytest.raises(UserError, match=message):
        tiny_config(".", f"baselines={names}")


def test_run_reports_every_baseline(tmp_path):
    names = list(BASELINE_KINDS)
    out = tmp_path / "run"
    code, _, stderr = run_cli("run", TINY, "--out", out, f"data.cache_dir={tmp_path / 'cache'}",
                              f"baselines=[{', '.join(names)}]")
    assert code == 0, stderr
    report = json.loads((out / "report.json").read_text())
    runs = {r["name"]: r for r in report["runs"]}
    assert list(runs) == ["derived", *names]
    for name, run in runs.items():
        assert 0.0 <= run["miou"] <= 1.0
        assert run["inference"]["jetson_tx2"]["energy_j"] > 0 and run["training"]["jetson_tx2"]["energy_j"] > 0
        assert run["training"]["wall_s"] > 0
        if name != "derived":
            assert (out / run["dir"] / "report.json").is_file()
    goal = runs["derived"]["inference"]["jetson_tx2"]["macs"]
    for name in ("uniform", "resolution", "random"):
        assert runs[name]["matched"]["macs"] == runs[name]["inference"]["jetson_tx2"]["macs"]
        assert runs[name]["matched"]["reference"] == goal
        assert runs[name]["matched"]["ratio"] == runs[name]["matched"]["macs"] / goal
    assert abs(runs["resolution"]["inference"]["jetson_tx2"]["macs"] - goal) / goal < 0.15
    assert runs["full"]["inference"]["jetson_tx2"]["macs"] > goal or goal == runs["full"]["inference"]["jetson_tx2"]["macs"]
    md = (out / "report.md").read_text()
    assert "## Against the full network" in md
    assert f"| uniform | width {runs['uniform']['matched']['width_mult']:.3g}" in md
    assert f"| random | seed {runs['random']['matched']['seed']}" in md
    assert (out / "pareto_training.png").is_file()
    # a finished run with baselines resumes to "already complete"
    code, _, stderr = run_cli("run", "--resume", "--out", out)
    assert code == 0 and "already complete" in stderr


def test_train_matches_an_arch(tmp_path):
    target = supernet.baseline_arch("deeplabv3plus", 4, width_mult=0.5, **SPACE)
    supernet.save_arch(target, tmp_path / "arch.json")
    out = tmp_path / "u"
    code, _, stderr = run_cli("train", TINY, "--baseline", "uniform", "--match", tmp_path / "arch.json",
                              "--out", out, f"data.cache_dir={tmp_path / 'cache'}")
    assert code == 0, stderr
    run = json.loads((out / "report.json").read_text())["runs"][0]
    assert run["inference"]["jetson_tx2"]["macs"] == arch_macs(target, SIZE)
    code, _, stderr = run_cli("train", TINY, "--baseline", "uniform", "--out", tmp_path / "v")
    assert code != 0 and "--match" in stderr
