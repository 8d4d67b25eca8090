"""cost_models.formulas: energy parts, DRAM bounds, gradients, training, lane padding."""
import itertools
from dataclasses import replace

import pytest
import torch

from cost_models.formulas import (Cost, Work, activation_work, batchnorm_work, binary_work, compute_time,
                                  conv2d_work, dram_traffic, elementwise_work, lane_padding, layer_cost,
                                  linear_work, pool_work, resize_work)
from cost_models.target import list_targets, load_target

TARGETS = [load_target(n) for n in list_targets()]
# a CPU-like target that exercises every term of the latency model
CPU = replace(load_target("jetson_tx2"), name="cpu_like", channel_block=16.0, intensity_half=20.0,
              per_layer_overhead_s=5e-6)
SMOOTH_CPU = replace(CPU, name="cpu_like_unpadded", channel_block=1.0)


def conv_shapes():
    """(c_in, c_out, kernel, groups, size, stride): small to buffer-overflowing, dense to depthwise."""
    for c_in, c_out, k, size, stride in itertools.product((3, 16, 96, 512), (8, 64, 512), (1, 3, 7),
                                                          (7, 56, 256), (1, 2)):
        yield c_in, c_out, k, 1, size, stride
    for c, k, size in itertools.product((16, 256, 1024), (3, 5), (14, 112, 512)):
        yield c, c, k, c, size, 1


def work_of(c_in, c_out, k, groups, size, stride):
    out = (size + 2 * (k // 2) - k) // stride + 1
    return conv2d_work(1, c_in, c_out, size, size, out, out, (k, k), groups)


WORKS = [work_of(*s) for s in conv_shapes()] + [
    linear_work(4096, 2048, 1000, bias=True), linear_work(1, 25088, 4096), batchnorm_work(8e6, 64),
    activation_work(3e7), binary_work(1e6), pool_work(4e6, 1e6), resize_work(1e5, 4e6), elementwise_work(10, 10, 0)]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_dram_bytes_stay_inside_the_compulsory_and_no_reuse_bounds(target):
    overflowing = 0
    for work in WORKS:
        dram, compulsory, no_reuse = dram_traffic(work, target)
        assert compulsory * (1 - 1e-12) <= dram <= no_reuse * (1 + 1e-12)
        b = target.bytes_per_element
        assert compulsory == b * (work.params + work.act_in + work.act_out)
        if b * max(float(work.params), float(work.act_in)) <= target.onchip_buffer_bytes / 2:
            assert dram == compulsory  # a tile of either operand fits: everything moves once
        overflowing += bool(dram > compulsory)
    assert overflowing > 0  # the set does overflow the buffer somewhere


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("target", TARGETS + [CPU], ids=lambda t: t.name)
def test_energy_is_the_sum_of_its_parts(target, training):
    for work in WORKS[::7]:
        cost = layer_cost(work, target, training=training)
        parts = cost.compute_j + cost.onchip_j + cost.dram_j + cost.static_j
        assert torch.allclose(cost.energy_j, parts, rtol=1e-12)
        assert cost.compute_j == pytest.approx(float(
            (work.macs + work.vector_ops) * target.e_mac if not training else cost.compute_j))
        assert cost.static_j == pytest.approx(float(cost.latency_s) * target.static_power_w)
        assert cost.to_dict()["energy_j"] == pytest.approx(float(parts))


@pytest.mark.parametrize("target", [load_target("jetson_tx2"), load_target("zc706"), SMOOTH_CPU],
                         ids=lambda t: t.name)
@pytest.mark.parametrize("training", [False, True])
def test_gradcheck_conv_with_tensor_channels_and_size(target, training):
    def costs(c_in, c_out, size):
        work = conv2d_work(2, c_in, c_out, size, size, size / 2, size / 2, (3, 3), bias=True)
        cost = layer_cost(work, target, training=training)
        return torch.stack([cost.latency_s, cost.energy_j, cost.dram_bytes, cost.onchip_bytes, cost.macs])

    # away from kinks: tiles either fit or clearly not, one roofline side dominant
    for c_in, c_out, size in [(37.3, 52.6, 40.2), (20.4, 100.7, 96.3)]:
        args = tuple(torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (c_in, c_out, size))
        assert torch.autograd.gradcheck(costs, args)
        grads = torch.autograd.grad(costs(*args)[0], args)
        assert all(g > 0 for g in grads)  # latency grows with channels and resolution


def test_gradcheck_depthwise_with_one_channel_count():
    def latency(c):
        return layer_cost(conv2d_work(1, c, c, 64, 64, 64, 64, (3, 3), groups=c), SMOOTH_CPU, training=True).latency_s

    c = torch.tensor(45.5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(latency, (c,))


def test_lane_padding_gradient_is_straight_through():
    def compute(c_in, c_out, target):
        return compute_time(conv2d_work(1, c_in, c_out, 32, 32, 32, 32, (3, 3)), target)

    c_in, c_out = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (40.0, 24.0))
    padded = torch.autograd.grad(compute(c_in, c_out, CPU), (c_in, c_out))
    plain = torch.autograd.grad(compute(c_in, c_out, SMOOTH_CPU), (c_in, c_out))
    factor = (48 / 40) * (32 / 24)
    assert float(compute(c_in, c_out, CPU).detach()) == pytest.approx(
        factor * float(compute(c_in, c_out, SMOOTH_CPU).detach()))
    for p, q in zip(padded, plain):
        assert float(p) == pytest.approx(factor * float(q)) and float(p) > 0


def test_costs_broadcast_over_vectors_of_layers():
    c = torch.tensor([[8.0, 16.0, 33.0], [64.0, 96.0, 130.0]], dtype=torch.float64)
    cost = layer_cost(conv2d_work(1, c, 2 * c, 32, 32, 32, 32, (3, 3)), CPU)
    assert cost.latency_s.shape == (2, 3)
    for i, j in itertools.product(range(2), range(3)):
        one = layer_cost(conv2d_work(1, float(c[i, j]), 2 * float(c[i, j]), 32, 32, 32, 32, (3, 3)), CPU)
        assert float(one.latency_s) == pytest.approx(float(cost.latency_s[i, j]), rel=1e-12)


@pytest.mark.parametrize("target", TARGETS + [CPU], ids=lambda t: t.name)
def test_training_step_costs_more_than_inference(target):
    for work in [work_of(16, 32, 3, 1, 64, 1), batchnorm_work(1e5, 32), activation_work(1e5), linear_work(8, 64, 10)]:
        inf, train = layer_cost(work, target), layer_cost(work, target, training=True)
        assert train.macs == 3 * inf.macs  # forward, input gradient, weight gradient
        for field in ("dram_bytes", "onchip_bytes", "energy_j", "latency_s"):
            assert getattr(train, field) > getattr(inf, field), field
        assert train.params == inf.params and train.activations == inf.activations


def test_a_pass_without_work_has_no_overhead():
    relu = activation_work(1000)
    inf, train = layer_cost(relu, CPU), layer_cost(relu, CPU, training=True)
    # ReLU trains in two passes (forward, input gradient): no weight gradient, no update
    assert float(train.latency_s) == pytest.approx(2 * float(inf.latency_s))
    empty = layer_cost(Work(0, 0, 0, 0, 0), CPU)
    assert float(empty.latency_s) == 0 and float(empty.energy_j) == 0


def test_lane_padding_rounds_channels_up_to_the_block():
    assert float(lane_padding(conv2d_work(1, 24, 24, 8, 8, 8, 8, (3, 3)), 16)) == pytest.approx((32 / 24) ** 2)
    assert float(lane_padding(conv2d_work(1, 32, 48, 8, 8, 8, 8, (3, 3)), 16)) == 1.0
    assert float(lane_padding(conv2d_work(1, 3, 20, 8, 8, 8, 8, (3, 3)), 16)) == pytest.approx(32 / 20)
    assert float(lane_padding(linear_work(4, 20, 40), 16)) == pytest.approx((32 / 20) * (48 / 40))
    assert float(lane_padding(conv2d_work(1, 24, 24, 8, 8, 8, 8, (3, 3), groups=24), 16)) == pytest.approx(32 / 24)
    assert float(lane_padding(activation_work(100), 16)) == 1.0
    assert float(lane_padding(conv2d_work(1, 24, 24, 8, 8, 8, 8, (3, 3)), 1)) == 1.0


def test_compute_efficiency_falls_with_arithmetic_intensity():
    dense, depthwise = work_of(64, 64, 3, 1, 56, 1), work_of(64, 64, 3, 64, 56, 1)
    rate = lambda w: float(w.macs / compute_time(w, CPU))  # noqa: E731
    assert rate(depthwise) < 0.25 * rate(dense) < rate(dense) <= CPU.effective_macs_per_s
    no_half = replace(CPU, intensity_half=0.0)
    assert float(compute_time(dense, no_half)) == pytest.approx(float(dense.macs) / CPU.effective_macs_per_s)


def test_cost_zero_add_and_scale():
    a = layer_cost(work_of(8, 8, 3, 1, 16, 1), CPU)
    total = Cost.zero() + a + a
    assert float(total.energy_j) == pytest.approx(2 * float(a.energy_j))
    assert float(a.scale(3.0).dram_bytes) == pytest.approx(3 * float(a.dram_bytes))


def test_batchnorm_reads_two_numbers_per_channel():
    assert float(batchnorm_work(1000, 10).params) == 20 == sum(p.numel() for p in torch.nn.BatchNorm1d(10).parameters())


def test_resize_and_pool_op_counts():
    assert float(resize_work(10, 40, "bilinear").vector_ops) == 40 * 12  # 4 taps x (gathered load + multiply-add)
    assert float(resize_work(10, 40, "nearest").vector_ops) == 40
    assert float(resize_work(10, 40, "area").vector_ops) == 40 * 12
    assert float(pool_work(400, 100).vector_ops) == 400  # adaptive: every input once
    assert float(pool_work(400, 100, window=9).vector_ops) == 900  # 3x3 windows overlap
