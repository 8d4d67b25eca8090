"""``python -m search cost``: the cost of an architecture (arch.json or a baseline) on a target."""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import cost_models
from search.derive import inference_scale
from search.errors import UserError

_INPUT = re.compile(r"^(\d+)x(\d+)x(\d+)$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("arch", nargs="?", type=Path, metavar="ARCH_JSON", help="an arch.json file")
    parser.add_argument("--baseline", metavar="FAMILY", help="a fixed baseline network of this family instead")
    parser.add_argument("--num-classes", type=int, default=19, help="classes of the baseline (default 19)")
    parser.add_argument("--width-mult", type=float, default=1.0, help="width of the baseline (default 1.0)")
    parser.add_argument("--inference-scale", type=float, default=1.0,
                        help="input scale of the baseline (default 1.0)")
    parser.add_argument("--target", required=True, help="a target name (see `targets`) or a target .yaml file")
    parser.add_argument("--input", default="3x512x1024", help="full-resolution input CxHxW (default 3x512x1024)")
    parser.add_argument("--training", action="store_true", help="cost of one training step instead of inference")
    parser.add_argument("--per-layer", action="store_true", help="show (or, with --json, include) every layer")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.epilog = ("examples: python -m search cost runs/psp/arch.json --target jetson_tx2\n"
                     "          python -m search cost --baseline pspnet --target zc706 --input 3x256x512 --per-layer")


def parse_input(text: str) -> tuple[int, int, int]:
    """``"3x512x1024"`` -> ``(3, 512, 1024)``."""
    match = _INPUT.match(text.strip())
    if match is None or min(int(g) for g in match.groups()) < 1:
        raise UserError(f"--input {text!r}: expected CxHxW like 3x512x1024")
    c, h, w = (int(g) for g in match.groups())
    return c, h, w


def load_network(args: argparse.Namespace) -> tuple[object, dict]:
    """The network and its arch dict, from ARCH_JSON or --baseline (supernet is imported here)."""
    if (args.arch is None) == (args.baseline is None):
        raise UserError("give either ARCH_JSON or --baseline FAMILY (exactly one)")
    import supernet  # noqa: PLC0415 (only this command needs the model families)
    if args.arch is not None:
        if not args.arch.is_file():
            raise UserError(f"{args.arch}: no such file")
        arch = supernet.load_arch(args.arch)
    else:
        arch = supernet.baseline_arch(args.baseline, args.num_classes, width_mult=args.width_mult,
                                      inference_scale=args.inference_scale)
    return supernet.build_from_arch(arch), arch


def main(args: argparse.Namespace) -> int:
    c, h, w = parse_input(args.input)
    target = cost_models.load_target(args.target)  # an unknown target fails before any network is built
    model, arch = load_network(args)
    import supernet  # noqa: PLC0415
    scale = inference_scale(arch)
    shape = (1, c, supernet.scaled_size(h, scale), supernet.scaled_size(w, scale))
    report = cost_models.profile(model, shape, target=target, training=args.training)
    name = str(args.arch) if args.arch is not None else f"baseline {args.baseline} (width {args.width_mult})"
    if args.json:
        out = report.to_dict()
        if not args.per_layer:
            out.pop("layers"), out.pop("edges")
        print(json.dumps({"network": name, "family": arch["family"], "inference_scale": scale, **out}, indent=1))
        return 0
    print(f"{name}: family {arch['family']}, input {c}x{h}x{w} at inference scale {scale:g} -> "
          f"{shape[1]}x{shape[2]}x{shape[3]}, target {target.name}, "
          f"{'one training step' if args.training else 'inference'}")
    if args.per_layer:
        print(report.table())
    else:
        print(report.table(max_depth=1))
    print(f"MACs {report.macs:.4g}  params {report.params:.4g}  DRAM {report.dram_bytes:.4g} B  "
          f"energy {report.energy_j:.4g} J  latency {report.latency_s:.4g} s")
    return 0
