"""The hooks every phase's :class:`~search.engine.loop.Loop` runs with: metrics, progress,
wall clock and checkpoints (which also answer Ctrl-C / SIGTERM).

>>> from search.engine.loop import Loop
>>> clock = WallClock()
>>> Loop("demo", lambda t: {}, total=2, hooks=[clock]).run()
>>> clock.wall_s >= 0.0
True
"""
from __future__ import annotations

import operator
import time
from typing import Any, Callable

from tqdm import tqdm

from search.engine.loop import HookBase, Loop, Stats


class WallClock(HookBase):
    """Adds up the wall time of the steps (the phase's measured cost); resumable."""

    def __init__(self, wall_s: float = 0.0) -> None:
        self.wall_s = wall_s

    def after_step(self, loop: Loop, stats: Stats) -> None:
        self.wall_s += loop.step_s


class Metrics(HookBase):
    """Every ``every`` steps and at the last: one metrics.jsonl record (TensorBoard too) of the
    latest value of every statistic, with a timestamp and the images per second; then
    ``on_record(step)`` (e.g. architecture probabilities to TensorBoard)."""

    def __init__(self, run: Any, every: int, images_per_step: int,
                 on_record: Callable[[int], None] | None = None) -> None:
        self.run, self.every, self.images_per_step, self.on_record = run, every, images_per_step, on_record
        self.latest: Stats = {}
        self.seconds = 0.0
        self.steps = 0

    def after_step(self, loop: Loop, stats: Stats) -> None:
        self.latest.update(stats)
        self.seconds, self.steps = self.seconds + loop.step_s, self.steps + 1
        if loop.step % self.every == 0 or loop.step == loop.total:
            self.record(loop)

    def after_loop(self, loop: Loop) -> None:
        if self.steps:  # a loop that stopped early: its last steps too
            self.record(loop)

    def record(self, loop: Loop) -> None:
        rate = self.images_per_step * self.steps / max(self.seconds, 1e-9)
        self.run.record(loop.phase, loop.step, self.latest, extra={"time": round(time.time(), 3),
                                                                   "images_per_s": round(rate, 3)})
        self.seconds, self.steps = 0.0, 0
        if self.on_record is not None:
            self.on_record(loop.step)


class Progress(HookBase):
    """A tqdm bar on stderr (refreshed at most every few seconds) showing ``keys`` of the stats."""

    def __init__(self, keys: tuple[str, ...], enabled: bool = True, mininterval: float = 5.0) -> None:
        self.keys, self.enabled, self.mininterval = keys, enabled, mininterval
        self.bar: tqdm | None = None

    def before_loop(self, loop: Loop) -> None:
        self.bar = tqdm(total=loop.total, initial=loop.step, desc=loop.phase, disable=not self.enabled,
                        mininterval=self.mininterval, dynamic_ncols=True, unit="step")

    def after_step(self, loop: Loop, stats: Stats) -> None:
        shown = {k: f"{stats[k]:.4g}" for k in self.keys if k in stats}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(1)

    def after_loop(self, loop: Loop) -> None:
        self.bar.close()


class StopWhenUnchanged(HookBase):
    """Ends the loop early once ``probe()`` (e.g. the derived architecture) has stopped changing:
    ``probe()`` is read every ``every`` steps after step ``start``; the loop stops when
    ``checks`` readings in a row are ``same`` (default ``==``) as the reading that began the run of
    them (0: never). Resumable (``state_dict``); put it before :class:`Checkpoint`, so a
    checkpoint holds the decision.

    >>> values = iter([1, 2, 2, 2, 2, 2])
    >>> stop = StopWhenUnchanged(lambda: next(values), every=1, checks=2)
    >>> loop = Loop("demo", lambda t: {}, total=10, hooks=[stop]); loop.run()
    >>> loop.step, stop.stopped
    (4, True)
    >>> values = iter([1, 5, 6, 7, 8, 9])     # a drift of 1 per reading: never 2 in a row near the first
    >>> stop = StopWhenUnchanged(lambda: next(values), every=1, checks=2, same=lambda a, b: abs(a - b) <= 1)
    >>> loop = Loop("demo", lambda t: {}, total=6, hooks=[stop]); loop.run()
    >>> stop.stopped
    False
    """

    def __init__(self, probe: Callable[[], Any], every: int, checks: int, start: int = 0,
                 same: Callable[[Any, Any], bool] = operator.eq) -> None:
        self.probe, self.every, self.checks, self.start, self.same = probe, every, checks, start, same
        self.last: Any = None   # the reading that began the current run of unchanged ones
        self.unchanged, self.stopped = 0, False

    def before_loop(self, loop: Loop) -> None:
        loop.should_stop = loop.should_stop or self.stopped

    def after_step(self, loop: Loop, stats: Stats) -> None:
        if self.checks <= 0 or loop.step <= self.start or (loop.step - self.start) % self.every:
            return
        value = self.probe()
        if self.last is not None and self.same(value, self.last):
            self.unchanged += 1
        else:
            self.last, self.unchanged = value, 0
        if self.unchanged >= self.checks:
            self.stopped = loop.should_stop = True

    def state_dict(self) -> dict[str, Any]:
        return {"last": self.last, "unchanged": self.unchanged, "stopped": self.stopped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last, self.unchanged, self.stopped = state["last"], int(state["unchanged"]), bool(state["stopped"])


class Checkpoint(HookBase):
    """After every step: ``session.step_done`` (a checkpoint every ``run.checkpoint_every`` steps,
    and on a requested stop a checkpoint then :class:`~search.engine.interrupt.Interrupted`).
    Put it last, so the other hooks have seen the step before a stop."""

    def __init__(self, session: Any, state: Callable[[], dict[str, Any]]) -> None:
        self.session, self.state = session, state

    def after_step(self, loop: Loop, stats: Stats) -> None:
        self.session.step_done(loop.phase, loop.step, loop.total, self.state)
