"""``python -m search derive RUN_DIR``: the slim network of arch.json with the supernet's weights."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

import supernet
from search.config import apply_limits, load_config
from search.derive import inference_scale
from search.engine.checkpoint import load_checkpoint
from search.errors import UserError
from search.pipeline import SEARCH_CHECKPOINT
from supernet.export import save_derived


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory made by search or run")
    parser.add_argument("--arch", type=Path, default=None,
                        help="derive this arch.json instead of RUN_DIR/arch.json (same family and space)")
    parser.epilog = "example: python -m search derive runs/psp"


def derive_run(run_dir: Path, arch_path: Path | None = None) -> tuple[Path, Path]:
    """Write ``derived.pt`` and ``derived.pt2`` into ``run_dir``; returns their paths."""
    cfg = load_config(run_dir / "config.yaml")
    apply_limits(cfg)
    ckpt = load_checkpoint(run_dir / SEARCH_CHECKPOINT)
    arch = supernet.load_arch(arch_path or run_dir / "arch.json")
    net = supernet.build_supernet(arch["family"], arch["num_classes"], **cfg.model.space)
    try:
        net.load_state_dict(ckpt["state"]["net"])
    except RuntimeError as err:
        raise UserError(f"{run_dir / SEARCH_CHECKPOINT} does not fit the arch's supernet: {err}") from None
    model = net.derive(arch).eval()
    scale = inference_scale(arch)
    h, w = ckpt["state"]["cost_size"]
    example = torch.zeros(1, 3, supernet.scaled_size(h, scale), supernet.scaled_size(w, scale))
    pt, pt2 = run_dir / "derived.pt", run_dir / "derived.pt2"
    save_derived(model, arch, pt, pt2, example)
    return pt, pt2


def main(args: argparse.Namespace) -> int:
    pt, pt2 = derive_run(args.run_dir, args.arch)
    print(f"wrote {pt} and {pt2}")
    return 0
