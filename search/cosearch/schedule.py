"""The co-search's schedules as free functions of the step.

>>> [round(temperature(t, warmup=2, steps=3, start=5.0, end=0.2), 3) for t in range(5)]
[5.0, 5.0, 5.0, 1.0, 0.2]
"""
from __future__ import annotations


def temperature(t: int, warmup: int, steps: int, start: float, end: float) -> float:
    """Gumbel temperature at step ``t``: ``start`` during the ``warmup`` steps, then an exponential
    fall from ``start`` to ``end`` over the ``steps`` search steps."""
    if t < warmup or steps <= 1:
        return start
    frac = (t - warmup) / (steps - 1)
    return start * (end / start) ** frac
