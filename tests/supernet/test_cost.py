from dataclasses import fields

import pytest
import torch
from torch import nn

from cost_models.formulas import (Cost, activation_work, batchnorm_work, binary_work, concat_work, conv2d_work,
                                  layer_cost, pool_work, resize_work)
from cost_models.target import load_target
from supernet.cost import CostPlan, Planner, Shape
from supernet.expr import Const, Mean, add, at_least

TARGET = load_target("jetson_tx2")


@pytest.mark.parametrize("k,s,d", [(3, 1, 1), (3, 2, 1), (1, 2, 1), (3, 1, 6), (5, 2, 2)])
def test_conv_output_size_matches_torch(k, s, d):
    conv = nn.Conv2d(2, 2, k, s, d * (k - 1) // 2, d)
    for h, w in [(17, 30), (8, 9), (1, 5)]:
        y = Planner(1).conv(Shape(Const(2), h, w), 2, k, s, d * (k - 1) // 2, d)
        assert (y.h, y.w) == tuple(conv(torch.zeros(1, 2, h, w)).shape[-2:])


def toy_plan(p: Planner, h: int, w: int) -> None:
    """A stem conv, a droppable depthwise branch, a concatenation and a resize."""
    x = p.conv(Shape(Const(3), h, w), Mean("w1"), 3, 2, 1)
    p.bn(x), p.act(x)
    with p.present(Mean("k")):
        y = p.conv(x, Mean("w1"), 3, 1, 1, groups=Mean("w1"))
        p.bn(y), p.act(y), p.add(y)
        with p.present(0):  # never there: no term
            p.act(y)
    z = p.pool(x, 1, 1)
    p.pool(x, x.h // 2, x.w // 2, window=4)
    z = p.conv(z, Mean("w2"), 1, bias=True)
    z = p.resize(z, x.h, x.w)
    with p.present(at_least(2, [1, Mean("k")])):
        c = p.cat(add(x.c, Mean("w2")), x.h, x.w)
    p.resize(p.conv(c, 5, 1), h, w)


def reference(terms, means, training):
    """Term by term, with scalars and the per-op functions: sum of presence * layer_cost(work)."""
    total = Cost.zero()
    for t in terms:
        c_in, c_out, groups, presence = (e.evaluate(means) for e in (t.c_in, t.c_out, t.groups, t.presence))
        n_in, n_out = 2 * c_in * t.h_in * t.w_in, 2 * c_out * t.h_out * t.w_out
        work = {"conv": lambda: conv2d_work(2, c_in, c_out, t.h_in, t.w_in, t.h_out, t.w_out, (t.static[0],) * 2,
                                            groups, t.static[1]),
                "bn": lambda: batchnorm_work(n_out, c_out), "act": lambda: activation_work(n_out),
                "add": lambda: binary_work(n_out, 2), "pool": lambda: pool_work(n_in, n_out, t.static[0]),
                "resize": lambda: resize_work(n_in, n_out, t.static[0]), "cat": lambda: concat_work(n_out)}[t.op]()
        total = total + layer_cost(work, TARGET, training).scale(presence)
    return total


@pytest.mark.parametrize("training", [False, True])
def test_vectorised_plan_equals_term_by_term(training):
    p = Planner(batch=2)
    toy_plan(p, 33, 50)
    assert len(p.terms) == 14  # the act under presence 0 is not recorded
    means = {"w1": torch.tensor(11.5, dtype=torch.float64), "w2": torch.tensor(6.0, dtype=torch.float64),
             "k": torch.tensor(0.3, dtype=torch.float64)}
    got = CostPlan(2, [p.terms]).evaluate(means, TARGET, training, torch.ones(1, dtype=torch.float64))
    want = reference(p.terms, means, training)
    for f in fields(Cost):
        assert float(getattr(got, f.name)) == pytest.approx(float(getattr(want, f.name)), rel=1e-12), f.name


def test_scales_mix_linearly_and_have_gradients():
    plans = []
    for h, w in [(33, 50), (16, 25)]:
        p = Planner(batch=2)
        toy_plan(p, h, w)
        plans.append(p.terms)
    means = {"w1": torch.tensor(8.0, dtype=torch.float64, requires_grad=True),
             "w2": torch.tensor(4.0, dtype=torch.float64), "k": torch.tensor(0.5, dtype=torch.float64)}
    plan = CostPlan(2, plans)
    weights = torch.tensor([0.3, 0.7], dtype=torch.float64, requires_grad=True)
    mixed = plan.evaluate(means, TARGET, False, weights)
    single = [plan.evaluate(means, TARGET, False, torch.eye(2, dtype=torch.float64)[i]) for i in range(2)]
    assert float(mixed.energy_j.detach()) == pytest.approx(0.3 * float(single[0].energy_j.detach())
                                                    + 0.7 * float(single[1].energy_j.detach()))
    mixed.latency_s.backward()
    assert means["w1"].grad > 0 and weights.grad[0] > weights.grad[1] > 0


def test_plans_of_different_structure_are_refused():
    a, b = Planner(1), Planner(1)
    toy_plan(a, 8, 8)
    b.conv(Shape(Const(3), 8, 8), 4, 3)
    with pytest.raises(ValueError, match="differ between input scales"):
        CostPlan(1, [a.terms, b.terms])
