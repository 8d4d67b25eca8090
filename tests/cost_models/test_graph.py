"""cost_models.graph: nodes, edges, names, free and unsupported ops, user handlers."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cost_models import FREE_OPS, OP_HANDLERS, ProfileError, build_graph
from cost_models.formulas import activation_work, batchnorm_work, binary_work, concat_work, conv2d_work


class SkipCat(nn.Module):
    """conv -> bn -> relu (in place) -> conv, + skip, cat with the stem output, upsample."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 8, 1)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        s = self.stem(x)
        y = self.conv2(self.relu(self.bn(self.conv1(s))))
        y = self.drop(y + s)
        z = torch.cat([y, s.view(s.shape).contiguous()], dim=1)
        return F.interpolate(z, scale_factor=2, mode="nearest")


def test_nodes_and_edges_of_a_skip_and_a_cat():
    g = build_graph(SkipCat(), (1, 3, 16, 16))
    assert list(g.nodes) == ["stem", "conv1", "bn", "relu", "conv2", "add", "cat", "interpolate"]
    assert [g.nodes[n]["op"] for n in g.nodes] == ["conv2d", "conv2d", "batch_norm", "relu", "conv2d", "add", "cat",
                                                   "interpolate"]
    assert sorted(g.edges) == sorted([("stem", "conv1"), ("conv1", "bn"), ("bn", "relu"), ("relu", "conv2"),
                                      ("conv2", "add"), ("stem", "add"), ("add", "cat"), ("stem", "cat"),
                                      ("cat", "interpolate")])
    stem = g.nodes["stem"]
    assert stem["module"] == "stem" and stem["module_type"] == "Conv2d"
    assert stem["input_shapes"] == [(1, 3, 16, 16)] and stem["output_shape"] == (1, 8, 16, 16)
    assert stem["attrs"] == {"in": 3, "out": 8, "kernel": (3, 3), "stride": (1, 1), "padding": (1, 1),
                             "dilation": (1, 1), "groups": 1, "bias": True, "transposed": False}
    assert g.nodes["add"]["module"] == "" and g.nodes["cat"]["input_shapes"] == [(1, 8, 16, 16)] * 2
    assert g.graph["unsupported_ops"] == {} and g.graph["input_shape"] == (1, 3, 16, 16)


def test_work_follows_the_documented_mapping():
    g = build_graph(SkipCat(), (2, 3, 16, 16))
    n = 2 * 8 * 16 * 16

    def same(a, b):
        return all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("macs", "params", "act_in", "act_out",
                                                                         "vector_ops", "in_channels", "out_channels"))

    assert same(g.nodes["conv1"]["work"], conv2d_work(2, 8, 8, 16, 16, 16, 16, (3, 3)))
    assert same(g.nodes["stem"]["work"], conv2d_work(2, 3, 8, 16, 16, 16, 16, (3, 3), bias=True))
    assert same(g.nodes["bn"]["work"], batchnorm_work(n, 8))
    assert same(g.nodes["relu"]["work"], activation_work(n))  # in place, still a node
    assert same(g.nodes["add"]["work"], binary_work(n, 2))
    assert same(g.nodes["cat"]["work"], concat_work(2 * n))


def test_tensor_with_number_is_one_activation_and_shared_names_get_suffixes():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            y = self.conv(self.conv(x)) * 0.5
            y += 1.0
            return y - y

    g = build_graph(Net(), (1, 4, 5, 5))
    assert list(g.nodes) == ["conv", "conv#2", "mul", "add", "sub"]
    assert g.nodes["mul"]["attrs"] == {"operands": 1} and g.nodes["sub"]["attrs"] == {"operands": 2}
    assert torch.equal(g.nodes["mul"]["work"].vector_ops, activation_work(100).vector_ops)
    assert ("conv", "conv#2") in g.edges and ("add", "sub") in g.edges


def test_unsupported_op_is_reported_and_warned_and_data_flows_through():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(4, 4, 1)

        def forward(self, x):
            y = torch.cumsum(self.a(x), dim=1)
            return self.b(torch.flip(torch.cumsum(y, dim=2), dims=[3]))

    with pytest.warns(UserWarning, match=r"cumsum x2, flip x1"):
        g = build_graph(Net(), (1, 3, 6, 6))
    assert g.graph["unsupported_ops"] == {"cumsum": 2, "flip": 1}
    assert list(g.edges) == [("a", "b")]


def test_user_handlers_extend_the_table(monkeypatch):
    monkeypatch.setitem(OP_HANDLERS, "cumsum", lambda args, kwargs, out: (activation_work(out.numel()), {"dim": 1}))
    g = build_graph(nn.Sequential(nn.Conv2d(3, 4, 1)), (1, 3, 4, 4))  # no cumsum: nothing changes
    assert list(g.nodes) == ["0"]

    class Net(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, 1)

    g = build_graph(Net(), (1, 3, 4, 4))
    assert list(g.nodes) == ["cumsum"] and g.nodes["cumsum"]["attrs"] == {"dim": 1}
    assert g.graph["unsupported_ops"] == {}


def test_free_ops_make_no_node():
    assert {"view", "reshape", "flatten", "size", "__getitem__", "dropout", "contiguous"} <= FREE_OPS

    class Net(nn.Module):
        def forward(self, x):
            n = x.size(0)
            return F.dropout(x.flatten(1).reshape(n, -1)[:, :5].contiguous(), training=False)

    g = build_graph(Net(), (2, 3, 4, 4))
    assert g.number_of_nodes() == 0 and g.graph["unsupported_ops"] == {}


def test_pooling_resize_and_linear():
    net = nn.Sequential(nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(3), nn.Upsample(scale_factor=2, mode="bilinear"),
                        nn.Flatten(), nn.Linear(3 * 36, 7))
    g = build_graph(net, (2, 3, 12, 12))
    assert [g.nodes[n]["op"] for n in g.nodes] == ["max_pool2d", "adaptive_avg_pool2d", "interpolate", "linear"]
    assert float(g.nodes["0"]["work"].vector_ops) == 2 * 3 * 6 * 6 * 4  # a 2x2 window per output
    assert float(g.nodes["1"]["work"].vector_ops) == 2 * 3 * 6 * 6  # adaptive: each input once
    assert g.nodes["2"]["attrs"] == {"mode": "bilinear", "align_corners": None, "antialias": False}
    assert float(g.nodes["4"]["work"].macs) == 2 * 108 * 7


def test_failures_name_the_module_and_restore_the_mode():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.Flatten(), nn.Linear(3, 2))).train()
    with pytest.raises(ProfileError, match=r"module '1\.1' \(Linear\) failed at input shape \(1, 3, 8, 8\)"):
        build_graph(model, (1, 3, 8, 8))
    assert all(m.training for m in model.modules())
    with pytest.raises(ProfileError, match="expected a torch.nn.Module"):
        build_graph(lambda x: x, (1, 3, 8, 8))
