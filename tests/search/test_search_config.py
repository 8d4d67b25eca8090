"""search/config.py: YAML + overrides into dataclasses; every bad key or value is a UserError."""
import pytest
import yaml

from search.errors import UserError
from search.config import (DEFAULT_CONFIG, Config, diff_configs, dump_yaml, from_dict, load_config,
                           parse_override, to_dict)


def test_defaults_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("search:\n  lambda_inf: 2\n  gate_actions: [drop, 1.0]\nmodel:\n  family: pspnet\n")
    cfg = load_config(path, ["search.steps=7", "data.image_size=[16, 32]", "search.budget=null", "run.device=cpu"])
    assert cfg.search.lambda_inf == 2.0 and isinstance(cfg.search.lambda_inf, float)
    assert cfg.search.gate_actions == ["drop", 1.0]
    assert cfg.model.family == "pspnet" and cfg.search.steps == 7 and cfg.data.image_size == [16, 32]
    assert cfg.search.budget is None and cfg.run.device == "cpu"
    assert cfg.train == Config().train


def test_round_trip_through_yaml(tmp_path):
    cfg = load_config(None, ["search.lambda_inf=0.3", "model.space={widths: [0.5, 1.0]}"])
    path = tmp_path / "config.yaml"
    path.write_text(dump_yaml(cfg))
    assert load_config(path) == cfg
    assert from_dict(yaml.safe_load(path.read_text())) == cfg


def test_default_config_file_loads():
    assert DEFAULT_CONFIG.is_file()
    load_config(DEFAULT_CONFIG)


@pytest.mark.parametrize("overrides, needle", [
    (["search.lamda_inf=1"], "unknown key search.lamda_inf; allowed in section 'search': warmup_steps"),
    (["serch.steps=1"], "unknown key serch; allowed in the config: data, model, search"),
    (["search.steps=many"], "search.steps must be int, got 'many'"),
    (["search.steps=1.5"], "search.steps must be int"),
    (["search.data_gates=3"], "search.data_gates must be bool"),
    (["cost.targets=jetson_tx2"], "cost.targets must be list[str]"),
    (["data.image_size=[1, x]"], "data.image_size must be list[int]"),
    (["search=3"], "search must be a mapping of warmup_steps"),
    (["train.init=random"], "train.init must be one of inherit, fresh, got 'random'"),
    (["search.gate_regret=pixels"], "search.gate_regret must be one of labels, network, got 'pixels'"),
    (["data.batch_size=0"], "data.batch_size must be > 0"),
    (["search.lambda_inf=-1"], "search.lambda_inf must be >= 0"),
    (["data.image_size=[8]"], "data.image_size must be [height, width]"),
    (["lambda"], "expected key=value"),
    (["search.gate_actions=[drop, 2]"], "search.gate_actions must be distinct 'drop' or scales in (0, 1] with at least one scale, got ['drop', 2.0]"),
    (["search.gate_actions=[drop]"], "search.gate_actions must be distinct"),
    (["search.gate_actions=[drop, drop, 1.0]"], "search.gate_actions must not repeat an action"),
    (["search.inference_scales=[0.5, 0.5]"], "search.inference_scales must be distinct scales"),
    (["search.inference_scales=[]"], "search.inference_scales must be distinct scales"),
])
def test_bad_overrides(overrides, needle):
    with pytest.raises(UserError, match=None) as err:
        load_config(None, overrides)
    assert needle in str(err.value)


def test_bad_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("search: [1, 2\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="mapping of sections"):
        load_config(bad)
    bad.write_text("search:\n  tau_end: fast\n")
    with pytest.raises(UserError, match=f"{bad}: search.tau_end must be float"):
        load_config(bad)


def test_parse_override_reads_yaml():
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])
    assert parse_override("a.b=yes") == ("a.b", True)
    assert parse_override("a.b=") == ("a.b", None)


def test_diff_configs_names_keys():
    a = to_dict(load_config(None, ["search.lambda_inf=1", "model.space={x: 1}"]))
    b = to_dict(Config())
    assert diff_configs(a, b) == ["model.space", "search.lambda_inf"]
    assert diff_configs(a, b, ignore=("model.space",)) == ["search.lambda_inf"]
    assert diff_configs(b, b) == []
