"""Where a finished co-search's arch gradient comes from: per choice site, the norm of the gradient
of the validation loss and of the cost-target penalty on its logits, at the search's last state.

A site whose loss gradient is far below its cost gradient is decided by cost alone: the search
cannot see what it is worth. Reads ``RUN/config.yaml`` and ``RUN/checkpoints/search.pt`` (a run
of ``python -m search run`` with ``search.target_cost``); trains nothing.

    .venv/bin/python experiments/arch_gradients.py RUN [--batches 8] [--out FILE]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from search.config import load_config
from search.cosearch.cosearch import CoSearch, cost_metric
from search.cosearch.phase import search_config
from search.data.splits import load_splits
from search.engine.session import Session


def site_gradients(run: Path, batches: int) -> tuple[list[tuple[str, float, float, float]], float]:
    """``([(site, |d loss|, |d penalty|, P of its likeliest option)], multiplier)`` at the search's end."""
    torch.manual_seed(0)  # the Gumbel draws of the loss gradient
    cfg = search_config(load_config(run / "config.yaml"))
    if cfg.search.target_cost is None:
        raise SystemExit(f"{run / 'config.yaml'}: search.target_cost is not set; this script splits the "
                         "gradient of the cost-target penalty")
    splits = load_splits(cfg.data, features=True, progress=False)
    session = Session.open(cfg, Path(tempfile.mkdtemp()) / "run", False, None, echo=False)
    try:
        cs = CoSearch(cfg, splits, session)
        cs.load_state_dict(torch.load(run / "checkpoints" / "search.pt", weights_only=True)["state"])
        params = cs.net.arch_parameters()
        loss_grad = [torch.zeros_like(p) for p in params]
        for k in range(batches):  # the val loss the arch step differentiates, at the final temperature
            idx, _, images, masks = cs.batch("val", k)
            cs.set_mode("gumbel_hard", tau=cfg.search.tau_end)
            loss, _ = cs.val_loss(images, masks, len(idx))
            for acc, g in zip(loss_grad, torch.autograd.grad(loss, params, allow_unused=True)):
                if g is not None:
                    acc += g / batches
        penalty = cs.cost_penalty(cost_metric(cs.expected_inference_cost(), cfg.search.cost_metric).float())
        cost_grad = torch.autograd.grad(penalty, params, allow_unused=True)
        probs = cs.net.probabilities()
        rows = [(name, float(lg.norm()), float(cg.norm()) if cg is not None else 0.0, float(probs[name].max()))
                for name, lg, cg in zip(cs.net.sites, loss_grad, cost_grad)]
        return rows, cs.multiplier
    finally:
        session.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--batches", type=int, default=8, help="val batches the loss gradient averages over")
    p.add_argument("--out", type=Path, default=None, help="also write the table to this markdown file")
    args = p.parse_args()
    rows, multiplier = site_gradients(args.run, args.batches)
    lines = [f"Run `{args.run}`, Lagrange multiplier {multiplier:.4g}; gradient norms on each site's logits "
             f"(val loss: mean over {args.batches} val batches).", "",
             "| site | val loss gradient | cost penalty gradient | loss / cost | P(likeliest option) |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {lg:.2e} | {cg:.2e} | {lg / max(cg, 1e-12):.3f} | {pmax:.3f} |" for name, lg, cg, pmax in rows]
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
