"""Learned data-slimming gates versus full-resolution training, network fixed.

Both runs train the same baseline network (same initial weights, same image order, same
number of epochs) on the synthetic train split. The gated run samples one action per image
and step from :class:`supernet.gates.DataGate` (drop / 0.5x / 0.75x / 1.0x), trains with one
forward per resolution (labels at full resolution), and every ``--probe-every`` steps
measures the regret of every action on a probe batch (:func:`~supernet.gates.estimate_regret`)
and takes gate steps on the last probes (:func:`~supernet.gates.gate_objective`). Both runs
train with :func:`data_common.train` (the engine's loop and weight step). Training MACs and
energy are :func:`search.report.costs.work_costs` (cost_models) of the images trained per
action (training steps at the action's scale, logits upsampled to the labels; dropped images
cost 0) and of the probes (forward passes: at 1.0 with ``--regret labels``, at every scale with
``--regret network``). Goals: Spearman(complexity, chosen scale) >= 0.5, training MACs <= 60 %
of full resolution (probes included), final mIoU within 1 point of full-resolution training.

    .venv/bin/python experiments/data_gates.py --out experiments/results/data_gates.md
    .venv/bin/python experiments/data_gates.py --quick      # a smoke run
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile

import torch
from scipy.stats import spearmanr

from data_common import Split, Timer, baseline_net, machine, miou_of, per_image_confusion, quartiles, train
from search.data.slimming import action_key
from search.report.costs import Work, work_costs
from supernet.gates import DataGate, estimate_regret

ACTIONS = ("drop", 0.5, 0.75, 1.0)
PROBE_SCALES = {"labels": (1.0,), "network": (0.5, 0.75, 1.0)}  # the forward passes of one probed image


class Prober:
    """Regret probes and gate steps on a buffer of the most recent probes; counts the probed images."""

    def __init__(self, gate: DataGate, train_cost: torch.Tensor, lambda_train: float, lr: float,
                 buffer: int, steps: int, reference: str = "network") -> None:
        self.gate, self.train_cost, self.lambda_train, self.reference = gate, train_cost, lambda_train, reference
        self.opt = torch.optim.Adam(gate.parameters(), lr=lr)
        self.buffer, self.steps = buffer, steps
        self.feats: list[torch.Tensor] = []
        self.regrets: list[torch.Tensor] = []
        self.images = 0

    def probe(self, model, images, masks, feats) -> float:
        self.regrets.append(estimate_regret(model, images, masks, ACTIONS, reference=self.reference))
        self.feats.append(feats)
        self.images += len(images)
        while sum(len(f) for f in self.feats) > self.buffer:
            self.feats.pop(0)
            self.regrets.pop(0)
        feats, regret = torch.cat(self.feats), torch.cat(self.regrets)
        for _ in range(self.steps):
            obj = self.gate.objective(self.gate(feats).softmax(-1), regret, self.train_cost, self.lambda_train)
            self.opt.zero_grad()
            obj.backward()
            self.opt.step()
        return float(obj.detach())


def train_gated(model, split: Split, args, gate: DataGate, prober: Prober) -> dict[str, int]:
    """:func:`data_common.train` with the gate's sampled actions, and a probe (then gate steps)
    every ``--probe-every`` steps in the first ``--probe-epochs`` epochs. Returns images per action."""
    gen = torch.Generator().manual_seed(args.seed + 17)

    def choose(idx):
        with torch.no_grad():
            sample, probs = gate.sample(split.features[idx], tau=1.0, generator=gen, explore=args.explore)
        return sample.argmax(1), gate.loss_weights(sample, probs)

    def probe(t, epoch, idx, images, masks):
        if t % args.probe_every == 0 and epoch < args.probe_epochs:
            k = args.probe_images
            prober.probe(model, images[:k], masks[:k], split.features[idx[:k]])

    return train(model, split, args.epochs, args.batch, args.lr, args.seed, ACTIONS, choose, probe, name="gated ")


def training_cost(model, size, images: dict[str, int], probe_images: int, args) -> dict:
    """:func:`work_costs` on ``args.target`` of ``images`` trained per action and ``probe_images``
    probed images (forward passes at ``PROBE_SCALES[args.regret]``): ``{macs, dram_bytes, energy_j,
    latency_s, per_work: {action or "probe": ...}, images: per action, probe_images, target}``."""
    work = [Work(key, float(key), n, True) for key, n in images.items() if key != "drop"]
    work += [Work("probe", s, probe_images, False) for s in PROBE_SCALES[args.regret]]
    cost = work_costs(model, size, work, [args.target])[args.target]
    return {**cost, "images": dict(images), "probe_images": int(probe_images), "target": args.target}


def relative_train_cost(model, size, target: str) -> torch.Tensor:
    """Training MACs of one image per action divided by one at full resolution (the gate's ``train_cost``)."""
    per = work_costs(model, size, [Work(action_key(a), float(a), 1, True) for a in ACTIONS if a != "drop"],
                     [target])[target]["per_work"]
    full = per[action_key(1.0)]["macs"]
    return torch.tensor([0.0 if a == "drop" else per[action_key(a)]["macs"] / full for a in ACTIONS])


def evaluate(model, val: Split, num_classes: int) -> dict:
    cms = per_image_confusion(model, val, 1.0, num_classes)
    return {"miou": miou_of(cms, range(len(cms))),
            "miou_by_quarter": [miou_of(cms, q) for q in quartiles(val.score)]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", default="deeplabv3plus")
    p.add_argument("--width", type=float, default=0.5)
    p.add_argument("--image-size", type=int, nargs=2, default=[64, 128])
    p.add_argument("--train", type=int, default=384)
    p.add_argument("--val", type=int, default=160)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--lambda-train", type=float, default=0.5)
    p.add_argument("--gate-lr", type=float, default=0.01)
    p.add_argument("--gate-steps", type=int, default=5, help="gate steps per probe")
    p.add_argument("--probe-images", type=int, default=16)
    p.add_argument("--probe-every", type=int, default=6, help="steps between probes")
    p.add_argument("--probe-epochs", type=int, default=6, help="probe (and learn the gate) in these first epochs")
    p.add_argument("--buffer", type=int, default=128, help="gate steps use the most recent probed images")
    p.add_argument("--explore", type=float, default=0.0, help="uniform share mixed into the gate's sampling")
    p.add_argument("--regret", choices=("network", "labels"), default="network",
                   help="a downsample's regret: the network's loss increase, or the labels' lost pixels")
    p.add_argument("--target", default="jetson_tx2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.quick:
        args.train, args.val, args.epochs, args.probe_epochs = 64, 32, 2, 2
    torch.set_num_threads(args.threads)
    timer = Timer()
    cache = tempfile.mkdtemp(prefix="cosearch-features-")
    size = tuple(args.image_size)
    aug = (0.75, 1.25)
    train_split = Split("train", args.train, size, args.seed, cache, augment=True, scale_range=aug)
    val = Split("val", args.val, size, args.seed, cache)
    num_classes = train_split.ds.num_classes

    full_model, arch = baseline_net(args.family, num_classes, args.width, args.seed)
    gated_model, _ = baseline_net(args.family, num_classes, args.width, args.seed)
    train_cost = relative_train_cost(gated_model, size, args.target).float()
    print(f"data + profiles ready {timer():.0f}s; relative training MACs per action {train_cost.tolist()}")

    t = Timer()
    full_images = train(full_model, train_split, args.epochs, args.batch, args.lr, args.seed, ACTIONS, name="full  ")
    full_wall = t()
    torch.manual_seed(args.seed + 1)
    gate = DataGate(train_split.features.shape[1], ACTIONS, hidden=16)
    gate.fit_normalization(train_split.features)
    prober = Prober(gate, train_cost, args.lambda_train, args.gate_lr, args.buffer, args.gate_steps, args.regret)
    t = Timer()
    gated_images = train_gated(gated_model, train_split, args, gate, prober)
    gated_wall = t()
    full_cost = training_cost(full_model, size, full_images, 0, args)
    gated_cost = training_cost(gated_model, size, gated_images, prober.images, args)

    with torch.no_grad():
        chosen = gate.choose(train_split.features)
        chosen_val = gate.choose(val.features)
    scales = gate.scales
    result = {
        "machine": machine(), "command": " ".join([".venv/bin/python", *sys.argv]), "args": vars(args),
        "wall_s": timer(),
        "full": {**evaluate(full_model, val, num_classes), "training": full_cost, "wall_s": full_wall},
        "gated": {**evaluate(gated_model, val, num_classes), "training": gated_cost, "wall_s": gated_wall,
                  "gate": gate.to_dict(),
                  "chosen_histogram_train": {str(a): int((chosen == k).sum()) for k, a in enumerate(ACTIONS)},
                  "spearman_train": float(spearmanr(train_split.score, scales[chosen])[0]),
                  "spearman_val": float(spearmanr(val.score, scales[chosen_val])[0]),
                  "spearman_train_vs_level": float(spearmanr(train_split.level, scales[chosen])[0])},
    }
    g, f = result["gated"], result["full"]
    result["goals"] = {
        "spearman": (g["spearman_train"], g["spearman_train"] >= 0.5),
        "training_macs_vs_full": (g["training"]["macs"] / f["training"]["macs"],
                                  g["training"]["macs"] <= 0.6 * f["training"]["macs"]),
        "miou_delta_points": (100 * (g["miou"] - f["miou"]), g["miou"] >= f["miou"] - 0.01)}
    print(json.dumps(result, indent=1, default=str))
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(report(result))


def report(r: dict) -> str:
    a, g, f = r["args"], r["gated"], r["full"]
    gm, fm = g["training"], f["training"]
    ok = lambda b: "met" if b else "MISSED"  # noqa: E731
    lines = [
        "# Learned data-slimming gates vs full-resolution training (network fixed)", "",
        f"Machine: {r['machine']}", "",
        f"Command: `{r['command']}` "
        f"(settings: {a['family']} width {a['width']}, synthetic {a['image_size'][0]}x{a['image_size'][1]}, "
        f"{a['train']} train / {a['val']} val images, {a['epochs']} epochs, batch {a['batch']}, AdamW lr {a['lr']}, "
        f"lambda_train {a['lambda_train']}, probes of {a['probe_images']} images every {a['probe_every']} steps "
        f"in the first {a['probe_epochs']} epochs, gate buffer {a['buffer']}, explore {a.get('explore', 0.0)}, regret {a.get('regret', 'network')}, target {a['target']}, seed {a['seed']}); "
        f"wall time {r['wall_s'] / 60:.1f} min.", "",
        "| run | val mIoU (full-res eval) | mIoU by complexity quarter | training MACs | training energy (J) | wall (s) |",
        "|---|---|---|---|---|---|"]
    for name, run in (("full resolution", f), ("learned gates", g)):
        t = run["training"]
        lines.append(f"| {name} | {100 * run['miou']:.2f} | {' / '.join(f'{100 * m:.1f}' for m in run['miou_by_quarter'])} | "
                     f"{t['macs']:.3e} | {t['energy_j']:.1f} | {run['wall_s']:.0f} |")
    imgs = gm["images"]
    lines += [
        "", "Gated run, images trained per action over all epochs: " +
        ", ".join(f"{k}: {v}" for k, v in imgs.items()) + f"; probe passes: {gm['probe_images']} images "
        f"(MACs {gm['per_work']['probe']['macs']:.3e}, {100 * gm['per_work']['probe']['macs'] / fm['macs']:.1f} % of full training).",
        "Final gate decision on the train images: " + ", ".join(f"{k}: {v}" for k, v in g["chosen_histogram_train"].items()) +
        f"; Spearman(complexity score, chosen scale) train {g['spearman_train']:.3f}, val {g['spearman_val']:.3f}, "
        f"vs generator level {g['spearman_train_vs_level']:.3f}.", "",
        "| goal | measured | status |", "|---|---|---|",
        f"| Spearman(complexity, chosen scale) >= 0.5 | {r['goals']['spearman'][0]:.3f} | {ok(r['goals']['spearman'][1])} |",
        f"| training MACs <= 60 % of full resolution (probes included) | {100 * r['goals']['training_macs_vs_full'][0]:.1f} % "
        f"| {ok(r['goals']['training_macs_vs_full'][1])} |",
        f"| final mIoU within 1 point of full resolution | {r['goals']['miou_delta_points'][0]:+.2f} points "
        f"| {ok(r['goals']['miou_delta_points'][1])} |",
        "", f"Training energy (cost model, {a['target']}): gated / full = "
        f"{gm['energy_j'] / fm['energy_j']:.3f}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
