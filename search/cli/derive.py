"""``python -m search derive RUN_DIR``: the slim network of arch.json with the supernet's weights."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import supernet
from search.config import apply_limits, load_config
from search.engine.checkpoint import load_checkpoint
from search.errors import UserError
from search.pipeline import SEARCH_CHECKPOINT
from search.report.rundir import read_json
from supernet.export import ExportResult, save_derived

OUTPUTS = ("arch.json", "derived.pt", "derived.pt2", "derived.onnx")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory made by search or run")
    parser.add_argument("--arch", type=Path, default=None,
                        help="derive this (edited) arch.json instead of RUN_DIR/arch.json (same family and space); "
                             "its layers, cost and metrics are recomputed or dropped")
    parser.add_argument("--out", type=Path, default=None,
                        help="write the outputs into this directory (default RUN_DIR)")
    parser.add_argument("--force", action="store_true",
                        help="replace existing outputs (in RUN_DIR: the retrained derived.pt of a finished run)")
    parser.add_argument("--no-onnx", action="store_true", help="skip derived.onnx (the slowest export)")
    parser.add_argument("--no-resize", action="store_true",
                        help="export the network alone: the caller resizes images to the inference scale "
                             "(default: derived.pt2/.onnx take native-resolution images and resize inside)")
    parser.epilog = ("examples: python -m search derive runs/psp\n"
                     "          python -m search derive runs/psp --arch edited.json --out runs/psp/edited")


def check_outputs(run_dir: Path, out: Path, edited: bool, force: bool) -> None:
    """Refuse to replace what derive would overwrite, unless ``force``: in RUN_DIR a derived.pt
    (the retrained weights of a finished run) or, for an edited arch, the searched arch.json;
    elsewhere any existing output."""
    if force:
        return
    if out.resolve() == run_dir.resolve():
        if (run_dir / "derived.pt").exists():
            raise UserError(f"{run_dir / 'derived.pt'} exists (after a full run it holds the retrained weights); "
                            f"derive would replace it with the supernet's. Write elsewhere with --out DIR, or "
                            f"replace it with --force")
        if edited:
            raise UserError(f"--arch would replace {run_dir / 'arch.json'} (the searched architecture); write the "
                            f"edited network elsewhere with --out DIR, or replace it with --force")
        return
    existing = [out / name for name in OUTPUTS if (out / name).exists()]
    if existing:
        raise UserError(f"{existing[0]} exists; derive does not replace files without --force")


def derived_arch(run_dir: Path, arch_path: Path | None, native_size: list[int],
                 resize_in_model: bool) -> tuple[dict[str, Any], list[str]]:
    """The arch to derive, consistent with itself: ``layers`` regenerated from the choices, ``input``
    at the run's image size (``native_size``) unless an edited arch changed it, ``metrics`` dropped
    (these weights were not evaluated) and ``cost`` dropped when the network differs from the searched one."""
    searched = read_json(run_dir / "arch.json")
    raw = read_json(arch_path) if arch_path is not None else dict(searched)
    notes = []
    raw.pop("layers", None)  # regenerated from the (possibly edited) choices
    if "metrics" in raw:
        raw.pop("metrics")
        notes.append("metrics dropped: they were measured on other weights")
    same = all(raw.get(k) == searched.get(k) for k in ("family", "num_classes", "choices", "space", "input"))
    if "cost" in raw and not same:
        raw.pop("cost")
        notes.append("cost dropped: it was computed for another network or computation "
                     "(python -m search cost gives the edited one's)")
    given = raw.get("input") if isinstance(raw.get("input"), dict) else {}
    searched_input = searched.get("input") if isinstance(searched.get("input"), dict) else {}
    edited_size = arch_path is not None and given.get("native_size", native_size) != searched_input.get(
        "native_size", native_size)  # the user changed it: keep theirs
    raw["input"] = {**given, "native_size": given["native_size"] if edited_size else native_size,
                    "resize_in_model": resize_in_model}
    where = str(arch_path or run_dir / "arch.json")
    return supernet.arch.validate_arch(raw, where=where, with_layers=True), notes


def derive_run(run_dir: Path, arch_path: Path | None = None, out: Path | None = None, force: bool = False,
               resize_in_model: bool = True, onnx: bool = True) -> tuple[ExportResult, list[str]]:
    """Write ``arch.json``, ``derived.pt``, ``derived.pt2`` and (``onnx``, when onnx is installed)
    ``derived.onnx`` into ``out`` (default ``run_dir``); returns what was written and notes."""
    out = out or run_dir
    check_outputs(run_dir, out, arch_path is not None, force)
    cfg = load_config(run_dir / "config.yaml")
    apply_limits(cfg)
    if not (run_dir / SEARCH_CHECKPOINT).is_file():
        raise UserError(f"{run_dir} has no searched supernet ({SEARCH_CHECKPOINT}): derive cuts a network out of a "
                        f"co-search run (run or search); a trained network's own export is its derived.pt/.pt2")
    ckpt = load_checkpoint(run_dir / SEARCH_CHECKPOINT)
    arch, notes = derived_arch(run_dir, arch_path, list(ckpt["state"]["cost_size"]), resize_in_model)
    net = supernet.build_supernet(arch["family"], arch["num_classes"], **cfg.model.space)
    try:
        net.load_state_dict(ckpt["state"]["net"])
    except RuntimeError as err:
        raise UserError(f"{run_dir / SEARCH_CHECKPOINT} does not fit the arch's supernet: {err}") from None
    model = net.derive(arch).eval()
    supernet.save_arch(arch, out / "arch.json")
    result = save_derived(model, arch, out / "derived.pt", out / "derived.pt2",
                          path_onnx=out / "derived.onnx" if onnx else None)
    stale = out / "derived.onnx"
    if result.onnx is None and stale.exists():  # it would describe the network derive just replaced
        stale.unlink()
        notes.append(f"removed {stale}: it described the previous network")
    return result, notes + result.notes


def main(args: argparse.Namespace) -> int:
    result, notes = derive_run(args.run_dir, args.arch, args.out, args.force, not args.no_resize, not args.no_onnx)
    for note in notes:
        print(f"note: {note}")
    written = [p for p in (result.pt.parent / "arch.json", result.pt, result.pt2, result.onnx) if p is not None]
    print(f"wrote {', '.join(str(p) for p in written)}")
    dyn = result.contract.get("dynamic", {})
    size = (f"any H, W >= {dyn['min_height']} that are multiples of {dyn['multiple_of']}" if dyn.get("size")
            else f"H x W = {dyn.get('height')} x {dyn.get('width')}")
    print(f"input: float32 (N, 3, H, W) in [0, 1], {size}; inference scale {result.contract.get('inference_scale')} "
          f"({'resized inside' if result.contract.get('resize_in_model') else 'resize before calling'})")
    return 0
