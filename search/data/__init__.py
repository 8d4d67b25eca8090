"""Datasets, complexity features and the gate's summary (training cost: ``search.report.costs``).

>>> from search.data import build_dataset, complexity_features, FEATURE_NAMES
>>> ds = build_dataset({"name": "synthetic", "split": "train", "size": 8})
>>> image, mask = ds[0]          # float 3xHxW in [0, 1], long HxW (255 = ignored)
"""
from .base import IGNORE_INDEX, DataError, SegDataset
from .build import build_dataset
from .features import FEATURE_NAMES, complexity_features, complexity_score, image_features
from .slimming import slimming_summary
from .synthetic import SyntheticScenes
from .synthetic_shapes import SyntheticShapes
from .transforms import TrainTransform

__all__ = ["IGNORE_INDEX", "DataError", "SegDataset", "build_dataset", "FEATURE_NAMES",
           "complexity_features", "complexity_score", "image_features", "SyntheticScenes", "SyntheticShapes",
           "TrainTransform", "slimming_summary"]
