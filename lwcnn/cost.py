"""Cost formulas of lightweight CNNs, in plain Python (no torch).

Every function is integer arithmetic on layer shapes, written with the papers' symbols:

    Df  spatial size of the output feature map (Df x Df)      Dk  kernel size (Dk x Dk)
    M   input channels                                         N   output channels

"MACs" are multiply-accumulates, the unit the papers call Mult-Adds; one MAC is two FLOPs.
Only convolutions and fully-connected layers cost MACs here ("paper" convention): the
batch-norm, activation, pooling and element-wise work that other counters add is the subject
of `lwcnn.counting`.

Sizes are an `int` (square) or an `(height, width)` pair; functions that return a size return
the same form they were given, or a pair where a square input gives a map that is not square.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from fractions import Fraction

from lwcnn.checks import Size, check_bool, check_groups, check_int, check_pair, check_real, check_sequence

DTYPE_BYTES = {
    "float64": 8,
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "int8": 1,
    "uint8": 1,
}


# --- argument checks -------------------------------------------------------------------------


def _like(template: Size, pair: tuple[int, int]) -> Size:
    """Return `pair` in the form `template` was given: an int for an int, unless the two sides
    differ (a square map under a (3, 5) kernel is not square any more)."""
    return pair[0] if isinstance(template, int) and pair[0] == pair[1] else pair


def _area(size: Size, name: str = "output_size") -> int:
    h, w = check_pair(name, size)
    return h * w


# --- kernels: each formula once, for arguments already checked -------------------------------
#
# The public functions below check their arguments, then call these. Block and network specs
# (`lwcnn.blocks`, `lwcnn.models`) call them directly: their fields were checked when the spec
# was made, and checking them again for every layer of every architecture would cost more than
# the arithmetic.


def _same_padding(kernel_size: int, dilation: int) -> int:
    """`dilation * (Dk - 1) / 2`, the "same" padding of an odd kernel."""
    return dilation * (kernel_size - 1) // 2


def _conv_out(size: int, kernel_size: int, stride: int, padding: int, dilation: int) -> int:
    """Output length along one axis: `floor((D + 2p - d*(Dk - 1) - 1) / s) + 1`."""
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def same_out(size: int, stride: int) -> int:
    """`_conv_out` with "same" padding: `2p = d*(Dk - 1)` cancels, leaving `ceil(D / s)`."""
    return (size - 1) // stride + 1


def conv_weights(in_channels: int, out_channels: int, kernel_h: int, kernel_w: int, groups: int) -> int:
    """Weights of a conv, no bias: `Dk*Dk * (M/groups) * N`. Its MACs are this times `Df*Df`."""
    return kernel_h * kernel_w * (in_channels // groups) * out_channels


def linear_weights(in_features: int, out_features: int) -> int:
    """Weights of a fully-connected layer, no bias: `M*N`."""
    return in_features * out_features


def _batchnorm_params(channels: int) -> int:
    """BatchNorm's gamma and beta: `2*C`."""
    return 2 * channels


def nearest_multiple(value: float, divisor: int, min_value: int, round_limit: float = 0.9) -> int:
    """`value` to the nearest multiple of `divisor` (at least `min_value`), one `divisor` more
    where that falls below `round_limit * value` (never 10% down; 0: the nearest multiple)."""
    rounded = int(value + divisor / 2) // divisor * divisor
    if rounded < min_value:
        rounded = min_value
    return rounded + divisor if rounded < round_limit * value else rounded


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps the size at stride 1 ("same"): `dilation * (Dk - 1) / 2`, odd Dk only.

    With stride s the output is then `ceil(D / s)`, as in the MobileNets.

    >>> same_padding(3), same_padding(5), same_padding(3, dilation=2)
    (1, 2, 2)
    """
    if type(kernel_size) is int and type(dilation) is int and kernel_size % 2 and kernel_size > 0 < dilation:
        return _same_padding(kernel_size, dilation)  # the common case, first
    check_int("kernel_size", kernel_size)
    check_int("dilation", dilation)
    if kernel_size % 2 == 0:
        raise ValueError(
            f"kernel_size={kernel_size} is even: 'same' padding needs an odd kernel_size " "(1, 3, 5, 7, ...)"
        )
    return _same_padding(kernel_size, dilation)


# --- convolution -----------------------------------------------------------------------------


def conv2d_output_size(
    input_size: Size,
    kernel_size: Size,
    stride: Size = 1,
    padding: Size | str = 0,
    dilation: Size = 1,
) -> Size:
    """Spatial output size of a 2-D convolution (or pooling window), as PyTorch computes it.

    `floor((D + 2p - d*(Dk - 1) - 1) / s) + 1`; padding may be an int, a pair, "valid" (0) or
    "same" (`same_padding`, odd kernels).

    >>> conv2d_output_size(224, 3, stride=2, padding=1)
    112
    >>> conv2d_output_size((7, 9), 3, padding="same"), conv2d_output_size(10, (3, 5))
    ((7, 9), (8, 6))
    """
    size = check_pair("input_size", input_size)
    k = check_pair("kernel_size", kernel_size)
    s = check_pair("stride", stride)
    d = check_pair("dilation", dilation)
    if padding == "valid":
        p = (0, 0)
    elif padding == "same":
        p = (same_padding(k[0], d[0]), same_padding(k[1], d[1]))
    elif isinstance(padding, str):
        raise ValueError(f"padding={padding!r}: allowed are an int, a pair, 'same' or 'valid'")
    else:
        p = check_pair("padding", padding, minimum=0)
    for axis in range(2):
        span = d[axis] * (k[axis] - 1) + 1
        if size[axis] + 2 * p[axis] < span:
            raise ValueError(
                f"input_size={input_size} is smaller than the kernel's span {span} "
                f"(kernel_size={kernel_size}, dilation={dilation}, padding={padding})"
            )
    out = [_conv_out(size[axis], k[axis], s[axis], p[axis], d[axis]) for axis in range(2)]
    return _like(input_size, (out[0], out[1]))


def window_out(height: int, width: int, kernel_size: int, stride: int, padding: int) -> tuple[int, int]:
    """`conv2d_output_size` of a square window on a `height` x `width` map, for arguments checked
    already (a layer spec's own fields): the same sizes, and the same error for a map smaller
    than the window, without checking each argument again.

    >>> window_out(56, 57, 3, 2, 1), conv2d_output_size((56, 57), 3, 2, 1)
    ((28, 29), (28, 29))
    """
    if (height if height < width else width) + 2 * padding < kernel_size:
        return conv2d_output_size((height, width), kernel_size, stride, padding)  # raises, saying why
    return (height + 2 * padding - kernel_size) // stride + 1, (
        width + 2 * padding - kernel_size
    ) // stride + 1


def conv2d_params(
    in_channels: int, out_channels: int, kernel_size: Size, groups: int = 1, bias: bool = False
) -> int:
    """Parameters of a 2-D convolution: `Dk*Dk * (M/groups) * N` (+ N with bias).

    >>> conv2d_params(32, 64, 3), conv2d_params(32, 32, 3, groups=32)
    (18432, 288)
    """
    check_int("in_channels", in_channels)
    check_int("out_channels", out_channels)
    check_groups(groups, in_channels, out_channels)
    kh, kw = check_pair("kernel_size", kernel_size)
    return conv_weights(in_channels, out_channels, kh, kw, groups) + (
        out_channels if check_bool("bias", bias) else 0
    )


def conv2d_macs(
    in_channels: int, out_channels: int, kernel_size: Size, output_size: Size, groups: int = 1
) -> int:
    """Multiply-adds of a 2-D convolution: `Dk*Dk * (M/groups) * N * Df*Df` (MobileNetV1, eq. 1).

    `output_size` is the output feature map (Df). A bias adds no multiplications.

    >>> conv2d_macs(3, 32, 3, 112)
    10838016
    """
    weights = conv2d_params(in_channels, out_channels, kernel_size, groups=groups)
    return weights * _area(output_size)


def depthwise_conv_params(channels: int, kernel_size: Size, bias: bool = False) -> int:
    """Parameters of a depthwise convolution (groups = M): `Dk*Dk*M`."""
    return conv2d_params(channels, channels, kernel_size, groups=channels, bias=bias)


def depthwise_conv_macs(channels: int, kernel_size: Size, output_size: Size) -> int:
    """Multiply-adds of a depthwise convolution: `Dk*Dk*M*Df*Df` (MobileNetV1, eq. 3)."""
    return conv2d_macs(channels, channels, kernel_size, output_size, groups=channels)


def pointwise_conv_params(in_channels: int, out_channels: int, groups: int = 1, bias: bool = False) -> int:
    """Parameters of a 1x1 (pointwise) convolution: `M*N/groups`."""
    return conv2d_params(in_channels, out_channels, 1, groups=groups, bias=bias)


def pointwise_conv_macs(in_channels: int, out_channels: int, output_size: Size, groups: int = 1) -> int:
    """Multiply-adds of a 1x1 convolution: `M*N*Df*Df/groups` (MobileNetV1, pointwise term)."""
    return conv2d_macs(in_channels, out_channels, 1, output_size, groups=groups)


def depthwise_separable_params(in_channels: int, out_channels: int, kernel_size: Size) -> int:
    """Depthwise then pointwise: `Dk*Dk*M + M*N` (weights only)."""
    return depthwise_conv_params(in_channels, kernel_size) + pointwise_conv_params(in_channels, out_channels)


def depthwise_separable_macs(
    in_channels: int, out_channels: int, kernel_size: Size, output_size: Size
) -> int:
    """`Dk*Dk*M*Df*Df + M*N*Df*Df` (MobileNetV1, eq. 4), the depthwise conv at the output size.

    >>> depthwise_separable_macs(32, 64, 3, 112)  # MobileNetV1's first separable layer
    29302784
    """
    return depthwise_conv_macs(in_channels, kernel_size, output_size) + pointwise_conv_macs(
        in_channels, out_channels, output_size
    )


def separable_to_standard_ratio(out_channels: int, kernel_size: int) -> Fraction:
    """Exact cost ratio of separable to standard convolution: `1/N + 1/Dk^2` (MobileNetV1, eq. 5).

    >>> separable_to_standard_ratio(64, 3)
    Fraction(73, 576)
    """
    check_int("out_channels", out_channels)
    check_int("kernel_size", kernel_size)
    return Fraction(1, out_channels) + Fraction(1, kernel_size * kernel_size)


def stacked_separable_macs(channels: int, kernel_sizes: Sequence[int], output_size: Size) -> int:
    """Multiply-adds of separable layers applied one after another, M -> M channels each."""
    kernel_sizes = check_sequence("kernel_sizes", kernel_sizes, "kernel sizes")
    return sum(depthwise_separable_macs(channels, channels, k, output_size) for k in kernel_sizes)


def kernel5_vs_two_kernel3_macs(in_channels: int, out_channels: int, output_size: Size) -> tuple[int, int]:
    """(one 5x5 separable, two stacked 3x3 separable) multiply-adds, same receptive field.

    `H*W*M*(25 + N)` against `H*W*M*(9 + N) + H*W*N*(9 + N)` (MnasNet, Section 4.2): with
    M = N the 5x5 is cheaper exactly when N > 7.
    """
    one_5x5 = depthwise_separable_macs(in_channels, out_channels, 5, output_size)
    two_3x3 = depthwise_separable_macs(in_channels, out_channels, 3, output_size) + (
        depthwise_separable_macs(out_channels, out_channels, 3, output_size)
    )
    return one_5x5, two_3x3


# --- fully connected, normalisation, squeeze-and-excite ---------------------------------------


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """Parameters of a fully-connected layer: `M*N` (+ N with bias)."""
    check_int("in_features", in_features)
    check_int("out_features", out_features)
    return linear_weights(in_features, out_features) + (out_features if check_bool("bias", bias) else 0)


def linear_macs(in_features: int, out_features: int, rows: int = 1) -> int:
    """Multiply-adds of a fully-connected layer applied to `rows` vectors: `rows*M*N`."""
    check_int("rows", rows)
    return rows * linear_params(in_features, out_features, bias=False)


def batchnorm_params(channels: int, affine: bool = True) -> int:
    """Trainable parameters of BatchNorm: gamma and beta per channel, `2*C` (0 without affine).

    The running mean and variance are buffers, not parameters.
    """
    check_int("channels", channels)
    return _batchnorm_params(channels) if check_bool("affine", affine) else 0


def make_divisible(
    value: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9
) -> int:
    """Round `value` to the nearest multiple of `divisor`, never more than 10% down.

    The channel rounding of the MobileNets (torchvision's `_make_divisible`). `round_limit` is the
    share of `value` the result may not fall below (one `divisor` more when it would); 0 keeps
    the nearest multiple, as EfficientNetV2-B0..B3 round their widths.

    >>> make_divisible(0.25 * 96), make_divisible(0.25 * 72), make_divisible(30, 8)
    (24, 24, 32)
    >>> make_divisible(16 * 1.2), make_divisible(16 * 1.2, round_limit=0)
    (24, 16)
    """
    if type(divisor) is not int or divisor < 1:  # one test in the common case: every width comes here
        check_int("divisor", divisor)
    try:
        usual = 0 < value < math.inf and 0 <= round_limit < 1
    except TypeError:  # a string, None: said below by name
        usual = False
    if not usual:
        check_real("value", value, "a positive finite number", lambda v: 0 < v < math.inf)
        check_real("round_limit", round_limit, "a number in [0, 1)", lambda v: 0 <= v < 1)
    min_value = divisor if min_value is None else check_int("min_value", min_value)
    return nearest_multiple(value, divisor, min_value, round_limit)


def se_channels(channels: int, ratio: float = 0.25, divisor: int | None = 8) -> int:
    """Squeeze width of an SE block: `floor(C*r)` rounded to a multiple of `divisor` (MobileNetV3).

    `divisor=None` keeps the floor (at least 1), as EfficientNet does.

    >>> se_channels(72), se_channels(120), se_channels(96, divisor=None), se_channels(360, 0.35, None)
    (24, 32, 24, 126)
    """
    check_int("channels", channels)
    check_real("ratio", ratio, "a number in (0, 1]", lambda r: 0 < r <= 1)
    # Floor first, then round: torchvision's MobileNetV3 computes `_make_divisible(C // 4, 8)`,
    # which differs from rounding C/4 itself (C = 143 gives 32, not 40). The ratio as written
    # (its shortest decimal): in floats 360 * 0.35 is 125.99999999999999, whose floor is 125.
    squeeze = max(1, math.floor(channels * Fraction(str(ratio))))
    return squeeze if divisor is None else make_divisible(squeeze, divisor)


def se_params(channels: int, squeeze_channels: int, bias: bool = True) -> int:
    """Parameters of squeeze-and-excite: two 1x1 convs C -> S -> C, `2*C*S` (+ S + C biases).

    With S = C*r this is the `2*C*C*r` of MobileNetV3.

    >>> se_params(72, 24)
    3552
    """
    return pointwise_conv_params(channels, squeeze_channels, bias=bias) + pointwise_conv_params(
        squeeze_channels, channels, bias=bias
    )


def se_macs(channels: int, squeeze_channels: int) -> int:
    """Multiply-adds of squeeze-and-excite's two 1x1 convs on the pooled 1x1 map: `2*C*S`.

    The global pooling and the channel-wise rescale are not multiply-adds of a conv or linear
    layer (`se_elementwise_ops` counts them).
    """
    return pointwise_conv_macs(channels, squeeze_channels, 1) + pointwise_conv_macs(
        squeeze_channels, channels, 1
    )


def se_elementwise_ops(channels: int, feature_size: Size) -> int:
    """The other work of SE at a `Df x Df` map: `C*Df*Df` pooling adds + `C*Df*Df` rescales."""
    check_int("channels", channels)
    return 2 * channels * _area(feature_size, "feature_size")


# --- attention over a feature map ---------------------------------------------------------------


def self_attention_macs(channels: int, height: int, width: int) -> int:
    """Multiply-adds of one self-attention layer over the `n = H*W` pixels of a C-channel map.

    `4*n*C^2 + 2*n^2*C`: the four C x C projections (query, key, value, output) at every pixel,
    then the scores `Q K^T` (n x n, C each) and the weighted sum `A V` (the same again) (Vaswani
    et al. 2017). The `n^2` term is what GhostNetV2 (Sec. 3.2) avoids with DFC attention.

    >>> self_attention_macs(72, 56, 56), dfc_attention_macs(72, 72, 56, 56)
    (1481195520, 4628736)
    """
    check_int("channels", channels)
    pixels = check_int("height", height) * check_int("width", width)
    return 4 * pixels * channels * channels + 2 * pixels * pixels * channels


def dfc_attention_macs(
    in_channels: int, out_channels: int, height: int, width: int, fc_kernel_size: int = 5
) -> int:
    """Multiply-adds of GhostNetV2's DFC attention on an H x W map (Sec. 3.2-3.3, Fig. 4).

    `h*w*(M*N + 2*K*N)` with `h = floor(H/2)`, `w = floor(W/2)`: on the map pooled 2x2, a 1x1 conv
    M -> N, then the horizontal and vertical FCs as depthwise `1 x K` and `K x 1` convs. Linear in
    the pixels, against self-attention's square (`self_attention_macs`); `lwcnn.blocks.DFCAttention`
    is the layer (its `cost` agrees).
    """
    check_int("in_channels", in_channels)
    check_int("out_channels", out_channels)
    pooled = check_int("height", height, minimum=2) // 2 * (check_int("width", width, minimum=2) // 2)
    return pooled * out_channels * (in_channels + 2 * check_int("fc_kernel_size", fc_kernel_size))


# --- memory --------------------------------------------------------------------------------


def dtype_bytes(dtype: str) -> int:
    """Bytes per element of a dtype name ("float32", "float16", "bfloat16", "int8", ...)."""
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPE_BYTES:
        raise ValueError(f"dtype={dtype!r} is unknown; allowed: {', '.join(DTYPE_BYTES)}")
    return DTYPE_BYTES[name]


def feature_map_bytes(channels: int, feature_size: Size, batch: int = 1, dtype: str = "float32") -> int:
    """Memory of one activation tensor: `batch * C * H * W * bytes_per_element`.

    >>> feature_map_bytes(32, 112)  # MobileNetV1's first feature map, fp32
    1605632
    """
    check_int("channels", channels)
    check_int("batch", batch)
    return batch * channels * _area(feature_size, "feature_size") * dtype_bytes(dtype)


def model_size_bytes(params: int, dtype: str = "float32") -> int:
    """Storage of `params` weights: `params * bytes_per_element` (4.2 M fp32 params = 16.8 MB)."""
    check_int("params", params, minimum=0)
    return params * dtype_bytes(dtype)


def pointwise_memory_access_cost(
    height: int, width: int, in_channels: int, out_channels: int, groups: int = 1
) -> int:
    """Memory access cost of a 1x1 conv, in elements (ShuffleNetV2, eq. 1 and 2).

    `MAC = h*w*(c1 + c2) + c1*c2/g`: read the input map, write the output map, read the weights.
    For a fixed FLOP budget `B = h*w*c1*c2/g` it is smallest when c1 = c2 (guideline G1) and
    grows with g (guideline G2).

    >>> pointwise_memory_access_cost(56, 56, 128, 128), pointwise_memory_access_cost(56, 56, 64, 256)
    (819200, 1019904)
    """
    check_int("height", height)
    check_int("width", width)
    check_int("in_channels", in_channels)
    check_int("out_channels", out_channels)
    check_groups(groups, in_channels, out_channels)
    return height * width * (in_channels + out_channels) + in_channels * out_channels // groups


def memory_access_lower_bound(height: int, width: int, macs: int) -> float:
    """ShuffleNetV2's bound `MAC >= 2*sqrt(h*w*B) + B/(h*w)`, equality at c1 = c2 (g = 1)."""
    check_int("height", height)
    check_int("width", width)
    check_int("macs", macs)
    hw = height * width
    return 2 * math.sqrt(hw * macs) + macs / hw


# --- receptive field -------------------------------------------------------------------------


def receptive_field(layers: Iterable[int | tuple[int, ...]]) -> int:
    """Receptive field of a stack of conv/pool layers, given as kernel or (kernel, stride[, dilation]).

    `RF = 1 + sum_i d_i*(k_i - 1) * prod_{j<i} s_j`.

    >>> receptive_field([5]), receptive_field([3, 3]), receptive_field([(3, 2), 3])
    (5, 5, 7)
    """
    field, jump = 1, 1
    count = 0
    for index, layer in enumerate(
        check_sequence("layers", layers, "kernels or (kernel, stride[, dilation])")
    ):
        parts = (layer,) if isinstance(layer, int) else tuple(layer)
        if not 1 <= len(parts) <= 3:
            raise ValueError(f"layers[{index}] must be kernel or (kernel, stride[, dilation]), got {layer!r}")
        kernel = check_int(f"layers[{index}].kernel", parts[0])
        stride = check_int(f"layers[{index}].stride", parts[1]) if len(parts) > 1 else 1
        dilation = check_int(f"layers[{index}].dilation", parts[2]) if len(parts) > 2 else 1
        field += dilation * (kernel - 1) * jump
        jump *= stride
        count += 1
    if count == 0:
        raise ValueError("layers must hold at least one layer")
    return field
