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
    (["search.gate_regret=pixels"], "search.gate_regret must be one of labels, network, learning, got 'pixels'"),
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


# -- hardening: strict files, finite numbers in range, limits, typed overrides --------------------

def laughs() -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text, needle", [
    ("search:\n  steps: 1\n  w_lr: 0.1\n  steps: 2\n", "c.yaml, line 4: duplicate key 'steps' (first on line 2)"),
    ("search:\n  steps: 1\nsearch:\n  steps: 2\n", "c.yaml, line 3: duplicate key 'search'"),
    (laughs(), "c.yaml, line 1: anchors and aliases (&name, *name) are not allowed"),
    ("search: {lambda_inf: 0.1}\n" + "#\n" * 600_000, "c.yaml: larger than 1048576 bytes"),
])
def test_config_files_are_read_strictly(tmp_path, text, needle):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        load_config(path)
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("overrides, needle", [
    (["search.lambda_inf=.nan"], "search.lambda_inf must be a finite number, got nan"),
    (["search.w_lr=.nan"], "search.w_lr must be a finite number, got nan"),
    (["search.tau_end=.inf"], "search.tau_end must be a finite number, got inf"),
    (["search.gate_actions=[drop, .nan]"], "search.gate_actions must be finite numbers"),
    (["search.budget=-1"], "search.budget must be > 0, got -1.0 (null: the widest network's cost at full resolution)"),
    (["search.budget=0"], "search.budget must be > 0, got 0.0"),
    (["search.w_lr=0"], "search.w_lr must be > 0"),
    (["search.w_momentum=1"], "search.w_momentum must be in [0, 1), got 1.0"),
    (["train.lr=-1"], "train.lr must be > 0, got -1.0"),
    (["train.weight_decay=-0.1"], "train.weight_decay must be >= 0"),
    (["train.optimizer=adam"], "train.optimizer must be one of sgd, adamw, got 'adam'"),
    (["search.w_optimizer=lion"], "search.w_optimizer must be one of sgd, adamw, got 'lion'"),
    (["train.schedule=step"], "train.schedule must be one of cosine, poly, got 'step'"),
    (["train.poly_power=0"], "train.poly_power must be > 0, got 0.0"),
    (["train.betas=[0.9, 1.0]"], "train.betas must be in [0, 1), got [0.9, 1.0]"),
    (["search.w_betas=[0.9]"], "search.w_betas must be [beta1, beta2], got [0.9]"),
    (["train.betas=0.9"], "train.betas must be list[float]"),
    (["train.nesterov=true", "train.momentum=0"], "train.nesterov needs train.momentum > 0, got 0.0"),
    (["search.w_nesterov=yes", "search.w_momentum=0"], "search.w_nesterov needs search.w_momentum > 0"),
    (["run.threads=100000"], "run.threads must be in [0, 4096], got 100000"),
    (["run.seed=-1"], "run.seed must be in [0, 9223372036854775808)"),
    (["data.val_from_train=1"], "data.val_from_train must be in [0, 1), got 1.0"),
    (["data.num_train=0"], "data.num_train must be > 0, got 0"),
    (["data.num_classes=300"], "data.num_classes must be in [2, 255], got 300"),
    (["data.split=val"], "unknown key data.split; allowed in section 'data': name"),
    (["data.test_split=testing"], "data.test_split must be one of train, val, test, got 'testing'"),
    (["data.name=mnist"], "data.name must be one of synthetic, synthetic_shapes, cityscapes, camvid, folder, got 'mnist'"),
    (["data.name=camvid"], "data.root is required for data.name=camvid"),
    (["data.name=folder", "data.root=/d"], "data.classes must list the class names for data.name=folder"),
    (["data.batch_size=1"], "data.batch_size must be >= 2 when train.recalibrate_bn is true"),
    (["data.image_size=[4, 4]"], "data.image_size must be [height, width] of ints >= 8, got [4, 4]"),
    (["data.image_size=[100000, 100000]"], "data.image_size = [100000, 100000] is 10000000000 pixels, above "
                                           "data.max_pixels (67108864); raise data.max_pixels"),
    (["cost.input_size=[65536, 65536]"], "cost.input_size = [65536, 65536] is 4294967296 pixels, above data.max_pixels"),
    (["data.crop=[8, 9]", "data.image_size=[8, 8]", "data.max_pixels=64"],
     "data.crop = [8, 9] is 72 pixels, above data.max_pixels (64)"),
    (["data.name=camvid", "data.root=/d", "data.options={resize: [99999, 99999]}"],
     "data.options.resize = [99999, 99999] is 9999800001 pixels"),
    (["data.options={colour: 1}"], "unknown key data.options.colour for data.name=synthetic; allowed: augment"),
    (["data.options={imagesize: [8, 8]}"], "did you mean data.options.image_size?"),
    (["model.space={width_fractions: [0.0001]}"], "model.space.width_fractions must be a list of fractions in [1/64, 1], got [0.0001]"),
    (["model.space={widest: 100}"], "model.space.widest = 100 makes the widest layer of deeplabv3plus 38400 channels, "
                                    "above model.max_channels (4096)"),
    (["model.space={widest: .inf}"], "model.space.widest must be a finite number > 0, got inf"),
    (["model.space={widest: 0}"], "model.space.widest must be a finite number > 0, got 0"),
    (["model.family=unet"], "model.family: unknown family 'unet'; known families: deeplabv3plus"),
    (["model.max_channels=0"], "model.max_channels must be > 0"),
])
def test_every_number_is_checked_before_work_starts(overrides, needle):
    with pytest.raises(UserError) as err:
        load_config(None, overrides)
    assert needle in str(err.value)


def test_limits_and_cross_field_rules_can_be_met():
    cfg = load_config(None, ["model.space={widest: 100}", "model.max_channels=40000", "data.image_size=[16384, 8192]",
                             "data.max_pixels=134217728", "data.batch_size=1", "train.recalibrate_bn=false",
                             "search.budget=2.5", "search.lambda_inf=1e-3"])
    assert cfg.model.max_channels == 40000 and cfg.data.batch_size == 1 and cfg.search.budget == 2.5
    assert cfg.search.lambda_inf == 0.001
    from search.config import GENERATED
    from search.data.base import MAX_PIXELS
    from search.data.build import GENERATORS
    from supernet.space import MAX_CHANNELS
    assert (Config().data.max_pixels, Config().model.max_channels) == (MAX_PIXELS, MAX_CHANNELS)
    assert set(GENERATED) == set(GENERATORS)


def test_apply_limits_raises_the_supernet_limit(monkeypatch):
    import supernet
    from search.config import apply_limits

    monkeypatch.setattr(supernet.space, "MAX_CHANNELS", supernet.space.MAX_CHANNELS)  # restored afterwards
    cfg = load_config(None, ["model.family=pspnet", "model.space={widest: 50}", "model.max_channels=8000"])
    with pytest.raises(supernet.ArchError, match="above the limit of 4096"):
        supernet.arch.site_options("pspnet", 3, **cfg.model.space)
    apply_limits(cfg)
    assert max(max(o) for o in supernet.arch.site_options("pspnet", 3, **cfg.model.space)[0].values()) == 4800


@pytest.mark.parametrize("override, key, value", [
    ("data.root=/data/my set #2", "data.root", "/data/my set #2"),
    ("data.root='quoted'", "data.root", "'quoted'"),
    ("data.root=[not, a, list]", "data.root", "[not, a, list]"),
    ("data.root=null", "data.root", None),
    ("data.root=", "data.root", None),
    ("search.target=a: b", "search.target", "a: b"),
    ("search.steps=7  # seven", "search.steps", 7),
    ("search.lambda_inf=1e-3", "search.lambda_inf", 0.001),
    ("search.network=no", "search.network", False),
    ("data.image_size=[16, 32]", "data.image_size", [16, 32]),
    ("model.space={widest: 0.5}", "model.space", {"widest": 0.5}),
])
def test_overrides_are_typed_by_the_schema(override, key, value):
    assert parse_override(override) == (key, value)


def test_numeric_class_names_and_whole_numbers(tmp_path):
    cfg = load_config(None, ["data.name=folder", "data.root=/d", "data.classes=[background, 0, 1]", "search.steps=1e3"])
    assert cfg.data.classes == ["background", "0", "1"] and cfg.search.steps == 1000
    with pytest.raises(UserError, match=r"data.classes must be list\[str\], got \['a', True\]"):
        load_config(None, ["data.classes=[a, yes]"])


@pytest.mark.parametrize("override, needle", [
    ("search.lamda_inf=1", "did you mean search.lambda_inf?"),
    ("lambda_inf=1", "unknown key lambda_inf; allowed in the config: data, model, search, train, eval, cost, run, "
                     "baselines; did you mean search.lambda_inf?"),
    ("serch.steps=1", "did you mean search?"),
    ("train.recalibrate=false", "did you mean train.recalibrate_bn?"),
])
def test_unknown_keys_suggest_the_closest(override, needle):
    with pytest.raises(UserError) as err:
        load_config(None, [override])
    assert needle in str(err.value) and str(err.value).startswith(f"override {override!r}: ")


def test_errors_name_the_override_or_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("search:\n  budget: 1.0\n  steps: 10\ndata:\n  batch_size: 4\n")
    for override, needle in (("search.budget=-1", "search.budget must be > 0"),
                             ("search.steps=many", "search.steps must be int"),
                             ("search.stepz=3", "unknown key search.stepz"),
                             ("search={steps: -1}", "search.steps must be >= 0"),
                             ("data.batch_size=1", "data.batch_size must be >= 2 when train.recalibrate_bn")):
        with pytest.raises(UserError) as err:
            load_config(path, [override])
        assert str(err.value).startswith(f"override {override!r}: {needle}"), str(err.value)
    with pytest.raises(UserError, match=r"^override 'data.image_size=\[1, 2', line 1: not valid YAML"):
        load_config(path, ["data.image_size=[1, 2"])
    path.write_text("search:\n  budget: 0\n")
    with pytest.raises(UserError, match=f"^{path}: search.budget must be > 0"):
        load_config(path, ["search.steps=3"])
