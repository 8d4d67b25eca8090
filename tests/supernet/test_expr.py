import itertools

import pytest
import torch

from supernet.expr import Const, Mean, add, at_least, mul


def env(**values):
    return {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in values.items()}


def test_sum_and_product_fold_constants():
    assert add(1, 2).key == Const(3).key
    assert mul(2, Const(0.5)).key == Const(1.0).key
    assert mul(Mean("a"), 1).key == Mean("a").key
    assert mul(Mean("a"), 0).key == Const(0.0).key
    e = add(mul(Mean("a"), 2), 3, Mean("b"))
    assert float(e.evaluate(env(a=4.0, b=5.0)).detach()) == 16.0


def test_evaluate_has_gradients():
    values = env(a=3.0, b=0.5)
    (Mean("a") * Mean("b") + Mean("a")).evaluate(values).backward()
    assert float(values["a"].grad) == 1.5 and float(values["b"].grad) == 3.0


@pytest.mark.parametrize("k", [1, 2, 3])
def test_at_least_matches_enumeration(k):
    probs = [0.2, 0.7, 0.5, 0.9]
    values = env(**{f"p{i}": p for i, p in enumerate(probs)})
    got = float(at_least(k, [Mean(f"p{i}") for i in range(4)]).evaluate(values).detach())
    want = sum(
        torch.tensor([p if bit else 1 - p for p, bit in zip(probs, bits)], dtype=torch.float64).prod().item()
        for bits in itertools.product([0, 1], repeat=4) if sum(bits) >= k)
    assert got == pytest.approx(want, rel=1e-12)


def test_at_least_folds_certain_events():
    assert at_least(2, [1, 1, 0]).key == Const(1.0).key
    assert at_least(2, [1, 0, 0]).key == Const(0.0).key
    e = at_least(2, [Const(1), Mean("p")])  # one certain: needs the other
    assert float(e.evaluate(env(p=0.25)).detach()) == pytest.approx(0.25)


def test_equal_expressions_share_a_key():
    assert (Mean("a") * Mean("b") + 1).key == (Mean("a") * Mean("b") + 1).key
