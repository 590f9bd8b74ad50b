"""Record one forward pass: the module calls, torch-function calls and aten ops every counter reads.

The model runs once (eval mode, no_grad) while three recorders watch it:

- module calls, from forward hooks: what thop and ptflops hook into;
- torch-function calls, from a `TorchFunctionMode`: every functional op and tensor operator
  called from Python (`F.hardswish`, `x * s`, a residual `+`, `torch.cat`), which hook-based
  tools never see; fvcore's JIT trace and ptflops's patched functions work at this level;
- aten operators, from a `TorchDispatchMode`: what FlopCounterMode counts.

Each convention (thop.py, fvcore.py, ptflops.py, flop_counter.py) is then a set of rules over
these records, so one pass serves all of them. Records keep shapes, not tensors: every rule
is shape arithmetic.

>>> from torch import nn
>>> recording = record(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()), (1, 3, 8, 8))
>>> [(call.name, call.output_shape) for call in recording.module_calls]
[('0', (1, 8, 6, 6)), ('1', (1, 8, 6, 6)), ('', (1, 8, 6, 6))]
"""

from __future__ import annotations

import dis
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from lwcnn.counting.flop_counter import aten_category, has_formula, torch_flops
from lwcnn.counting.rules import Shape

# --- the records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorArg:
    """A tensor argument, reduced to what the rules need (its shape)."""

    shape: Shape


@dataclass
class ModuleCall:
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
class FunctionCall:
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
        return value.shape if isinstance(value, TensorArg) else None


@dataclass
class AtenCall:
    """One aten operator with a FlopCounterMode formula, and the FLOPs it gives."""

    module_name: str
    category: str
    flops: int
    packet: Any  # the aten op, e.g. aten.addmm
    function_index: int | None  # index in function_calls of the torch function it ran inside


def _to_arg(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return TensorArg(tuple(value.shape))
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


# --- the recorders -----------------------------------------------------------------------------


class Recording:
    """What one forward pass did, seen by hooks on every module, a function and a dispatch mode."""

    def __init__(self, model: nn.Module, input_size: Shape) -> None:
        self.model = model
        self.input_size = input_size
        self.module_names = {id(module): name for name, module in model.named_modules()}  # "" = model
        self.module_stack: list[str] = []
        self.first_call_order: dict[str, int] = {}  # module name -> order of its first call
        self.module_calls: list[ModuleCall] = []
        self.open_calls: list[ModuleCall] = []
        self.function_calls: list[FunctionCall] = []
        self.aten_calls: list[AtenCall] = []
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
        self.open_calls.append(ModuleCall(name, module, shapes))
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


class _RecordingMode:
    """A torch mode (function or dispatch) that appends what it sees to one Recording."""

    def __init__(self, recording: Recording) -> None:
        super().__init__()
        self.recording = recording


class _FunctionRecorder(_RecordingMode, TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        recording = self.recording
        if recording.in_hook:
            return func(*args, **kwargs)
        operator_syntax = called_from_upsample = False
        if func in _METHODS_WITH_OPERATORS:
            frame = _caller_frame(func)
            operator_syntax = frame is not None and frame.f_code.co_code[frame.f_lasti] in _OPERATOR_OPCODES
        elif func is F.interpolate:
            frame = _caller_frame(func)
            called_from_upsample = frame is not None and frame.f_code is _UPSAMPLE_CODE
        recording.current_function = len(recording.function_calls)
        try:
            out = func(*args, **kwargs)
        finally:
            recording.current_function = None
        recording.function_calls.append(
            FunctionCall(
                func=func,
                name=_base_name(func),
                module_name=recording.current_module,
                args=_to_arg(tuple(args)),
                kwargs={key: _to_arg(value) for key, value in kwargs.items()},
                output_shape=_first_shape(out),
                operator_syntax=operator_syntax,
                called_from_upsample=called_from_upsample,
            )
        )
        return out


class _AtenRecorder(_RecordingMode, TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not isinstance(func, torch._ops.OpOverload):
            return NotImplemented  # higher-order ops (torch.compile, cond): FlopCounterMode skips most too
        packet = func._overloadpacket
        if not has_formula(packet):
            # FlopCounterMode splits ops it has no formula for into their decomposition and counts
            # the pieces; doing the same keeps both looking at the same ops.
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
            return func(*args, **kwargs)
        out = func(*args, **kwargs)
        flops = torch_flops(packet, args, kwargs, out)
        recording = self.recording
        recording.aten_calls.append(
            AtenCall(
                recording.current_module, aten_category(packet), flops, packet, recording.current_function
            )
        )
        return out


# --- one pass ----------------------------------------------------------------------------------


def example_input(model: nn.Module, input_size: Shape) -> torch.Tensor:
    """A seeded random input on the model's device, in its dtype (counts depend on shapes only)."""
    first_param = next(iter(model.parameters()), None)
    dtype = first_param.dtype if first_param is not None else torch.float32
    device = first_param.device if first_param is not None else torch.device("cpu")
    return torch.randn(input_size, generator=torch.Generator().manual_seed(0), dtype=dtype).to(device)


def record(model: nn.Module, input_size: Shape) -> Recording:
    """Run `model` once on a seeded random input in eval mode; restore every training flag."""
    x = example_input(model, input_size)
    training_flags = [(module, module.training) for module in model.modules()]
    recording = Recording(model, input_size)
    model.eval()
    try:
        recording.run(x)
    finally:  # per module, so a model with some submodules frozen in eval stays that way
        for module, flag in training_flags:
            module.training = flag
    return recording
