"""Every block: analytical params == torch's parameter count, analytical MACs == FlopCounterMode / 2,
analytical output shape == the module's output shape, over a few hundred random specs each; and the
`cost` (each spec's own `_cost`) == the cost composed from its `layers()` made as specs."""

from __future__ import annotations

import inspect
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import counted_macs, counted_params
from reference import outcome, reference_cost
from torch import nn

from lwcnn import blocks as B
from lwcnn import models as M

many = settings(max_examples=200, deadline=None)
channels = st.integers(1, 12)
sizes = st.integers(1, 12)
odd_kernels = st.sampled_from([1, 3, 5, 7])
activations = st.sampled_from(B.ACTIVATIONS + (None,))


def counted_macs_per_image(module, x):
    macs, out = counted_macs(module, x)
    assert macs % x.shape[0] == 0
    return macs // x.shape[0], out


def _per_image(spec, size):
    """Build `spec`, run a batch of 2 under FlopCounterMode, compare with `spec.cost(size)` per image."""
    height, width = (size, size) if isinstance(size, int) else size
    torch.manual_seed(0)
    module = spec.build()
    macs, out = counted_macs_per_image(module, torch.randn(2, spec.in_channels, height, width))
    predicted = spec.cost(size)
    assert predicted.params == counted_params(module), spec
    assert predicted.macs == macs, spec
    assert (predicted.out_channels, *predicted.out_size) == tuple(out.shape[1:]), spec
    assert torch.isfinite(out).all()
    return module, out


@many
@given(
    data=st.data(),
    groups=st.integers(1, 4),
    k=odd_kernels,
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    act=activations,
    norm=st.booleans(),
    bias=st.booleans(),
    size=sizes,
)
def test_conv_bn_act(data, groups, k, stride, dilation, act, norm, bias, size):
    m = groups * data.draw(st.integers(1, 4))
    n = groups * data.draw(st.integers(1, 4))
    spec = B.ConvBNAct(m, n, k, stride, groups, dilation, act, norm, bias)
    _per_image(spec, (size, size + 1))


@many
@given(
    m=channels, n=channels, k=odd_kernels, stride=st.integers(1, 2), order=st.sampled_from(B.SEPARABLE_ORDERS)
)
def test_depthwise_separable(m, n, k, stride, order):
    _per_image(B.DepthwiseSeparable(m, n, k, stride, order=order), 7)


def test_mobilenet_vs_xception_order_on_v1_first_separable_layer():
    mobile = B.DepthwiseSeparable(32, 64, order="mobilenet").cost(112)
    xception = B.DepthwiseSeparable(32, 64, order="xception").cost(112)
    # weights: dw 3*3*32 + pw 32*64 vs pw 32*64 + dw 3*3*64, plus BN (2 per channel)
    assert mobile.params == 288 + 2 * 32 + 2048 + 2 * 64
    assert xception.params == 2048 + 2 * 64 + 576 + 2 * 64
    assert mobile.macs == 112 * 112 * (288 + 2048)
    assert xception.macs == 112 * 112 * (2048 + 576)


@many
@given(c=st.integers(1, 64), s=st.integers(1, 16), gate=st.sampled_from(B.GATES), size=sizes)
def test_squeeze_excite(c, s, gate, size):
    module, out = _per_image(B.SqueezeExcite(c, s, gate=gate), size)
    assert out.shape[1] == c


def test_squeeze_excite_from_ratio_rounds_like_mobilenet_v3():
    assert B.SqueezeExcite.from_ratio(72).squeeze_channels == 24
    assert B.SqueezeExcite.from_ratio(96, divisor=None).squeeze_channels == 24


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=64))
def test_hard_activations_match_torch(values):
    x = torch.tensor(values)
    torch.testing.assert_close(B.HSigmoid()(x), nn.Hardsigmoid()(x))
    torch.testing.assert_close(B.HSwish()(x), nn.Hardswish()(x))


@many
@given(
    m=channels,
    n=channels,
    expand=st.integers(1, 4),
    k=st.sampled_from([3, 5, 7]),
    stride=st.integers(1, 2),
    se=st.integers(0, 6),
    act=st.sampled_from(["relu", "relu6", "hswish", "silu"]),
    size=sizes,
)
def test_inverted_residual(m, n, expand, k, stride, se, act, size):
    spec = B.InvertedResidual(m, n, m * expand, k, stride, se, activation=act)
    module, _ = _per_image(spec, size)
    assert module.use_residual == (stride == 1 and m == n)


@many
@given(
    m=channels,
    n=channels,
    expand=st.integers(1, 4),
    stride=st.integers(1, 2),
    se=st.integers(0, 4),
    force_expand=st.sampled_from([None, True]),
    force_residual=st.sampled_from([None, False]),
    size=sizes,
)
def test_inverted_residual_with_explicit_expansion_and_shortcut(
    m, n, expand, stride, se, force_expand, force_residual, size
):
    """What pruned networks use: the expansion and the shortcut fixed whatever the widths."""
    spec = B.InvertedResidual(m, n, m * expand, 3, stride, se, expand=force_expand, residual=force_residual)
    module, _ = _per_image(spec, size)
    has_expansion = force_expand or expand > 1
    assert spec.has_expansion == has_expansion
    assert len(spec.layers()) == 2 + has_expansion + (se > 0)
    assert module.use_residual == (force_residual is None and stride == 1 and m == n)


def test_inverted_residual_refuses_an_impossible_expansion_or_shortcut():
    with pytest.raises(ValueError, match="expand=False needs expanded_channels == in_channels"):
        B.InvertedResidual(8, 8, 32, expand=False)
    with pytest.raises(ValueError, match="residual=True needs stride 1"):
        B.InvertedResidual(8, 8, 32, stride=2, residual=True)
    with pytest.raises(ValueError, match="residual=True needs stride 1 and in_channels == out_channels"):
        B.InvertedResidual(8, 16, 32, residual=True)
    with pytest.raises(TypeError, match="expand must be None, True or False"):
        B.InvertedResidual(8, 8, 32, expand="yes")


def test_inverted_residual_shortcut_really_adds_the_input():
    spec = B.InvertedResidual(8, 8, 32)
    module = spec.build().eval()
    last_bn = module.block[-1].bn
    nn.init.zeros_(last_bn.weight)
    nn.init.zeros_(last_bn.bias)
    x = torch.randn(1, 8, 5, 5)
    torch.testing.assert_close(module(x), x)  # block output is zero: only the shortcut remains
    assert not B.InvertedResidual(8, 8, 32, stride=2).use_residual
    assert not B.InvertedResidual(8, 16, 32).use_residual


def test_inverted_residual_is_linear_at_the_bottleneck_and_skips_expansion_at_t1():
    spec = B.InvertedResidual.with_ratio(16, 16, expand_ratio=1)
    layers = spec.layers()
    assert len(layers) == 2  # depthwise + project: no 1x1 expansion when E == M
    assert layers[-1].activation is None
    assert B.InvertedResidual.with_ratio(16, 24, 6, se_ratio=0.25).squeeze_channels == 24


@many
@given(
    m=channels,
    n=channels,
    expand=st.integers(1, 4),
    k=st.sampled_from([1, 3, 5]),
    stride=st.integers(1, 2),
    se=st.integers(0, 4),
    size=sizes,
)
def test_fused_mbconv(m, n, expand, k, stride, se, size):
    _per_image(B.FusedMBConv(m, n, m * expand, k, stride, se), size)


@many
@given(half=st.integers(1, 12), m=channels, stride=st.integers(1, 2), size=sizes)
def test_shufflenet_v2_unit(half, m, stride, size):
    n = 2 * half
    spec = B.ShuffleNetV2Unit(n if stride == 1 else m, n, stride)
    _per_image(spec, size)


@settings(max_examples=100, deadline=None)
@given(groups=st.integers(1, 6), per_group=st.integers(1, 6))
def test_channel_shuffle_is_the_transpose_permutation(groups, per_group):
    count = groups * per_group
    x = torch.arange(float(count)).view(1, count, 1, 1)
    shuffled = B.channel_shuffle(x, groups).flatten().tolist()
    expected = [float(g * per_group + i) for i in range(per_group) for g in range(groups)]
    assert shuffled == expected
    # shuffling with the other factor undoes it
    assert (
        B.channel_shuffle(B.channel_shuffle(x, groups), per_group).flatten().tolist() == x.flatten().tolist()
    )


@many
@given(
    m=channels,
    n=channels,
    k=st.sampled_from([1, 3]),
    ratio=st.integers(2, 4),
    dw=st.sampled_from([1, 3, 5]),
    stride=st.integers(1, 2),
    relu=st.booleans(),
    size=sizes,
)
def test_ghost_module(m, n, k, ratio, dw, stride, relu, size):
    _per_image(B.GhostModule(m, n, k, ratio, dw, stride, relu), size)


@many
@given(
    m=channels,
    mid=channels,
    n=channels,
    k=st.sampled_from([3, 5]),
    stride=st.integers(1, 2),
    se=st.integers(0, 4),
    size=sizes,
)
def test_ghost_bottleneck(m, mid, n, k, stride, se, size):
    _per_image(B.GhostBottleneck(m, mid, n, k, stride, se), size)


@settings(max_examples=50, deadline=None)
@given(
    c=st.integers(1, 128),
    n=st.integers(1, 32),
    s=st.integers(2, 4),
    k=st.sampled_from([1, 3]),
    d=st.sampled_from([1, 3, 5]),
)
def test_ghost_module_speedup_is_the_papers_ratio(c, n, s, k, d):
    # GhostNet eq. 4: r_s = n*c*k*k / (n/s*c*k*k + (s-1)*n/s*d*d), with n a multiple of s
    out = n * s
    ordinary = B.ConvBNAct(c, out, k).cost(14)
    ghost = B.GhostModule(c, out, k, ratio=s, dw_size=d).cost(14)
    assert Fraction(ordinary.macs, ghost.macs) == Fraction(
        out * c * k * k, n * c * k * k + (s - 1) * n * d * d
    )


@many
@given(m=channels, s=channels, e1=channels, e3=channels, size=sizes)
def test_fire(m, s, e1, e3, size):
    _per_image(B.Fire(m, s, e1, e3), size)


@many
@given(
    m=st.integers(1, 20),
    n=st.integers(5, 20),
    branches=st.integers(1, 5),
    stride=st.integers(1, 2),
    residual=st.booleans(),
    size=st.integers(2, 12),
)
def test_esp_module(m, n, branches, stride, residual, size):
    _per_image(B.ESPModule(m, n, branches, stride, residual), size)


def test_esp_hierarchical_fusion_adds_smaller_dilations_into_larger():
    spec = B.ESPModule(10, 10, branches=3, residual=False)
    module = spec.build().eval()
    nn.init.ones_(module.bn.weight)
    x = torch.randn(1, 10, 6, 6)
    reduced = module.reduce(x)
    d1, d2, d4 = (branch(reduced) for branch in module.branches)
    expected = torch.cat((d1, d2, d2 + d4), dim=1)
    torch.testing.assert_close(module(x), module.act(module.bn(expected)))


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: B.ConvBNAct(6, 8, groups=4), "groups"),
        (lambda: B.ConvBNAct(8, 8, kernel_size=4), "kernel_size"),
        (lambda: B.ConvBNAct(0, 8), "in_channels"),
        (lambda: B.ConvBNAct(8, 8, activation="gelu"), "activation"),
        (lambda: B.DepthwiseSeparable(8, 8, order="inception"), "order"),
        (lambda: B.SqueezeExcite(8, 0), "squeeze_channels"),
        (lambda: B.SqueezeExcite(8, 2, gate="tanh"), "gate"),
        (lambda: B.InvertedResidual(8, 8, 16, kernel_size=2), "kernel_size"),
        (lambda: B.InvertedResidual(8, 8, 16, squeeze_channels=-1), "squeeze_channels"),
        (lambda: B.InvertedResidual.with_ratio(8, 8, expand_ratio=0.5), "expand_ratio"),
        (lambda: B.ShuffleNetV2Unit(8, 9, stride=2), "out_channels"),
        (lambda: B.ShuffleNetV2Unit(8, 16, stride=1), "stride"),
        (lambda: B.GhostModule(8, 8, ratio=1), "ratio"),
        (lambda: B.ESPModule(8, 4, branches=5), "out_channels"),
        (lambda: B.ESPModule(8, 8, stride=3), "stride"),
        (lambda: B.Fire(8, 0, 4, 4), "squeeze_channels"),
    ],
)
def test_bad_specs_raise_value_error_naming_the_argument(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()


def test_specs_are_frozen():
    spec = B.ConvBNAct(8, 8)
    with pytest.raises(AttributeError):
        spec.in_channels = 4


def test_channel_shuffle_checks_groups():
    with pytest.raises(ValueError, match="groups"):
        B.channel_shuffle(torch.zeros(1, 6, 1, 1), 4)


def test_functional_hswish_agrees_with_module():
    x = torch.linspace(-5, 5, 101)
    torch.testing.assert_close(B.HSwish()(x), F.hardswish(x))


# --- the fast cost against the cost composed from layers() -------------------------------------

odd = st.sampled_from([1, 3, 5, 7])
width_ = st.integers(1, 40)


@st.composite
def conv_bn_acts(draw):
    groups = draw(st.integers(1, 4))
    return B.ConvBNAct(
        groups * draw(st.integers(1, 8)),
        groups * draw(st.integers(1, 8)),
        draw(odd),
        draw(st.integers(1, 3)),
        groups,
        draw(st.integers(1, 3)),
        draw(activations),
        draw(st.booleans()),
        draw(st.booleans()),
    )


@st.composite
def shufflenet_units(draw):
    out, stride = 2 * draw(st.integers(1, 20)), draw(st.integers(1, 3))
    return B.ShuffleNetV2Unit(out if stride == 1 else draw(width_), out, stride, draw(odd))


@st.composite
def esp_modules(draw):
    branches = draw(st.integers(1, 5))
    out = draw(st.integers(branches, 40))
    return B.ESPModule(draw(width_), out, branches, draw(st.integers(1, 2)), draw(st.booleans()))


se_acts = st.sampled_from(["relu", "prelu", "silu"])
SPEC_STRATEGIES = {
    B.ConvBNAct: conv_bn_acts(),
    B.DepthwiseSeparable: st.builds(
        B.DepthwiseSeparable,
        width_,
        width_,
        odd,
        st.integers(1, 3),
        activations,
        st.sampled_from(B.SEPARABLE_ORDERS),
    ),
    B.SqueezeExcite: st.builds(
        B.SqueezeExcite, st.integers(1, 64), st.integers(1, 32), se_acts, st.sampled_from(B.GATES)
    ),
    B.InvertedResidual: st.builds(
        B.InvertedResidual,
        width_,
        width_,
        st.integers(1, 120),
        odd,
        st.integers(1, 3),
        st.integers(0, 16),
        st.sampled_from(["relu6", "hswish", "prelu", "silu"]),
        se_acts,
        st.sampled_from(B.GATES),
        st.integers(1, 3),
    ),
    B.FusedMBConv: st.builds(
        B.FusedMBConv, width_, width_, width_, odd, st.integers(1, 3), st.integers(0, 8), se_acts, se_acts
    ),
    B.ShuffleNetV2Unit: shufflenet_units(),
    B.GhostModule: st.builds(
        B.GhostModule, width_, width_, odd, st.integers(2, 4), odd, st.integers(1, 3), st.booleans()
    ),
    B.GhostBottleneck: st.builds(
        B.GhostBottleneck, width_, width_, width_, odd, st.integers(1, 3), st.integers(0, 8)
    ),
    B.Fire: st.builds(B.Fire, width_, width_, width_, width_),
    B.ESPModule: esp_modules(),
}
block_specs = st.one_of(*SPEC_STRATEGIES.values())
input_sizes = st.one_of(st.integers(1, 64), st.tuples(st.integers(1, 64), st.integers(1, 64)))


@settings(max_examples=2000, deadline=None)
@given(spec=block_specs, size=input_sizes)
def test_fast_cost_equals_the_cost_of_its_layers(spec, size):
    assert spec.cost(size) == reference_cost(spec, size), spec
    assert spec.output_shape(size) == (spec.cost(size).out_channels, *spec.cost(size).out_size)


def test_the_property_test_draws_every_block():
    assert set(SPEC_STRATEGIES) == set(B.BLOCKS)


SPEC_CLASSES = (*B.BLOCKS, *M.GLUE_LAYERS)


@pytest.mark.parametrize("cls", SPEC_CLASSES)
def test_a_cost_reads_its_own_spec_and_restates_nothing(cls):
    """A spec's cost is a view of the spec: `_cost(self, height, width)` reads the fields, so no
    second list of them (a signature that restates the fields) can drift from the first."""
    assert not hasattr(cls, "_cost_of")
    assert list(inspect.signature(cls._cost).parameters) == ["self", "height", "width"]


@pytest.mark.parametrize("cls", [cls for cls in B.BLOCKS if hasattr(cls, "layers")])
def test_a_composite_without_a_closed_form_costs_its_layers(cls):
    """Only the inverted residual keeps a closed form (MobileNetV2's, lesson 05); every other
    composite block's cost is its `layers()` (and branches) costed, not a formula of its own."""
    own = cls.__dict__.get("_cost")
    if cls is B.InvertedResidual:
        assert own is not None
    else:
        source = inspect.getsource(own) if own else ""
        assert own is None or "layers()" in source or "branches()" in source, source


@pytest.mark.parametrize("size", [0, -3, (4, 0), (4, 5, 6), [3], 2.0, "8", True, (2, 3.5)])
def test_bad_input_sizes_raise_the_checked_functions_errors(size):
    spec = B.InvertedResidual(8, 8, 16)
    expected = outcome(lambda: reference_cost(spec, size))
    assert isinstance(expected, tuple) and "input_size" in expected[1]
    assert outcome(lambda: spec.cost(size)) == expected
