"""Analytical hardware cost model: MACs, DRAM traffic, energy and latency of a network on a target."""
from .formulas import Cost, Work, conv2d_work, elementwise_work, layer_cost, linear_work
from .target import Target, TargetError, list_targets, load_target
from .units import UnitError

__all__ = ["Cost", "Work", "Target", "TargetError", "UnitError", "conv2d_work", "elementwise_work",
           "layer_cost", "linear_work", "list_targets", "load_target"]
