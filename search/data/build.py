"""``build_dataset(config)``: a dataset from a plain dict, every key checked.

Keys for every dataset (a key set to ``None`` takes its default):

* ``name``: ``synthetic``, ``synthetic_shapes``, ``cityscapes``, ``camvid`` or ``folder``;
  ``split``: train, val or test.
* ``augment`` (default: ``split == "train"``): random scale in ``scale_range`` (default
  [0.5, 2.0]), random crop ``crop`` = [H, W] (default: the image's own size, padding with
  ignore), random left-right flip when ``flip`` (default true); deterministic given ``seed``.
* ``cache_dir``: where :func:`~search.data.features.complexity_features` caches features.
* ``max_pixels`` (file datasets; default ``base.MAX_PIXELS``, 2**26): an image or mask file
  whose header says it has more pixels is a :class:`DataError`, before it is decoded.

Per dataset: ``synthetic``: ``size`` (256), ``image_size`` [H, W] ([128, 256]),
``num_classes`` (8), ``seed`` also seeds the scenes. ``synthetic_shapes``: the same keys and
defaults, ``num_classes`` at most 13 (background and 12 shape kinds). ``cityscapes`` / ``camvid``:
``root``, ``resize`` [H, W] (resize every item first: image bilinear, mask nearest). ``folder``: the
same plus ``classes`` (list of class names; numbers are read as names, ``0`` -> ``"0"``) and
``split_fractions`` ([train, val, test], to split a flat ``<root>/images`` deterministically;
see :mod:`search.data.folder`).

>>> ds = build_dataset({"name": "synthetic", "split": "val", "size": 2, "image_size": [32, 64]})
>>> len(ds), ds.num_classes, ds.ignore_index
(2, 8, 255)
"""
from __future__ import annotations

from typing import Any, Callable

from .base import MAX_PIXELS, DataError, SegDataset
from .camvid import camvid
from .cityscapes import cityscapes
from .folder import folder
from .synthetic import SyntheticScenes
from .synthetic_shapes import MAX_CLASSES, SyntheticShapes
from .transforms import TrainTransform

COMMON = {"name": None, "split": "train", "augment": None, "scale_range": (0.5, 2.0), "crop": None,
          "flip": True, "seed": 0, "cache_dir": None}
FILES = {"root": None, "resize": None, "max_pixels": MAX_PIXELS}
GENERATED = {"size": 256, "image_size": (128, 256), "num_classes": 8}
GENERATORS = {"synthetic": (SyntheticScenes, 255), "synthetic_shapes": (SyntheticShapes, MAX_CLASSES)}
OPTIONS: dict[str, dict[str, Any]] = {
    "synthetic": {**COMMON, **GENERATED},
    "synthetic_shapes": {**COMMON, **GENERATED},
    "cityscapes": {**COMMON, **FILES},
    "camvid": {**COMMON, **FILES},
    "folder": {**COMMON, **FILES, "classes": None, "split_fractions": None},
}
SPLITS = ("train", "val", "test")


def _int(key: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"an integer >= {low}" + (f" and <= {high}" if high is not None else "")
        raise DataError(f"data.{key} = {value!r}: expected {bound}")
    return value


def _pair(key: str, value: Any, cast: Callable[[str, Any], Any]) -> tuple:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise DataError(f"data.{key} = {value!r}: expected a list of two values [H, W]")
    return tuple(cast(key, v) for v in value)


def _positive(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise DataError(f"data.{key} = {value!r}: expected positive numbers")
    return float(value)


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise DataError(f"data.{key} = {value!r}: expected true or false")
    return value


def _options(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if not isinstance(config, dict):
        raise DataError(f"data config must be a mapping, got {type(config).__name__}")
    name = config.get("name")
    if name not in OPTIONS:
        raise DataError(f"data.name = {name!r}: expected one of {', '.join(OPTIONS)}")
    allowed = OPTIONS[name]
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise DataError(f"unknown data config key {unknown[0]!r} for dataset {name!r}; "
                        f"allowed keys: {', '.join(sorted(allowed))}")
    opts = {**allowed, **{k: v for k, v in config.items() if v is not None}}
    if opts["split"] not in SPLITS:
        raise DataError(f"data.split = {opts['split']!r}: expected one of {', '.join(SPLITS)}")
    if name not in GENERATORS and not opts["root"]:
        raise DataError(f"data.root is required for dataset {name!r} (the folder holding the data)")
    return name, opts


def _transform(opts: dict[str, Any]) -> TrainTransform | None:
    augment = opts["split"] == "train" if opts["augment"] is None else _bool("augment", opts["augment"])
    if not augment:
        return None
    lo, hi = _pair("scale_range", opts["scale_range"], _positive)
    if lo > hi:
        raise DataError(f"data.scale_range = {list(opts['scale_range'])}: expected [low, high] with low <= high")
    crop = _pair("crop", opts["crop"], lambda k, v: _int(k, v, 1)) if opts["crop"] else None
    return TrainTransform((lo, hi), crop, _bool("flip", opts["flip"]), _int("seed", opts["seed"], 0))


def class_names(classes: Any) -> list[str]:
    """A list of 1 to 255 class names; numbers (YAML reads ``[background, 0, 1]`` with two) become names.

    >>> class_names(["background", 0, 1])
    ['background', '0', '1']
    """
    if (not isinstance(classes, (list, tuple)) or not 0 < len(classes) <= 255
            or not all(isinstance(c, (str, int, float)) and not isinstance(c, bool) for c in classes)):
        raise DataError(f"data.classes = {classes!r}: expected a list of 1 to 255 class names "
                        f"(quote names YAML reads as true/false, null or lists)")
    names = [str(c) for c in classes]
    if len(set(names)) != len(names):
        raise DataError(f"data.classes = {classes!r}: a class name appears twice")
    return names


def build_dataset(config: dict[str, Any]) -> SegDataset:
    """The dataset described by ``config`` (see the module docstring for the keys)."""
    name, opts = _options(config)
    transform = _transform(opts)
    if name in GENERATORS:
        cls, max_classes = GENERATORS[name]
        ds: SegDataset = cls(
            size=_int("size", opts["size"], 1), image_size=_pair("image_size", opts["image_size"],
                                                                 lambda k, v: _int(k, v, 8)),
            num_classes=_int("num_classes", opts["num_classes"], 2, max_classes), seed=_int("seed", opts["seed"], 0),
            split=opts["split"], transform=transform)
    else:
        resize = _pair("resize", opts["resize"], lambda k, v: _int(k, v, 1)) if opts["resize"] else None
        if name == "folder":
            ds = folder(opts["root"], opts["split"], class_names(opts["classes"]), transform, resize,
                        opts["split_fractions"])
        else:
            ds = {"cityscapes": cityscapes, "camvid": camvid}[name](opts["root"], opts["split"], transform, resize)
        ds.max_pixels = _int("max_pixels", opts["max_pixels"], 1)
        if resize and resize[0] * resize[1] > ds.max_pixels:
            raise DataError(f"data.resize = {list(resize)}: {resize[0] * resize[1]} pixels, above max_pixels "
                            f"({ds.max_pixels})")
    ds.feature_cache_dir = opts["cache_dir"]
    return ds
