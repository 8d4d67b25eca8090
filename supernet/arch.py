"""arch.json: the derived architecture, self-describing and validated (DESIGN.md §4).

Fields: ``format`` ("cosearch-arch"), ``version`` (3; version 1 and 2 files are read and
upgraded), ``family``, ``num_classes``, ``choices`` (every site of the family with its value;
optionally ``data.inference_scale``) are required; ``space`` (the space options, default
``{"widest": 1.0, "width_fractions": [0.25, ..., 1.0]}``), ``input`` (the input contract,
:mod:`supernet.contract`), ``layers`` (every layer of the deployed computation at
``input.native_size``, :func:`list_layers`; regenerated when missing, checked when present),
``data`` (``inference_scale``, the one home of the inference scale, ``train_gate``, ... for
the data side), ``cost`` (per target, with ``input_shape`` and ``cost_model_version``) and
``metrics`` are optional. Any other field is an error. The schema: docs/arch-json.md.

>>> arch = baseline_arch("pspnet", 5, width_mult=0.5)
>>> arch["choices"]["backbone.stage4.width"], arch["choices"]["head.ppm.bin3"]
(48, True)
>>> build_from_arch(arch)(torch.zeros(1, 3, 32, 32)).shape
torch.Size([1, 5, 32, 32])
"""
from __future__ import annotations

import copy
import functools
import json
import os
import random
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from cost_models.graph import build_graph
from cost_models.profile import json_safe

from .contract import single_inference_scale, validate_cost, validate_input
from .deployed import DeployedNet
from .families import FAMILIES, build_family
from .files import atomic_write
from .sites import KEEP_OPTIONS
from .sizes import scaled_size
from . import space as _space
from .space import ArchError, Space, keep_one_per_group

FORMAT, VERSION = "cosearch-arch", 3
READ_VERSIONS = (1, 2, 3)
DEPTH_VERSION = 3   # the version that added the stages' depth sites (``backbone.stage{i}.block{j}``)
REQUIRED = ("format", "version", "family", "num_classes", "choices")
OPTIONAL = ("space", "input", "layers", "data", "cost", "metrics")
#: choices that describe the data side, not a site of the network
DATA_CHOICES = ("data.inference_scale",)
#: the largest arch.json read (a derived network's file is a few KB)
MAX_ARCH_BYTES = 16 << 20


def site_options(family: str, num_classes: int, **space_options: Any) -> tuple[dict[str, tuple], list[tuple]]:
    """``({site name: options}, [groups of keep sites of which one must be kept])``."""
    if not isinstance(family, str) or family not in FAMILIES:
        raise ArchError(f"unknown family {family!r}; known families: {', '.join(FAMILIES)}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ArchError(f"num_classes must be a positive integer, got {num_classes!r}")
    if num_classes > _space.MAX_CHANNELS:  # the classifier has one output channel per class
        raise ArchError(f"num_classes {num_classes} is above the limit of {_space.MAX_CHANNELS} "
                        f"(supernet.space.MAX_CHANNELS)")
    frozen = tuple(sorted((str(k), _freeze(v)) for k, v in space_options.items()))
    try:
        hash(frozen)
    except TypeError:
        raise ArchError(f"space options must be numbers or lists of numbers, got {space_options!r}") from None
    space = _search_space(family, num_classes, frozen, _space.MAX_CHANNELS)
    return dict(space.options), list(space.groups)


@functools.lru_cache(maxsize=32)
def _search_space(family: str, num_classes: int, frozen: tuple, max_channels: int) -> Space:
    """The family's search space (cached; ``max_channels`` is in the key so a changed limit applies)."""
    space = make_space(None, dict(frozen))
    with torch.device("meta"):
        build_family(family, num_classes, space)
    return space


def _freeze(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def make_space(choices: Mapping[str, Any] | None, space_options: Mapping[str, Any]) -> Space:
    """A :class:`Space`; unknown space options are an :class:`ArchError` naming the allowed ones."""
    try:
        return Space(choices, **space_options)
    except TypeError:
        raise ArchError(f"unknown space option in {sorted(space_options)}; allowed: widest, width_fractions") from None


def build_network(family: str, num_classes: int, choices: Mapping[str, Any],
                  space_options: Mapping[str, Any] | None = None, device: Any = None) -> nn.Module:
    """The fixed network of ``choices`` (validated: unknown, missing or bad values are errors)."""
    space_options = dict(space_options or {})
    options, _ = site_options(family, num_classes, **space_options)
    unknown = [n for n in choices if n not in options and n not in DATA_CHOICES]
    if unknown:
        raise ArchError(f"unknown choice {unknown[0]!r} for family {family!r}; its sites are: {', '.join(options)}")
    for name in DATA_CHOICES:
        if name in choices:
            _check_scale(choices[name], f"choice {name!r}")
    with torch.device(device or "cpu"):
        return build_family(family, num_classes, make_space(choices, space_options))


def _check_scale(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 4:
        raise ArchError(f"{what} must be a number in (0, 4], got {value!r}")


def list_layers(family: str, num_classes: int, choices: Mapping[str, Any], space_options: Mapping[str, Any],
                input_block: Mapping[str, Any], inference_scale: float = 1.0) -> list[dict[str, Any]]:
    """The ``layers`` list: every layer of the deployed computation at ``input_block["native_size"]``.

    Read from :func:`cost_models.build_graph` (one traced forward pass on the meta device) of
    :class:`~supernet.deployed.DeployedNet` (or the bare network at the scaled size when
    ``resize_in_model`` is false). Each entry: ``name`` (the network's module name;
    ``resize_input`` / ``resize_output`` for the deployed resizes), ``op``, ``inputs`` (the
    layers it reads, ``"input"`` for the image), ``input_shapes``, ``output_shape`` (N, C, H, W at
    batch 1), ``attrs`` (kernel, stride, groups, resize mode, ...), ``macs`` and ``params``.
    """
    key = json.dumps([family, num_classes, dict(choices), dict(space_options), dict(input_block),
                      float(inference_scale)], sort_keys=True)
    return json.loads(_layers_json(key))


@functools.lru_cache(maxsize=256)
def _layers_json(key: str) -> str:

    family, num_classes, choices, space_options, block, scale = json.loads(key)
    net = build_network(family, num_classes, choices, space_options, device="meta")
    h, w = block["native_size"]
    if block["resize_in_model"]:
        model, prefix = DeployedNet(net, scale), "net."
    else:
        model, prefix, h, w = net, "", scaled_size(h, scale), scaled_size(w, scale)
    graph = build_graph(model, (1, 3, h, w))

    def name(node: str) -> str:
        return node[len(prefix):] if node.startswith(prefix) else node

    layers = []
    for node, data in graph.nodes(data=True):
        work = data["work"]
        layers.append({"name": name(node), "op": data["op"],
                       "inputs": [name(p) for p in graph.predecessors(node)] or ["input"],
                       "input_shapes": [list(s) for s in data["input_shapes"]],
                       "output_shape": list(data["output_shape"]), "attrs": json_safe(data["attrs"]),
                       "macs": int(round(float(work.macs))), "params": int(round(float(work.params)))})
    return json.dumps(layers)


def make_arch(family: str, num_classes: int, choices: Mapping[str, Any],
              space_options: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None) -> dict:
    """A validated arch dict (``space`` normalised, ``input`` defaults; ``layers`` are added on saving)."""
    arch = {"format": FORMAT, "version": VERSION, "family": family, "num_classes": num_classes,
            "space": dict(space_options or {}), "choices": dict(choices)}
    if data is not None:
        arch["data"] = dict(data)
    return validate_arch(arch)


def validate_arch(arch: Any, where: str = "arch", with_layers: bool = False) -> dict:
    """Check an arch dict against its family; returns it as the current version with ``space``,
    ``input`` and ``data.inference_scale`` filled in (an older file's missing depth sites: every
    block kept, the network it described). ``layers`` are checked when present (version 2 on), and
    added when ``with_layers`` (one traced forward pass, cached; :func:`save_arch` and
    :func:`load_arch` ask for them)."""
    if not isinstance(arch, dict):
        raise ArchError(f"{where}: expected a JSON object, got {type(arch).__name__}")
    for key in REQUIRED:
        if key not in arch:
            raise ArchError(f"{where}: missing field {key!r}")
    extra = [k for k in arch if k not in REQUIRED + OPTIONAL]
    if extra:
        raise ArchError(f"{where}: unknown field {extra[0]!r}; allowed: {', '.join(REQUIRED + OPTIONAL)}")
    if arch["format"] != FORMAT:
        raise ArchError(f"{where}: format is {arch['format']!r}, expected {FORMAT!r}")
    if arch["version"] not in READ_VERSIONS or isinstance(arch["version"], bool):
        raise ArchError(f"{where}: unsupported version {arch['version']!r}; this cosearch reads versions "
                        f"{', '.join(map(str, READ_VERSIONS))}")
    if not isinstance(arch["family"], str) or arch["family"] not in FAMILIES:
        raise ArchError(f"{where}: unknown family {arch['family']!r}; known families: {', '.join(FAMILIES)}")
    for key, kind in (("choices", dict), ("space", dict), ("data", dict), ("cost", dict), ("metrics", dict),
                      ("layers", list), ("input", dict)):
        if key in arch and not isinstance(arch[key], kind):
            raise ArchError(f"{where}: field {key!r} must be a JSON {'object' if kind is dict else 'array'}")
    data = arch.get("data", {})
    if "inference_scale" in data:
        _check_scale(data["inference_scale"], f"{where}: data.inference_scale")
        if arch["choices"].get("data.inference_scale", data["inference_scale"]) != data["inference_scale"]:
            raise ArchError(f"{where}: choices['data.inference_scale'] and data.inference_scale differ")
    if arch["version"] < DEPTH_VERSION:
        arch = {**arch, "choices": every_block_kept(arch["family"], arch["num_classes"], arch["choices"],
                                                    arch.get("space"))}
    try:
        build_network(arch["family"], arch["num_classes"], arch["choices"], arch.get("space"), device="meta")
    except ArchError as err:
        raise ArchError(f"{where}: {err}") from None
    out = _upgraded(arch, where)
    check = arch["version"] >= 2 and "layers" in arch
    if not (check or with_layers):
        return out
    layers = list_layers(out["family"], out["num_classes"], out["choices"], out["space"], out["input"],
                         out["data"]["inference_scale"])
    if check and arch["layers"] != layers:
        bad = next((i for i, (a, b) in enumerate(zip(arch["layers"], layers)) if a != b), min(len(layers),
                                                                                            len(arch["layers"])))
        raise ArchError(f"{where}: field 'layers' does not match the network its choices and input describe "
                        f"(first difference at entry {bad}); delete 'layers' to regenerate it")
    out["layers"] = layers
    return out


def every_block_kept(family: str, num_classes: int, choices: Mapping[str, Any],
                     space_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``choices`` with every depth site they lack set to kept: what a file older than
    ``DEPTH_VERSION`` (which had no depth sites) described.

    >>> old = {k: v for k, v in baseline_arch("pspnet", 5)["choices"].items() if ".block" not in k}
    >>> every_block_kept("pspnet", 5, old)["backbone.stage3.block2"]
    True
    """
    options, _ = site_options(family, num_classes, **dict(space_options or {}))
    return {**{name: True for name in options if ".block" in name and name not in choices}, **choices}


def _upgraded(arch: dict, where: str) -> dict:
    """``arch`` as the current version (without ``layers``): space normalised, ``input`` filled in, the
    inference scale in ``data.inference_scale`` only, ``cost`` checked. Version 1 files' conv-only
    ``layers`` are dropped (regenerated)."""
    out = {k: copy.deepcopy(v) for k, v in arch.items() if k != "layers"}
    out["version"] = VERSION
    out["space"] = make_space(None, arch.get("space", {})).space_options()
    out["input"] = validate_input(arch.get("input"), f"{where}: input")
    data = single_inference_scale(arch.get("data", {}), f"{where}: data")
    data.setdefault("inference_scale", arch["choices"].get("data.inference_scale", 1.0))
    out["data"] = data
    if "cost" in arch:
        validate_cost(arch["cost"], f"{where}: cost")
    return out


def save_arch(arch: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Validate and write ``arch`` as JSON (atomically: a temporary file renamed)."""
    arch = validate_arch(dict(arch), with_layers=True)
    path = Path(path)
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(arch, indent=1) + "\n"))


def load_arch(path: str | os.PathLike) -> dict:
    """Read and validate an arch.json; errors name the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise ArchError(f"arch file {path} does not exist")
    if path.stat().st_size > MAX_ARCH_BYTES:
        raise ArchError(f"{path}: {path.stat().st_size} bytes, above the limit of {MAX_ARCH_BYTES} for an "
                        f"arch.json; is it the right file?")
    try:
        arch = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArchError(f"{path}: not valid JSON: {err}") from None
    except RecursionError:
        raise ArchError(f"{path}: not valid JSON: nested too deeply") from None
    return validate_arch(arch, where=str(path), with_layers=True)


def build_from_arch(arch_or_path: Mapping[str, Any] | str | os.PathLike) -> nn.Module:
    """The plain network an arch describes, with fresh weights."""
    if isinstance(arch_or_path, (str, os.PathLike)):
        arch = load_arch(arch_or_path)
    elif isinstance(arch_or_path, Mapping):
        arch = validate_arch(dict(arch_or_path))
    else:
        raise ArchError(f"build_from_arch expects an arch dict or the path of an arch.json, "
                        f"got {type(arch_or_path).__name__}")
    return build_network(arch["family"], arch["num_classes"], arch["choices"], arch["space"])


def baseline_arch(family: str, num_classes: int, width_mult: float = 1.0, inference_scale: float = 1.0,
                  **space_options: Any) -> dict:
    """A fixed network: every branch kept, every width the option nearest ``width_mult`` x widest.

    Ties go to the wider option; a ``width_mult`` below the narrowest option (1/4 of the
    widest by default) gives the narrowest. Channel counts are multiples of 4.
    """
    if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) or not 0 < width_mult <= 1:
        raise ArchError(f"width_mult must be in (0, 1], got {width_mult!r}")
    _check_scale(inference_scale, "inference_scale")
    options, _ = site_options(family, num_classes, **space_options)
    choices: dict[str, Any] = {}
    for name, opts in options.items():
        if opts == KEEP_OPTIONS:
            choices[name] = True
        else:
            goal = width_mult * max(opts)
            choices[name] = min(opts, key=lambda o: (abs(o - goal), -o))
    choices["data.inference_scale"] = inference_scale
    return make_arch(family, num_classes, choices, space_options, data={"inference_scale": inference_scale})


def random_arch(family: str, num_classes: int, rng: random.Random | int | None = None, **space_options: Any) -> dict:
    """A uniformly random arch (each site uniform; a group with nothing kept keeps one at random)."""
    rng = rng if isinstance(rng, random.Random) else random.Random(rng)
    options, groups = site_options(family, num_classes, **space_options)
    choices = {name: rng.choice(opts) for name, opts in options.items()}
    choices = keep_one_per_group(choices, groups, pick=rng.choice)
    return make_arch(family, num_classes, choices, space_options)
