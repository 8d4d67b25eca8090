"""One self-contained checkpoint dict, written atomically, read with ``weights_only=True``.

A checkpoint holds only plain types and tensors: ``{"format", "version", "config", "phase",
"step", "state", "rng"}``. ``state`` is whatever the phase needs (model and optimizer
state dicts, the derived arch, ...).

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "last.pt")
>>> save_checkpoint(path, make_checkpoint({"run": {"seed": 0}}, "search", 3, {"w": torch.ones(2)}))
>>> load_checkpoint(path, config={"run": {"seed": 0}})["step"]
3
"""
from __future__ import annotations

import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from search.config import diff_configs, flatten
from search.errors import UserError
from supernet.files import atomic_write

FORMAT, VERSION = "cosearch-checkpoint", 1
# config keys that may change between an interrupted run and its resumption
# step counts a resumed run may raise (never lower): the run then goes on for longer
EXTENDABLE_KEYS = ("train.steps", "search.steps")
RESUMABLE_KEYS = ("run.progress", "run.log_every", "run.checkpoint_every", "run.threads", "data.workers", "eval.every",
                  "data.max_pixels", "model.max_channels")


def rng_state() -> dict[str, Any]:
    """The torch, numpy and python RNG states as plain types and tensors."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(_plain, np_state[2:])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def _plain(x: Any) -> Any:
    return x.item() if hasattr(x, "item") else x


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


def make_checkpoint(config: dict[str, Any], phase: str, step: int, state: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "config": config, "phase": phase, "step": step,
            "state": state, "rng": rng_state()}


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any]) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
    atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))


def load_checkpoint(path: str | Path, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read and check a checkpoint; with ``config``, it must match the checkpoint's config."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}; nothing to resume (start the run without --resume)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Unsupported global" in str(err):
            raise UserError(f"{path} is not a cosearch checkpoint (refused: loading it would run code)") from None
        raise UserError(f"checkpoint {path} is corrupt or truncated and cannot be read; delete it to start over") \
            from None
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"checkpoint {path} is corrupt or truncated and cannot be read ({first}); "
                        f"delete it to start over") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"{path} is not a cosearch checkpoint (expected format {FORMAT!r})")
    if ckpt.get("version") != VERSION:
        raise UserError(f"checkpoint {path} has version {ckpt.get('version')!r}; this cosearch reads version {VERSION}")
    missing = [k for k in ("config", "phase", "step", "state", "rng") if k not in ckpt]
    if missing:
        raise UserError(f"checkpoint {path} is missing {', '.join(missing)}")
    ckpt["extended"] = {}
    if config is not None:
        differ = diff_configs(ckpt["config"], config, ignore=RESUMABLE_KEYS)
        old, new = flatten(ckpt["config"]), flatten(config)
        ckpt["extended"] = {k: (old[k], new[k]) for k in differ if k in EXTENDABLE_KEYS and new[k] > old[k]}
        differ = [k for k in differ if k not in ckpt["extended"]]
        if differ:
            detail = "; ".join(f"{k}: {old.get(k)!r} in the checkpoint, {new.get(k)!r} now" for k in differ)
            raise UserError(f"the config differs from the one checkpoint {path} was made with: {detail}. "
                            f"Resume with the same config, or start a new run")
    return ckpt
