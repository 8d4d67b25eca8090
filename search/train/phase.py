"""The train phase: a fixed network (the derived one, or a baseline) trained with its data slimming.

Its state (``train_state``) holds the arch, the initial weights and, with a learned gate, each
training image's action and the gate's probabilities for it; ``python -m search train``
starts from :func:`initial_train_state` instead of a search.
"""
from __future__ import annotations

from typing import Any

import torch

import supernet
from search.data.slimming import slimming_summary
from search.data.splits import Splits
from search.derive import capped_actions, gate_from_description, inference_scale
from search.engine.seeding import seed_step
from search.engine.session import Session
from search.errors import UserError
from search.evaluate.periodic import PeriodicEval, val_evaluator
from search.train.trainer import Trainer
from supernet.gates import DataGate


def train_state(name: str, arch: dict[str, Any], model: torch.nn.Module, gate: DataGate | None,
                features: torch.Tensor, search: dict[str, Any] | None = None) -> dict[str, Any]:
    """The state the training starts from. Without a ``gate`` every image trains at the arch's
    inference scale; with one, at the gate's action but never above the inference scale (an image
    the gate sends higher trains at the scale the network is deployed at: a larger one would
    cost more than it can give back at deployment)."""
    choice = probs = slimming = None
    scale = inference_scale(arch)
    actions: list[Any] = [scale]
    if gate is not None:
        actions = list(gate.actions) + ([scale] if scale not in gate.actions else [])
        capped = torch.tensor([actions.index(a) for a in capped_actions(gate.actions, scale)])
        with torch.no_grad():  # each action's probability goes to the action it trains as
            learned = torch.softmax(gate(features), dim=-1).cpu()
            choice = capped[learned.argmax(-1)]
            probs = torch.zeros(len(learned), len(actions)).index_add_(1, capped, learned)
        slimming = slimming_summary(choice, actions, features)
    return {"name": name, "arch": arch, "actions": actions, "choice": choice, "probs": probs,
            "data_slimming": slimming, "search": search,
            "trainer": {"model": model.state_dict(), "opt": None, "step": 0, "wall_s": 0.0}}


@torch.no_grad()
def shrink_perturb(model: torch.nn.Module, fresh: torch.nn.Module, shrink: float, noise: float) -> torch.nn.Module:
    """Shrink and perturb a warm start (Ash & Adams 2020, "On warm-starting neural network
    training"): every parameter becomes ``shrink * inherited + noise * fresh``, ``fresh`` being the
    same network newly initialised; buffers (batch-norm statistics) are left alone.

    >>> a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> w = 0.5 * a.weight + 0.1 * b.weight
    >>> torch.allclose(shrink_perturb(a, b, 0.5, 0.1).weight, w)
    True
    """
    names = [n for n, _ in model.named_parameters()]
    if names != [n for n, _ in fresh.named_parameters()]:
        raise ValueError("shrink_perturb: the fresh network's parameters differ from the model's")
    for p, q in zip(model.parameters(), fresh.parameters()):
        p.mul_(shrink).add_(q.to(p.device), alpha=noise)
    return model


def initial_train_state(arch: dict[str, Any], name: str, gate_desc: dict[str, Any] | None,
                        splits: Splits, seed: int) -> dict[str, Any]:
    """The train state of ``python -m search train``: fresh weights, optional learned data gate."""
    seed_step(seed, "init-train")
    model = supernet.build_from_arch(arch)
    features = splits.features["train"]
    gate = None
    if gate_desc is not None:
        if features.shape[1] != gate_desc["num_features"]:
            raise UserError(f"the data gate takes {gate_desc['num_features']} features, the dataset has "
                            f"{features.shape[1]}")
        gate = gate_from_description(gate_desc)
    return train_state(name, arch, model, gate, features)


def make_trainer(session: Session, splits: Splits, state: dict[str, Any]) -> Trainer:
    """The :class:`Trainer` of a train state, at the state's step."""
    model = supernet.build_from_arch(state["arch"])
    trainer = Trainer(model, session.cfg, splits, session, actions=state["actions"],
                      choice=state["choice"], probs=state["probs"], steps=state.get("steps"),
                      deployed_scale=inference_scale(state["arch"]))
    trainer.load_state_dict(state["trainer"])
    return trainer


def train_phase(session: Session, splits: Splits, state: dict[str, Any] | None) -> dict[str, Any]:
    """Train from ``state`` to ``train.steps``; checkpoints hold the whole state."""
    if state is None:
        raise UserError("nothing to train: the run has no train state (run the search first)")
    trainer = make_trainer(session, splits, state)
    session.run.log(f"training {state['name']} for {trainer.total_steps} steps "
                    f"({'with' if state['choice'] is not None else 'without'} data slimming)")

    cfg, hooks = session.cfg, []
    if cfg.eval.every:  # val mIoU during training, the best weights in checkpoints/best.pt
        val = val_evaluator(splits, inference_scale(state["arch"]), cfg.eval.batch_size, session.env, session.device)
        hooks.append(PeriodicEval(trainer.model, val, cfg.eval.every, session.run, state["arch"],
                                  session.run.path / "checkpoints" / "best.pt", state.get("best_val_miou", -1.0)))

    def snapshot() -> dict[str, Any]:
        return {**state, "trainer": trainer.state_dict(), **({"best_val_miou": hooks[0].best} if hooks else {})}

    trainer.run("retrain", snapshot, hooks)
    state = snapshot()
    session.save("final", trainer.step, state)
    return state
