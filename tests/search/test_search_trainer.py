"""search/train: a gated training ends at the deployed scale, never trains above it, and counts each step's batches."""
import pytest
import torch

import supernet
from search.data.splits import load_splits
from search.engine.session import Session
from search.train.phase import train_state
from search.train.trainer import Trainer
from supernet.gates import DataGate
from search_testing import tiny_config

ACTIONS = ["drop", 0.5, 0.75, 1.0]


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trainer")
    cfg = tiny_config(tmp / "cache")
    return load_splits(cfg.data, features=False), tmp


def _trainer(parts, name: str, *overrides: str, choice: torch.Tensor | None = None) -> Trainer:
    splits, tmp = parts
    cfg = tiny_config(tmp / "cache", "train.steps=4", *overrides)
    model = supernet.build_from_arch(supernet.baseline_arch(cfg.model.family, cfg.data.num_classes, width_mult=0.25))
    n = len(splits.train)
    if choice is None:
        choice = torch.full((n,), ACTIONS.index(0.5))                  # the gate: every image at 0.5
    probs = torch.full((n, len(ACTIONS)), 0.25)
    return Trainer(model, cfg, splits, Session.open(cfg, tmp / name, resume=False, echo=False), ACTIONS,
                   choice, probs, deployed_scale=0.75)


def _run(trainer: Trainer) -> None:
    for t in range(trainer.total_steps):
        trainer.run_step(t)


def test_the_last_share_of_a_gated_training_is_at_the_deployed_scale(parts):
    trainer = _trainer(parts, "half", "train.deployed_share=0.5")
    _run(trainer)
    batch = trainer.cfg.data.batch_size
    per_step = {a: int(n) for a, n in zip(ACTIONS, trainer.action_counts)}
    assert per_step == {"drop": 0, 0.5: 2 * batch, 0.75: 2 * batch, 1.0: 0}
    # one batch per step and action: two full batches at 0.5, then two at 0.75
    assert trainer.batch_groups[ACTIONS.index(0.5), batch] == 2
    assert trainer.batch_groups[ACTIONS.index(0.75), batch] == 2
    assert int(trainer.batch_groups.sum()) == 4


def test_without_a_deployed_share_the_gate_keeps_every_step(parts):
    trainer = _trainer(parts, "none", "train.deployed_share=0")
    _run(trainer)
    assert int(trainer.action_counts[ACTIONS.index(0.5)]) == 4 * trainer.cfg.data.batch_size


def test_a_gated_batch_holds_one_action_and_a_dropped_batch_computes_nothing(parts):
    n = len(parts[0].train)
    choice = torch.tensor([[0, 1, 3][i % 3] for i in range(n)])       # drop, 0.5 and 1.0 in turn
    trainer = _trainer(parts, "mixed", "train.deployed_share=0", "train.steps=8", choice=choice)
    dropped = 0
    for t in range(trainer.total_steps):
        idx = trainer.gated_batches(t)[0]
        assert len({int(choice[i]) for i in idx}) == 1                # one action per batch
        before = [p.detach().clone() for p in trainer.model.parameters()]
        stats = trainer.run_step(t)
        if int(choice[idx[0]]) == 0:
            dropped += 1
            assert "loss" not in stats and stats["kept_fraction"] == 0.0
            assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))
    assert dropped > 0 and int(trainer.batch_groups.sum()) == trainer.total_steps   # one group per step
    assert trainer.sched.last_epoch == trainer.total_steps    # a dropped batch is still a step of the schedule


def test_the_gate_never_trains_an_image_above_the_deployed_scale():
    gate = DataGate(3, actions=ACTIONS)
    with torch.no_grad():   # a gate that sends every image to 1.0
        last = [m for m in gate.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.weight.zero_()
        last.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 5.0]))
    feats = torch.randn(10, 3)
    assert set(gate.choose(feats).tolist()) == {ACTIONS.index(1.0)}
    arch = supernet.baseline_arch("deeplabv3plus", 4, inference_scale=0.75, widest=0.25)
    state = train_state("x", arch, supernet.build_from_arch(arch), gate, feats)
    assert {state["actions"][c] for c in state["choice"].tolist()} == {0.75}
    assert state["data_slimming"]["action_histogram"]["0.75"] == 10
    assert state["probs"].shape == (10, len(state["actions"]))   # the probabilities follow the capped actions
    learned = torch.softmax(gate(feats), -1)
    assert torch.allclose(state["probs"][:, state["actions"].index(0.75)], learned[:, 2] + learned[:, 3])


def test_a_deployed_scale_the_gate_has_no_action_for_trains_its_images():
    gate = DataGate(3, actions=[0.5, 1.0])     # 0.75 is not one of its actions
    with torch.no_grad():   # every image to 1.0, above the deployed 0.75
        gate.net[-1].bias.copy_(torch.tensor([0.0, 5.0]))
    feats = torch.randn(6, 3)
    arch = supernet.baseline_arch("deeplabv3plus", 4, inference_scale=0.75, widest=0.25)
    state = train_state("x", arch, supernet.build_from_arch(arch), gate, feats)
    assert state["actions"] == [0.5, 1.0, 0.75] and state["choice"].tolist() == [2] * 6
    assert state["probs"].shape == (6, 3) and torch.allclose(state["probs"].sum(1), torch.ones(6))
