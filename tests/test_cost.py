"""lwcnn.cost against torch's own layers, FlopCounterMode, torchvision's helpers and autograd."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from oracles import counted_macs, counted_params
from reference import outcome
from torch import nn
from torchvision.models._utils import _make_divisible
from torchvision.ops import SqueezeExcitation

from lwcnn import cost

small = st.integers(1, 12)
fast = settings(max_examples=150, deadline=None)


@st.composite
def conv_shapes(draw):
    groups = draw(st.integers(1, 4))
    in_channels = groups * draw(st.integers(1, 4))
    out_channels = groups * draw(st.integers(1, 4))
    kernel = draw(st.integers(1, 5))
    dilation = draw(st.integers(1, 3))
    padding = draw(st.integers(0, 3))
    stride = draw(st.integers(1, 3))
    span = dilation * (kernel - 1) + 1
    height = draw(st.integers(max(1, span - 2 * padding), 14))
    width = draw(st.integers(max(1, span - 2 * padding), 14))
    return dict(
        in_channels=in_channels,
        out_channels=out_channels,
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        size=(height, width),
        bias=draw(st.booleans()),
    )


@fast
@given(conv_shapes())
def test_conv2d_formulas_match_torch(shape):
    conv = nn.Conv2d(
        shape["in_channels"],
        shape["out_channels"],
        shape["kernel"],
        stride=shape["stride"],
        padding=shape["padding"],
        dilation=shape["dilation"],
        groups=shape["groups"],
        bias=shape["bias"],
    )
    macs, out = counted_macs(conv, torch.zeros(1, shape["in_channels"], *shape["size"]))
    out_size = cost.conv2d_output_size(
        shape["size"], shape["kernel"], shape["stride"], shape["padding"], shape["dilation"]
    )
    assert out_size == tuple(out.shape[2:])
    assert cost.conv2d_params(
        shape["in_channels"], shape["out_channels"], shape["kernel"], shape["groups"], shape["bias"]
    ) == counted_params(conv)
    assert (
        cost.conv2d_macs(
            shape["in_channels"], shape["out_channels"], shape["kernel"], out_size, shape["groups"]
        )
        == macs
    )


@fast
@given(
    side=st.integers(8, 20),
    sides=st.lists(st.tuples(st.integers(1, 3), st.integers(1, 3)), min_size=4, max_size=4),
)
def test_a_square_input_gives_an_int_only_when_the_output_is_square(side, sides):
    """An int input is a square map; a kernel, stride, padding or dilation with two different
    sides makes it oblong, and the size comes back as the pair torch gives."""
    kernel, stride, padding, dilation = sides
    conv = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
    expected = tuple(conv(torch.zeros(1, 1, side, side)).shape[2:])
    out = cost.conv2d_output_size(side, kernel, stride, padding, dilation)
    assert out == (expected[0] if expected[0] == expected[1] else expected)


@fast
@given(
    size=st.integers(1, 40), kernel=st.sampled_from([1, 3, 5, 7]), stride=st.integers(1, 3), dilation=small
)
def test_same_padding_gives_ceil_of_size_over_stride(size, kernel, stride, dilation):
    out = cost.conv2d_output_size(size, kernel, stride, "same", dilation)
    assert out == math.ceil(size / stride)
    assert isinstance(out, int)
    assert cost.same_out(size, stride) == out  # the shortcut the block specs take


def test_same_out_is_conv_out_with_same_padding_everywhere():
    for size in range(1, 65):
        for stride in range(1, 5):
            for kernel in (1, 3, 5, 7, 9):
                for dilation in range(1, 5):
                    padding = cost._same_padding(kernel, dilation)
                    expected = cost._conv_out(size, kernel, stride, padding, dilation)
                    assert cost.same_out(size, stride) == expected, (size, stride, kernel, dilation)


@fast
@given(m=st.integers(1, 16), n=st.integers(1, 16), k=st.sampled_from([1, 3, 5]), df=st.integers(1, 9))
def test_depthwise_pointwise_separable_match_counted_modules(m, n, k, df):
    depthwise = nn.Conv2d(m, m, k, padding=k // 2, groups=m, bias=False)
    pointwise = nn.Conv2d(m, n, 1, bias=False)
    x = torch.zeros(1, m, df, df)
    dw_macs, _ = counted_macs(depthwise, x)
    pw_macs, _ = counted_macs(pointwise, x)
    assert cost.depthwise_conv_params(m, k) == counted_params(depthwise)
    assert cost.depthwise_conv_macs(m, k, df) == dw_macs
    assert cost.pointwise_conv_params(m, n) == counted_params(pointwise)
    assert cost.pointwise_conv_macs(m, n, df) == pw_macs
    assert cost.depthwise_separable_params(m, n, k) == counted_params(depthwise) + counted_params(pointwise)
    assert cost.depthwise_separable_macs(m, n, k, df) == dw_macs + pw_macs
    standard_macs, _ = counted_macs(nn.Conv2d(m, n, k, padding=k // 2, bias=False), x)
    # MobileNetV1 eq. 5, checked exactly against the counted ratio.
    assert cost.separable_to_standard_ratio(n, k) == Fraction(dw_macs + pw_macs, standard_macs)


def test_separable_ratio_headline_is_8_to_9x_for_3x3():
    for n in (64, 128, 256, 512, 1024):
        saving = 1 / cost.separable_to_standard_ratio(n, 3)
        assert 7.8 < saving < 9  # 7.9x at N = 64, 8.9x at N = 1024


@fast
@given(m=st.integers(1, 200), n=st.integers(1, 200), size=st.integers(1, 30))
def test_5x5_vs_two_3x3_formula_and_crossover(m, n, size):
    one_5x5, two_3x3 = cost.kernel5_vs_two_kernel3_macs(m, n, size)
    hw = size * size
    assert one_5x5 == hw * m * (25 + n)
    assert two_3x3 == hw * m * (9 + n) + hw * n * (9 + n)
    # With M = N the single 5x5 is cheaper exactly when N > 7 (MnasNet).
    one, two = cost.kernel5_vs_two_kernel3_macs(n, n, size)
    assert (one < two) == (n > 7)


@fast
@given(
    in_features=st.integers(1, 64),
    out_features=st.integers(1, 64),
    rows=st.integers(1, 5),
    bias=st.booleans(),
)
def test_linear_matches_torch(in_features, out_features, rows, bias):
    layer = nn.Linear(in_features, out_features, bias=bias)
    macs, _ = counted_macs(layer, torch.zeros(rows, in_features))
    assert cost.linear_params(in_features, out_features, bias) == counted_params(layer)
    assert cost.linear_macs(in_features, out_features, rows) == macs


@given(channels=st.integers(1, 512), affine=st.booleans())
def test_batchnorm_params_match_torch(channels, affine):
    assert cost.batchnorm_params(channels, affine) == counted_params(nn.BatchNorm2d(channels, affine=affine))


@given(value=st.floats(0.5, 5000), divisor=st.sampled_from([1, 2, 4, 8, 16]))
def test_make_divisible_matches_torchvision(value, divisor):
    assert cost.make_divisible(value, divisor) == _make_divisible(value, divisor)


@given(expanded=st.integers(4, 2000))
def test_se_channels_match_mobilenet_v3_rule(expanded):
    # torchvision's MobileNetV3: _make_divisible(expanded // 4, 8)
    assert cost.se_channels(expanded, 0.25) == _make_divisible(expanded // 4, 8)


@given(channels=st.integers(1, 4096), hundredths=st.integers(1, 100))
@example(channels=360, hundredths=35).via("lesson 06's widget grid")
@example(channels=100, hundredths=29).via("a ratio typed with two digits")
def test_se_channels_floor_the_ratio_as_written(channels, hundredths):
    """`floor(C r)` of the ratio a reader writes, r = 0.35 and not the float just below it:
    360 * 0.35 is 125.99999999999999 in floats, and the squeeze is 126."""
    ratio = hundredths / 100
    assert cost.se_channels(channels, ratio, divisor=None) == max(1, channels * hundredths // 100)


@given(channels=st.integers(1, 256), squeeze=st.integers(1, 64))
def test_se_params_and_macs_match_torchvision_block(channels, squeeze):
    block = SqueezeExcitation(channels, squeeze)
    macs, _ = counted_macs(block, torch.zeros(1, channels, 3, 3))
    assert cost.se_params(channels, squeeze) == counted_params(block)
    assert cost.se_macs(channels, squeeze) == macs
    assert cost.se_params(channels, squeeze, bias=False) == 2 * channels * squeeze


def test_mobilenet_v3_se_headline():
    # 2*C*C*r with r = 0.25, plus biases, for V3-Large's C = 72 stage.
    assert cost.se_params(72, cost.se_channels(72)) == 2 * 72 * 24 + 24 + 72


@given(
    channels=small,
    height=small,
    width=small,
    batch=st.integers(1, 4),
    dtype=st.sampled_from(["float32", "float16", "bfloat16", "float64", "int8", "uint8"]),
)
def test_feature_map_bytes_match_tensor_storage(channels, height, width, batch, dtype):
    tensor = torch.zeros(batch, channels, height, width, dtype=getattr(torch, dtype))
    expected = tensor.numel() * tensor.element_size()
    assert cost.feature_map_bytes(channels, (height, width), batch, dtype) == expected
    assert cost.feature_map_bytes(channels, (height, width), batch, str(tensor.dtype)) == expected


def test_model_size_bytes():
    assert cost.model_size_bytes(4_200_000) == 16_800_000
    assert cost.model_size_bytes(4_200_000, "int8") == 4_200_000
    model = nn.Conv2d(3, 8, 3)
    stored = sum(p.numel() * p.element_size() for p in model.parameters())
    assert cost.model_size_bytes(counted_params(model)) == stored


@settings(max_examples=200, deadline=None)
@given(
    h=st.integers(1, 64),
    w=st.integers(1, 64),
    c1=st.integers(1, 256),
    c2=st.integers(1, 256),
)
def test_memory_access_cost_and_its_bound(h, w, c1, c2):
    mac = cost.pointwise_memory_access_cost(h, w, c1, c2)
    # input map + output map + weights, counted element by element
    assert mac == h * w * c1 + h * w * c2 + c1 * c2
    macs = h * w * c1 * c2
    assert mac >= cost.memory_access_lower_bound(h, w, macs) * (1 - 1e-12)
    # G1: at the same FLOPs, equal widths reach the bound
    balanced = cost.pointwise_memory_access_cost(h, w, c1, c1)
    assert balanced == pytest.approx(cost.memory_access_lower_bound(h, w, h * w * c1 * c1))


@given(h=st.integers(1, 32), c=st.sampled_from([8, 16, 32, 64]), g=st.sampled_from([1, 2, 4, 8]))
def test_grouped_memory_access_cost_grows_with_groups_at_fixed_flops(h, c, g):
    # G2: keep FLOPs fixed by widening both sides by sqrt(g)... simplest fixed-FLOPs form:
    # c1 = c, c2 = c*g at g groups has the same FLOPs h*w*c*c as the plain conv.
    plain = cost.pointwise_memory_access_cost(h, h, c, c)
    grouped = cost.pointwise_memory_access_cost(h, h, c, c * g, groups=g)
    assert h * h * c * (c * g) // g == h * h * c * c
    assert grouped >= plain
    assert (grouped > plain) == (g > 1)


def _empirical_receptive_field(layers: list[tuple[int, int, int]]) -> int:
    """Width of the input region that the centre output of a conv stack depends on (autograd)."""
    size = 9  # output size; walk back to the input size that gives exactly it
    for k, s, d in reversed(layers):
        size = (size - 1) * s + d * (k - 1) + 1
    convs = [nn.Conv2d(1, 1, k, stride=s, dilation=d, bias=False) for k, s, d in layers]
    for conv in convs:
        nn.init.constant_(conv.weight, 1.0)
    x = torch.ones(1, 1, size, size, requires_grad=True)
    out = nn.Sequential(*convs)(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    columns = (x.grad[0, 0].abs().sum(0) > 0).nonzero()
    return int(columns.max() - columns.min() + 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 2), st.integers(1, 2)), min_size=1, max_size=4))
def test_receptive_field_matches_autograd(layers):
    assert cost.receptive_field(layers) == _empirical_receptive_field(layers)


def test_receptive_field_of_5x5_equals_two_3x3():
    assert cost.receptive_field([5]) == cost.receptive_field([3, 3]) == 5


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: cost.conv2d_params(0, 8, 3), "in_channels"),
        (lambda: cost.conv2d_params(8, -1, 3), "out_channels"),
        (lambda: cost.conv2d_params(6, 8, 3, groups=4), "groups"),
        (lambda: cost.conv2d_params(8, 8, 0), "kernel_size"),
        (lambda: cost.conv2d_output_size(0, 3), "input_size"),
        (lambda: cost.conv2d_output_size(8, 4, padding="same"), "kernel_size"),
        (lambda: cost.conv2d_output_size(8, 3, padding="full"), "padding"),
        (lambda: cost.conv2d_output_size(2, 5), "input_size"),
        (lambda: cost.conv2d_output_size(8, 3, stride=0), "stride"),
        (lambda: cost.conv2d_output_size((8, 8, 8), 3), "input_size"),
        (lambda: cost.conv2d_macs(8, 8, 3, 0), "output_size"),
        (lambda: cost.linear_macs(8, 8, rows=0), "rows"),
        (lambda: cost.se_channels(64, ratio=1.5), "ratio"),
        (lambda: cost.make_divisible(-3), "value"),
        (lambda: cost.feature_map_bytes(8, 8, dtype="float8"), "dtype"),
        (lambda: cost.pointwise_memory_access_cost(8, 8, 6, 8, groups=4), "groups"),
        (lambda: cost.receptive_field([]), "layers"),
        (lambda: cost.receptive_field([(3, 0)]), "stride"),
        (lambda: cost.separable_to_standard_ratio(0, 3), "out_channels"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: cost.conv2d_params(8, 8, 3, bias="no"), "bias"),
        (lambda: cost.linear_params(8, 8, bias=0), "bias"),
        (lambda: cost.batchnorm_params(8, affine="no"), "affine"),
        (lambda: cost.make_divisible("3"), "value"),
        (lambda: cost.make_divisible(30, round_limit="a"), "round_limit"),
        (lambda: cost.se_channels(72, "0.25"), "ratio"),
        (lambda: cost.receptive_field(3), "layers must be a sequence"),
        (lambda: cost.stacked_separable_macs(8, 3, 4), "kernel_sizes must be a sequence"),
    ],
)
def test_arguments_of_the_wrong_type_raise_type_error_naming_them(call, argument):
    with pytest.raises(TypeError, match=argument):
        call()


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0, 0])
def test_make_divisible_refuses_what_is_not_a_positive_finite_number(value):
    with pytest.raises(ValueError, match="value must be a positive finite number"):
        cost.make_divisible(value)


@pytest.mark.parametrize("bad", [2.0, "3", True, None])
def test_non_integers_raise_type_error(bad):
    with pytest.raises(TypeError, match="in_channels"):
        cost.conv2d_params(bad, 8, 3)


def test_cost_module_is_plain_python():
    # The formulas must answer a slider instantly and read like the papers: no torch in them.
    import ast
    from pathlib import Path

    from lwcnn import checks

    for module in (cost, checks):  # the formulas, and the argument checks they use
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        imported |= {
            node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
        }
        stdlib = {"__future__", "math", "numbers", "fractions", "collections", "collections.abc", "typing"}
        assert imported <= stdlib | {"lwcnn.checks"}, (module.__name__, imported)


@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    kernel_size=st.integers(1, 7),
    stride=st.integers(1, 4),
    padding=st.integers(0, 3),
)
def test_window_out_is_conv2d_output_size_with_its_error(height, width, kernel_size, stride, padding):
    """The layers' fast path gives torch's pooled size, or the checked function's error."""
    fast = outcome(lambda: cost.window_out(height, width, kernel_size, stride, padding))
    checked = outcome(lambda: cost.conv2d_output_size((height, width), kernel_size, stride, padding))
    assert fast == checked
    if 2 * padding <= kernel_size and min(height, width) + 2 * padding >= kernel_size:
        pooled = nn.MaxPool2d(kernel_size, stride, padding)(torch.zeros(1, 1, height, width))
        assert fast == tuple(pooled.shape[2:])
