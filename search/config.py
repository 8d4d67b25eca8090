"""The run configuration: nested dataclasses, read from YAML, overridden by ``key=value``.

Every field has a default, so an empty file is a valid config. Unknown keys (with the
closest valid key suggested) and values of the wrong type are :class:`~search.errors.UserError`
naming the key, and the file or the override it came from. Every number is checked before
any work starts: finite, and in the range its field declares with :func:`rule` (``ge``,
``gt``, ``le``, ``lt``, ``choices``; a bound may name another field), plus a few rules that
involve several fields (:func:`validate`). Resource limits are fields too, with defaults a
user raises for bigger runs: ``data.max_pixels`` (pixels of one image, read or made) and
``model.max_channels`` (the widest layer the search space may build).

Files are read with :func:`cost_models.yamlfile.load_yaml_file` (no duplicate keys, anchors
or aliases; at most 1 MiB). An override is typed by its field: text fields take the text as
written (``data.root=/data/my set #2``), numbers and booleans are read as YAML scalars, and
only list and mapping fields are parsed as YAML (``data.image_size=[256, 512]``).

>>> cfg = load_config(None, ["search.lambda_inf=0.5", "model.family=pspnet"])
>>> cfg.search.lambda_inf, cfg.model.family
(0.5, 'pspnet')
>>> diff_configs(to_dict(cfg), to_dict(Config()))
['model.family', 'search.lambda_inf']
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import yaml

from cost_models.yamlfile import load_yaml_file, load_yaml_text

from .errors import UserError

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "experiments" / "configs"
DEFAULT_CONFIG = CONFIGS_DIR / "quick.yaml"
#: smallest entry of model.space.width_fractions (supernet.space.MIN_WIDTH_FRACTION)
MIN_WIDTH_FRACTION = 1 / 64
Bound = Union[float, str, None]


@dataclass(frozen=True)
class Check:
    """What a field's value must satisfy beyond its type (every number must also be finite).

    ``ge`` / ``gt`` / ``le`` / ``lt`` bound a number, or each number of a list; a bound given
    as a string is the dotted name of another field (a limit the user can raise).
    ``hw``: a list ``[height, width]`` whose product is at most ``data.max_pixels``.
    ``datasets``: the check applies only when ``data.name`` is one of these.
    """

    ge: Bound = None
    gt: Bound = None
    le: Bound = None
    lt: Bound = None
    choices: tuple[Any, ...] = ()
    hw: bool = False
    note: str = ""
    datasets: tuple[str, ...] = ()


def rule(default: Any = dataclasses.MISSING, *, factory: Callable[[], Any] | None = None, **check: Any) -> Any:
    """A dataclass field with a :class:`Check`: ``steps: int = rule(120, ge=0)``."""
    meta = {"check": Check(**check)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


SEED = {"ge": 0, "lt": 2**63}
GENERATED = ("synthetic", "synthetic_shapes")   # datasets made from a seed (search.data.build.GENERATORS)
FRACTION = {"ge": 0, "lt": 1}
OPTIMIZERS = ("sgd", "adamw")   # search.train.optim.OPTIMIZERS (kept here: config does not import torch)
LOSSES = ("ce", "class_balanced")   # search.train.loss.LOSSES


@dataclass
class DataConfig:
    """What to train on; the dataset fields go to ``search.data.build_dataset``."""

    name: str = rule("synthetic", choices=(*GENERATED, "cityscapes", "camvid", "folder"))
    root: Optional[str] = None             # dataset folder (real datasets)
    classes: list[str] = field(default_factory=list)   # class names (folder layout)
    seed: int = rule(0, **SEED)            # synthetic scenes and training augmentation
    image_size: list[int] = rule(factory=lambda: [64, 128], ge=8, hw=True, datasets=GENERATED)   # synthetic image H, W
    num_classes: int = rule(8, ge=2, le=255)   # synthetic: number of classes
    num_train: int = rule(128, gt=0)       # synthetic: images in the train split
    num_val: int = rule(32, gt=0)          # synthetic: images in the validation split
    num_test: int = rule(32, gt=0)         # synthetic: images in the test split
    train_split: str = rule("train", choices=("train", "val", "test"))   # used to update the weights W
    val_split: str = rule("val", choices=("train", "val", "test"))       # used to update alpha, rho, phi (held out from W)
    val_from_train: float = rule(0.0, **FRACTION)   # > 0: the val split is this share of the train split, held out
    test_split: str = rule("test", choices=("train", "val", "test"))     # the split the final mIoU is measured on
    crop: Optional[list[int]] = rule(None, ge=1, hw=True)   # training crop H, W; None: the whole image
    augment: bool = True                   # random scale, crop and flip of training images
    options: dict[str, Any] = field(default_factory=dict)   # more build_dataset keys (resize, scale_range, ...)
    batch_size: int = rule(8, gt=0)        # images per step, all ranks together
    in_memory: bool = False                # keep decoded images in memory (small datasets)
    cache_dir: Optional[str] = None        # complexity-feature cache; None: beside the data
    workers: int = rule(0, ge=0, le=256)   # DataLoader worker processes decoding batches ahead (0: in the main process)
    max_pixels: int = rule(2**26, gt=0)    # limit: pixels (H*W) of one image read, made, cropped or resized


@dataclass
class ModelConfig:
    """The searchable network: a ``supernet.FAMILIES`` name and its search-space options."""

    family: str = "deeplabv3plus"
    space: dict[str, Any] = field(default_factory=dict)   # passed to supernet.build_supernet
    max_channels: int = rule(4096, gt=0)   # limit: channels of the widest layer model.space may build


@dataclass
class SearchConfig:
    """The co-search of DESIGN.md §2."""

    warmup_steps: int = rule(40, ge=0)     # W only, uniform random archs
    steps: int = rule(120, ge=0)           # alternating W / (alpha, rho, phi) steps
    arch_every: int = rule(1, gt=0)        # one arch step after every N weight steps
    w_optimizer: str = rule("sgd", choices=OPTIMIZERS)   # the weights' optimizer (search.train.optim.make_optimizer)
    w_lr: float = rule(0.05, gt=0)
    w_momentum: float = rule(0.9, **FRACTION)   # sgd
    w_nesterov: bool = False               # sgd: Nesterov momentum
    w_betas: list[float] = rule(factory=lambda: [0.9, 0.999], **FRACTION)   # adamw
    w_weight_decay: float = rule(1e-4, ge=0)   # sgd: L2; adamw: decoupled
    # how a pass of one network (a weight step's sample, a gate probe's argmax) is computed: sliced, that
    # network alone on slices of the supernet's weights (OFA-style; the same loss and gradients, charged at
    # its own cost); masked, the widest network with the choices as masks (charged at the widest's cost).
    # The arch steps always run masked (their gradient reaches every option).
    compute: str = rule("sliced", choices=("sliced", "masked"))
    # share of the weight steps after the warm-up (evenly spread) that train the network the search would
    # hand over at that step (the derive rule's, cut to the cost target) instead of a sampled one, so the
    # derived network's own training begins inside the search; 0: every step trains a sample. 0.5: the one
    # value tried, on the val split after the 12th benchmarks (experiments/results/search_val.md §9)
    w_derived_share: float = rule(0.5, ge=0, le=1)
    arch_lr: float = rule(0.01, gt=0)      # Adam, as in DARTS / FBNet
    arch_weight_decay: float = rule(0.0, ge=0)
    arch_sampling: str = rule("soft", choices=("soft", "hard"))   # alpha step: soft (FBNetV2) or hard (straight-through) Gumbel
    derive_rule: str = rule("expected", choices=("expected", "argmax"))   # expected: width nearest E[width], keep if P >= 0.5; or argmax
    gate_lr: float = rule(0.01, gt=0)
    gate_every: int = rule(4, gt=0)        # a regret probe (and gate steps) after every N arch steps
    gate_steps: int = rule(5, gt=0)        # gate (phi) steps after each regret probe
    gate_buffer: int = rule(128, gt=0)     # the gate learns from this many most recently probed images
    # a downsample's regret: learning (the share of a training step's val-loss decrease it loses:
    # supernet.gates.learning_value), labels (pixels lost) or network (its loss increase); learning,
    # lambda_train 0.5 and gate_every 4 were chosen on val (experiments/results/gate_regret_val.md)
    gate_regret: str = rule("learning", choices=("labels", "network", "learning"))
    tau_start: float = rule(5.0, gt=0)     # Gumbel temperature, annealed exponentially
    tau_end: float = rule(0.1, gt=0)
    target: str = "jetson_tx2"             # the cost model in the loss
    cost_metric: str = rule("energy_j", choices=("energy_j", "latency_s", "macs", "dram_bytes"))
    lambda_inf: float = rule(0.1, ge=0)    # weight of E[inference cost] / budget (ignored when target_cost is set)
    # inference cost to reach on `target` in `cost_metric`, as a fraction (0, 1] of the full network's
    # (widest, every branch, scale 1.0); null: no target, lambda_inf weighs the cost instead
    target_cost: Optional[float] = rule(None, gt=0)
    target_cost_absolute: bool = False     # true: target_cost is in cost_metric units (e.g. MACs), not a fraction
    target_lr: float = rule(0.1, gt=0)     # dual ascent step of the cost multiplier: lam += lr * (cost / target - 1)
    target_penalty: float = rule(10.0, ge=0)   # weight of the quadratic term (augmented Lagrangian): damps the multiplier
    target_two_sided: bool = True          # true: lam may go below 0 so a too-cheap net grows back to the target
                                           # (an equality); false: lam >= 0, target_cost is only an upper bound
    # derive cuts the searched network (the width step or branch that loses the least arch probability
    # per unit of cost saved, one at a time) until it costs at most target_cost x (1 + target_tolerance)
    # at its inference scale, so a search that ends above the target still delivers it; null: no cut
    target_tolerance: Optional[float] = rule(0.05, ge=0)
    # what the cost multiplier answers to: derived (the cost of the arch derive would cut out now, before
    # the cut: jumps when a branch's P(keep) crosses 0.5) or expected (E[cost] of the relaxed arch: smooth)
    target_signal: str = rule("derived", choices=("derived", "expected"))
    lambda_train: float = rule(0.5, ge=0)  # weight of the training energy (search target, relative to 1.0) in the gate objective
    # total training energy on `target` (search, training, batch-norm recalibration) the data gate may
    # spend, as a fraction of the full network's training on train.steps: at the hand-over a gate that
    # saves more than that gives the images it was least sure to slim back to the deployed scale
    # (search/cosearch/train_budget.py); it never slims more than it learned. null: the gate as learned
    train_target: Optional[float] = rule(None, gt=0, le=1)
    budget: Optional[float] = rule(None, gt=0, note="null: the widest network's cost at full resolution")   # in cost_metric units
    network: bool = True                   # search the network (alpha); false: keep the full network
    data_gates: bool = True                # search the per-image train actions (phi)
    search_resolution: bool = True         # search the inference resolution (rho)
    gate_actions: list[Union[str, float]] = field(default_factory=lambda: ["drop", 0.5, 0.75, 1.0])
    inference_scales: list[float] = field(default_factory=lambda: [0.5, 0.75, 1.0])
    # an inference scale is searched only if the best prediction at it (the val labels resized to it
    # and back) loses at most this fraction of the val pixels; 0.0025 ~ 0.5 mIoU points, since a lost
    # pixel is a miss for one class and a false alarm for another (1: every scale is searched)
    scale_regret_limit: float = rule(0.0025, ge=0, le=1)
    # train.budget shared (one budget, DESIGN.md §3): the search (warm-up included) takes at most
    # max_share of train.steps, and ends early once the derived arch (derived every stable_every
    # steps after the warm-up) is unchanged for stable_checks checks in a row (0: never early): the same
    # branches and inference scale, every width within stable_tolerance options of the first of those checks
    max_share: float = rule(0.4, gt=0, le=1)
    stable_every: int = rule(10, gt=0)
    stable_checks: int = rule(3, ge=0)
    stable_tolerance: int = rule(0, ge=0)  # a width may move this many options and still count as unchanged
    # arch step: all inference scales evaluated (weighted by their probabilities), or one sampled
    # scale (score-function gradient for rho): a third of the compute with three scales
    arch_scales: str = rule("all", choices=("all", "sample"))
    # the validation loss the arch and resolution steps minimise: class_balanced averages each class's
    # cross-entropy, then the classes (every class weighs the same, as in mIoU); pixel averages the pixels
    arch_loss: str = rule("class_balanced", choices=("class_balanced", "pixel"))


@dataclass
class TrainConfig:
    """Retraining of the derived (or a baseline) network."""

    steps: int = rule(150, ge=0)
    optimizer: str = rule("sgd", choices=OPTIMIZERS)   # search.train.optim.make_optimizer
    lr: float = rule(0.05, gt=0)
    momentum: float = rule(0.9, **FRACTION)   # sgd
    nesterov: bool = False                 # sgd: Nesterov momentum
    betas: list[float] = rule(factory=lambda: [0.9, 0.999], **FRACTION)   # adamw
    weight_decay: float = rule(1e-4, ge=0)   # sgd: L2; adamw: decoupled
    schedule: str = rule("cosine", choices=("cosine", "poly"))   # decay after the warm-up, to 0 at the last step
    # the per-image loss of every weight step, the search's included: ce (pixel mean) or class_balanced
    # (each class present in the image weighs the same: search.train.loss.LOSSES)
    loss: str = rule("ce", choices=LOSSES)
    poly_power: float = rule(0.9, gt=0)    # poly: lr factor (1 - progress) ** poly_power
    init: str = rule("inherit", choices=("inherit", "fresh"))   # inherit: supernet weights sliced in; fresh: new weights
    # init inherit: at the hand-over every weight becomes inherit_shrink * inherited + inherit_noise * a fresh
    # initialisation (shrink and perturb, Ash & Adams 2020: a warm start trains on slower); 1 and 0: unchanged
    inherit_shrink: float = rule(1.0, gt=0, le=1)
    inherit_noise: float = rule(0.0, ge=0)
    # shared: one budget of train.steps (the full baseline's) for search + training: the derived net
    # continues from the supernet's weights (init inherit; init fresh: new weights, the early-bird
    # schedule) for train.steps minus the search steps used. separate: the whole search, then
    # train.steps of training (with init fresh, the fairness check). Baselines always train train.steps.
    budget: str = rule("shared", choices=("shared", "separate"))
    data_gates: bool = True                # apply the learned per-image actions while training
    warmup_steps: int = rule(5, ge=0)      # linear learning-rate warm-up, then the schedule's decay
    recalibrate_bn: bool = True            # after training: batch-norm statistics at the inference scale (FixRes)
    # with data slimming: the last deployed_share of the training steps puts every image at the derived
    # network's inference scale (no drop, no re-weighting), so it ends on its deployed input (FixRes)
    deployed_share: float = rule(0.25, ge=0, le=1)


@dataclass
class EvalConfig:
    batch_size: int = rule(8, gt=0)
    every: int = rule(0, ge=0)             # val mIoU every N training steps, best weights in checkpoints/best.pt (0: off)


@dataclass
class CostConfig:
    """Where the derived network's costs are reported."""

    targets: list[str] = field(default_factory=lambda: ["jetson_tx2"])
    input_size: Optional[list[int]] = rule(None, ge=1, hw=True)  # deployment H, W at scale 1.0; None: the data's size


@dataclass
class RunConfig:
    seed: int = rule(0, **SEED)
    device: str = rule("auto", choices=("auto", "cpu", "cuda"))
    threads: int = rule(0, ge=0, le=4096)  # torch intra-op threads; 0: leave torch's default
    checkpoint_every: int = rule(50, gt=0)  # steps between checkpoints (and one at each phase end)
    log_every: int = rule(10, gt=0)        # steps between metric records
    progress: bool = True                  # periodic progress line on stderr
    amp: str = rule("auto", choices=("auto", "off", "bf16", "fp16"))   # mixed precision of the weight steps: auto (bf16 on CUDA, off on CPU) | off | bf16 | fp16


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

def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> Config:
    """The config in ``path`` (None: all defaults) with ``key=value`` overrides applied.

    An error in a value an override set names the override, not the file.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        raw = read_yaml(path)
    sources: dict[str, str] = {}
    for item in overrides:
        key, value = parse_override(item)
        _set_dotted(raw, key, value, item)
        sources[key] = f"override {item!r}"
    return from_dict(raw, where=str(path) if path is not None else "config", sources=sources)


class _Where:
    """Names where the value of a dotted key came from: the override that set it, else the file."""

    def __init__(self, default: str, sources: dict[str, str] | None = None) -> None:
        self.default, self.sources = default, dict(sources or {})

    def __call__(self, *keys: str) -> str:
        for key in keys:
            for src in reversed(list(self.sources)):  # the last override of a key wins
                if src == key or src.startswith(key + ".") or key.startswith(src + "."):
                    return self.sources[src]
        return self.default

    def fail(self, keys: str | Sequence[str], message: str) -> typing.NoReturn:
        keys = (keys,) if isinstance(keys, str) else tuple(keys)
        raise UserError(f"{self(*keys)}: {message}")


def validate(cfg: Config, where: str = "config", sources: dict[str, str] | None = None) -> Config:
    """Check the values that a type cannot express; returns ``cfg``.

    Every field's :class:`Check` first (in field order), then the rules across fields.
    ``sources`` maps dotted keys to the override that set them (for the error message).
    """
    at = where if isinstance(where, _Where) else _Where(where, sources)
    flat = flatten(to_dict(cfg))
    for key, value, check in _fields(cfg):
        _check_value(key, value, check, flat, at)
    _check_cross_fields(cfg, at)
    _check_space(cfg, at)
    _check_data_options(cfg, at)
    from supernet.gates import parse_actions, parse_scales  # noqa: PLC0415 (torch only when validating)

    if not cfg.cost.targets:
        at.fail("cost.targets", "cost.targets must name at least one target")
    if cfg.search.gate_actions.count("drop") > 1:
        at.fail("search.gate_actions", f"search.gate_actions must not repeat an action, got {cfg.search.gate_actions!r}")
    _check_with(parse_actions, cfg.search.gate_actions, "search.gate_actions", "'drop' or scales", at)
    _check_with(parse_scales, cfg.search.inference_scales, "search.inference_scales", "scales", at)
    for name in cfg.baselines:
        check_baseline_name(name, f"{at('baselines')}: baselines")
    if len(set(cfg.baselines)) != len(cfg.baselines):
        at.fail("baselines", f"baselines lists a name twice: {cfg.baselines}")
    return cfg


def _fields(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any, Check | None]]:
    """``(dotted key, value, check)`` of every leaf field of a config dataclass."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from _fields(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", value, f.metadata.get("check")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_value(key: str, value: Any, check: Check | None, flat: dict[str, Any], at: _Where) -> None:
    numbers = [value] if _is_number(value) else [v for v in value if _is_number(v)] if isinstance(value, list) else []
    if not all(math.isfinite(v) for v in numbers):
        at.fail(key, f"{key} must be {'finite numbers' if isinstance(value, list) else 'a finite number'}, got {value!r}")
    if check is None or value is None or check.datasets and flat["data.name"] not in check.datasets:
        return
    note = f" ({check.note})" if check.note else ""
    if check.choices and value not in check.choices:
        at.fail(key, f"{key} must be one of {', '.join(map(str, check.choices))}, got {value!r}")
    if check.hw and (len(value) != 2 or any(not _in_range(v, check, flat) for v in value)):
        at.fail(key, f"{key} must be [height, width] of ints {_describe(check, flat)}, got {value!r}")
    if check.hw:
        _check_pixels(key, value, flat["data.max_pixels"], at)
    for v in numbers:
        if not _in_range(v, check, flat):
            at.fail(key, f"{key} must be {_describe(check, flat)}, got {value!r}{note}")


def _bound(bound: Bound, flat: dict[str, Any]) -> float | None:
    return flat[bound] if isinstance(bound, str) else bound


def _in_range(v: float, check: Check, flat: dict[str, Any]) -> bool:
    ge, gt, le, lt = (_bound(b, flat) for b in (check.ge, check.gt, check.le, check.lt))
    return ((ge is None or v >= ge) and (gt is None or v > gt) and (le is None or v <= le)
            and (lt is None or v < lt))


def _describe(check: Check, flat: dict[str, Any]) -> str:
    """``"> 0"``, ``">= 0"``, ``"in [0, 1)"``, ``"<= 4096 (model.max_channels)"``, ..."""
    def text(bound: Bound) -> str:
        return f"{flat[bound]} ({bound})" if isinstance(bound, str) else f"{bound:g}" if bound < 1e6 else str(bound)

    low = ("[", check.ge) if check.ge is not None else ("(", check.gt) if check.gt is not None else None
    high = ("]", check.le) if check.le is not None else (")", check.lt) if check.lt is not None else None
    if low and high and not isinstance(high[1], str):
        return f"in {low[0]}{text(low[1])}, {text(high[1])}{high[0]}"
    parts = []
    if low:
        parts.append(f"{'>=' if low[0] == '[' else '>'} {text(low[1])}")
    if high:
        parts.append(f"{'<=' if high[0] == ']' else '<'} {text(high[1])}")
    return " and ".join(parts)


def _check_pixels(key: str, value: Any, limit: int, at: _Where) -> None:
    if (isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_number(v) for v in value)
            and value[0] * value[1] > limit):
        at.fail((key, "data.max_pixels"), f"{key} = {list(value)} is {value[0] * value[1]} pixels, above "
                f"data.max_pixels ({limit}); raise data.max_pixels for bigger images")


def _check_cross_fields(cfg: Config, at: _Where) -> None:
    """The rules that involve more than one field."""
    if cfg.train.recalibrate_bn and cfg.data.batch_size < 2:
        at.fail(("data.batch_size", "train.recalibrate_bn"),
                f"data.batch_size must be >= 2 when train.recalibrate_bn is true (a batch-norm over a 1x1 "
                f"map needs two images), got {cfg.data.batch_size}; or set train.recalibrate_bn=false")
    for section, pre in ((cfg.search, "search.w_"), (cfg.train, "train.")):   # the weights' optimizers
        betas, nesterov, momentum = (getattr(section, pre.split(".")[1] + k) for k in ("betas", "nesterov", "momentum"))
        if len(betas) != 2:
            at.fail(f"{pre}betas", f"{pre}betas must be [beta1, beta2], got {betas!r}")
        if nesterov and momentum <= 0:
            at.fail((f"{pre}nesterov", f"{pre}momentum"), f"{pre}nesterov needs {pre}momentum > 0, got {momentum}")
    if cfg.data.name not in GENERATED and not cfg.data.root:
        at.fail(("data.root", "data.name"), f"data.root is required for data.name={cfg.data.name} "
                f"(the folder holding the data)")
    cap = int(cfg.search.max_share * cfg.train.steps)
    if cfg.train.budget == "shared" and cap <= cfg.search.warmup_steps:
        at.fail(("search.max_share", "train.steps", "search.warmup_steps"),
                f"train.budget=shared gives the search search.max_share x train.steps = {cap} steps, no more than "
                f"search.warmup_steps {cfg.search.warmup_steps}: the arch would never be updated; raise train.steps "
                f"or search.max_share, or lower the warm-up")
    if cfg.search.target_cost is not None and not cfg.search.target_cost_absolute and cfg.search.target_cost > 1:
        at.fail(("search.target_cost", "search.target_cost_absolute"), f"search.target_cost must be a fraction in "
                f"(0, 1] of the full network's cost (or set search.target_cost_absolute: true), got "
                f"{cfg.search.target_cost!r}")
    if cfg.data.name == "folder" and not cfg.data.classes:
        at.fail(("data.classes", "data.name"), "data.classes must list the class names for data.name=folder "
                "(mask pixel value k is class k)")


def _check_space(cfg: Config, at: _Where) -> None:
    """``model.family`` and the numbers of ``model.space``, and its widest layer against ``model.max_channels``."""
    import supernet  # noqa: PLC0415 (torch only when validating)
    from supernet.arch import site_options  # noqa: PLC0415
    from supernet.sites import KEEP_OPTIONS, round_channels  # noqa: PLC0415

    family, space, key = cfg.model.family, cfg.model.space, "model.space"
    if family not in supernet.FAMILIES:
        at.fail("model.family", f"model.family: unknown family {family!r}; known families: "
                f"{', '.join(supernet.FAMILIES)}")
    widest = space.get("widest", 1.0)
    if not _is_number(widest) or not math.isfinite(widest) or widest <= 0:
        at.fail(key, f"{key}.widest must be a finite number > 0, got {widest!r}")
    fractions = space.get("width_fractions", [1.0])
    if (not isinstance(fractions, list) or not fractions
            or not all(_is_number(f) and MIN_WIDTH_FRACTION <= f <= 1 for f in fractions)):
        at.fail(key, f"{key}.width_fractions must be a list of fractions in [1/64, 1], got {fractions!r}")
    options, _ = site_options(family, 2)
    base = max(max(o) for o in options.values() if o != KEEP_OPTIONS)
    channels = round_channels(base * widest)
    if channels > cfg.model.max_channels:
        at.fail((key, "model.max_channels"), f"{key}.widest = {widest:g} makes the widest layer of {family} "
                f"{channels} channels, above model.max_channels ({cfg.model.max_channels}); lower it, or raise "
                f"model.max_channels for a wider network")


def _check_data_options(cfg: Config, at: _Where) -> None:
    """``data.options``: keys ``build_dataset`` knows for this dataset, and image sizes within the pixel limit."""
    from search.data.build import OPTIONS  # noqa: PLC0415

    allowed = OPTIONS.get(cfg.data.name, {})
    for name, value in cfg.data.options.items():
        key = f"data.options.{name}"
        if name not in allowed:
            at.fail(key, f"unknown key {key} for data.name={cfg.data.name}; allowed: "
                    f"{', '.join(sorted(allowed))}{_did_you_mean(str(name), sorted(allowed), 'data.options.')}")
        if name in ("image_size", "crop", "resize"):
            _check_pixels(key, value, cfg.data.max_pixels, at)


def apply_limits(cfg: Config) -> None:
    """Make the libraries enforce the config's limits: ``supernet.space.MAX_CHANNELS`` becomes
    ``model.max_channels`` (call before building networks from ``cfg``; ``data.max_pixels`` reaches
    the datasets through :func:`search.data.splits.dataset_config`)."""
    from supernet import space  # noqa: PLC0415

    space.MAX_CHANNELS = cfg.model.max_channels


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


def _check_with(parse: Callable[[Any], Any], values: list[Any], key: str, what: str, at: _Where) -> None:
    """Run the gates' own validator on ``values``; its ValueError becomes a UserError naming ``key``."""
    try:
        parse(values)
    except ValueError:
        at.fail(key, f"{key} must be distinct {what} in (0, 1] with at least one scale, got {values!r}")


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a config file (strict YAML: see :mod:`cost_models.yamlfile`)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist")
    raw = load_yaml_file(path, UserError)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections ({', '.join(_names(Config))}) at the top level")
    return raw


def parse_override(item: str) -> tuple[str, Any]:
    """``"search.lambda_inf=0.5"`` -> ``("search.lambda_inf", 0.5)``, the value typed by the key's field.

    A text field takes the text as written (no YAML: ``#`` is no comment, quotes stay); any
    other field, or a key the schema does not know, reads the value as YAML. An empty value
    is null, and so is ``null`` for an optional text field.

    >>> parse_override("data.root=/data/my set #2"), parse_override("data.image_size=[64, 128]")
    (('data.root', '/data/my set #2'), ('data.image_size', [64, 128]))
    """
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"override {item!r}: expected key=value, e.g. search.lambda_inf=0.5")
    if not text.strip():
        return key, None
    hint = _hint_of(key)
    if hint is not None and _is_text(hint):
        return key, None if text.strip() in ("null", "~") and _optional(hint) else text
    try:
        return key, load_yaml_text(text, f"override {item!r}", UserError)
    except UserError:
        if hint is None:  # not a field: the error will be about the key
            return key, text
        raise


def _hint_of(key: str) -> Any:
    """The type of the field a dotted key names; None when it names none (or lies inside a mapping field)."""
    cls: Any = Config
    hint = None
    for part in key.split("."):
        if not dataclasses.is_dataclass(cls):
            return None
        hint = typing.get_type_hints(cls).get(part)
        if hint is None:
            return None
        cls = hint
    return hint


def _is_text(hint: Any) -> bool:
    args = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)
    return str in args and all(a in (str, type(None)) for a in args)


def _optional(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def _set_dotted(raw: dict[str, Any], key: str, value: Any, item: str) -> None:
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"override {item!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def from_dict(raw: dict[str, Any], where: str = "config", sources: dict[str, str] | None = None) -> Config:
    """Build and check a :class:`Config` from nested plain dicts (``sources``: see :func:`validate`)."""
    at = _Where(where, sources)
    return validate(_build(Config, raw, at, ""), at)  # type: ignore[arg-type]


def _names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _all_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Every dotted field name: ``data.name``, ..., ``baselines``."""
    out = []
    for f in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[f.name]
        out += _all_keys(hint, f"{prefix}{f.name}.") if dataclasses.is_dataclass(hint) else [f"{prefix}{f.name}"]
    return out


def _did_you_mean(name: str, known: Sequence[str], prefix: str) -> str:
    """``"; did you mean search.lambda_inf?"``: the closest key in the section, else the field of that
    name (or nearly) in another section; ``""`` when nothing is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if close:
        return f"; did you mean {prefix}{close[0]}?"
    leaves = {k.rsplit(".", 1)[-1]: k for k in reversed(_all_keys())}
    close = difflib.get_close_matches(name, list(leaves), n=1, cutoff=0.8)
    return f"; did you mean {leaves[close[0]]}?" if close else ""


def _build(cls: type, raw: Any, at: _Where, prefix: str) -> Any:
    if not isinstance(raw, dict):
        name = prefix.rstrip(".") or "config"
        at.fail(name, f"{name} must be a mapping of {', '.join(_names(cls))}, got {raw!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in raw.items():
        if key not in known:
            what = f"section {prefix.rstrip('.')!r}" if prefix else "the config"
            at.fail(f"{prefix}{key}", f"unknown key {prefix}{key!s}; allowed in {what}: {', '.join(known)}"
                    f"{_did_you_mean(str(key), list(known), prefix)}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value if value is not None else {}, at, f"{prefix}{key}.")
        else:
            kwargs[key] = _check(value, hint, at, f"{prefix}{key}")
    return cls(**kwargs)


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(hint))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(hint))
        return f"{origin.__name__}[{args}]"
    return "any" if hint is Any else hint.__name__


def _check(value: Any, hint: Any, at: _Where, key: str) -> Any:
    """``value`` converted to ``hint``, or a UserError naming ``key``."""
    ok, out = _coerce(value, hint, strict=True)
    if not ok:
        ok, out = _coerce(value, hint, strict=False)
    if not ok:
        at.fail(key, f"{key} must be {_type_name(hint)}, got {value!r}")
    return out


def _coerce(value: Any, hint: Any, strict: bool) -> tuple[bool, Any]:
    """Exact types, int -> float; unless ``strict`` also a number -> text and a whole float -> int
    (``classes: [background, 0, 1]``, ``steps: 1e3``). A union tries every member strictly first."""
    if hint is Any:
        return True, value
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for mode in ((True, False) if not strict else (True,)):
            for arg in typing.get_args(hint):
                ok, out = _coerce(value, arg, mode)
                if ok:
                    return True, out
        return False, None
    if hint is type(None):
        return value is None, None
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            return False, None
        items = [_coerce(v, item, strict) for v in value]
        if not strict:
            items = [(ok, out) if ok else _coerce(v, item, False) for v, (ok, out) in zip(value, items)]
        return all(ok for ok, _ in items), [v for _, v in items]
    if origin is dict:
        return isinstance(value, dict), value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        if not strict and isinstance(value, float) and value.is_integer():
            return True, int(value)
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        ok = _is_number(value)
        return ok, float(value) if ok else None
    if hint is str:
        if not strict and _is_number(value):
            return True, str(value)
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
