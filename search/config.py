"""The run configuration: nested dataclasses, read from YAML, overridden by ``key=value``.

Every field has a default, so an empty file is a valid config. Unknown keys and values of
the wrong type are :class:`~search.cli.UserError` naming the key and what is allowed.

>>> cfg = load_config(None, ["search.lambda_inf=0.5", "model.family=pspnet"])
>>> cfg.search.lambda_inf, cfg.model.family
(0.5, 'pspnet')
>>> diff_configs(to_dict(cfg), to_dict(Config()))
['model.family', 'search.lambda_inf']
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import yaml

from .errors import UserError

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "experiments" / "configs"
DEFAULT_CONFIG = CONFIGS_DIR / "quick.yaml"


@dataclass
class DataConfig:
    """What to train on; the dataset fields go to ``search.data.build_dataset``."""

    name: str = "synthetic"                # synthetic | cityscapes | camvid | folder
    root: Optional[str] = None             # dataset folder (real datasets)
    classes: list[str] = field(default_factory=list)   # class names (folder layout)
    seed: int = 0                          # synthetic scenes and training augmentation
    image_size: list[int] = field(default_factory=lambda: [64, 128])   # synthetic image H, W
    num_classes: int = 8                   # synthetic: number of classes
    num_train: int = 128                   # synthetic: images in the train split
    num_val: int = 32                      # synthetic: images in the validation split
    num_test: int = 32                     # synthetic: images in the test split
    train_split: str = "train"             # used to update the weights W
    val_split: str = "val"                 # used to update alpha, rho, phi (held out from W)
    val_from_train: float = 0.0            # > 0: the val split is this share of the train split, held out
    test_split: str = "test"               # the split the final mIoU is measured on
    crop: Optional[list[int]] = None       # training crop H, W; None: the whole image
    augment: bool = True                   # random scale, crop and flip of training images
    options: dict[str, Any] = field(default_factory=dict)   # more build_dataset keys (resize, scale_range, ...)
    batch_size: int = 8                    # images per step, all ranks together
    in_memory: bool = False                # keep decoded images in memory (small datasets)
    cache_dir: Optional[str] = None        # complexity-feature cache; None: beside the data


@dataclass
class ModelConfig:
    """The searchable network: a ``supernet.FAMILIES`` name and its search-space options."""

    family: str = "deeplabv3plus"
    space: dict[str, Any] = field(default_factory=dict)   # passed to supernet.build_supernet


@dataclass
class SearchConfig:
    """The co-search of DESIGN.md §2."""

    warmup_steps: int = 40                 # W only, uniform random archs
    steps: int = 120                       # alternating W / (alpha, rho, phi) steps
    arch_every: int = 1                    # one arch step after every N weight steps
    w_lr: float = 0.05
    w_momentum: float = 0.9
    w_weight_decay: float = 1e-4
    arch_lr: float = 0.01                  # Adam, as in DARTS / FBNet
    arch_weight_decay: float = 0.0
    arch_sampling: str = "soft"            # alpha step: soft (FBNetV2) or hard (straight-through) Gumbel
    derive_rule: str = "expected"          # expected: width nearest E[width], keep if P >= 0.5; or argmax
    gate_lr: float = 0.01
    gate_steps: int = 5                    # gate (phi) steps after each regret probe
    gate_buffer: int = 128                 # the gate learns from this many most recently probed images
    gate_regret: str = "labels"            # a downsample's regret: labels (pixels lost) or network (its loss increase)
    tau_start: float = 5.0                 # Gumbel temperature, annealed exponentially
    tau_end: float = 0.1
    target: str = "jetson_tx2"             # the cost model in the loss
    cost_metric: str = "energy_j"          # energy_j | latency_s | macs | dram_bytes
    lambda_inf: float = 0.1                # weight of E[inference cost] / budget (ignored when target_cost is set)
    target_cost: Optional[float] = None    # inference cost to reach on `target` in `cost_metric`, as a fraction
                                           # (0, 1] of the full network's (widest, every branch, scale 1.0);
                                           # null: no target, lambda_inf weighs the cost instead
    target_cost_absolute: bool = False     # true: target_cost is in cost_metric units (e.g. MACs), not a fraction
    target_lr: float = 0.1                 # dual ascent step of the cost multiplier: lam += lr * (cost / target - 1)
    target_penalty: float = 10.0           # weight of the quadratic term (augmented Lagrangian): damps the multiplier
    target_two_sided: bool = True          # true: lam may go below 0 so a too-cheap net grows back to the target
                                           # (an equality); false: lam >= 0, target_cost is only an upper bound
    lambda_train: float = 0.1              # weight of the training cost in the gate objective
    budget: Optional[float] = None         # in cost_metric units; None: the widest net at full res
    network: bool = True                   # search the network (alpha); false: keep the full network
    data_gates: bool = True                # search the per-image train actions (phi)
    search_resolution: bool = True         # search the inference resolution (rho)
    gate_actions: list[Union[str, float]] = field(default_factory=lambda: ["drop", 0.5, 0.75, 1.0])
    inference_scales: list[float] = field(default_factory=lambda: [0.5, 0.75, 1.0])


@dataclass
class TrainConfig:
    """Retraining of the derived (or a baseline) network."""

    steps: int = 150
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    init: str = "inherit"                  # inherit: supernet weights sliced in; fresh: new weights
    data_gates: bool = True                # apply the learned per-image actions while training
    warmup_steps: int = 5                  # linear learning-rate warm-up, then cosine decay
    recalibrate_bn: bool = True            # after training: batch-norm statistics at the inference scale (FixRes)


@dataclass
class EvalConfig:
    batch_size: int = 8


@dataclass
class CostConfig:
    """Where the derived network's costs are reported."""

    targets: list[str] = field(default_factory=lambda: ["jetson_tx2"])
    input_size: Optional[list[int]] = None  # deployment H, W at scale 1.0; None: the data's size


@dataclass
class RunConfig:
    seed: int = 0
    device: str = "auto"                   # auto | cpu | cuda
    threads: int = 0                       # torch intra-op threads; 0: leave torch's default
    checkpoint_every: int = 50             # steps between checkpoints (and one at each phase end)
    log_every: int = 10                    # steps between metric records
    progress: bool = True                  # periodic progress line on stderr


# baselines a run can train beside the derived network (search/baselines.py); "uniform:0.5",
# "resolution:0.75" and "random:SEED" fix the parameter instead of matching the derived net's cost
BASELINE_KINDS = ("full", "uniform", "resolution", "network_only", "data_only", "random")


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    run: RunConfig = field(default_factory=RunConfig)
    baselines: list[str] = field(default_factory=list)   # trained after the derived net, same schedule


# -- reading ------------------------------------------------------------------------------------

def load_config(path: str | Path | None, overrides: list[str] = ()) -> Config:
    """The config in ``path`` (None: all defaults) with ``key=value`` overrides applied."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = read_yaml(path)
    for item in overrides:
        key, value = parse_override(item)
        _set_dotted(raw, key, value, item)
    return from_dict(raw, where=str(path) if path is not None else "config")


# value constraints beyond the type: dotted key -> allowed values
CHOICES: dict[str, tuple[Any, ...]] = {
    "train.init": ("inherit", "fresh"),
    "search.cost_metric": ("energy_j", "latency_s", "macs", "dram_bytes"),
    "run.device": ("auto", "cpu", "cuda"),
    "search.arch_sampling": ("soft", "hard"),
    "search.derive_rule": ("expected", "argmax"),
    "search.gate_regret": ("labels", "network"),
}
POSITIVE = ("data.batch_size", "eval.batch_size", "search.arch_every", "search.gate_steps", "search.gate_buffer", "run.checkpoint_every",
            "run.log_every", "search.tau_start", "search.tau_end")
NON_NEGATIVE = ("search.warmup_steps", "search.steps", "train.steps", "train.warmup_steps",
                "search.lambda_inf", "search.lambda_train", "run.threads")


def validate(cfg: Config, where: str = "config") -> Config:
    """Check the values that a type cannot express; returns ``cfg``."""
    flat = flatten(to_dict(cfg))
    for key, allowed in CHOICES.items():
        if flat[key] not in allowed:
            raise UserError(f"{where}: {key} must be one of {', '.join(map(str, allowed))}, got {flat[key]!r}")
    for key in POSITIVE:
        if not flat[key] > 0:
            raise UserError(f"{where}: {key} must be > 0, got {flat[key]!r}")
    for key in NON_NEGATIVE:
        if flat[key] < 0:
            raise UserError(f"{where}: {key} must be >= 0, got {flat[key]!r}")
    for key in ("data.image_size", "data.crop", "cost.input_size"):
        value = flat[key]
        if value is not None and (len(value) != 2 or min(value) <= 0):
            raise UserError(f"{where}: {key} must be [height, width] of positive ints, got {value!r}")
    if not 0.0 <= cfg.data.val_from_train < 1.0:
        raise UserError(f"{where}: data.val_from_train must be in [0, 1), got {cfg.data.val_from_train!r}")
    target = cfg.search.target_cost
    if target is not None:
        if not target > 0 or (not cfg.search.target_cost_absolute and target > 1):
            what = ("> 0 (in search.cost_metric units, search.target_cost_absolute: true)"
                    if cfg.search.target_cost_absolute else
                    "a fraction in (0, 1] of the full network's cost (or set search.target_cost_absolute: true)")
            raise UserError(f"{where}: search.target_cost must be {what}, got {target!r}")
        if not cfg.search.target_lr > 0:
            raise UserError(f"{where}: search.target_lr must be > 0, got {cfg.search.target_lr!r}")
        if cfg.search.target_penalty < 0:
            raise UserError(f"{where}: search.target_penalty must be >= 0, got {cfg.search.target_penalty!r}")
    if not cfg.cost.targets:
        raise UserError(f"{where}: cost.targets must name at least one target")
    from supernet.gates import parse_actions, parse_scales  # noqa: PLC0415 (torch only when validating)

    if cfg.search.gate_actions.count("drop") > 1:
        raise UserError(f"{where}: search.gate_actions must not repeat an action, got {cfg.search.gate_actions!r}")
    _check_with(parse_actions, cfg.search.gate_actions, "search.gate_actions", "'drop' or scales", where)
    _check_with(parse_scales, cfg.search.inference_scales, "search.inference_scales", "scales", where)
    for name in cfg.baselines:
        check_baseline_name(name, f"{where}: baselines")
    if len(set(cfg.baselines)) != len(cfg.baselines):
        raise UserError(f"{where}: baselines lists a name twice: {cfg.baselines}")
    return cfg


def check_baseline_name(name: str, where: str = "baseline") -> tuple[str, float | None]:
    """``"uniform:0.5"`` -> ``("uniform", 0.5)``; a UserError for an unknown kind or a bad parameter.

    >>> check_baseline_name("full"), check_baseline_name("resolution:0.75")
    (('full', None), ('resolution', 0.75))
    """
    kind, sep, param = str(name).partition(":")
    if kind not in BASELINE_KINDS:
        raise UserError(f"{where}: unknown baseline {name!r}; expected one of {', '.join(BASELINE_KINDS)} "
                        f"(uniform, resolution and random take an optional :VALUE)")
    if not sep:
        return kind, None
    try:
        value = float(param)
    except ValueError:
        value = None
    ok = value is not None and (kind == "random" and value >= 0 and value == int(value) or
                                kind in ("uniform", "resolution") and 0 < value <= 1)
    if not ok:
        what = "a seed (int >= 0)" if kind == "random" else "a number in (0, 1]"
        raise UserError(f"{where}: baseline {name!r}: expected {kind}:VALUE with VALUE {what}")
    return kind, value


def _check_with(parse: Callable[[Any], Any], values: list[Any], key: str, what: str, where: str) -> None:
    """Run the gates' own validator on ``values``; its ValueError becomes a UserError naming ``key``."""
    try:
        parse(values)
    except ValueError:
        raise UserError(f"{where}: {key} must be distinct {what} in (0, 1] with at least one scale, "
                        f"got {values!r}") from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML: {err}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections ({', '.join(_names(Config))}) at the top level")
    return raw


def parse_override(item: str) -> tuple[str, Any]:
    """``"search.lambda_inf=0.5"`` -> ``("search.lambda_inf", 0.5)``; the value is read as YAML."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"override {item!r}: expected key=value, e.g. search.lambda_inf=0.5")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    return key.strip(), value


def _set_dotted(raw: dict[str, Any], key: str, value: Any, item: str) -> None:
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"override {item!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def from_dict(raw: dict[str, Any], where: str = "config") -> Config:
    """Build and check a :class:`Config` from nested plain dicts."""
    return validate(_build(Config, raw, where, ""), where)


def _names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _build(cls: type, raw: Any, where: str, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise UserError(f"{where}: {prefix.rstrip('.') or 'config'} must be a mapping of "
                        f"{', '.join(_names(cls))}, got {raw!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in raw.items():
        if key not in known:
            what = f"section {prefix.rstrip('.')!r}" if prefix else "the config"
            raise UserError(f"{where}: unknown key {prefix}{key!s}; allowed in {what}: {', '.join(known)}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value if value is not None else {}, where, f"{prefix}{key}.")
        else:
            kwargs[key] = _check(value, hint, where, f"{prefix}{key}")
    return cls(**kwargs)


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(hint))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(hint))
        return f"{origin.__name__}[{args}]"
    return "any" if hint is Any else hint.__name__


def _check(value: Any, hint: Any, where: str, key: str) -> Any:
    """``value`` converted to ``hint`` (int -> float only), or a UserError naming ``key``."""
    ok, out = _coerce(value, hint)
    if not ok:
        raise UserError(f"{where}: {key} must be {_type_name(hint)}, got {value!r}")
    return out


def _coerce(value: Any, hint: Any) -> tuple[bool, Any]:
    if hint is Any:
        return True, value
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(hint):
            ok, out = _coerce(value, arg)
            if ok:
                return True, out
        return False, None
    if hint is type(None):
        return value is None, None
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            return False, None
        items = [_coerce(v, item) for v in value]
        return all(ok for ok, _ in items), [v for _, v in items]
    if origin is dict:
        return isinstance(value, dict), value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else None
    if hint is str:
        return isinstance(value, str), value
    return isinstance(value, hint), value


# -- writing and comparing ----------------------------------------------------------------------

def to_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg: Config | dict[str, Any]) -> str:
    data = cfg if isinstance(cfg, dict) else to_dict(cfg)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict) and value and prefix.count(".") < 1:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def diff_configs(a: dict[str, Any], b: dict[str, Any], ignore: tuple[str, ...] = ()) -> list[str]:
    """Dotted keys whose values differ between two config dicts, sorted."""
    fa, fb = flatten(a), flatten(b)
    return sorted(k for k in set(fa) | set(fb) if k not in ignore and fa.get(k) != fb.get(k))
