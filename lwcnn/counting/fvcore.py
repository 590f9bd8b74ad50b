"""How fvcore counts: `fvcore.nn.FlopCountAnalysis(model, x).total()` (fvcore 0.1.5.post20221221).

fvcore traces the model with torch.jit and counts the aten ops of the trace that it has a handle
for (flop_count._DEFAULT_SUPPORTED_OPS). It calls the result "flops", but counts one per
fused multiply-add: MACs. Because it reads the trace, it sees functional ops that module-hook
tools miss, yet it has no handle for activations, element-wise ops or most pooling, so they
cost 0. It counts normalisation (1 per BatchNorm element, 2 with the affine scale and shift):

>>> import torchvision
>>> from lwcnn.counting import count_model
>>> report = count_model(torchvision.models.mobilenet_v3_large(), convention="fvcore")
>>> report.macs, report.by_category()["norm"] > 0
(226033824, True)

We apply fvcore's handles to the torch functions the recorder saw (each traces to one aten op),
and to the aten ops of Python functions the trace unfolds. Parameters: every parameter
(fvcore.nn.parameter_count).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from lwcnn.counting.recording import FunctionCall, Recording
from lwcnn.counting.rules import FUNCTION_CATEGORIES, Counts, all_params, numel

aten = torch.ops.aten

_CONV_NAMES = frozenset(FUNCTION_CATEGORIES["conv"].split())
_MATMUL_NAMES = frozenset({"matmul", "mm"})


def _fvcore_einsum(call: FunctionCall) -> int:
    """fvcore einsum_flop_jit: two batched-matmul equations by formula, others numpy's estimate / 2."""
    equation = call.arg(0, "equation").replace(" ", "")
    operands = call.args[1:]
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    shapes = [operand.shape for operand in operands]
    letters = dict.fromkeys(letter for letter in equation if letter.isalpha())
    equation = equation.translate({ord(letter): 97 + i for i, letter in enumerate(letters)})
    if equation == "abc,abd->acd":
        return numel(shapes[0]) * shapes[-1][-1]
    if equation == "abc,adc->adb":
        return numel(shapes[0]) * shapes[-1][1]
    report = np.einsum_path(equation, *[np.zeros(shape) for shape in shapes], optimize="optimal")[1]
    flop_line = next(line for line in report.split("\n") if "optimized flop" in line.lower())
    return int(float(flop_line.split(":")[-1]) / 2)


def _fvcore_interpolate(call: FunctionCall) -> int:
    """F.interpolate traces to one aten op; fvcore counts three of them (for 4-D inputs).

    upsample_nearest2d 1 and upsample_bilinear2d 4 per output element; mode "area" runs
    adaptive_avg_pool2d, 1 per input element.
    """
    x = call.shape(0, "input")
    mode = call.arg(3, "mode", "nearest")
    if len(x) != 4:
        return 0
    if mode == "nearest":
        return numel(call.output_shape)
    if mode == "bilinear" and not call.arg(6, "antialias", False):
        return 4 * numel(call.output_shape)
    if mode == "area":
        return numel(x)
    return 0


def _fvcore_rule(call: FunctionCall) -> tuple[str, int] | None:
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
        return "conv", x[0] * numel(w) * numel(spatial)
    if name == "linear":
        return "linear", numel(call.shape(0, "input")) * call.shape(1, "weight")[0]
    if name in _MATMUL_NAMES or name == "bmm":
        return "linear", numel(call.args[0].shape) * call.args[1].shape[-1]
    if name == "addmm":
        return "linear", numel(call.args[1].shape) * call.args[2].shape[-1]
    if name == "einsum":
        return "linear", _fvcore_einsum(call)
    if name == "batch_norm":
        functional = call.func is F.batch_norm  # F.batch_norm puts running stats before weight
        has_weight = call.arg(3 if functional else 1, "weight") is not None
        per_element = (5 if has_weight else 4) if call.arg(5, "training", False) else (2 if has_weight else 1)
        return "norm", per_element * numel(call.shape(0, "input"))
    if name in ("group_norm", "layer_norm", "instance_norm"):
        if name == "instance_norm":  # F.instance_norm puts the running stats before weight
            weight_index = 3 if call.func is F.instance_norm else 1
        else:  # (input, normalized_shape or num_groups, weight, ...)
            weight_index = 2
        has_weight = call.arg(weight_index, "weight") is not None
        return "norm", (5 if has_weight else 4) * numel(call.shape(0, "input"))
    if name == "adaptive_avg_pool2d":
        return "pooling", numel(call.shape(0, "input"))
    if name == "interpolate":
        return "other", _fvcore_interpolate(call)
    if name == "upsample_nearest2d":
        return "other", numel(call.output_shape)
    if name == "upsample_bilinear2d":
        return "other", 4 * numel(call.output_shape)
    if name in ("grid_sample", "grid_sampler"):
        return "other", 4 * numel(call.output_shape)
    return None


# The JIT trace records the aten ops a Python function (say F.multi_head_attention_forward)
# calls, not the function; we see those inner ops only at the aten level, where fvcore's linear,
# matmul, bmm and conv handles give the same count as FlopCounterMode's formulas (halved).
# torch's tracer also unfolds the recurrent cells (gen_trace_type.DONT_RECORD_TRACE).
_TRACED_AS_INNER_OPS = frozenset({"lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell"})
_FVCORE_INNER_OPS = {aten.mm: "linear", aten.addmm: "linear", aten.bmm: "linear", aten.convolution: "conv"}


def fvcore_counts(recording: Recording) -> tuple[Counts, int]:
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
    return counts, all_params(recording.model)  # fvcore.nn.parameter_count: every parameter
