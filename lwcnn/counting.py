"""Count a model's cost the way each popular counter does, from one recorded forward pass.

The four popular counters disagree on the same model because they count different things
(COURSE_BRIEF, "four popular counters disagree"). `count_model` reproduces each one's total
exactly, and splits it by layer and by kind of operation so a notebook can show *why*:

    convention  reproduces                                         unit the tool reports
    "paper"     conv + linear multiply-adds (FlopCounterMode / 2)  MACs
    "thop"      thop.profile(model, inputs=(x,))                   MACs ("ops")
    "fvcore"    fvcore.nn.FlopCountAnalysis(model, x).total()      MACs ("flops", 1 per FMA)
    "ptflops"   ptflops.get_model_complexity_info(..., backend="pytorch")  MACs
    "torch"     torch.utils.flop_counter.FlopCounterMode           FLOPs (2 per MAC)

How it works: the model runs once (eval mode, no_grad) while three recorders watch it:

- module calls, from forward hooks: what thop and ptflops hook into;
- torch-function calls, from a `TorchFunctionMode`: every functional op and tensor operator
  called from Python (`F.hardswish`, `x * s`, a residual `+`, `torch.cat`), which hook-based
  tools never see; fvcore's JIT trace and ptflops's patched functions work at this level;
- aten operators, from a `TorchDispatchMode`: what FlopCounterMode counts.

Each convention is then a set of rules over those records, written from the tools' sources
(thop 0.1.1.post2209072238, fvcore 0.1.5.post20221221, ptflops 0.7.4, torch 2.x) and checked
against the tools themselves in tests/test_counting.py. All conventions count the model in eval
mode, the way each tool is meant to be run (thop and ptflops switch to eval themselves).

Known limits: ops nested *inside* another torch function (e.g. the softmax inside
`F.multi_head_attention_forward`) are attributed to the outer call, so ptflops rules do not see
them (fvcore's do, for its matmul and conv handles); ptflops also misses functions imported by
name before it patches them. While a function mode is active PyTorch skips the fused eval
"fast path" of nn.MultiheadAttention and nn.TransformerEncoderLayer, so "paper" and "torch" count
their matmuls where FlopCounterMode under no_grad sees one fused kernel and counts 0.

>>> import torchvision
>>> count_model(torchvision.models.mobilenet_v2(), convention="thop").macs
327486720
"""

from __future__ import annotations

import dis
import html
import math
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

CONVENTIONS = ("paper", "thop", "fvcore", "ptflops", "torch")
CATEGORIES = ("conv", "linear", "norm", "activation", "pooling", "elementwise", "other")

Shape = tuple[int, ...]
aten = torch.ops.aten


def _numel(shape: Iterable[int]) -> int:
    return math.prod(shape)


# --- recording one forward pass ----------------------------------------------------------------


@dataclass(frozen=True)
class _TensorArg:
    """A tensor argument, reduced to what the rules need (its shape)."""

    shape: Shape


@dataclass
class _ModuleCall:
    """One call of one module: what a forward hook sees (thop, ptflops)."""

    name: str
    module: nn.Module
    input_shapes: tuple[Shape | None, ...]  # positional inputs; None where not a tensor
    output_shape: Shape | None = None

    @property
    def x(self) -> Shape:
        """Shape of the first positional input, the one both tools' hooks read (rules run only if it is a tensor)."""
        return self.input_shapes[0]


@dataclass
class _FunctionCall:
    """One torch function called from Python (fvcore's trace and ptflops's patches)."""

    func: Callable
    name: str  # func.__name__ without dunder/in-place underscores: "mul", "relu", "conv2d"
    module_name: str  # innermost module running when it was called
    args: tuple
    kwargs: dict
    output_shape: Shape | None
    operator_syntax: bool = False  # `x * s` rather than `x.mul(s)` (only checked where it matters)
    called_from_upsample: bool = False  # F.interpolate reached through F.upsample

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        """Argument by position or keyword, like the wrapped function would bind it."""
        if index < len(self.args):
            return self.args[index]
        return self.kwargs.get(name, default)

    def shape(self, index: int, name: str) -> Shape | None:
        value = self.arg(index, name)
        return value.shape if isinstance(value, _TensorArg) else None


@dataclass
class _AtenCall:
    """One aten operator with a FlopCounterMode formula, and the FLOPs it gives."""

    module_name: str
    category: str
    flops: int
    packet: Any  # the aten op, e.g. aten.addmm
    function_index: int | None  # index in function_calls of the torch function it ran inside


def _to_arg(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return _TensorArg(tuple(value.shape))
    if type(value) in (list, tuple):  # torch.cat's list of tensors, einsum's operands
        return type(value)(_to_arg(item) for item in value)
    return value


def _first_shape(value: Any) -> Shape | None:
    """Shape of a tensor output, or of the first tensor in a tuple/list output (LSTM, split)."""
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (list, tuple)):
        for item in value:
            shape = _first_shape(item)
            if shape is not None:
                return shape
    return None


def _base_name(func: Callable) -> str:
    name = getattr(func, "__name__", type(func).__name__)
    return name.strip("_") if name.startswith("__") else name.rstrip("_")


_OVERRIDES_FILE = sys.modules["torch.overrides"].__file__
_UPSAMPLE_CODE = F.upsample.__code__
# Opcodes of `a * b`, `a + b`, `a @ b` (BINARY_OP from Python 3.11, BINARY_MULTIPLY etc. before).
_OPERATOR_OPCODES = frozenset(
    code
    for name, code in dis.opmap.items()
    if name.startswith(("BINARY_", "INPLACE_")) and "SUBSCR" not in name
)
# ptflops patches these Python attributes; `x.mul(s)` looks them up, `x * s` does not, yet torch
# reports both as Tensor.mul, so we read the caller's bytecode to tell the two apart.
_METHODS_WITH_OPERATORS = frozenset({torch.Tensor.mul, torch.Tensor.add, torch.Tensor.matmul})


def _caller_frame(func: Callable):
    """The Python frame that called `func` (skipping torch's dispatch helpers and func itself)."""
    frame = sys._getframe(2)
    own_code = getattr(func, "__code__", None)
    while frame is not None and (frame.f_code.co_filename == _OVERRIDES_FILE or frame.f_code is own_code):
        frame = frame.f_back
    return frame


class _Recording:
    """What one forward pass did, seen by hooks on every module, a function and a dispatch mode."""

    def __init__(self, model: nn.Module, input_size: Shape) -> None:
        self.model = model
        self.input_size = input_size
        self.module_names = {id(module): name for name, module in model.named_modules()}  # "" = model
        self.module_stack: list[str] = []
        self.first_call_order: dict[str, int] = {}  # module name -> order of its first call
        self.module_calls: list[_ModuleCall] = []
        self.open_calls: list[_ModuleCall] = []
        self.function_calls: list[_FunctionCall] = []
        self.aten_calls: list[_AtenCall] = []
        self.current_function: int | None = None  # index the running torch function will get
        self.in_hook = False  # our hooks read tensor shapes; those reads are not the model's ops

    @property
    def current_module(self) -> str:
        return self.module_stack[-1] if self.module_stack else ""

    def _pre_hook(self, module: nn.Module, inputs: tuple) -> None:
        self.in_hook = True
        name = self.module_names[id(module)]
        self.first_call_order.setdefault(name, len(self.first_call_order))
        self.module_stack.append(name)
        shapes = tuple(tuple(x.shape) if isinstance(x, torch.Tensor) else None for x in inputs)
        self.open_calls.append(_ModuleCall(name, module, shapes))
        self.in_hook = False

    def _post_hook(self, module: nn.Module, inputs: tuple, output: Any) -> None:
        self.in_hook = True
        self.module_stack.pop()
        call = self.open_calls.pop()
        call.output_shape = _first_shape(output)
        self.module_calls.append(call)
        self.in_hook = False

    def run(self, x: torch.Tensor) -> None:
        """Call the model on `x` (no_grad) with the hooks and both modes in place."""
        handles = []
        for module in self.model.modules():
            handles.append(module.register_forward_pre_hook(self._pre_hook))
            handles.append(module.register_forward_hook(self._post_hook))
        try:
            with torch.no_grad(), _FunctionRecorder(self), _AtenRecorder(self):
                self.model(x)
        finally:
            for handle in handles:
                handle.remove()


class _FunctionRecorder(TorchFunctionMode):
    def __init__(self, recorder: _Recording) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.recorder.in_hook:
            return func(*args, **kwargs)
        operator_syntax = called_from_upsample = False
        if func in _METHODS_WITH_OPERATORS:
            frame = _caller_frame(func)
            operator_syntax = frame is not None and frame.f_code.co_code[frame.f_lasti] in _OPERATOR_OPCODES
        elif func is F.interpolate:
            frame = _caller_frame(func)
            called_from_upsample = frame is not None and frame.f_code is _UPSAMPLE_CODE
        self.recorder.current_function = len(self.recorder.function_calls)
        try:
            out = func(*args, **kwargs)
        finally:
            self.recorder.current_function = None
        self.recorder.function_calls.append(
            _FunctionCall(
                func=func,
                name=_base_name(func),
                module_name=self.recorder.current_module,
                args=_to_arg(tuple(args)),
                kwargs={key: _to_arg(value) for key, value in kwargs.items()},
                output_shape=_first_shape(out),
                operator_syntax=operator_syntax,
                called_from_upsample=called_from_upsample,
            )
        )
        return out


_TORCH_CONV_OPS = (
    aten.convolution,
    aten._convolution,
    aten.cudnn_convolution,
    aten._slow_conv2d_forward,
    aten.convolution_overrideable,
)


def _torch_flops(packet, args: tuple, kwargs: dict, out: Any) -> int:
    """FLOPs FlopCounterMode gives one aten op: 2 per multiply-add of conv/matmul.

    torch.utils.flop_counter: mm `2*m*k*n`, bmm `2*b*m*k*n` (addmm/baddbmm ignore the added
    term), convolution `2 * N * prod(weight) * prod(spatial)`, where spatial is the output's, or
    the input's for a transposed conv. Other registered ops (attention kernels) use torch's own
    formula.
    """
    if packet is aten.convolution:
        x, w, transposed = args[0].shape, args[1].shape, args[6]
        spatial = x[2:] if transposed else out.shape[2:]
        return 2 * x[0] * _numel(w) * _numel(spatial)
    if packet in (aten.mm, aten.addmm, aten.bmm, aten.baddbmm):
        a, b = args[-2].shape, args[-1].shape
        return 2 * _numel(a) * b[-1]
    return int(flop_registry[packet](*args, **kwargs, out_val=out))


class _AtenRecorder(TorchDispatchMode):
    def __init__(self, recorder: _Recording) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not isinstance(func, torch._ops.OpOverload):
            return NotImplemented  # higher-order ops (torch.compile, cond): FlopCounterMode skips most too
        packet = func._overloadpacket
        if packet not in flop_registry:
            # FlopCounterMode splits ops it has no formula for into their decomposition and counts
            # the pieces; doing the same keeps both looking at the same ops.
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
            return func(*args, **kwargs)
        out = func(*args, **kwargs)
        category = "conv" if packet in _TORCH_CONV_OPS else "linear"
        flops = _torch_flops(packet, args, kwargs, out)
        recorder = self.recorder
        recorder.aten_calls.append(
            _AtenCall(recorder.current_module, category, flops, packet, recorder.current_function)
        )
        return out


def _check_input_size(input_size: Any) -> Shape:
    if not isinstance(input_size, (tuple, list, torch.Size)):
        raise TypeError(
            f"input_size must be a tuple of ints such as (1, 3, 224, 224), got {type(input_size).__name__}"
        )
    if len(input_size) == 0:
        raise ValueError("input_size must have at least one dimension, got ()")
    for size in input_size:
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"input_size entries must be ints, got {size!r} in {tuple(input_size)}")
        if size < 1:
            raise ValueError(f"input_size entries must be positive, got {tuple(input_size)}")
    return tuple(input_size)


def _example_input(model: nn.Module, input_size: Shape) -> torch.Tensor:
    """A seeded random input on the model's device, in its dtype (counts depend on shapes only)."""
    first_param = next(iter(model.parameters()), None)
    dtype = first_param.dtype if first_param is not None else torch.float32
    device = first_param.device if first_param is not None else torch.device("cpu")
    return torch.randn(input_size, generator=torch.Generator().manual_seed(0), dtype=dtype).to(device)


def _record(model: nn.Module, input_size: Shape) -> _Recording:
    """Run `model` once on a seeded random input in eval mode; restore every training flag."""
    x = _example_input(model, input_size)
    training_flags = [(module, module.training) for module in model.modules()]
    recording = _Recording(model, input_size)
    model.eval()
    try:
        recording.run(x)
    finally:  # per module, so a model with some submodules frozen in eval stays that way
        for module, flag in training_flags:
            module.training = flag
    return recording


# --- what kind of operation a function is ------------------------------------------------------

_FUNCTION_CATEGORIES = {
    "conv": "conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d convolution conv_tbc",
    "linear": "linear bilinear matmul rmatmul mm bmm addmm baddbmm addbmm einsum scaled_dot_product_attention"
    " multi_head_attention_forward",
    "norm": "batch_norm layer_norm group_norm instance_norm local_response_norm rms_norm",
    "activation": "relu relu6 hardtanh hardswish hardsigmoid silu sigmoid tanh gelu elu selu celu leaky_relu"
    " prelu rrelu mish softplus softsign softmax log_softmax softmin logsigmoid threshold glu",
    # mean over H, W is global average pooling (MnasNet, ShuffleNetV2 write `x.mean([2, 3])`)
    "pooling": "avg_pool1d avg_pool2d avg_pool3d max_pool1d max_pool2d max_pool3d adaptive_avg_pool1d"
    " adaptive_avg_pool2d adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d"
    " lp_pool1d lp_pool2d mean",
    "elementwise": "add sub mul div true_divide rsub radd rmul rdiv neg pow sqrt rsqrt exp log abs clamp clip"
    " maximum minimum where addcmul addcdiv",
    "other": "interpolate upsample_nearest2d upsample_bilinear2d grid_sample grid_sampler pixel_shuffle",
}
_FUNCTION_CATEGORY = {
    name: category for category, names in _FUNCTION_CATEGORIES.items() for name in names.split()
}


# --- per-convention rules ----------------------------------------------------------------------
# A module rule gives the MACs of one module call (its category sits next to it in the rule
# table); a function rule gives (category, MACs) for one torch function call, or None. Each
# convention returns a list of (module_name, category, MACs) and the parameter count it reports.

Counts = list[tuple[str, str, int | float]]


def _all_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _own_params(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad or not trainable_only)


def _torch_counts(recording: _Recording) -> tuple[Counts, int]:
    """FlopCounterMode: only aten convolution and matrix products, 2 FLOPs per multiply-add.

    Returns FLOPs; the "paper" convention halves them (conv + linear multiply-adds).
    """
    counts = [(call.module_name, call.category, call.flops) for call in recording.aten_calls]
    return counts, _all_params(recording.model)


# thop ------------------------------------------------------------------------------------------


def _thop_conv(call: _ModuleCall) -> int:
    """thop basic_hooks.count_convNd: `numel(y) * (C_in / groups) * prod(kernel)`, bias ignored."""
    return (
        _numel(call.output_shape) * (call.x[1] // call.module.groups) * _numel(call.module.weight.shape[2:])
    )


def _thop_norm(call: _ModuleCall) -> int:
    """thop count_normalization: 2 per input element, x2 when affine (BN, LN, IN)."""
    affine = getattr(call.module, "affine", False) or getattr(call.module, "elementwise_affine", False)
    return 2 * _numel(call.x) * (2 if affine else 1)


def _thop_softmax(call: _ModuleCall) -> int:
    """thop count_softmax: `(exp + add + div) = 3n - 1` per softmax of n features."""
    if call.module.dim is None:
        return 0  # thop itself fails on Softmax(dim=None)
    features = call.x[call.module.dim]
    return _numel(call.x) // features * (3 * features - 1)


def _thop_adaptive_avgpool(call: _ModuleCall) -> int:
    """thop count_adap_avgpool: `(prod(in/out) + 1) * numel(y)`, in float64 then truncated."""
    kernel = 1.0
    for size_in, size_out in zip(call.x[2:], call.output_shape[2:], strict=False):
        kernel *= size_in / size_out
    return int((kernel + 1) * _numel(call.output_shape))


_THOP_UPSAMPLE_OPS_PER_OUTPUT = {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 259}


def _thop_upsample(call: _ModuleCall) -> int:
    """thop count_upsample: per output element 1 (nearest), 5, 11, 259 (bicubic); other modes 0."""
    return _THOP_UPSAMPLE_OPS_PER_OUTPUT.get(call.module.mode, 0) * _numel(call.output_shape)


def _thop_rnn_cell_ops(kind: str, input_size: int, hidden_size: int, bias: bool) -> int:
    """thop rnn_hooks: one step of an RNN/GRU/LSTM cell for one sample (matmuls + gates)."""
    state = (input_size + hidden_size) * hidden_size + hidden_size + (2 * hidden_size if bias else 0)
    if kind == "RNN":
        return state
    if kind == "GRU":  # r, z and n gates, the r hadamard, and h' = (1 - z) * n + z * h
        return 3 * state + 4 * hidden_size
    return 4 * state + 4 * hidden_size  # LSTM: i, f, o, g gates, c' = f*c + i*g, h' = o*tanh(c')


def _thop_rnn(call: _ModuleCall) -> int:
    """thop count_rnn/gru/lstm: cell ops for every layer (and direction), x steps x batch."""
    m = call.module
    kind = type(m).__name__
    batch, steps = (call.x[0], call.x[1]) if m.batch_first else (call.x[1], call.x[0])
    directions = 2 if m.bidirectional else 1
    ops = _thop_rnn_cell_ops(kind, m.input_size, m.hidden_size, m.bias) * directions
    for _ in range(m.num_layers - 1):
        ops += _thop_rnn_cell_ops(kind, m.hidden_size * directions, m.hidden_size, m.bias) * directions
    return ops * steps * batch


def _thop_rnn_cell(call: _ModuleCall) -> int:
    """thop count_rnn_cell/gru_cell/lstm_cell: one step per sample."""
    m = call.module
    kind = type(m).__name__.removesuffix("Cell")
    return _thop_rnn_cell_ops(kind, m.input_size, m.hidden_size, m.bias) * call.x[0]


def _zero(call: _ModuleCall) -> int:
    return 0


def _rules(category: str, rule: Callable, *types: type) -> dict[type, tuple[str, Callable]]:
    return {module_type: (category, rule) for module_type in types}


# thop profile.register_hooks: looked up by exact type, so subclasses get no rule.
_THOP_RULES: dict[type, tuple[str, Callable[[_ModuleCall], int]]] = {
    **_rules("conv", _thop_conv, nn.Conv1d, nn.Conv2d, nn.Conv3d),
    **_rules("conv", _thop_conv, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d),
    **_rules(
        "norm", _thop_norm, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.LayerNorm
    ),
    **_rules("norm", _thop_norm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d),
    # count_prelu: one per element, only in eval mode (thop always profiles in eval mode)
    **_rules("activation", lambda call: _numel(call.x), nn.PReLU),
    **_rules("activation", _thop_softmax, nn.Softmax),
    # ReLU/ReLU6 zero_ops; LeakyReLU count_relu, which also returns 0
    **_rules("activation", _zero, nn.ReLU, nn.ReLU6, nn.LeakyReLU),
    **_rules("pooling", _zero, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d),
    **_rules("pooling", _zero, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d),
    # count_avgpool: one per output element
    **_rules("pooling", lambda call: _numel(call.output_shape), nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d),
    **_rules(
        "pooling", _thop_adaptive_avgpool, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d
    ),
    # count_linear: in_features per output element
    **_rules("linear", lambda call: call.module.in_features * _numel(call.output_shape), nn.Linear),
    **_rules("other", _thop_upsample, nn.Upsample, nn.UpsamplingBilinear2d, nn.UpsamplingNearest2d),
    **_rules("other", _thop_rnn_cell, nn.RNNCell, nn.GRUCell, nn.LSTMCell),
    **_rules("other", _thop_rnn, nn.RNN, nn.GRU, nn.LSTM),
    **_rules("other", _zero, nn.ZeroPad2d, nn.Dropout, nn.PixelShuffle, nn.Sequential),
}


def _module_totals(recording: _Recording, rule_for: Callable) -> dict[int, tuple[str, int | float]]:
    """id(module) -> (category, ops summed over all its calls), for modules with a rule."""
    totals: dict[int, tuple[str, int | float]] = {}
    for call in recording.module_calls:
        rule = rule_for(type(call.module))
        # Both tools' hooks read the first positional input; without one they fail, we count 0.
        if rule is not None and call.input_shapes and call.input_shapes[0] is not None:
            category, count = rule
            previous = totals.get(id(call.module), (category, 0))[1]
            totals[id(call.module)] = (category, previous + count(call))
    return totals


def _thop_counts(recording: _Recording) -> tuple[Counts, int, dict[int, int]]:
    """thop profile: per-module hooks only, summed by profile.dfs_count.

    dfs_count walks named_children from the model: a child with a rule (other than Sequential)
    adds its ops and its parameters, the others are walked into. So functional ops and modules
    without a rule (Hardswish, Hardsigmoid, SiLU, GroupNorm) cost 0 and lose their parameters;
    a module called twice adds its ops twice; the model's own parameters are never counted.
    """
    totals = _module_totals(recording, _THOP_RULES.get)
    called = {id(call.module) for call in recording.module_calls}
    # profile registers its hooks through model.apply, which reaches a module shared by several
    # parents once per parent: each registration adds the module's ops again.
    registrations: dict[int, int] = defaultdict(int)

    def count_registrations(module: nn.Module) -> None:
        registrations[id(module)] += 1
        for child in module.children():
            count_registrations(child)

    count_registrations(recording.model)
    counts: Counts = []
    params_by_module: dict[int, int] = defaultdict(int)

    def add(module: nn.Module, count_params: bool) -> None:
        category, ops = totals.get(id(module), ("other", 0))
        counts.append((recording.module_names[id(module)], category, ops * registrations[id(module)]))
        if count_params and id(module) in called:  # count_parameters runs in the forward hook
            params_by_module[id(module)] += sum(p.numel() for p in module.parameters())

    def visit(module: nn.Module) -> None:
        for child in module.children():
            if type(child) in _THOP_RULES and not isinstance(child, (nn.Sequential, nn.ModuleList)):
                add(child, count_params=True)
            else:
                visit(child)

    if type(recording.model) in _THOP_RULES:
        add(recording.model, count_params=False)
    visit(recording.model)
    return counts, sum(params_by_module.values()), params_by_module


# fvcore -----------------------------------------------------------------------------------------

_CONV_NAMES = frozenset(_FUNCTION_CATEGORIES["conv"].split())
_MATMUL_NAMES = frozenset({"matmul", "mm"})


def _fvcore_einsum(call: _FunctionCall) -> int:
    """fvcore einsum_flop_jit: two batched-matmul equations by formula, others numpy's estimate / 2."""
    equation = call.arg(0, "equation").replace(" ", "")
    operands = call.args[1:]
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    shapes = [operand.shape for operand in operands]
    letters = dict.fromkeys(letter for letter in equation if letter.isalpha())
    equation = equation.translate({ord(letter): 97 + i for i, letter in enumerate(letters)})
    if equation == "abc,abd->acd":
        return _numel(shapes[0]) * shapes[-1][-1]
    if equation == "abc,adc->adb":
        return _numel(shapes[0]) * shapes[-1][1]
    report = np.einsum_path(equation, *[np.zeros(shape) for shape in shapes], optimize="optimal")[1]
    flop_line = next(line for line in report.split("\n") if "optimized flop" in line.lower())
    return int(float(flop_line.split(":")[-1]) / 2)


def _fvcore_interpolate(call: _FunctionCall) -> int:
    """F.interpolate traces to one aten op; fvcore counts three of them (for 4-D inputs).

    upsample_nearest2d 1 and upsample_bilinear2d 4 per output element; mode "area" runs
    adaptive_avg_pool2d, 1 per input element.
    """
    x = call.shape(0, "input")
    mode = call.arg(3, "mode", "nearest")
    if len(x) != 4:
        return 0
    if mode == "nearest":
        return _numel(call.output_shape)
    if mode == "bilinear" and not call.arg(6, "antialias", False):
        return 4 * _numel(call.output_shape)
    if mode == "area":
        return _numel(x)
    return 0


def _fvcore_rule(call: _FunctionCall) -> tuple[str, int] | None:
    """fvcore flop_count._DEFAULT_SUPPORTED_OPS, applied to the aten op each call traces to.

    conv `N * prod(weight) * prod(spatial)` (input spatial if transposed); linear
    `numel(x) * out_features`; matmul/mm `numel(a) * b[-1]`; addmm and bmm likewise; einsum;
    batch_norm 1 per element (2 with affine) in eval, 4 (5) when it normalises with batch
    statistics; group/layer/instance norm 4 (5 with affine); adaptive_avg_pool2d 1 per input
    element; upsample nearest 1 / bilinear 4 and grid_sample 4 per output element. No other op
    (activations, element-wise, pooling, mean, cat) is counted.
    """
    name = call.name
    if name in _CONV_NAMES and isinstance(call.arg(4, "padding"), str):
        # padding="same"/"valid" traces to aten::_convolution_mode, which fvcore has no handle for
        return None
    if name in _CONV_NAMES:
        x, w = call.shape(0, "input"), call.shape(1, "weight")
        transposed = name.startswith("conv_transpose") or (
            name == "convolution" and call.arg(6, "transposed")
        )
        spatial = x[2:] if transposed else call.output_shape[2:]
        return "conv", x[0] * _numel(w) * _numel(spatial)
    if name == "linear":
        return "linear", _numel(call.shape(0, "input")) * call.shape(1, "weight")[0]
    if name in _MATMUL_NAMES or name == "bmm":
        return "linear", _numel(call.args[0].shape) * call.args[1].shape[-1]
    if name == "addmm":
        return "linear", _numel(call.args[1].shape) * call.args[2].shape[-1]
    if name == "einsum":
        return "linear", _fvcore_einsum(call)
    if name == "batch_norm":
        functional = call.func is F.batch_norm  # F.batch_norm puts running stats before weight
        has_weight = call.arg(3 if functional else 1, "weight") is not None
        per_element = (5 if has_weight else 4) if call.arg(5, "training", False) else (2 if has_weight else 1)
        return "norm", per_element * _numel(call.shape(0, "input"))
    if name in ("group_norm", "layer_norm", "instance_norm"):
        if name == "instance_norm":  # F.instance_norm puts the running stats before weight
            weight_index = 3 if call.func is F.instance_norm else 1
        else:  # (input, normalized_shape or num_groups, weight, ...)
            weight_index = 2
        has_weight = call.arg(weight_index, "weight") is not None
        return "norm", (5 if has_weight else 4) * _numel(call.shape(0, "input"))
    if name == "adaptive_avg_pool2d":
        return "pooling", _numel(call.shape(0, "input"))
    if name == "interpolate":
        return "other", _fvcore_interpolate(call)
    if name == "upsample_nearest2d":
        return "other", _numel(call.output_shape)
    if name == "upsample_bilinear2d":
        return "other", 4 * _numel(call.output_shape)
    if name in ("grid_sample", "grid_sampler"):
        return "other", 4 * _numel(call.output_shape)
    return None


# The JIT trace records the aten ops a Python function (say F.multi_head_attention_forward)
# calls, not the function; we see those inner ops only at the aten level, where fvcore's linear,
# matmul, bmm and conv handles give the same count as FlopCounterMode's formulas (halved).
# torch's tracer also unfolds the recurrent cells (gen_trace_type.DONT_RECORD_TRACE).
_TRACED_AS_INNER_OPS = frozenset({"lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell"})
_FVCORE_INNER_OPS = {aten.mm: "linear", aten.addmm: "linear", aten.bmm: "linear", aten.convolution: "conv"}


def _fvcore_counts(recording: _Recording) -> tuple[Counts, int]:
    """fvcore FlopCountAnalysis: the rules of `_fvcore_rule` over every traced op."""
    counts: Counts = []
    unfolded_calls = set()  # indices of calls the trace records as their inner ops
    for index, call in enumerate(recording.function_calls):
        rule = _fvcore_rule(call)
        if rule is not None:
            counts.append((call.module_name, *rule))
        elif hasattr(call.func, "__code__") or call.name in _TRACED_AS_INNER_OPS:
            unfolded_calls.add(index)
    for aten_call in recording.aten_calls:
        if aten_call.function_index in unfolded_calls and aten_call.packet in _FVCORE_INNER_OPS:
            counts.append((aten_call.module_name, _FVCORE_INNER_OPS[aten_call.packet], aten_call.flops // 2))
    return counts, _all_params(recording.model)  # fvcore.nn.parameter_count: every parameter


# ptflops ----------------------------------------------------------------------------------------


def _ptflops_conv(call: _ModuleCall, extra_per_position: int = 0) -> int:
    """ptflops conv_flops_counter_hook: `N*prod(out spatial) * (prod(k)*C_in*C_out/groups + C_out*bias)`.

    Transposed convolutions use the same formula with the output's spatial size.
    """
    m = call.module
    positions = call.x[0] * _numel(call.output_shape[2:])
    per_position = _numel(m.kernel_size) * (m.in_channels * (m.out_channels // m.groups) + extra_per_position)
    return per_position * positions + (m.out_channels * positions if m.bias is not None else 0)


def _ptflops_deform_conv(call: _ModuleCall) -> int:
    """ptflops deformable_conv_flops_counter_hook: conv + 24 per position (+1 with a mask)."""
    has_mask = len(call.input_shapes) == 3 and call.input_shapes[2] is not None
    return _ptflops_conv(call, extra_per_position=24 + int(has_mask))


def _ptflops_norm(call: _ModuleCall) -> int:
    """ptflops bn_flops_counter_hook: 1 per input element, 2 if the module has `affine=True`.

    LayerNorm has `elementwise_affine`, not `affine`, so it always counts 1.
    """
    return _numel(call.x) * (2 if getattr(call.module, "affine", False) else 1)


def _ptflops_linear(call: _ModuleCall) -> int:
    """ptflops linear_flops_counter_hook: `(in * out + out*bias) * prod(x.shape[:-1])`."""
    out_features = call.output_shape[-1]
    bias = out_features if call.module.bias is not None else 0
    return (call.x[-1] * out_features + bias) * _numel(call.x[:-1])


def _ptflops_rnn_layer_ops(module: nn.Module, suffix: str) -> int:
    """ptflops rnn_flops: both weight matrices, the gates' extra work, and the biases."""
    w_ih, w_hh = getattr(module, "weight_ih" + suffix), getattr(module, "weight_hh" + suffix)
    ops = w_ih.shape[0] * w_ih.shape[1] + w_hh.shape[0] * w_hh.shape[1]
    h = module.hidden_size
    ops += {"RNN": h, "GRU": 7 * h, "LSTM": 10 * h}[type(module).__name__.removesuffix("Cell")]
    if module.bias:
        ops += getattr(module, "bias_ih" + suffix).shape[0] + getattr(module, "bias_hh" + suffix).shape[0]
    return ops


def _ptflops_rnn(call: _ModuleCall) -> int:
    """ptflops rnn_flops_counter_hook: layers' ops x x.shape[0] x x.shape[1] (x2 bidirectional).

    It reads batch and sequence length as dims 0 and 1 whatever `batch_first` says.
    """
    m = call.module
    ops = sum(_ptflops_rnn_layer_ops(m, f"_l{layer}") for layer in range(m.num_layers))
    return ops * call.x[0] * call.x[1] * (2 if m.bidirectional else 1)


def _ptflops_rnn_cell(call: _ModuleCall) -> int:
    """ptflops rnn_cell_flops_counter_hook: one step x batch."""
    return _ptflops_rnn_layer_ops(call.module, "") * call.x[0]


def _ptflops_multihead_attention(call: _ModuleCall) -> int:
    """ptflops multihead_attention_counter_hook: projections, QK^T, softmax, AV, output projection."""
    m = call.module
    q, k, v = call.input_shapes[:3]
    batch_index, length_index = (0, 1) if getattr(m, "batch_first", False) else (1, 0)
    q_len, k_len, v_len = q[length_index], k[length_index], v[length_index]
    q_dim, k_dim, v_dim = q[2], k[2], v[2]
    ops = q_len * q_dim + q_len * q_dim * q_dim + k_len * k_dim * k_dim + v_len * v_dim * v_dim
    if m.in_proj_bias is not None:
        ops += (q_len + k_len + v_len) * q_dim
    head = q_len * k_len * (q_dim // m.num_heads) + q_len * k_len + q_len * k_len * (v_dim // m.num_heads)
    ops += m.num_heads * head + q_len * v_dim * (v_dim + 1)
    return ops * q[batch_index]


def _ptflops_timm_attention(call: _ModuleCall) -> int:
    """ptflops timm_attention_counter_hook: Q scaling, QK^T, softmax and AV (projections are Linear)."""
    batch, tokens, _ = call.x
    m = call.module
    per_head = tokens * m.head_dim + 2 * tokens * tokens * m.head_dim + tokens * tokens
    return per_head * m.num_heads * batch


_PTFLOPS_ACTIVATIONS = (nn.ReLU, nn.PReLU, nn.ELU, nn.LeakyReLU, nn.ReLU6, nn.GELU)
_PTFLOPS_POOLS = (nn.MaxPool1d, nn.AvgPool1d, nn.AvgPool2d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool3d)
_PTFLOPS_ADAPTIVE_POOLS = (nn.AdaptiveMaxPool1d, nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool2d)
_PTFLOPS_ADAPTIVE_POOLS += (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool3d, nn.AdaptiveAvgPool3d)
_PTFLOPS_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.InstanceNorm1d, nn.InstanceNorm2d)
_PTFLOPS_NORMS += (nn.InstanceNorm3d, nn.GroupNorm, nn.LayerNorm)

# ptflops pytorch_ops.MODULES_MAPPING, looked up by exact type.
_PTFLOPS_MODULE_RULES: dict[type, tuple[str, Callable[[_ModuleCall], int]]] = {
    **_rules("conv", _ptflops_conv, nn.Conv1d, nn.Conv2d, nn.Conv3d),
    **_rules("conv", _ptflops_conv, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d),
    # relu_flops_counter_hook: 1 per output element
    **_rules("activation", lambda call: _numel(call.output_shape), *_PTFLOPS_ACTIVATIONS),
    # pool_flops_counter_hook: 1 per input element
    **_rules("pooling", lambda call: _numel(call.x), *_PTFLOPS_POOLS, *_PTFLOPS_ADAPTIVE_POOLS),
    **_rules("norm", _ptflops_norm, *_PTFLOPS_NORMS),
    **_rules("linear", _ptflops_linear, nn.Linear),
    # upsample_flops_counter_hook reads output[0], the first sample: numel / batch
    **_rules("other", lambda call: _numel(call.output_shape[1:]), nn.Upsample),
    **_rules("other", _ptflops_rnn, nn.RNN, nn.GRU, nn.LSTM),
    **_rules("other", _ptflops_rnn_cell, nn.RNNCell, nn.LSTMCell, nn.GRUCell),
    **_rules("other", _ptflops_multihead_attention, nn.MultiheadAttention),
}
# Registered by ptflops only when importable; matched by name so lwcnn needs neither import.
_PTFLOPS_RULES_BY_NAME = {
    ("torchvision.ops.deform_conv", "DeformConv2d"): ("conv", _ptflops_deform_conv),
    ("timm.models.vision_transformer", "Attention"): ("other", _ptflops_timm_attention),
}


def _ptflops_module_rule(module_type: type) -> tuple[str, Callable[[_ModuleCall], int]] | None:
    """MODULES_MAPPING by exact type, then the optional entries matched by name."""
    rule = _PTFLOPS_MODULE_RULES.get(module_type)
    return rule or _PTFLOPS_RULES_BY_NAME.get((module_type.__module__, module_type.__name__))


def _ptflops_interpolate(call: _FunctionCall) -> int | float:
    """ptflops _interpolate_functional_flops_hook: `prod(size) * N * C` or `numel(x) * scale^dims`."""
    x = call.shape(0, "input")
    size = call.arg(1, "size")
    if size is not None:
        spatial = _numel(size) if isinstance(size, (tuple, list)) else int(size) ** (len(x) - 2)
        return spatial * x[0] * x[1]
    scale = call.arg(2, "scale_factor")
    if isinstance(scale, tuple) and len(scale) == len(x) - 2:
        return _numel(x) * int(np.prod(scale, dtype=np.int64))
    return _numel(x) * scale ** (len(x) - 2)


def _ptflops_elementwise(call: _FunctionCall) -> int:
    """ptflops _elementwise_tensor_flops_hook: elements of the broadcast shape.

    It aligns the two shapes from the *left* (not from the right as broadcasting does), and
    counts the tensor's elements when the other operand is a number.
    """
    a, b = call.arg(0, "input"), call.arg(1, "other")
    a_shape = a.shape if isinstance(a, _TensorArg) else None
    b_shape = b.shape if isinstance(b, _TensorArg) else None
    if a_shape is None or b_shape is None:
        return _numel(a_shape or b_shape or ())
    rank = max(len(a_shape), len(b_shape))
    padded_a, padded_b = a_shape + (1,) * (rank - len(a_shape)), b_shape + (1,) * (rank - len(b_shape))
    return _numel(max(size_a, size_b) for size_a, size_b in zip(padded_a, padded_b, strict=False))


_PTFLOPS_NUMEL_FUNCTIONS = {
    **dict.fromkeys((F.relu, F.prelu, F.elu, F.relu6, F.gelu, F.silu, F.softmax), "activation"),
    **dict.fromkeys((F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, F.max_pool1d, F.max_pool2d), "pooling"),
    **dict.fromkeys((F.max_pool3d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d), "pooling"),
    **dict.fromkeys((F.adaptive_avg_pool3d, F.adaptive_max_pool1d, F.adaptive_max_pool2d), "pooling"),
    F.adaptive_max_pool3d: "pooling",
}
_PTFLOPS_MATMULS = frozenset(
    {torch.matmul, torch.Tensor.matmul, torch.mm, torch.Tensor.mm, torch.bmm, torch.Tensor.bmm}
)
_PTFLOPS_ADDMMS = frozenset({torch.addmm, torch.Tensor.addmm, torch.baddbmm})
_PTFLOPS_ELEMENTWISE = frozenset({torch.mul, torch.Tensor.mul, torch.add, torch.Tensor.add})


def _ptflops_function_rule(call: _FunctionCall) -> tuple[str, int | float] | None:
    """ptflops patch_functional / patch_tensor_ops (count_functional=True, the default).

    ptflops replaces these attributes of `torch`, `torch.Tensor` and `torch.nn.functional`
    while it runs, so a call counts when it looks one of them up: `F.relu(x)`, `x.mul(s)`,
    `torch.add(a, b)` count; `x * s`, `a + b`, `a @ b`, `F.hardswish`, `torch.sigmoid` do not.
    nn.ReLU and the pooling modules call the patched F functions: they count twice (hook + patch).
    Rules: activations, pools and softmax 1 per input element; matmul `numel(a) * b[-1]`;
    addmm `numel(mat1) * mat2[-1] + numel(input)`; add/mul the broadcast elements.
    """
    func = call.func
    if call.operator_syntax:
        return None
    if func in _PTFLOPS_NUMEL_FUNCTIONS:
        return _PTFLOPS_NUMEL_FUNCTIONS[func], _numel(call.shape(0, "input"))
    if func is F.interpolate:
        ops = _ptflops_interpolate(call)
        if call.arg(3, "mode", "nearest") == "area":  # interpolate calls the patched adaptive_avg_pool
            ops += _numel(call.shape(0, "input"))
        return "other", ops * (2 if call.called_from_upsample else 1)  # F.upsample is patched too
    if func in _PTFLOPS_MATMULS:
        return "linear", _numel(call.arg(0, "input").shape) * call.arg(1, "other").shape[-1]
    if func in _PTFLOPS_ADDMMS:
        added = _numel(call.arg(0, "input").shape) if call.kwargs.get("beta", 1) != 0 else 0
        return "linear", _numel(call.arg(1, "mat1").shape) * call.arg(2, "mat2").shape[-1] + added
    if func in _PTFLOPS_ELEMENTWISE:
        return "elementwise", _ptflops_elementwise(call)
    return None


def _ptflops_counts(recording: _Recording) -> tuple[Counts, int]:
    """ptflops get_flops_pytorch: module hooks (summed by accumulate_flops) + patched functions.

    accumulate_flops takes a module with a rule whole and walks into the others' children.
    Module MACs are divided by the batch size (compute_average_flops_cost), functional ones are
    not. Parameters: the trainable ones (get_model_parameters_number).
    """
    totals = _module_totals(recording, _ptflops_module_rule)
    batch = recording.input_size[0]
    counts: Counts = []

    def visit(module: nn.Module) -> None:
        if _ptflops_module_rule(type(module)) is not None:
            category, ops = totals.get(id(module), ("other", 0))
            per_sample = Fraction(ops, batch) if isinstance(ops, int) else ops / batch
            counts.append((recording.module_names[id(module)], category, _plain_number(per_sample)))
        else:
            for child in module.children():
                visit(child)

    visit(recording.model)
    for call in recording.function_calls:
        rule = _ptflops_function_rule(call)
        if rule is not None:
            counts.append((call.module_name, rule[0], _plain_number(rule[1])))
    return counts, _all_params(recording.model, trainable_only=True)


def _plain_number(value: Any) -> int | float:
    """An int when the value is whole (numpy ints, 8.0, Fraction(6, 2)), else a float."""
    value = value.item() if isinstance(value, np.generic) else value
    return int(value) if value == int(value) else float(value)


# --- the report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerRow:
    """One module's share of a count: the MACs of the ops that ran directly in it, by category.

    A container's row holds only its own ops (say the residual add), never its children's, so the
    rows add up to the report's total.
    """

    name: str
    module_type: str
    output_shape: Shape | None
    params: int
    conv: int | float = 0
    linear: int | float = 0
    norm: int | float = 0
    activation: int | float = 0
    pooling: int | float = 0
    elementwise: int | float = 0
    other: int | float = 0

    @property
    def total(self) -> int | float:
        return sum(getattr(self, category) for category in CATEGORIES)


@dataclass(frozen=True)
class CountReport:
    """A model's cost under one counter's convention.

    `macs` is the tool's own number for thop, fvcore, ptflops and paper (all count one
    multiply-add as one), and `flops = 2 * macs`. For "torch", `flops` is FlopCounterMode's
    total (2 per multiply-add) and `macs = flops // 2`. `params` is the parameter count the tool
    reports (thop drops modules it has no rule for; ptflops counts trainable ones; the others
    count all). `output_elements` is convention-free: the elements each kind of op produced in
    the forward pass, including the functional ops that some counters never see.
    """

    convention: str
    input_size: Shape
    model_type: str
    params: int
    macs: int
    flops: int
    layers: tuple[LayerRow, ...]
    output_elements: dict[str, int] = field(default_factory=dict)

    def by_category(self) -> dict[str, int | float]:
        """MACs per category (all of CATEGORIES, zeros included), summed over the layers."""
        return {category: sum(getattr(row, category) for row in self.layers) for category in CATEGORIES}

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per layer (name, type, output shape, params, MACs per category, total)."""
        return [
            {
                "layer": row.name,
                "type": row.module_type,
                "output_shape": row.output_shape,
                "params": row.params,
                **{category: getattr(row, category) for category in CATEGORIES},
                "total": row.total,
            }
            for row in self.layers
        ]

    def summary(self) -> str:
        size = "x".join(str(size) for size in self.input_size)
        return (
            f"{self.model_type} at {size}, convention={self.convention}: "
            f"{self.macs:,} MACs ({self.flops:,} FLOPs), {self.params:,} params"
        )

    def table(self, max_rows: int | None = None) -> str:
        """A fixed-width table of the layers (the first `max_rows` of them) and the totals."""
        if max_rows is not None and (
            isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 0
        ):
            raise ValueError(f"max_rows must be None or an int >= 0, got {max_rows!r}")
        header = ["layer", "type", "output", "params", *CATEGORIES, "total"]
        shown = self.layers if max_rows is None else self.layers[:max_rows]
        lines = [[*_row_cells(row)] for row in shown]
        if len(shown) < len(self.layers):
            lines.append(
                [f"... {len(self.layers) - len(shown)} more layers", "", "", "", *[""] * len(CATEGORIES), ""]
            )
        by_category = self.by_category()
        totals = [_fmt(by_category[category]) for category in CATEGORIES]
        lines.append(["total", "", "", f"{self.params:,}", *totals, f"{self.macs:,}"])
        widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]

        def render(cells: list[str]) -> str:
            text = [
                cell.ljust(width) if i < 3 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
            ]
            return "  ".join(text).rstrip()

        rule = "-" * len(render(header))
        body = [render(cells) for cells in lines]
        return "\n".join([self.summary(), render(header), rule, *body[:-1], rule, body[-1]])

    def _repr_html_(self) -> str:
        header = ["layer", "type", "output", "params", *CATEGORIES, "total"]
        head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in _row_cells(row)) + "</tr>"
            for row in self.layers
        )
        return f"<p>{html.escape(self.summary())}</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        return (
            f"CountReport(convention={self.convention!r}, model_type={self.model_type!r}, "
            f"input_size={self.input_size}, params={self.params}, macs={self.macs}, flops={self.flops}, "
            f"layers=<{len(self.layers)} rows>)"
        )


def _fmt(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def _row_cells(row: LayerRow) -> list[str]:
    shape = "x".join(str(size) for size in row.output_shape) if row.output_shape else "-"
    return [
        row.name,
        row.module_type,
        shape,
        f"{row.params:,}",
        *[_fmt(getattr(row, c)) for c in CATEGORIES],
        _fmt(row.total),
    ]


def _output_elements(recording: _Recording) -> dict[str, int]:
    elements = dict.fromkeys(CATEGORIES, 0)
    for call in recording.function_calls:
        category = _FUNCTION_CATEGORY.get(call.name)
        if category is not None and call.output_shape is not None:
            elements[category] += _numel(call.output_shape)
    return elements


def _report(recording: _Recording, convention: str) -> CountReport:
    thop_params_by_module: dict[int, int] = {}
    if convention in ("paper", "torch"):
        counts, params = _torch_counts(recording)
    elif convention == "thop":
        counts, params, thop_params_by_module = _thop_counts(recording)
    elif convention == "fvcore":
        counts, params = _fvcore_counts(recording)
    else:
        counts, params = _ptflops_counts(recording)

    per_module: dict[str, dict[str, int | float]] = defaultdict(lambda: dict.fromkeys(CATEGORIES, 0))
    for module_name, category, ops in counts:
        per_module[module_name][category] += ops
    if convention in ("paper", "torch"):
        flops = sum(ops for _, _, ops in counts)
        for module_ops in per_module.values():  # rows in MACs: every FlopCounterMode formula is even
            module_ops.update({category: ops // 2 for category, ops in module_ops.items()})
        macs = flops // 2
        flops = 2 * macs if convention == "paper" else flops
    else:
        macs = int(sum(ops for _, _, ops in counts))  # the tools truncate their float totals with int()
        flops = 2 * macs

    modules = dict(recording.model.named_modules())
    output_shapes: dict[str, Shape | None] = {}
    for call in reversed(recording.module_calls):  # keep the first call's output
        output_shapes[call.name] = call.output_shape
    rows = []
    for name in sorted(recording.first_call_order, key=recording.first_call_order.get):
        module = modules[name]
        module_ops = per_module.get(name, dict.fromkeys(CATEGORIES, 0))
        if convention == "thop":
            row_params = thop_params_by_module.get(id(module), 0)
        else:
            row_params = _own_params(module, trainable_only=convention == "ptflops")
        is_leaf = next(module.children(), None) is None
        if is_leaf or row_params or any(module_ops.values()):
            rows.append(
                LayerRow(
                    name or "(model)",
                    type(module).__name__,
                    output_shapes.get(name),
                    row_params,
                    **module_ops,
                )
            )
    return CountReport(
        convention=convention,
        input_size=recording.input_size,
        model_type=type(recording.model).__name__,
        params=params,
        macs=macs,
        flops=flops,
        layers=tuple(rows),
        output_elements=_output_elements(recording),
    )


def _check_convention(convention: Any) -> str:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(map(repr, CONVENTIONS))}; got {convention!r}")
    return convention


def count_model(
    model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224), convention: str = "paper"
) -> CountReport:
    """Count `model` on an input of `input_size` the way `convention`'s tool would.

    One forward pass in eval mode under no_grad (training flags are restored afterwards) on a
    seeded random input; see the module docstring for what each convention counts.

    >>> import torchvision
    >>> report = count_model(torchvision.models.mobilenet_v3_large(), convention="fvcore")
    >>> report.macs, report.by_category()["norm"] > 0
    (226033824, True)
    """
    return compare_conventions(model, input_size, conventions=(convention,))[convention]


def compare_conventions(
    model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224), conventions: Sequence[str] = CONVENTIONS
) -> dict[str, CountReport]:
    """`count_model` for several conventions from a single forward pass: convention -> report."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(conventions, str):
        conventions = (conventions,)
    conventions = tuple(_check_convention(convention) for convention in conventions)
    recording = _record(model, _check_input_size(input_size))
    return {convention: _report(recording, convention) for convention in conventions}


def difference(report_a: CountReport, report_b: CountReport) -> dict[str, int | float]:
    """Category -> MACs that `report_a` counts beyond `report_b`; sums to `a.macs - b.macs`.

    >>> import torchvision
    >>> reports = compare_conventions(torchvision.models.mobilenet_v2(), conventions=("thop", "paper"))
    >>> difference(reports["thop"], reports["paper"])["norm"]  # thop: 4 per BatchNorm element
    26712448
    """
    if report_a.input_size != report_b.input_size:
        raise ValueError(
            f"the reports count different inputs: {report_a.input_size} vs {report_b.input_size}; "
            "compare reports of the same model and input_size"
        )
    a, b = report_a.by_category(), report_b.by_category()
    return {category: a[category] - b[category] for category in CATEGORIES}


# --- the real tools, for comparison --------------------------------------------------------------


@dataclass(frozen=True)
class ToolCount:
    """What the real tool reports, in CountReport's units (macs, flops, params)."""

    convention: str
    params: int
    macs: int
    flops: int


def run_tool(model: nn.Module, convention: str, input_size: Sequence[int] = (1, 3, 224, 224)) -> ToolCount:
    """Run the real counter behind `convention` (thop, fvcore, ptflops, FlopCounterMode) quietly.

    The tool runs on a deep copy in eval mode, so its hooks and buffers never touch `model`.
    thop, fvcore and ptflops are imported here: install them to use this.
    """
    import contextlib
    import copy
    import io
    import logging
    import warnings

    _check_convention(convention)
    input_size = _check_input_size(input_size)
    model = copy.deepcopy(model).eval()
    x = _example_input(model, input_size)
    quiet = contextlib.ExitStack()
    with quiet:
        quiet.enter_context(contextlib.redirect_stdout(io.StringIO()))
        quiet.enter_context(contextlib.redirect_stderr(io.StringIO()))
        quiet.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        quiet.callback(logging.disable, logging.NOTSET)
        if convention in ("paper", "torch"):
            from torch.utils.flop_counter import FlopCounterMode

            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(x)
            flops = counter.get_total_flops()
            macs = flops // 2
            return ToolCount(
                convention, _all_params(model), macs, flops if convention == "torch" else 2 * macs
            )
        if convention == "thop":
            import thop

            macs, params = thop.profile(model, inputs=(x,), verbose=False)
        elif convention == "fvcore":
            from fvcore.nn import FlopCountAnalysis, parameter_count

            analysis = (
                FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            )
            macs, params = analysis.total(), parameter_count(model)[""]
        else:
            import ptflops

            macs, params = ptflops.get_model_complexity_info(
                model,
                tuple(input_size[1:]),
                as_strings=False,
                print_per_layer_stat=False,
                backend="pytorch",
                input_constructor=(lambda _: x) if input_size[0] != 1 else None,
            )
    return ToolCount(convention, int(params), int(macs), 2 * int(macs))
