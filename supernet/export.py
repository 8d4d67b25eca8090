"""Export a derived network: ``derived.pt`` (weights + arch) and ``derived.pt2`` (torch.export).

``derived.pt`` is ``{"arch": dict, "state_dict": {name: tensor}}``, readable with
``torch.load(path, weights_only=True)`` and rebuilt with :func:`load_derived` (or
``build_from_arch(d["arch"]).load_state_dict(d["state_dict"])``). ``derived.pt2`` is an
``ExportedProgram`` with static shapes (the example input's), in eval mode, runnable
without this project::

    program = torch.export.load("derived.pt2"); logits = program.module()(image)

>>> import tempfile, os
>>> from supernet.arch import baseline_arch, build_from_arch
>>> arch = baseline_arch("multires", 3, width_mult=0.25)
>>> net = build_from_arch(arch)
>>> d = tempfile.mkdtemp()
>>> save_derived(net, arch, os.path.join(d, "derived.pt"), os.path.join(d, "derived.pt2"), torch.zeros(1, 3, 32, 32))
>>> type(load_derived(os.path.join(d, "derived.pt"))[0]).__name__
'MultiRes'
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from .arch import ArchError, build_from_arch, validate_arch
from .files import atomic_write


def save_derived(model: nn.Module, arch: Mapping[str, Any], path_pt: str | os.PathLike,
                 path_pt2: str | os.PathLike | None, example_input: Tensor) -> None:
    """Write ``derived.pt`` and (unless ``path_pt2`` is None) ``derived.pt2`` for ``model``."""
    arch = validate_arch(dict(arch))
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    atomic_write(path_pt, lambda p: torch.save({"arch": arch, "state_dict": state}, p))
    if path_pt2 is None:
        return
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            program = torch.export.export(model, (example_input,))
    finally:
        model.train(was_training)
    atomic_write(path_pt2, lambda p: torch.export.save(program, p))


def load_derived(path_pt: str | os.PathLike) -> tuple[nn.Module, dict]:
    """``(model, arch)`` from a ``derived.pt`` (weights-only load; the arch is validated)."""
    try:
        data = torch.load(path_pt, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ArchError(f"{path_pt} does not exist") from None
    except Exception as err:  # torch raises various errors for a corrupt file
        raise ArchError(f"{path_pt}: not a readable derived.pt ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict) or set(data) != {"arch", "state_dict"}:
        raise ArchError(f"{path_pt}: expected a dict with 'arch' and 'state_dict'")
    arch = validate_arch(data["arch"], where=f"{path_pt}: arch")
    model = build_from_arch(arch)
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as err:
        raise ArchError(f"{path_pt}: weights do not fit the arch: {err}") from None
    return model, arch
