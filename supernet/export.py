"""Export a derived network: ``derived.pt`` (weights + arch), ``derived.pt2`` (torch.export), ``derived.onnx``.

``derived.pt`` is ``{"arch": dict, "state_dict": {name: tensor}}``, readable with
``torch.load(path, weights_only=True)`` and rebuilt with :func:`load_derived` (or
``build_from_arch(d["arch"]).load_state_dict(d["state_dict"])``); its arch holds the input
contract (``arch["input"]``, ``arch["data"]["inference_scale"]``, :mod:`supernet.contract`).

``derived.pt2`` (an ``ExportedProgram``, eval mode) and ``derived.onnx`` (the same program,
ONNX opset 18+, input ``image``, output ``logits``) run without this project. By default
(``arch["input"]["resize_in_model"]``) they are the whole deployed computation
(:class:`~supernet.deployed.DeployedNet`): a float image ``(N, 3, H, W)`` in [0, 1] at any
batch and any ``H, W`` from :func:`~supernet.deployed.min_native_size` up that are multiples
of :func:`~supernet.deployed.size_multiple` (4 at scale 0.75, 1 at 1.0), resized to the
inference scale inside, logits ``(N, num_classes, H, W)`` out. The contract is stored in the
files too: ``cosearch/input.json`` in the ``.pt2`` archive, ``cosearch.input`` in the ONNX
metadata::

    program = torch.export.load("derived.pt2"); logits = program.module()(image)
    session = onnxruntime.InferenceSession("derived.onnx"); logits, = session.run(None, {"image": array})

>>> import tempfile, os
>>> from supernet.arch import baseline_arch, build_from_arch
>>> arch = baseline_arch("multires", 3, width_mult=0.25)
>>> net = build_from_arch(arch)
>>> d = tempfile.mkdtemp()
>>> _ = save_derived(net, arch, os.path.join(d, "derived.pt"), None)
>>> type(load_derived(os.path.join(d, "derived.pt"))[0]).__name__
'MultiRes'
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch
from torch import Tensor, nn

from .arch import ArchError, build_from_arch, validate_arch
from .deployed import DeployedNet, min_native_size, size_multiple
from .files import atomic_write
from .sizes import scaled_size

CONTRACT_FILE = "cosearch/input.json"      # inside derived.pt2 (torch.export.save extra_files)
ONNX_METADATA_KEY = "cosearch.input"       # ONNX model metadata_props

__all__ = ["CONTRACT_FILE", "DeployedNet", "ExportResult", "ONNX_METADATA_KEY", "deployed_model", "export_onnx",
           "export_program", "input_contract", "load_derived", "save_derived"]


@dataclass
class ExportResult:
    """What :func:`save_derived` wrote (None: not written) and one-line notes for the user."""

    pt: Path
    pt2: Path | None = None
    onnx: Path | None = None
    contract: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def input_contract(arch: Mapping[str, Any], dynamic_size: bool = True,
                   example_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """What an exported program takes and returns, for files that travel without the arch."""
    block, scale = arch["input"], float(arch["data"]["inference_scale"])
    deployed = block["resize_in_model"]
    if dynamic_size:
        side = min_native_size(arch["family"], scale, deployed)
        size = {"min_height": side, "min_width": side, "multiple_of": size_multiple(scale) if deployed else 1}
    else:
        size = {"height": example_size[0], "width": example_size[1]}
    resize = ("inside the program: bilinear, align_corners=False, antialiased when shrinking, to "
              "max(1, round(side * inference_scale)) per side (Python round); logits resized back bilinearly"
              if deployed else "the caller's: the program takes the image already at the inference scale")
    return {"format": "cosearch-input", "version": 1, "family": arch["family"], "num_classes": arch["num_classes"],
            **block, "inference_scale": scale, "resize": resize,
            "input_name": "image", "output_name": "logits",
            "dynamic": {"batch": True, "size": dynamic_size, **size},
            "output": "logits (N, num_classes, H, W) at the input's H, W; argmax over dim 1 gives train ids"}


def deployed_model(model: nn.Module, arch: Mapping[str, Any]) -> nn.Module:
    """``model`` as its arch deploys it: :class:`DeployedNet` unless ``input.resize_in_model`` is false."""
    if arch["input"]["resize_in_model"]:
        return DeployedNet(model, float(arch["data"]["inference_scale"]))
    return model


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch.export / torch.onnx print progress and deprecation warnings; keep the user's console for ours."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _dynamic_shapes(min_side: int | None, multiple: int = 1) -> dict[str, Any]:
    """Batch >= 1; height and width (unless ``min_side`` is None) >= ``min_side``, multiples of ``multiple``."""
    from torch.export import Dim  # noqa: PLC0415

    dims: dict[int, Any] = {0: Dim("batch", min=1)}
    if min_side is not None:
        if multiple == 1:
            dims.update({2: Dim("height", min=min_side), 3: Dim("width", min=min_side)})
        else:
            k = -(-min_side // multiple)
            dims.update({2: multiple * Dim(f"height_over_{multiple}", min=k),
                         3: multiple * Dim(f"width_over_{multiple}", min=k)})
    return {"x": dims}


def export_program(model: nn.Module, arch: Mapping[str, Any], example_input: Tensor
                   ) -> tuple[torch.export.ExportedProgram, dict[str, Any], list[str]]:
    """``(program, contract, notes)``: ``model`` (the deployed module, eval mode) exported with a
    dynamic batch and, when ``example_input`` is at least the minimum size, dynamic height and width.

    The program is traced at batch 2 (``torch.export`` specialises a size seen as 1).
    """
    deployed = arch["input"]["resize_in_model"]
    scale = float(arch["data"]["inference_scale"])
    min_side, multiple = min_native_size(arch["family"], scale, deployed), size_multiple(scale) if deployed else 1
    h, w = (int(s) for s in example_input.shape[-2:])
    x = torch.zeros(2, *example_input.shape[1:], dtype=example_input.dtype, device=example_input.device)
    notes = []
    with torch.no_grad(), _quiet():
        if min(h, w) >= min_side and h % multiple == 0 and w % multiple == 0:
            try:
                program = torch.export.export(model, (x,), dynamic_shapes=_dynamic_shapes(min_side, multiple))
                return program, input_contract(arch, True), notes
            except Exception as err:  # a guard the constraints cannot satisfy: fall back, and say why
                reason = f"torch.export could not keep height and width dynamic ({type(err).__name__}: " \
                         f"{str(err).splitlines()[0]})"
        else:
            reason = f"the example input {h}x{w} is not a size a dynamic program supports (at least " \
                     f"{min_side}x{min_side}, multiples of {multiple})"
        program = torch.export.export(model, (x,), dynamic_shapes=_dynamic_shapes(None))
    notes.append(f"derived.pt2: height and width fixed at {h}x{w}, batch dynamic: {reason}")
    return program, input_contract(arch, False, (h, w)), notes


def _onnx_translations() -> dict[Any, Any]:
    """ONNX translations of our own for ops the exporter gets wrong with a dynamic input size.

    ``adaptive_avg_pool2d`` to more than 1x1 (PSP bins): ONNX has no adaptive pooling and the
    exporter's fallback fixes the window indices of the traced size, so every other size comes
    out wrong. Here each window's average is two matrix products whose 0/1 matrices are built
    from the input's runtime height and width (exact for every size); to 1x1 it is ``ReduceMean``.
    """
    from onnxscript import opset18 as op  # noqa: PLC0415 (optional dependency)

    def window_matrix(size: Any, o: int) -> Any:
        """(o, size): row i averages input positions [floor(i*size/o), ceil((i+1)*size/o))."""
        zero, one, out = op.Constant(value_int=0), op.Constant(value_int=1), op.Constant(value_int=o)
        i = op.Range(zero, out, one)
        start = op.Div(op.Mul(i, size), out)
        end = op.Div(op.Sub(op.Add(op.Mul(op.Add(i, one), size), out), one), out)
        rows, cols = op.Constant(value_ints=[1]), op.Constant(value_ints=[0])
        j = op.Unsqueeze(op.Range(zero, size, one), cols)
        inside = op.And(op.GreaterOrEqual(j, op.Unsqueeze(start, rows)), op.Less(j, op.Unsqueeze(end, rows)))
        return op.Div(op.Cast(inside, to=1), op.Unsqueeze(op.Cast(op.Sub(end, start), to=1), rows))

    def adaptive_avg_pool2d(x: Any, output_size: Any) -> Any:
        oh, ow = output_size
        if (oh, ow) == (1, 1):
            return op.ReduceMean(x, op.Constant(value_ints=[2, 3]), keepdims=1)
        shape = op.Shape(x)
        h, w = op.Gather(shape, op.Constant(value_int=2)), op.Gather(shape, op.Constant(value_int=3))
        pooled = op.MatMul(op.MatMul(window_matrix(h, oh), x), op.Transpose(window_matrix(w, ow), perm=[1, 0]))
        return op.CastLike(pooled, x)

    aten = torch.ops.aten
    return {aten.adaptive_avg_pool2d.default: adaptive_avg_pool2d,
            aten._adaptive_avg_pool2d.default: adaptive_avg_pool2d}


def export_onnx(program: torch.export.ExportedProgram, path: str | os.PathLike, example_input: Tensor,
                contract: Mapping[str, Any]) -> str | None:
    """Write ``program`` as ONNX to ``path``; returns a one-line note instead when onnx/onnxscript
    are not installed."""
    try:
        import onnx  # noqa: F401, PLC0415
        import onnxscript  # noqa: F401, PLC0415
    except ImportError as err:
        return f"derived.onnx skipped: {err.name} is not installed (pip install onnx onnxscript)"
    dynamic = contract["dynamic"]["size"]
    x = torch.zeros(2, *example_input.shape[1:], dtype=example_input.dtype)
    with _quiet():
        onnx_program = torch.onnx.export(program, (x,), dynamo=True, verbose=False,
                                         custom_translation_table=_onnx_translations(),
                                         dynamic_shapes=_dynamic_shapes(contract["dynamic"].get("min_height")
                                                                        if dynamic else None,
                                                                        contract["dynamic"].get("multiple_of", 1)),
                                         input_names=["image"], output_names=["logits"])
    onnx_program.model.metadata_props[ONNX_METADATA_KEY] = json.dumps(contract)
    atomic_write(path, lambda p: onnx_program.save(str(p)))
    return None


def save_derived(model: nn.Module, arch: Mapping[str, Any], path_pt: str | os.PathLike,
                 path_pt2: str | os.PathLike | None = None, example_input: Tensor | None = None,
                 path_onnx: str | os.PathLike | None = None, resize_in_model: bool | None = None) -> ExportResult:
    """Write ``derived.pt`` and, unless their paths are None, ``derived.pt2`` and ``derived.onnx``.

    ``model`` is the bare derived network. ``resize_in_model`` (default: the arch's
    ``input.resize_in_model``, true unless set) exports the deployed computation; it is recorded
    in the arch. ``example_input`` gives the traced size (default: zeros at
    ``input.native_size``, or at the inference scale without the resize in the model).
    """
    arch = dict(arch)
    if resize_in_model is not None:
        arch["input"] = {**arch.get("input", {}), "resize_in_model": bool(resize_in_model)}
    arch = validate_arch(arch, with_layers=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    atomic_write(path_pt, lambda p: torch.save({"arch": arch, "state_dict": state}, p))
    result = ExportResult(pt=Path(path_pt))
    if path_pt2 is None and path_onnx is None:
        return result
    if example_input is None:

        h, w = arch["input"]["native_size"]
        if not arch["input"]["resize_in_model"]:
            scale = arch["data"]["inference_scale"]
            h, w = scaled_size(h, scale), scaled_size(w, scale)
        example_input = torch.zeros(1, 3, h, w)
    example_input = example_input.detach().cpu()
    was_training = model.training
    model.eval()
    try:
        program, contract, notes = export_program(deployed_model(model, arch).cpu(), arch, example_input)
    finally:
        model.train(was_training)
    result.contract, result.notes = contract, notes
    if path_pt2 is not None:
        extra = {CONTRACT_FILE: json.dumps(contract)}
        atomic_write(path_pt2, lambda p: torch.export.save(program, p, extra_files=extra))
        result.pt2 = Path(path_pt2)
    if path_onnx is not None:
        note = export_onnx(program, path_onnx, example_input, contract)
        if note is None:
            result.onnx = Path(path_onnx)
        else:
            result.notes.append(note)
    return result


def load_derived(path_pt: str | os.PathLike) -> tuple[nn.Module, dict]:
    """``(model, arch)`` from a ``derived.pt`` (weights-only load; the arch is validated).

    ``model`` is the bare network; ``deployed_model(model, arch)`` adds the deployed resizes.
    """
    try:
        data = torch.load(path_pt, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ArchError(f"{path_pt} does not exist") from None
    except Exception as err:  # torch raises various errors for a corrupt file
        raise ArchError(f"{path_pt}: not a readable derived.pt ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict) or set(data) != {"arch", "state_dict"}:
        raise ArchError(f"{path_pt}: expected a dict with 'arch' and 'state_dict'")
    arch = validate_arch(data["arch"], where=f"{path_pt}: arch", with_layers=True)
    model = build_from_arch(arch)
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as err:
        raise ArchError(f"{path_pt}: weights do not fit the arch: {err}") from None
    return model, arch
