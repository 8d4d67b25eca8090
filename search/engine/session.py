"""One process's view of a run: config, distributed place, run directory, stop flag, checkpoints.

Phases (the co-search, the retraining) call :meth:`Session.step_done` after every step: it
writes ``checkpoints/last.pt`` every ``run.checkpoint_every`` steps, and when a stop was
requested (Ctrl-C, SIGTERM) it writes one and raises :class:`~search.engine.interrupt.Interrupted`.

>>> import tempfile
>>> from search.config import Config
>>> s = Session.open(Config(), tempfile.mkdtemp(), resume=False, echo=False)
>>> s.save("search", 0, {}); s.checkpoint()["phase"]
'search'
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from supernet.files import remove_stale_temporaries

from search.config import Config, dump_yaml, to_dict
from search.engine.checkpoint import (
    load_checkpoint,
    make_checkpoint,
    save_checkpoint,
    set_rng_state,
)
from search.engine.distributed import DistEnv, barrier, broadcast_object, setup
from search.engine.interrupt import Interrupted, StopFlag
from search.engine.lock import RunLock
from search.errors import UserError
from search.report.rundir import RunDir


@dataclass
class Session:
    cfg: Config
    env: DistEnv
    run: RunDir
    stop: StopFlag = field(default_factory=StopFlag)
    resumed: dict[str, Any] | None = None   # the checkpoint this session resumes from
    lock: RunLock | None = None              # rank 0's hold on the run directory

    @classmethod
    def open(cls, cfg: Config, out: str | Path, resume: bool, stop: StopFlag | None = None,
             echo: bool = True) -> "Session":
        """Set up torch (threads, distributed), the run directory, and the checkpoint to resume."""
        if cfg.run.threads:
            torch.set_num_threads(cfg.run.threads)
        env = setup(cfg.run.device)
        if cfg.data.batch_size < 2 * env.world_size:  # batch-norm in training needs two images per process
            raise UserError(f"data.batch_size {cfg.data.batch_size} gives fewer than 2 images to each of the "
                            f"{env.world_size} processes; expected at least {2 * env.world_size}")
        out = Path(out)
        lock, problem = None, None
        if env.is_main:
            try:
                lock = _claim(out)
            except UserError as err:
                problem = str(err)
        problem = broadcast_object(problem, env)
        if problem:  # every rank raises, none is left waiting
            raise UserError(problem)
        run = None
        try:
            taken = broadcast_object((out / "checkpoints" / "last.pt").exists() if env.is_main else None, env)
            if not resume and taken:
                raise UserError(f"{out} already holds a run; resume it with --resume, or choose another --out")
            run = RunDir(out, main=env.is_main, echo=echo)
            resumed = None
            if resume and not taken:
                run.log(f"{out} holds no checkpoint (the run stopped while starting): starting it afresh")
            elif resume:
                resumed = load_checkpoint(run.checkpoint, config=to_dict(cfg))
                set_rng_state(resumed["rng"])
                run.log(f"resuming {out} at phase {resumed['phase']}, step {resumed['step']}")
                for key, (was, now) in resumed["extended"].items():
                    run.log(f"resume extends {key} from {was} to {now}")
            run.write_text("config.yaml", dump_yaml(cfg))
            return cls(cfg, env, run, stop if stop is not None else StopFlag(), resumed, lock)
        except BaseException:  # a refused start leaves the directory free
            if run is not None:
                run.close()
            _release(lock)
            raise

    def close(self) -> None:
        """Close the run directory's files and give up its lock."""
        self.run.close()
        _release(self.lock)
        self.lock = None

    @property
    def device(self) -> torch.device:
        return self.env.device

    def config_dict(self) -> dict[str, Any]:
        return to_dict(self.cfg)

    def save(self, phase: str, step: int, state: dict[str, Any], path: Path | None = None) -> None:
        """Rank 0 writes the checkpoint (atomically); every rank waits for it."""
        if self.env.is_main:
            save_checkpoint(path or self.run.checkpoint, make_checkpoint(self.config_dict(), phase, step, state))
        barrier(self.env)

    def checkpoint(self, path: Path | None = None) -> dict[str, Any]:
        return load_checkpoint(path or self.run.checkpoint)

    def resume_point(self, phase: str) -> tuple[int, dict[str, Any] | None]:
        """``(step, state)`` to continue ``phase`` from, or ``(0, None)`` to start it."""
        if self.resumed is not None and self.resumed["phase"] == phase:
            return self.resumed["step"], self.resumed["state"]
        return 0, None

    def step_done(self, phase: str, step: int, total: int, state: Callable[[], dict[str, Any]]) -> None:
        """After step ``step`` (1-based count of finished steps): checkpoint and maybe stop."""
        if self.stop.should_stop():
            self.save(phase, step, state())
            self.run.log(f"stopped at {phase} step {step}/{total}; checkpoint written to {self.run.checkpoint}")
            raise Interrupted(f"stopped at {phase} step {step}/{total}; continue with --resume --out {self.run.path}")
        if step % self.cfg.run.checkpoint_every == 0 and step < total:
            self.save(phase, step, state())


def _claim(out: Path) -> RunLock:
    """Create the run directory, lock it for this process, clear what a killed process left."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file, expected a run directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = RunLock(out).acquire()
    except PermissionError as err:
        raise UserError(f"--out {out}: cannot write there ({err.strerror})") from None
    except OSError as err:
        raise UserError(f"--out {out}: cannot create the run directory ({err.strerror or err})") from None
    remove_stale_temporaries(out)
    return lock


def _release(lock: RunLock | None) -> None:
    if lock is not None:
        lock.release()
