"""Every config in experiments/configs loads, validates and names existing families and targets."""
from pathlib import Path

import pytest

from search.config import CONFIGS_DIR, load_config
from search.pipeline import check_names

CONFIGS = sorted(Path(CONFIGS_DIR).glob("*.yaml"))


def test_the_expected_configs_exist():
    names = {p.stem for p in CONFIGS}
    for family in ("deeplabv3plus", "pspnet", "multires"):
        assert {f"benchmark_{family}", f"{family}_cityscapes-512x1024_gpu", f"{family}_camvid-360x480_gpu"} <= names
    assert "quick" in names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_loads(path):
    cfg = load_config(path)
    check_names(cfg)
    if path.stem.startswith("benchmark_"):
        assert {"jetson_tx2", "zc706"} <= set(cfg.cost.targets)
        assert set(cfg.baselines) == {"full", "uniform", "resolution", "network_only", "data_only", "random"}
        assert cfg.run.device == "cpu" and cfg.data.name == "synthetic"
    if path.stem.endswith("_gpu"):
        assert cfg.run.device == "cuda" and cfg.data.name in ("cityscapes", "camvid")
