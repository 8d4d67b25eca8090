"""Analytical hardware cost model: MACs, DRAM traffic, energy and latency of a network on a target.

>>> import torch.nn as nn
>>> rep = profile(nn.Conv2d(3, 8, 3), input_shape=(1, 3, 32, 32), target="jetson_tx2")
>>> rep.macs
194400.0
"""
from .formulas import (Cost, Work, activation_work, batchnorm_work, binary_work, concat_work, conv2d_work,
                       elementwise_work, layer_cost, linear_work, pool_work, resize_work)
from .graph import FREE_OPS, OP_HANDLERS, ProfileError, build_graph
from .profile import Report, profile
from .target import Target, TargetError, list_targets, load_target
from .units import UnitError

#: bump when a formula, an op mapping or the latency model changes the numbers ``profile`` returns;
#: arch.json's ``cost`` block records it (``cost_model_version``)
COST_MODEL_VERSION = 1

__all__ = ["COST_MODEL_VERSION", "Cost", "FREE_OPS", "OP_HANDLERS", "ProfileError", "Report", "Target",
           "TargetError", "UnitError", "Work", "activation_work", "batchnorm_work", "binary_work", "build_graph",
           "concat_work", "conv2d_work", "elementwise_work", "layer_cost", "linear_work", "list_targets",
           "load_target", "pool_work", "profile", "resize_work"]
