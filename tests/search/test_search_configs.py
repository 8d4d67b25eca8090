"""Every config in experiments/configs loads, validates and names existing families and targets."""
from pathlib import Path

import pytest

from search.config import CONFIGS_DIR, diff_configs, load_config, to_dict
from search.pipeline import check_names

CONFIGS = sorted(Path(CONFIGS_DIR).glob("*.yaml"))


def test_the_expected_configs_exist():
    names = {p.stem for p in CONFIGS}
    for family in ("deeplabv3plus", "pspnet", "multires"):
        assert {f"benchmark_{family}", f"{family}_cityscapes-512x1024_gpu", f"{family}_camvid-360x480_gpu"} <= names
    assert "quick" in names


def test_the_shapes_benchmark_keeps_the_benchmark_protocol():
    """benchmark_shapes_<family> is benchmark_<family> on synthetic_shapes (images at least 64x128, its own
    class count) with the training recipe chosen on val (experiments/recipe_search.py: optimizer, schedule,
    augmentation, also for the search's weight steps; experiments/loss_val.py: the loss) and, also chosen on
    val, without the per-image data gate (results/shapes_vs_synthetic.md); everything else is the same: the
    budget, the cost target, the search and the baselines, except, also chosen on val, the inference scale
    held at 1.0 (results/search_val.md §12) and multires's fresh weights after the search
    (results/multires_shapes_val.md)."""
    weights = ("optimizer", "lr", "momentum", "nesterov", "betas", "weight_decay")
    recipe = (*(f"train.{k}" for k in weights), *(f"search.w_{k}" for k in weights),
              "train.schedule", "train.poly_power", "train.warmup_steps", "data.augment", "train.loss",
              "search.data_gates", "train.data_gates")
    for family in ("deeplabv3plus", "pspnet", "multires"):
        shapes = load_config(Path(CONFIGS_DIR) / f"benchmark_shapes_{family}.yaml")
        base = load_config(Path(CONFIGS_DIR) / f"benchmark_{family}.yaml")
        held = ["search.search_resolution", *(["train.init"] if family == "multires" else [])]
        assert sorted(diff_configs(to_dict(shapes), to_dict(base), ignore=recipe)) == sorted(
            ["data.name", "data.num_classes", *held])
        assert shapes.data.image_size[0] >= 64 and shapes.data.image_size[1] >= 128


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_loads(path):
    cfg = load_config(path)
    check_names(cfg)
    if path.stem.startswith("benchmark_"):
        assert {"jetson_tx2", "zc706"} <= set(cfg.cost.targets)
        assert set(cfg.baselines) == {"full", "uniform", "resolution", "network_only", "data_only", "random"}
        shapes = path.stem.startswith("benchmark_shapes_")
        assert cfg.run.device == "cpu" and cfg.data.name == ("synthetic_shapes" if shapes else "synthetic")
    if path.stem.endswith("_gpu"):
        assert cfg.run.device == "cuda" and cfg.data.name in ("cityscapes", "camvid")
