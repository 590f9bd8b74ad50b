"""How ptflops counts: `ptflops.get_model_complexity_info(..., backend="pytorch")` (ptflops 0.7.4).

ptflops counts MACs two ways at once. It hooks modules (pytorch_ops.MODULES_MAPPING, by exact
type) and sums them with accumulate_flops, and while it runs it replaces some functions of
`torch`, `torch.Tensor` and `torch.nn.functional` with counting wrappers (count_functional=True,
the default). So it counts activations, pooling and BatchNorm (1 per element, 2 when affine),
the functional `F.relu(x)` and `x.mul(s)`, but not `x * s`, a residual `a + b` or `F.hardswish`:

>>> import torchvision
>>> from lwcnn.counting import count_model
>>> report = count_model(torchvision.models.mobilenet_v2(), convention="ptflops")
>>> report.by_category()["activation"] > 0, report.by_category()["elementwise"]
(True, 0)

Module MACs are divided by the batch size, functional ones are not. Parameters: the trainable
ones. Every formula below is written from ptflops's pytorch_ops.py and pytorch_engine.py; the
tests (tests/test_counting.py) check the totals against ptflops itself.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lwcnn.counting.recording import FunctionCall, ModuleCall, Recording, TensorArg
from lwcnn.counting.rules import Counts, ModuleRule, all_params, module_totals, numel, rule_table


def _ptflops_conv(call: ModuleCall, extra_per_position: int = 0) -> int:
    """ptflops conv_flops_counter_hook: `N*prod(out spatial) * (prod(k)*C_in*C_out/groups + C_out*bias)`.

    Transposed convolutions use the same formula with the output's spatial size.
    """
    m = call.module
    positions = call.x[0] * numel(call.output_shape[2:])
    per_position = numel(m.kernel_size) * (m.in_channels * (m.out_channels // m.groups) + extra_per_position)
    return per_position * positions + (m.out_channels * positions if m.bias is not None else 0)


def _ptflops_deform_conv(call: ModuleCall) -> int:
    """ptflops deformable_conv_flops_counter_hook: conv + 24 per position (+1 with a mask)."""
    has_mask = len(call.input_shapes) == 3 and call.input_shapes[2] is not None
    return _ptflops_conv(call, extra_per_position=24 + int(has_mask))


def _ptflops_norm(call: ModuleCall) -> int:
    """ptflops bn_flops_counter_hook: 1 per input element, 2 if the module has `affine=True`.

    LayerNorm has `elementwise_affine`, not `affine`, so it always counts 1.
    """
    return numel(call.x) * (2 if getattr(call.module, "affine", False) else 1)


def _ptflops_linear(call: ModuleCall) -> int:
    """ptflops linear_flops_counter_hook: `(in * out + out*bias) * prod(x.shape[:-1])`."""
    out_features = call.output_shape[-1]
    bias = out_features if call.module.bias is not None else 0
    return (call.x[-1] * out_features + bias) * numel(call.x[:-1])


def _ptflops_rnn_layer_ops(module: nn.Module, suffix: str) -> int:
    """ptflops rnn_flops: both weight matrices, the gates' extra work, and the biases."""
    w_ih, w_hh = getattr(module, "weight_ih" + suffix), getattr(module, "weight_hh" + suffix)
    ops = w_ih.shape[0] * w_ih.shape[1] + w_hh.shape[0] * w_hh.shape[1]
    h = module.hidden_size
    ops += {"RNN": h, "GRU": 7 * h, "LSTM": 10 * h}[type(module).__name__.removesuffix("Cell")]
    if module.bias:
        ops += getattr(module, "bias_ih" + suffix).shape[0] + getattr(module, "bias_hh" + suffix).shape[0]
    return ops


def _ptflops_rnn(call: ModuleCall) -> int:
    """ptflops rnn_flops_counter_hook: layers' ops x x.shape[0] x x.shape[1] (x2 bidirectional).

    It reads batch and sequence length as dims 0 and 1 whatever `batch_first` says.
    """
    m = call.module
    ops = sum(_ptflops_rnn_layer_ops(m, f"_l{layer}") for layer in range(m.num_layers))
    return ops * call.x[0] * call.x[1] * (2 if m.bidirectional else 1)


def _ptflops_rnn_cell(call: ModuleCall) -> int:
    """ptflops rnn_cell_flops_counter_hook: one step x batch."""
    return _ptflops_rnn_layer_ops(call.module, "") * call.x[0]


def _ptflops_multihead_attention(call: ModuleCall) -> int:
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


def _ptflops_timm_attention(call: ModuleCall) -> int:
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
_PTFLOPS_MODULE_RULES: dict[type, ModuleRule] = {
    **rule_table("conv", _ptflops_conv, nn.Conv1d, nn.Conv2d, nn.Conv3d),
    **rule_table("conv", _ptflops_conv, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d),
    # relu_flops_counter_hook: 1 per output element
    **rule_table("activation", lambda call: numel(call.output_shape), *_PTFLOPS_ACTIVATIONS),
    # pool_flops_counter_hook: 1 per input element
    **rule_table("pooling", lambda call: numel(call.x), *_PTFLOPS_POOLS, *_PTFLOPS_ADAPTIVE_POOLS),
    **rule_table("norm", _ptflops_norm, *_PTFLOPS_NORMS),
    **rule_table("linear", _ptflops_linear, nn.Linear),
    # upsample_flops_counter_hook reads output[0], the first sample: numel / batch
    **rule_table("other", lambda call: numel(call.output_shape[1:]), nn.Upsample),
    **rule_table("other", _ptflops_rnn, nn.RNN, nn.GRU, nn.LSTM),
    **rule_table("other", _ptflops_rnn_cell, nn.RNNCell, nn.LSTMCell, nn.GRUCell),
    **rule_table("other", _ptflops_multihead_attention, nn.MultiheadAttention),
}
# Registered by ptflops only when importable; matched by name so lwcnn needs neither import.
_PTFLOPS_RULES_BY_NAME = {
    ("torchvision.ops.deform_conv", "DeformConv2d"): ("conv", _ptflops_deform_conv),
    ("timm.models.vision_transformer", "Attention"): ("other", _ptflops_timm_attention),
}


def _ptflops_module_rule(module_type: type) -> ModuleRule | None:
    """MODULES_MAPPING by exact type, then the optional entries matched by name."""
    rule = _PTFLOPS_MODULE_RULES.get(module_type)
    return rule or _PTFLOPS_RULES_BY_NAME.get((module_type.__module__, module_type.__name__))


def _ptflops_interpolate(call: FunctionCall) -> int | float:
    """ptflops _interpolate_functional_flops_hook: `prod(size) * N * C` or `numel(x) * scale^dims`."""
    x = call.shape(0, "input")
    size = call.arg(1, "size")
    if size is not None:
        spatial = numel(size) if isinstance(size, (tuple, list)) else int(size) ** (len(x) - 2)
        return spatial * x[0] * x[1]
    scale = call.arg(2, "scale_factor")
    if isinstance(scale, tuple) and len(scale) == len(x) - 2:
        return numel(x) * int(np.prod(scale, dtype=np.int64))
    return numel(x) * scale ** (len(x) - 2)


def _ptflops_elementwise(call: FunctionCall) -> int:
    """ptflops _elementwise_tensor_flops_hook: elements of the broadcast shape.

    It aligns the two shapes from the *left* (not from the right as broadcasting does), and
    counts the tensor's elements when the other operand is a number.
    """
    a, b = call.arg(0, "input"), call.arg(1, "other")
    a_shape = a.shape if isinstance(a, TensorArg) else None
    b_shape = b.shape if isinstance(b, TensorArg) else None
    if a_shape is None or b_shape is None:
        return numel(a_shape or b_shape or ())
    rank = max(len(a_shape), len(b_shape))
    padded_a, padded_b = a_shape + (1,) * (rank - len(a_shape)), b_shape + (1,) * (rank - len(b_shape))
    return numel(max(size_a, size_b) for size_a, size_b in zip(padded_a, padded_b, strict=False))


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


def _ptflops_function_rule(call: FunctionCall) -> tuple[str, int | float] | None:
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
        return _PTFLOPS_NUMEL_FUNCTIONS[func], numel(call.shape(0, "input"))
    if func is F.interpolate:
        ops = _ptflops_interpolate(call)
        if call.arg(3, "mode", "nearest") == "area":  # interpolate calls the patched adaptive_avg_pool
            ops += numel(call.shape(0, "input"))
        return "other", ops * (2 if call.called_from_upsample else 1)  # F.upsample is patched too
    if func in _PTFLOPS_MATMULS:
        return "linear", numel(call.arg(0, "input").shape) * call.arg(1, "other").shape[-1]
    if func in _PTFLOPS_ADDMMS:
        added = numel(call.arg(0, "input").shape) if call.kwargs.get("beta", 1) != 0 else 0
        return "linear", numel(call.arg(1, "mat1").shape) * call.arg(2, "mat2").shape[-1] + added
    if func in _PTFLOPS_ELEMENTWISE:
        return "elementwise", _ptflops_elementwise(call)
    return None


def ptflops_counts(recording: Recording) -> tuple[Counts, int]:
    """ptflops get_flops_pytorch: module hooks (summed by accumulate_flops) + patched functions.

    accumulate_flops takes a module with a rule whole and walks into the others' children.
    Module MACs are divided by the batch size (compute_average_flops_cost), functional ones are
    not. Parameters: the trainable ones (get_model_parameters_number).
    """
    totals = module_totals(recording, _ptflops_module_rule)
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
    return counts, all_params(recording.model, trainable_only=True)


def _plain_number(value: Any) -> int | float:
    """An int when the value is whole (numpy ints, 8.0, Fraction(6, 2)), else a float."""
    value = value.item() if isinstance(value, np.generic) else value
    return int(value) if value == int(value) else float(value)
