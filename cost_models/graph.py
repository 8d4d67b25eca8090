"""Layer graph of a network, read by tracing one forward pass at a given input shape.

Every torch function the forward pass calls (``F.conv2d``, ``torch.cat``, ``x + y``, ...) is
seen by a :class:`torch.overrides.TorchFunctionMode` and looked up by name in
:data:`OP_HANDLERS`, a plain dict users extend. A handler returns the op's :class:`Work`
(from :mod:`cost_models.formulas`) and its attributes; the op becomes one node of a
``networkx.DiGraph``. Ops in :data:`FREE_OPS` (views, shape queries, eval-mode dropout, ...)
cost nothing and make no node; any other op is counted by name in
``graph.graph["unsupported_ops"]`` and warned about, never silently dropped. Edges follow
tensors: an op's input is linked to the op that produced it (through free ops too).

The op -> Work mapping (the supernet's expected cost uses the same functions, so the two
agree exactly at a one-hot architecture):

=================================================  =============================================
op (torch function name)                           Work
=================================================  =============================================
conv2d, conv1d (``nn.Conv2d``, ``nn.Conv1d``)      ``conv2d_work`` (conv1d as height 1)
conv_transpose2d (``nn.ConvTranspose2d``)          ``conv2d_work(..., transposed=True)``
linear (``nn.Linear``)                             ``linear_work(rows=numel_in / in_features)``
batch_norm, group_norm, instance_norm, layer_norm  ``batchnorm_work(numel, channels)``; channels =
                                                   dim 1 (layer_norm: the normalised numel)
relu, relu6, hardtanh, sigmoid, silu, ... and      ``activation_work(numel_out)``: one node per
softmax, clamp, neg, exp (:data:`ACTIVATIONS`)     call, in-place (``relu_``, ``inplace=True``) too
add, sub, mul, div (any spelling: ``x + y``,       two tensor operands: ``binary_work(numel_out, 2)``
``torch.add``, ``x += y``, ``add_``, ...)          (broadcast operands too); tensor with a
                                                   number: ``activation_work(numel_out)``
max/avg pooling with a k x k window              ``pool_work(numel_in, numel_out, window=k*k)``
adaptive pooling, mean, sum                        ``pool_work(numel_in, numel_out)``
interpolate (``nn.Upsample``, ``F.upsample``)      ``resize_work(numel_in, numel_out, mode)``
cat, concat, stack                                 ``concat_work(numel_out)``
pad, clone, pixel_shuffle, pixel_unshuffle         ``elementwise_work(numel_in, numel_out, 0)``: a copy
prelu                                              ``elementwise_work(n, n, 1, params=weight numel)``
=================================================  =============================================

Node keys are layer names: the module's dotted name (``model.named_modules()``) when a leaf
module issues the op, else ``"<module>.<op>"`` (``"<op>"`` at the top level); a repeated name
(a shared module called twice, two adds in one block) gets ``#2``, ``#3``, ...

>>> import torch.nn as nn
>>> g = build_graph(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()), (1, 3, 32, 32))
>>> list(g.nodes), list(g.edges)
(['0', '1'], [('0', '1')])
>>> int(g.nodes["0"]["work"].macs)
194400
"""
from __future__ import annotations

import math
import warnings
import weakref
from collections import Counter
from typing import Any, Callable, Iterator, Sequence

import networkx as nx
import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .formulas import (Work, activation_work, batchnorm_work, binary_work, concat_work, conv2d_work,
                       elementwise_work, linear_work, pool_work, resize_work)

# handler(args, kwargs, output) -> (Work, attributes); args/kwargs as passed to the torch function
Handler = Callable[[tuple, dict, Any], "tuple[Work, dict[str, Any]]"]


class ProfileError(ValueError):
    """The network cannot be traced at the requested input shape."""


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _pair(value: Any) -> Any:
    """``2`` -> ``(2, 2)``; tuples and strings (``padding="same"``) as they are."""
    return (value, value) if isinstance(value, int) else tuple(value) if isinstance(value, list) else value


def _first_tensor(value: Any) -> Tensor:
    return next(_tensors(value))


def _tensors(value: Any) -> Iterator[Tensor]:
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def _conv(args: tuple, kwargs: dict, out: Any, transposed: bool = False) -> tuple[Work, dict]:
    x, weight, bias = args[0], _arg(args, kwargs, 1, "weight"), _arg(args, kwargs, 2, "bias")
    y = _first_tensor(out)
    # conv2d(input, weight, bias, stride, padding, dilation, groups);
    # conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)
    groups = int(_arg(args, kwargs, 6, "groups", 1))
    dilation = _pair(_arg(args, kwargs, 7 if transposed else 5, "dilation", 1))
    one_d = weight.dim() == 3
    batch = x.shape[0] if x.dim() == weight.dim() else 1
    h_in, w_in = (1, x.shape[-1]) if one_d else tuple(x.shape[-2:])
    h_out, w_out = (1, y.shape[-1]) if one_d else tuple(y.shape[-2:])
    kernel = (1, weight.shape[-1]) if one_d else tuple(weight.shape[-2:])
    c_in = x.shape[-2] if one_d else x.shape[-3]
    c_out = y.shape[-2] if one_d else y.shape[-3]
    work = conv2d_work(batch, c_in, c_out, h_in, w_in, h_out, w_out, kernel, groups,
                       bias=bias is not None, transposed=transposed)
    attrs = {"in": c_in, "out": c_out, "kernel": kernel, "stride": _pair(_arg(args, kwargs, 3, "stride", 1)),
             "padding": _pair(_arg(args, kwargs, 4, "padding", 0)), "dilation": dilation, "groups": groups,
             "bias": bias is not None, "transposed": transposed}
    return work, attrs


def _linear(args: tuple, kwargs: dict, out: Any) -> tuple[Work, dict]:
    x, weight, bias = args[0], _arg(args, kwargs, 1, "weight"), _arg(args, kwargs, 2, "bias")
    out_features, in_features = weight.shape
    work = linear_work(x.numel() // in_features, in_features, out_features, bias=bias is not None)
    return work, {"in": in_features, "out": out_features, "bias": bias is not None}


def _norm(args: tuple, kwargs: dict, out: Any) -> tuple[Work, dict]:
    x = args[0]
    channels = x.shape[1] if x.dim() > 1 else x.shape[0]
    return batchnorm_work(x.numel(), channels), {"channels": channels}


def _layer_norm(args: tuple, kwargs: dict, out: Any) -> tuple[Work, dict]:
    x, shape = args[0], _arg(args, kwargs, 1, "normalized_shape")
    channels = math.prod(shape) if isinstance(shape, (tuple, list)) else int(shape)
    return batchnorm_work(x.numel(), channels), {"channels": channels}


def _activation(args: tuple, kwargs: dict, out: Any) -> tuple[Work, dict]:
    return activation_work(_first_tensor(out).numel()), {}


def _binary(args: tuple, kwargs: dict, out: Any) -> tuple[Work, dict]:
    numel = _first_tensor(out).numel()
    operands = sum(isinstance(a, Tensor) for a in args[:2])
    if operands >= 2:
        return binary_work(numel, 2), {"operands": 2}
    return activation_work(numel), {"operands": 1}


def _pool(args: tuple, kwargs: dict, out: Any) -> tuple[Work, dict]:
    """Adaptive pooling, mean, sum: every input element read and combined once."""
    attrs = {"size": _arg(args, kwargs, 1, "output_size", kwargs.get("dim"))}
    return pool_work(args[0].numel(), _first_tensor(out).numel()), attrs


def _window_pool(dims: int) -> Handler:
    """Max / average pooling with a fixed ``dims``-d window: one op per window element."""
    def handler(args: tuple, kwargs: dict, out: Any) -> tuple[Work, dict]:
        kernel = _arg(args, kwargs, 1, "kernel_size")
        window = kernel ** dims if isinstance(kernel, int) else math.prod(kernel)
        attrs = {"kernel_size": kernel, "stride": _arg(args, kwargs, 2, "stride") or kernel,
                 "padding": _arg(args, kwargs, 3, "padding", 0)}
        return pool_work(args[0].numel(), _first_tensor(out).numel(), window), attrs
    return handler


def _resize(args: tuple, kwargs: dict, out: Any) -> tuple[Work, dict]:
    mode = str(_arg(args, kwargs, 3, "mode", "nearest"))
    attrs = {"mode": mode, "align_corners": _arg(args, kwargs, 4, "align_corners"),
             "antialias": bool(_arg(args, kwargs, 6, "antialias", False))}
    return resize_work(args[0].numel(), _first_tensor(out).numel(), mode), attrs


def _concat(args: tuple, kwargs: dict, out: Any) -> tuple[Work, dict]:
    return concat_work(_first_tensor(out).numel()), {"inputs": len(_arg(args, kwargs, 0, "tensors"))}


def _copy(args: tuple, kwargs: dict, out: Any) -> tuple[Work, dict]:
    return elementwise_work(args[0].numel(), _first_tensor(out).numel(), 0.0), {}


def _prelu(args: tuple, kwargs: dict, out: Any) -> tuple[Work, dict]:
    numel = args[0].numel()
    return elementwise_work(numel, numel, 1.0, params=_arg(args, kwargs, 1, "weight").numel()), {}


ACTIVATIONS = ("relu", "relu6", "hardtanh", "leaky_relu", "elu", "selu", "celu", "gelu", "silu",
               "mish", "sigmoid", "tanh", "hardswish", "hardsigmoid", "softplus", "softmax",
               "log_softmax", "threshold", "clamp", "clip", "neg", "exp", "abs", "sqrt")
BINARY = ("add", "sub", "mul", "div", "true_divide", "multiply", "subtract", "divide", "maximum",
          "minimum", "__rsub__", "__radd__", "__rmul__", "__rdiv__", "__rtruediv__", "__iadd__",
          "__isub__", "__imul__", "__idiv__", "__itruediv__")


def _with_inplace(names: Sequence[str], handler: Handler) -> dict[str, Handler]:
    """``name`` and its in-place spelling ``name_`` (dunder names have none)."""
    table = {}
    for name in names:
        table[name] = handler
        if not name.startswith("__"):
            table[name + "_"] = handler
    return table


# op name (the torch function's __name__) -> handler; extend it for your own ops
OP_HANDLERS: dict[str, Handler] = {
    "conv1d": _conv, "conv2d": _conv,
    "conv_transpose2d": lambda a, k, o: _conv(a, k, o, transposed=True),
    "linear": _linear,
    "batch_norm": _norm, "group_norm": _norm, "instance_norm": _norm, "layer_norm": _layer_norm,
    **_with_inplace(ACTIVATIONS, _activation),
    **_with_inplace(BINARY, _binary),
    **{name: _window_pool(1) for name in ("max_pool1d", "avg_pool1d")},
    **{name: _window_pool(2) for name in ("max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "lp_pool2d")},
    **{name: _pool for name in ("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d",
                                "adaptive_max_pool2d", "mean", "sum")},
    "interpolate": _resize,
    "cat": _concat, "concat": _concat, "concatenate": _concat, "stack": _concat,
    "pad": _copy, "clone": _copy, "pixel_shuffle": _copy, "pixel_unshuffle": _copy,
    "prelu": _prelu,
}

# ops that move no data and do no arithmetic (or, like eval-mode dropout, nothing at all)
FREE_OPS: set[str] = {
    "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "squeeze", "unsqueeze",
    "permute", "transpose", "t", "expand", "expand_as", "contiguous", "split", "chunk", "unbind",
    "narrow", "select", "__getitem__", "detach", "size", "dim", "numel", "__len__", "stride",
    "is_contiguous", "is_floating_point", "is_complex", "element_size", "get_device", "__get__",
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
    "to", "float", "type", "type_as", "cpu", "cuda", "item", "tolist", "__bool__", "__index__",
    "__format__", "__repr__", "__iter__", "__hash__", "__eq__", "__ne__",
    "zeros", "ones", "empty", "full", "arange", "tensor", "as_tensor", "zeros_like", "ones_like",
    "empty_like", "full_like", "new_zeros", "new_ones", "new_empty", "new_full", "new_tensor",
}


_DUNDER = {f"__{p}{op}__": op for p in ("r", "i") for op in ("add", "sub", "mul", "div", "truediv")}


def canonical_op(name: str) -> str:
    """The op name shown in graphs and tables: ``relu_`` -> ``relu``, ``__rsub__`` -> ``sub``."""
    if name in _DUNDER:
        return "div" if _DUNDER[name] == "truediv" else _DUNDER[name]
    return name[:-1] if name.endswith("_") and not name.endswith("__") else name


class _Tracer(TorchFunctionMode):
    """Records every handled torch function call as a node of ``self.graph``."""

    def __init__(self, model: nn.Module, module_stack: list[tuple[str, nn.Module]]) -> None:
        super().__init__()
        self.graph = nx.DiGraph()
        self.unsupported: Counter[str] = Counter()
        self.param_ids = {id(t) for t in model.parameters()}
        self.skip_ids = self.param_ids | {id(t) for t in model.buffers()}  # not activations
        self.module_stack = module_stack
        self.producers: dict[int, tuple[weakref.ref, tuple[str, ...]]] = {}

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", repr(func))
        tensors = list(_tensors((args, kwargs)))
        inputs = [t for t in tensors if id(t) not in self.skip_ids]
        sources = tuple(dict.fromkeys(p for t in inputs for p in self._producers_of(t)))
        handler = OP_HANDLERS.get(name)
        if handler is None:
            if name not in FREE_OPS:
                self.unsupported[name] += 1
            self._mark(out, sources)  # data flows through, so the graph stays connected
            return out
        try:
            work, attrs = handler(args, kwargs, out)
        except Exception as err:
            raise ProfileError(f"cost_models handler for op {name!r} failed: {err}") from err
        params = tuple(dict.fromkeys(id(t) for t in tensors if id(t) in self.param_ids))
        node = self._add_node(name, work, attrs, inputs, out, params)
        for source in sources:
            self.graph.add_edge(source, node)
        self._mark(out, (node,))
        return out

    def _producers_of(self, tensor: Tensor) -> tuple[str, ...]:
        entry = self.producers.get(id(tensor))
        return entry[1] if entry is not None else ()

    def _mark(self, out: Any, nodes: tuple[str, ...]) -> None:
        for tensor in _tensors(out):
            key = id(tensor)
            if key in self.skip_ids:
                continue
            entry = self.producers.get(key)
            if entry is not None and entry[0]() is tensor:  # in-place op: same tensor, new producer
                self.producers[key] = (entry[0], nodes)
                continue
            ref = weakref.ref(tensor, lambda r, k=key: self._forget(k, r))
            self.producers[key] = (ref, nodes)

    def _forget(self, key: int, ref: weakref.ref) -> None:
        entry = self.producers.get(key)
        if entry is not None and entry[0] is ref:
            del self.producers[key]

    def _add_node(self, op: str, work: Work, attrs: dict, inputs: list[Tensor], out: Any,
                  params: tuple[int, ...]) -> str:
        op = canonical_op(op)
        module_name, module = self.module_stack[-1]
        is_leaf = next(module.children(), None) is None
        base = module_name if is_leaf and module_name else (f"{module_name}.{op}" if module_name else op)
        name, k = base, 1
        while name in self.graph:
            k += 1
            name = f"{base}#{k}"
        self.graph.add_node(name, op=op,
                            module=module_name, module_type=type(module).__name__,
                            input_shapes=[tuple(t.shape) for t in inputs],
                            output_shape=tuple(_first_tensor(out).shape), attrs=attrs, work=work, param_ids=params)
        return name


def check_input_shape(input_shape: Sequence[int]) -> tuple[int, int, int, int]:
    """``(N, C, H, W)``, or ``(C, H, W)`` read as batch 1; anything else is a :class:`ProfileError`.

    >>> check_input_shape((3, 64, 128))
    (1, 3, 64, 128)
    """
    try:
        shape = tuple(int(s) for s in input_shape)
        ok = all(float(s) == int(s) for s in input_shape)
    except (TypeError, ValueError):
        shape, ok = (), False
    if not ok or len(shape) not in (3, 4) or min(shape) < 1:
        raise ProfileError(f"input_shape {tuple(input_shape) if ok else input_shape!r} must be (N, C, H, W) "
                           f"or (C, H, W) of positive integers, e.g. (1, 3, 512, 1024)")
    return shape if len(shape) == 4 else (1, *shape)


def build_graph(model: nn.Module, input_shape: Sequence[int]) -> nx.DiGraph:
    """Trace ``model`` (in eval mode, without gradients) on a random input of ``input_shape``.

    The model's train/eval mode is restored afterwards. ``graph.graph`` holds ``input_shape``
    and ``unsupported_ops`` (op name -> number of calls). A forward pass that fails raises a
    :class:`ProfileError` naming the innermost module whose forward failed.
    """
    shape = check_input_shape(input_shape)
    if not isinstance(model, nn.Module):
        raise ProfileError(f"expected a torch.nn.Module, got {type(model).__name__}")
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(device=device, dtype=dtype)
    names = {m: n for n, m in model.named_modules(remove_duplicate=False)}
    stack: list[tuple[str, nn.Module]] = [("", model)]
    hooks = []
    for module, name in names.items():
        hooks.append(module.register_forward_pre_hook(lambda m, a, n=name: stack.append((n, m)) and None))
        hooks.append(module.register_forward_hook(lambda m, a, o: stack.pop() and None))
    tracer = _Tracer(model, stack)
    was_training = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad(), tracer:
            model(x)
    except ProfileError:
        raise
    except Exception as err:
        name, module = stack[-1]
        where = f"module {name!r} ({type(module).__name__})" if name else f"model {type(module).__name__}"
        raise ProfileError(f"forward of {where} failed at input shape {shape}: "
                           f"{type(err).__name__}: {err}") from err
    finally:
        for hook in hooks:
            hook.remove()
        for module, mode in was_training:
            module.training = mode
    graph = tracer.graph
    graph.graph.update(input_shape=shape, unsupported_ops=dict(tracer.unsupported))
    if tracer.unsupported:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(tracer.unsupported.items()))
        warnings.warn(f"cost_models: ops without a cost handler were not counted: {listed}; "
                      f"add one to cost_models.graph.OP_HANDLERS", stacklevel=2)
    return graph
