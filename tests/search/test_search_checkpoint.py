"""search/checkpoint.py: atomic, self-contained, weights_only, clear errors."""
import random

import numpy as np
import pytest
import torch

from search.engine.checkpoint import (
    load_checkpoint,
    make_checkpoint,
    save_checkpoint,
    set_rng_state,
)
from search.errors import UserError

CFG = {"run": {"seed": 0, "progress": True}, "search": {"lambda_inf": 0.1}}


def test_round_trip_restores_state_and_rng(tmp_path):
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    torch.manual_seed(1); np.random.seed(2); random.seed(3)
    ckpt = make_checkpoint(CFG, "search", 5, {"model": net.state_dict(), "opt": opt.state_dict()})
    expected = torch.rand(3), np.random.rand(3), random.random()
    path = tmp_path / "ck" / "last.pt"
    save_checkpoint(path, ckpt)
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary left behind
    loaded = load_checkpoint(path, config=CFG)
    set_rng_state(loaded["rng"])
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]
    net2 = torch.nn.Linear(3, 2)
    net2.load_state_dict(loaded["state"]["model"])
    assert torch.equal(net2.weight, net.weight)
    opt2 = torch.optim.SGD(net2.parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(loaded["state"]["opt"])
    assert loaded["phase"] == "search" and loaded["step"] == 5


def test_config_difference_is_named(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, make_checkpoint(CFG, "search", 1, {}))
    other = {"run": {"seed": 1, "progress": False}, "search": {"lambda_inf": 0.1}}
    with pytest.raises(UserError, match=r"run.seed: 0 in the checkpoint, 1 now") as err:
        load_checkpoint(path, config=other)
    assert "progress" not in str(err.value)  # allowed to change on resume
    load_checkpoint(path, config={**CFG, "run": {"seed": 0, "progress": False}})


def test_truncated_corrupt_missing_and_foreign(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, make_checkpoint(CFG, "search", 1, {"w": torch.randn(100)}))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="corrupt or truncated"):
        load_checkpoint(path)
    path.write_bytes(b"garbage" * 10)
    with pytest.raises(UserError, match="corrupt or truncated"):
        load_checkpoint(path)
    with pytest.raises(UserError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "none.pt")
    torch.save({"weights": torch.ones(1)}, path)
    with pytest.raises(UserError, match="not a cosearch checkpoint"):
        load_checkpoint(path)
    torch.save({**make_checkpoint(CFG, "search", 1, {}), "version": 99}, path)
    with pytest.raises(UserError, match="version 99"):
        load_checkpoint(path)


class Evil:
    """Any pickled object that is not plain data."""


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({**make_checkpoint(CFG, "search", 1, {}), "x": Evil()}, path)
    with pytest.raises(UserError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_failed_write_keeps_previous(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, make_checkpoint(CFG, "search", 1, {}))
    with pytest.raises(Exception):
        save_checkpoint(path, {"bad": lambda: 0})
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
