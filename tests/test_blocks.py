"""Every block: analytical params == torch's parameter count, analytical MACs == FlopCounterMode / 2,
analytical output shape == the module's output shape, over a few hundred random specs each; and the
`cost` (each spec's own `_cost`) == the cost composed from its `layers()` made as specs."""

from __future__ import annotations

import inspect
from fractions import Fraction
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import counted_macs, counted_params
from reference import outcome, reference_cost
from torch import nn

from lwcnn import blocks as B
from lwcnn import cost as C
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


# GhostNetV2 (DFC attention): its 2x2 average pooling needs maps of at least 2x2; odd sides are
# floored by the pooling and stretched back by the nearest upsampling
dfc_sizes = st.tuples(st.integers(2, 13), st.integers(2, 13))


@many
@given(c=channels, k=odd_kernels, direction=st.sampled_from(B.DFC_DIRECTIONS), size=st.tuples(sizes, sizes))
def test_decoupled_fc(c, k, direction, size):
    _per_image(B.DecoupledFC(c, k, direction), size)


@many
@given(
    m=channels,
    n=channels,
    k=st.sampled_from([1, 3]),
    stride=st.integers(1, 2),
    fc_k=st.sampled_from([1, 3, 5]),
    size=dfc_sizes,
)
def test_dfc_attention(m, n, k, stride, fc_k, size):
    _, gate = _per_image(B.DFCAttention(m, n, k, stride, fc_k), size)
    assert ((gate >= 0) & (gate <= 1)).all()


# GhostNet's blocks and GhostNetV2's (with the DFC gate, which pools 2x2: maps of 2x2 and more)
GHOST_VERSIONS = [
    (B.GhostModule, B.GhostBottleneck, sizes),
    (B.GhostModuleV2, B.GhostBottleneckV2, dfc_sizes),
]


@pytest.mark.parametrize("module, _, size_strategy", GHOST_VERSIONS)
@many
@given(
    data=st.data(),
    m=channels,
    n=channels,
    k=st.sampled_from([1, 3]),
    ratio=st.integers(2, 4),
    dw=st.sampled_from([1, 3, 5]),
    stride=st.integers(1, 2),
    relu=st.booleans(),
)
def test_ghost_module(module, _, size_strategy, data, m, n, k, ratio, dw, stride, relu):
    _per_image(module(m, n, k, ratio, dw, stride, relu), data.draw(size_strategy))


@pytest.mark.parametrize("_, bottleneck, size_strategy", GHOST_VERSIONS)
@many
@given(
    data=st.data(),
    m=channels,
    mid=channels,
    n=channels,
    k=st.sampled_from([3, 5]),
    stride=st.integers(1, 2),
    se=st.integers(0, 4),
)
def test_ghost_bottleneck(_, bottleneck, size_strategy, data, m, mid, n, k, stride, se):
    _per_image(bottleneck(m, mid, n, k, stride, se), data.draw(size_strategy))


def test_dfc_gate_multiplies_the_ghost_modules_output():
    """A gate of 1 leaves GhostNet's module; a gate of 1/2 halves it, at odd sizes too."""
    module = B.GhostModuleV2(6, 10).build().eval()
    last_norm = module.attention.fc.vertical_fc.bn
    nn.init.zeros_(last_norm.weight)
    x = torch.randn(2, 6, 7, 9)
    with torch.no_grad():
        nn.init.constant_(last_norm.bias, 30.0)  # sigmoid(30) is 1 in float32
        torch.testing.assert_close(module(x), module.ghost(x))
        nn.init.zeros_(last_norm.bias)
        torch.testing.assert_close(module(x), module.ghost(x) / 2)


def test_dfc_attention_refuses_a_map_thinner_than_its_pooling():
    for size in (1, (1, 8), (8, 1)):
        with pytest.raises(ValueError, match="at least 2x2"):
            B.DFCAttention(4, 4).cost(size)
    with pytest.raises(ValueError, match="at least 2x2"):
        B.GhostBottleneckV2(4, 8, 4).cost(1)


@settings(max_examples=50, deadline=None)
@given(
    m=channels,
    n=channels,
    height=st.integers(2, 20),
    width=st.integers(2, 20),
    fc_k=st.sampled_from([1, 3, 5, 7]),
)
def test_dfc_attention_macs_is_the_built_modules_count(m, n, height, width, fc_k):
    spec = B.DFCAttention(m, n, fc_kernel_size=fc_k)
    _per_image(spec, (height, width))
    assert C.dfc_attention_macs(m, n, height, width, fc_k) == spec.cost((height, width)).macs


class _SelfAttention(nn.Module):
    """One-head self-attention over the pixels of a map, with input and output projections."""

    def __init__(self, channels: int):
        super().__init__()
        self.query, self.key, self.value, self.out = (nn.Linear(channels, channels) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.flatten(2).transpose(1, 2)  # (batch, H*W, C)
        scores = self.query(tokens) @ self.key(tokens).transpose(1, 2) / tokens.shape[-1] ** 0.5
        return self.out(scores.softmax(-1) @ self.value(tokens))


@settings(max_examples=30, deadline=None)
@given(c=st.integers(1, 16), height=st.integers(2, 12), width=st.integers(2, 12))
def test_self_attention_macs_is_the_counted_attention_and_dfc_is_far_cheaper(c, height, width):
    macs, _ = counted_macs_per_image(_SelfAttention(c), torch.randn(2, c, height, width))
    assert C.self_attention_macs(c, height, width) == macs
    assert C.dfc_attention_macs(c, c, height, width) < macs
    # the lesson's comparison: GhostNetV2's first DFC map (72 channels at 56x56), 320x cheaper
    assert C.self_attention_macs(72, 56, 56) == 320 * C.dfc_attention_macs(72, 72, 56, 56)


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


# --- ShuffleNet (V1), ESPNet-C's level and ESPNetv2's EESP unit --------------------------------------


@st.composite
def shufflenet_v1_units(draw, most=6):
    """Valid units: the bottleneck and the branch split into g groups (widths up to `most` g)."""
    widths = st.integers(1, most)
    groups, bottleneck = draw(st.sampled_from([1, 2, 3, 4, 8])), draw(widths)
    if draw(st.booleans()):  # stride 1: the input is added
        m = groups * draw(widths)
        return B.ShuffleNetV1Unit(m, m, groups, 1, True, groups * bottleneck)
    grouped_first = draw(st.booleans())
    m = groups * draw(widths) if grouped_first else draw(widths)
    n = m + groups * draw(widths)
    return B.ShuffleNetV1Unit(m, n, groups, 2, grouped_first, groups * bottleneck)


@many
@given(spec=shufflenet_v1_units(), size=st.tuples(sizes, sizes))
def test_shufflenet_v1_unit(spec, size):
    module, out = _per_image(spec, size)
    assert (out >= 0).all()  # ReLU last


def test_shufflenet_v1_unit_defaults_to_the_papers_quarter_bottleneck():
    unit = B.ShuffleNetV1Unit(240, 480, groups=3, stride=2)
    assert unit.bottleneck == 120 and unit.branch_channels == 240
    first, shuffle, depthwise, last = unit.branches()[1]
    assert (first.groups, shuffle.groups, depthwise.groups, last.groups) == (3, 3, 120, 3)
    assert B.ShuffleNetV1Unit(24, 240, 3, 2, grouped_first=False).branches()[1][0].groups == 1


def _branch_groups_that_change(unit_module, x, groups):
    """Which output groups of the unit's branch change when only input group 0 changes."""
    changed = x.clone()
    changed[:, : x.shape[1] // groups] += 1.0
    with torch.no_grad():
        difference = (unit_module.branch(changed) - unit_module.branch(x)).abs()
    per_group = difference.view(x.shape[0], groups, -1).amax(dim=(0, 2))
    return [bool(value > 1e-6) for value in per_group]


def test_channel_shuffle_is_what_lets_groups_talk():
    """Two stacked grouped 1x1 convs without the shuffle: output group j sees input group j only
    (ShuffleNet, Fig. 1a); with it (Fig. 1c), a change in one input group reaches every group."""
    torch.manual_seed(0)
    # 3 channels per group: after the shuffle each group holds one channel of every group
    groups, spec = 3, B.ShuffleNetV1Unit(12, 12, groups=3, bottleneck_channels=9)
    module = spec.build().eval()
    x = torch.randn(2, 12, 5, 5)
    assert _branch_groups_that_change(module, x, groups) == [True, True, True]
    assert isinstance(module.branch[1], B.ChannelShuffleModule)
    module.branch[1] = nn.Identity()  # the same weights, no shuffle
    assert _branch_groups_that_change(module, x, groups) == [True, False, False]


def test_shufflenet_v1_unit_adds_at_stride_1_and_concatenates_the_pooled_input_at_stride_2():
    for spec in (B.ShuffleNetV1Unit(12, 12, 3), B.ShuffleNetV1Unit(12, 36, 3, 2)):
        module = spec.build().eval()
        nn.init.zeros_(module.branch[-1].bn.weight)  # the branch's output is 0
        nn.init.zeros_(module.branch[-1].bn.bias)
        x = torch.randn(1, 12, 6, 6)
        expected = torch.relu(x) if spec.stride == 1 else torch.relu(F.avg_pool2d(x, 3, 2, 1))
        torch.testing.assert_close(module(x)[:, :12], expected)
        assert module(x).shape[1] == spec.out_channels


@many
@given(
    c=st.integers(1, 6),
    g=st.integers(1, 4),
    k=st.integers(1, 5),
    s=st.integers(1, 3),
    size=st.tuples(sizes, sizes),
)
def test_weightless_parts(c, g, k, s, size):
    _per_image(B.ChannelShuffle(c * g, g), size)
    _per_image(B.ImageTap(c), size)
    _per_image(B.AvgPool(c, k, s, k // 2), size)  # FlopCounterMode counts no pooling: 0 MACs


@st.composite
def eesp_units(draw, with_image=True):
    k, stride = draw(st.integers(1, 4)), draw(st.integers(1, 2))
    made = k * k * draw(st.integers(1, 3))  # K branches, each split into K groups by the reduce conv
    m = made if stride == 1 and draw(st.booleans()) else k * draw(st.integers(1, 5))
    n = made + (m if stride == 2 else 0)
    limit = draw(st.sampled_from([None, 3, 5, 7, 9]))
    image = draw(st.integers(1, 3)) if with_image and stride == 2 and draw(st.booleans()) else 0
    return B.EESPUnit(m, n, stride, k, limit, image)


def _with_image(spec, size):
    """The module of a block that reads the input image, fed an image that pools to its input."""
    height, width = size
    image = torch.randn(2, spec.image_channels or 1, 2 * height, 2 * width)
    module = spec.build()

    class Fed(nn.Module):  # what FlopCounterMode runs: the block with its image
        def __init__(self):
            super().__init__()
            self.block = module

        def forward(self, x):
            return self.block(x, image)

    return Fed()


@many
@given(spec=eesp_units(with_image=False), size=st.tuples(sizes, sizes))
def test_eesp_unit(spec, size):
    module, _ = _per_image(spec, size)
    assert module.use_residual == (spec.stride == 1 and spec.in_channels == spec.out_channels)


@many
@given(spec=eesp_units(), size=st.tuples(sizes, sizes))
def test_eesp_unit_with_the_input_images_shortcut(spec, size):
    fed = _with_image(spec, size)
    macs, out = counted_macs_per_image(fed, torch.randn(2, spec.in_channels, *size))
    predicted = spec.cost(size)
    assert (predicted.params, predicted.macs) == (counted_params(fed), macs), spec
    assert (predicted.out_channels, *predicted.out_size) == tuple(out.shape[1:])


def test_a_block_that_reads_the_image_asks_for_it():
    module = B.EESPUnit(8, 24, stride=2, image_channels=3).build()
    with pytest.raises(RuntimeError, match="reads the input image"):
        module(torch.randn(1, 8, 8, 8))
    with pytest.raises(ValueError, match="pools to no map"):
        B.pool_image(torch.randn(1, 3, 4, 4), (3, 3))
    assert B.pool_image(torch.randn(1, 3, 97, 31), (13, 4)).shape[-2:] == (13, 4)  # 97->49->25->13


def test_connect_image_points_the_readers_at_the_tap():
    tap, unit = B.ImageTap(3), B.EESPUnit(4, 20, stride=2, image_channels=3)
    model = B.connect_image(
        nn.Sequential(tap.build(), nn.AvgPool2d(3, 2, 1), nn.Conv2d(3, 4, 1), unit.build())
    )
    image = torch.randn(1, 3, 16, 16)
    out = model(image)
    torch.testing.assert_close(out, model[3](model[2](model[1](image)), image))
    with pytest.raises(ValueError, match="needs one ImageTap, has 0"):
        B.connect_image(nn.Sequential(unit.build()))


@given(branches=st.integers(1, 8), limit=st.none() | st.integers(1, 20))
def test_eesp_dilations_are_the_rule_sorted(branches, limit):
    """Branch k has dilation k if its span 2k + 1 fits the limit, else 1; the rates ascend."""
    rates = B.EESPUnit(
        4 * branches * branches, 4 * branches * branches, branches=branches, receptive_field_limit=limit
    ).dilations
    expected = [k if limit is None or 2 * k + 1 <= limit else 1 for k in range(1, branches + 1)]
    assert rates == tuple(sorted(expected))


def test_eesp_dilations_follow_the_receptive_field_limits():
    """k-th branch: dilation k (span 2k + 1), 1 past the limit, sorted: the authors' r_lim rule,
    13, 11, 9, 7, 5 at ESPNetv2's five levels."""
    rates = [B.EESPUnit(16, 16, receptive_field_limit=limit).dilations for limit in (13, 11, 9, 7, 5)]
    assert rates == [(1, 2, 3, 4)] * 3 + [(1, 1, 2, 3), (1, 1, 1, 2)]
    assert B.EESPUnit(16, 16).dilations == (1, 2, 3, 4)
    assert [conv.dilation for conv in B.EESPUnit(16, 16, receptive_field_limit=7).layers()[1]] == [1, 1, 2, 3]


def test_eesp_hierarchical_fusion_adds_every_branch_into_the_next():
    """Unlike ESPNet's module, the first (d = 1) branch joins the sums too (the authors' code)."""
    spec = B.EESPUnit(9, 9, branches=3)
    module = spec.build().eval()
    x = torch.randn(1, 9, 6, 6)
    reduced = module.reduce(x)
    b1, b2, b3 = (branch(reduced) for branch in module.branches)
    fused = torch.cat((b1, b1 + b2, b1 + b2 + b3), dim=1)
    expected = module.act(module.expand(module.act_concat(module.bn(fused))) + x)
    torch.testing.assert_close(module(x), expected)


def test_strided_eesp_puts_the_pooled_input_first_and_adds_the_image():
    spec = B.EESPUnit(8, 24, stride=2, image_channels=3)
    module = spec.build().eval()
    for layer in (module.expand, module.image_branch[-1]):  # both outputs 0
        nn.init.zeros_(layer.bn.weight)
        nn.init.zeros_(layer.bn.bias)
    x, image = torch.randn(1, 8, 10, 10), torch.randn(1, 3, 20, 20)
    pooled_then_branches = torch.cat((F.avg_pool2d(x, 3, 2, 1), torch.zeros(1, 16, 5, 5)), dim=1)
    torch.testing.assert_close(module(x, image), module.act(pooled_then_branches))
    nn.init.ones_(module.image_branch[-1].bn.bias)  # now the image's shortcut adds 1 everywhere
    torch.testing.assert_close(module(x, image), module.act(pooled_then_branches + 1))


@many
@given(
    m=st.integers(1, 12),
    width=st.integers(5, 16),
    repeats=st.integers(1, 3),
    branches=st.integers(1, 5),
    image=st.integers(0, 3),
    size=st.tuples(sizes, sizes),
)
def test_espnet_level_and_image_concat(m, width, repeats, branches, image, size):
    spec = B.ESPNetLevel(m, width, repeats, branches, image)
    if image:
        fed = _with_image(spec, size)
        macs, out = counted_macs_per_image(fed, torch.randn(2, m, *size))
        assert (spec.cost(size).params, spec.cost(size).macs) == (counted_params(fed), macs)
        assert spec.output_shape(size) == tuple(out.shape[1:])
        concat = B.ImageConcat(m, image)
        fed = _with_image(concat, (2 * size[0], 2 * size[1]))  # the image twice the map's size
        macs, out = counted_macs_per_image(fed, torch.randn(2, m, *size))
        assert (concat.cost(size).params, concat.cost(size).macs, out.shape[1]) == (
            counted_params(fed),
            0,
            m + image,
        )
    else:
        _per_image(spec, size)


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
        (lambda: B.GhostModuleV2(8, 8, ratio=1), "ratio"),
        (lambda: B.DecoupledFC(8, 4), "kernel_size"),
        (lambda: B.DecoupledFC(8, direction="diagonal"), "direction"),
        (lambda: B.DFCAttention(8, 8, fc_kernel_size=4), "fc_kernel_size"),
        (lambda: B.ESPModule(8, 4, branches=5), "out_channels"),
        (lambda: B.ESPModule(8, 8, stride=3), "stride"),
        (lambda: B.ShuffleNetV1Unit(24, 48, groups=3), "stride"),
        (lambda: B.ShuffleNetV1Unit(24, 24, groups=3, stride=2), "out_channels"),
        (lambda: B.ShuffleNetV1Unit(24, 24, groups=3, stride=3), "stride"),
        (lambda: B.ShuffleNetV1Unit(24, 24, groups=5), "groups"),
        (lambda: B.ShuffleNetV1Unit(20, 50, 3, 2, bottleneck_channels=12), "grouped_first"),
        (lambda: B.ShuffleNetV1Unit(24, 24, groups=3, bottleneck_channels=0), "bottleneck_channels"),
        (lambda: B.ShuffleNetV1Unit(3, 3, groups=1), "out_channels"),
        (lambda: B.ChannelShuffle(10, 3), "groups"),
        (lambda: B.EESPUnit(8, 8, stride=3), "stride"),
        (lambda: B.EESPUnit(8, 10), "branches"),
        (lambda: B.EESPUnit(8, 8), "K\\^2 must divide"),
        (lambda: B.EESPUnit(6, 16), "in_channels"),
        (lambda: B.EESPUnit(8, 8, stride=2), "out_channels"),
        (lambda: B.EESPUnit(8, 8, image_channels=3), "image_channels"),
        (lambda: B.EESPUnit(8, 8, receptive_field_limit=0), "receptive_field_limit"),
        (lambda: B.ESPNetLevel(8, 4), "width"),
        (lambda: B.ESPNetLevel(8, 8, repeats=0), "repeats"),
        (lambda: B.ImageConcat(8, 0), "image_channels"),
        (lambda: B.AvgPool(8, 3, 2, 2), "padding"),
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
    B.DecoupledFC: st.builds(B.DecoupledFC, width_, odd, st.sampled_from(B.DFC_DIRECTIONS)),
    B.DFCAttention: st.builds(B.DFCAttention, width_, width_, odd, st.integers(1, 3), odd),
    B.GhostModuleV2: st.builds(
        B.GhostModuleV2, width_, width_, odd, st.integers(2, 4), odd, st.integers(1, 3), st.booleans()
    ),
    B.GhostBottleneckV2: st.builds(
        B.GhostBottleneckV2, width_, width_, width_, odd, st.integers(1, 3), st.integers(0, 8)
    ),
    B.Fire: st.builds(B.Fire, width_, width_, width_, width_),
    B.ESPModule: esp_modules(),
    B.ShuffleNetV1Unit: shufflenet_v1_units(10),
    B.ChannelShuffle: st.integers(1, 8).flatmap(
        lambda groups: st.builds(
            B.ChannelShuffle, st.integers(1, 8).map(lambda n: n * groups), st.just(groups)
        )
    ),
    B.EESPUnit: eesp_units(),
    B.ESPNetLevel: st.builds(
        B.ESPNetLevel, width_, st.integers(5, 24), st.integers(1, 3), st.integers(1, 5), st.integers(0, 3)
    ),
    B.ImageConcat: st.builds(B.ImageConcat, width_, st.integers(1, 4)),
    B.AvgPool: st.integers(1, 5).flatmap(
        lambda k: st.builds(B.AvgPool, width_, st.just(k), st.integers(1, 3), st.just(k // 2))
    ),
    B.ImageTap: st.builds(B.ImageTap, width_),
}
block_specs = st.one_of(*SPEC_STRATEGIES.values())
input_sizes = st.one_of(st.integers(1, 64), st.tuples(st.integers(1, 64), st.integers(1, 64)))


@settings(max_examples=2000, deadline=None)
@given(spec=block_specs, size=input_sizes)
def test_fast_cost_equals_the_cost_of_its_layers(spec, size):
    fast = outcome(lambda: spec.cost(size))  # or the same error (DFC attention on a 1-pixel side)
    assert fast == outcome(lambda: reference_cost(spec, size)), spec
    if isinstance(fast, B.BlockCost):
        assert spec.output_shape(size) == (fast.out_channels, *fast.out_size)


def test_the_property_test_draws_every_block():
    assert set(SPEC_STRATEGIES) == set(B.BLOCKS)


SPEC_CLASSES = (*B.BLOCKS, *M.GLUE_LAYERS)


@pytest.mark.parametrize("cls", SPEC_CLASSES)
def test_a_cost_reads_its_own_spec_and_restates_nothing(cls):
    """A spec's cost is a view of the spec: `_cost(self, height, width)` reads the fields, so no
    second list of them (a signature that restates the fields) can drift from the first."""
    assert not hasattr(cls, "_cost_of")
    assert list(inspect.signature(cls._cost).parameters) == ["self", "height", "width"]


# the composite blocks whose cost is a closed form, because a lesson teaches that formula (and
# checks it against the count); the property test above holds each equal to its layers costed
CLOSED_FORMS = {
    B.InvertedResidual: ("05_inverted_residuals", "def inverted_residual_macs"),  # an exercise
    B.ShuffleNetV1Unit: ("13_other_families", "hw(2cm/g + 9m)"),
    B.EESPUnit: ("13_other_families", "MN/K^2 + 9N + N^2/K"),
    B.FusedMBConv: ("13_other_families", "E(k^2 M + N)"),
}


@pytest.mark.parametrize("cls", [cls for cls in B.BLOCKS if hasattr(cls, "layers")])
def test_a_composite_without_a_closed_form_costs_its_layers(cls):
    """Only the blocks of `CLOSED_FORMS` keep a formula of their own; every other composite
    block's cost is its `layers()` (and branches) costed."""
    own = cls.__dict__.get("_cost")
    if cls in CLOSED_FORMS:
        assert own is not None
    else:
        source = inspect.getsource(own) if own else ""
        assert own is None or "layers()" in source or "branches()" in source, source


@pytest.mark.parametrize("cls", list(CLOSED_FORMS))
def test_every_closed_form_is_taught_by_a_lesson(cls):
    lesson, formula = CLOSED_FORMS[cls]
    (path,) = (Path(__file__).parent.parent / "notebooks").glob(f"{lesson}.ipynb")
    assert formula in path.read_text()


@pytest.mark.parametrize("size", [0, -3, (4, 0), (4, 5, 6), [3], 2.0, "8", True, (2, 3.5)])
def test_bad_input_sizes_raise_the_checked_functions_errors(size):
    spec = B.InvertedResidual(8, 8, 16)
    expected = outcome(lambda: reference_cost(spec, size))
    assert isinstance(expected, tuple) and "input_size" in expected[1]
    assert outcome(lambda: spec.cost(size)) == expected
