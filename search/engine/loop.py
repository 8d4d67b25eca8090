"""The one training loop: ``step_fn(t)`` for every step, with hooks around it.

After detectron2's ``SimpleTrainer`` + ``HookBase``: the loop only counts steps and times them;
logging, progress, checkpoints, interruption and evaluation are hooks. The co-search and the
training of a fixed network both run in it.

>>> seen = []
>>> class Remember(HookBase):
...     def after_step(self, loop, stats):
...         seen.append((loop.step, stats["x"]))
>>> Loop("demo", lambda t: {"x": t * t}, total=3, hooks=[Remember()]).run()
>>> seen
[(1, 0), (2, 1), (3, 4)]
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

Stats = dict[str, float]


class HookBase:
    """Called by :class:`Loop` before the first step, after every step and after the last."""

    def before_loop(self, loop: "Loop") -> None:
        pass

    def after_step(self, loop: "Loop", stats: Stats) -> None:
        pass

    def after_loop(self, loop: "Loop") -> None:
        pass


class Loop:
    """Runs ``step_fn(t)`` for ``t`` in ``[start, total)``.

    After each step, ``loop.step`` is the number of finished steps and ``loop.step_s`` the
    step's wall time; hooks then run in order (a hook may raise to stop the loop, or set
    ``loop.should_stop`` to end it before ``total`` as if it had finished: ``after_loop`` runs).
    """

    def __init__(self, phase: str, step_fn: Callable[[int], Stats], total: int, start: int = 0,
                 hooks: Sequence[HookBase] = ()) -> None:
        self.phase, self.step_fn, self.total, self.step = phase, step_fn, total, start
        self.start, self.hooks, self.step_s = start, list(hooks), 0.0
        self.should_stop = False

    def run(self) -> None:
        for hook in self.hooks:
            hook.before_loop(self)
        for t in range(self.step, self.total):
            if self.should_stop:
                break
            t0 = time.perf_counter()
            stats = self.step_fn(t)
            self.step, self.step_s = t + 1, time.perf_counter() - t0
            for hook in self.hooks:
                hook.after_step(self, stats)
        for hook in self.hooks:
            hook.after_loop(self)
