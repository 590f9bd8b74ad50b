"""What every convention's rules share: the kinds of operation, and how a rule's counts add up.

A convention (thop.py, fvcore.py, ptflops.py, flop_counter.py) reads one `Recording` and returns
`Counts`, a list of (module_name, category, MACs), with the parameter count its tool reports.
A module rule gives the MACs of one module call and sits next to its category in a rule table
(`rule_table`); a function rule gives (category, MACs) for one torch function call, or None.

The categories are lwcnn's, not the tools': they let a report say *which kind* of operation two
conventions disagree on (thop counts BatchNorm, the paper convention does not).

>>> FUNCTION_CATEGORY["hardswish"], numel((2, 3, 4))
('activation', 24)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:  # the recording imports the FlopCounterMode formulas, which import this file
    from lwcnn.counting.recording import ModuleCall, Recording

CATEGORIES = ("conv", "linear", "norm", "activation", "pooling", "elementwise", "other")

Shape = tuple[int, ...]
Counts = list[tuple[str, str, int | float]]
ModuleRule = tuple[str, Callable[["ModuleCall"], int]]  # (category, MACs of one call)


def numel(shape: Iterable[int]) -> int:
    """Elements of a tensor of this shape."""
    return math.prod(shape)


# --- what kind of operation a function is ------------------------------------------------------
# By the function's name, in-place and dunder underscores stripped (`x.add_`, `a + b` -> "add").

FUNCTION_CATEGORIES = {
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
FUNCTION_CATEGORY = {
    name: category for category, names in FUNCTION_CATEGORIES.items() for name in names.split()
}


# --- parameters, as the tools count them -------------------------------------------------------


def all_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Parameters of `model` and all its submodules (only those with requires_grad if asked)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def own_params(module: nn.Module, trainable_only: bool = False) -> int:
    """Parameters held by `module` itself, not by its children."""
    return sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad or not trainable_only)


# --- module rule tables (thop and ptflops hook modules by exact type) --------------------------


def rule_table(category: str, rule: Callable, *types: type) -> dict[type, ModuleRule]:
    """{module type: (category, rule)} for each of `types`; rule tables are unions of these."""
    return {module_type: (category, rule) for module_type in types}


def zero(call: ModuleCall) -> int:
    """The rule of a module a tool hooks but counts nothing for (thop's zero_ops)."""
    return 0


def module_totals(
    recording: Recording, rule_for: Callable[[type], ModuleRule | None]
) -> dict[int, tuple[str, int | float]]:
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
