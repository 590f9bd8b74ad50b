"""The slow, plainly right costs that the fast ones are checked against.

A block is costed the way its `layers()` (or `branches()`) read: each sub-layer made as a spec
(its constructor checks it) and costed by the checked public functions of `lwcnn.cost`, one after
another. A network is costed by walking `spec.stages()`. Each spec's own `_cost` uses the
unchecked kernels of `lwcnn.cost` (and the inverted residual its closed form); the tests assert
that both agree, and the other tests compare both with torch's own counts.
"""

from __future__ import annotations

from lwcnn import blocks as B
from lwcnn import checks
from lwcnn import cost as C
from lwcnn import models as M


def conv_bn_act_cost(spec: B.ConvBNAct, size: C.Size) -> B.BlockCost:
    out_size = C.conv2d_output_size(
        checks.check_pair("input_size", size), spec.kernel_size, spec.stride, spec.padding, spec.dilation
    )
    params = C.conv2d_params(spec.in_channels, spec.out_channels, spec.kernel_size, spec.groups, spec.bias)
    if spec.norm:
        params += C.batchnorm_params(spec.out_channels)
    params += B.activation_params(spec.activation, spec.out_channels)
    macs = C.conv2d_macs(spec.in_channels, spec.out_channels, spec.kernel_size, out_size, spec.groups)
    return B.BlockCost(params, macs, spec.out_channels, out_size)


def sequence_cost(specs, in_channels: int, size: C.Size) -> B.BlockCost:
    """Specs applied one after another, each one's output feeding the next."""
    size = checks.check_pair("input_size", size)
    params = macs = 0
    channels = in_channels
    for spec in specs:
        assert spec.in_channels == channels, (spec, channels)
        step = reference_cost(spec, size)
        params, macs = params + step.params, macs + step.macs
        channels, size = step.out_channels, step.out_size
    return B.BlockCost(params, macs, channels, size)


def _pooled(pool: M.MaxPool, length: int) -> int:
    if not pool.ceil_mode:
        return C.conv2d_output_size(length, pool.kernel_size, pool.stride, pool.padding)
    # torch's pooling_output_shape: the ceil as floor((L + 2p - k + s - 1) / s) + 1, less a last
    # window that would start in the right padding
    k, s, p = pool.kernel_size, pool.stride, pool.padding
    out = (length + 2 * p - k + s - 1) // s + 1
    return out - 1 if (out - 1) * s >= length + p else out


def reference_cost(spec, size: C.Size) -> B.BlockCost:
    """The cost of any block or glue layer spec at `size`, composed from its sub-specs."""
    if isinstance(spec, B.ConvBNAct):
        return conv_bn_act_cost(spec, size)
    if isinstance(spec, B.SqueezeExcite):
        params = C.se_params(spec.channels, spec.squeeze_channels)
        params += B.activation_params(spec.activation, spec.squeeze_channels)
        macs = C.se_macs(spec.channels, spec.squeeze_channels)
        return B.BlockCost(params, macs, spec.channels, checks.check_pair("input_size", size))
    if isinstance(spec, (B.DepthwiseSeparable, B.InvertedResidual, B.FusedMBConv)):
        return sequence_cost(spec.layers(), spec.in_channels, size)
    if isinstance(spec, B.ShuffleNetV2Unit):
        shortcut, main = spec.branches()
        if spec.stride == 1:
            right = sequence_cost(main, spec.out_channels // 2, size)
            return B.BlockCost(right.params, right.macs, spec.out_channels, right.out_size)
        left = sequence_cost(shortcut, spec.in_channels, size)
        right = sequence_cost(main, spec.in_channels, size)
        return B.BlockCost(
            left.params + right.params, left.macs + right.macs, spec.out_channels, right.out_size
        )
    if isinstance(spec, B.DecoupledFC):
        c, kernel = spec.channels, spec.kernel_shape
        padding = (kernel[0] // 2, kernel[1] // 2)
        out_size = C.conv2d_output_size(checks.check_pair("input_size", size), kernel, padding=padding)
        params = C.conv2d_params(c, c, kernel, groups=c) + C.batchnorm_params(c)
        return B.BlockCost(params, C.conv2d_macs(c, c, kernel, out_size, groups=c), c, out_size)
    if isinstance(spec, B.DFCAttention):
        height, width = checks.check_pair("input_size", size)
        if height < 2 or width < 2:  # torch's 2x2 pooling refuses a 1-pixel side
            raise ValueError(f"DFC attention pools 2x2: it needs a map of at least 2x2, got {height}x{width}")
        gate = sequence_cost(spec.layers(), spec.in_channels, C.conv2d_output_size((height, width), 2, 2))
        out_size = C.conv2d_output_size((height, width), spec.kernel_size, spec.stride, "same")
        return B.BlockCost(gate.params, gate.macs, spec.out_channels, out_size)
    if isinstance(spec, B.GhostModuleV2):
        ghost, attention = spec.layers()
        made, gate = reference_cost(ghost, size), reference_cost(attention, size)
        return B.BlockCost(made.params + gate.params, made.macs + gate.macs, spec.out_channels, made.out_size)
    if isinstance(spec, B.GhostModule):
        primary, cheap = spec.layers()
        intrinsic = reference_cost(primary, size)
        ghosts = reference_cost(cheap, intrinsic.out_size)
        params, macs = intrinsic.params + ghosts.params, intrinsic.macs + ghosts.macs
        return B.BlockCost(params, macs, spec.out_channels, intrinsic.out_size)
    if isinstance(spec, B.GhostBottleneck):
        main = sequence_cost(spec.layers(), spec.in_channels, size)
        short = sequence_cost(spec.shortcut_layers(), spec.in_channels, size)
        return B.BlockCost(
            main.params + short.params, main.macs + short.macs, spec.out_channels, main.out_size
        )
    if isinstance(spec, B.Fire):
        squeeze, expand1x1, expand3x3 = spec.layers()
        squeezed = reference_cost(squeeze, size)
        one, three = (
            reference_cost(expand1x1, squeezed.out_size),
            reference_cost(expand3x3, squeezed.out_size),
        )
        params = squeezed.params + one.params + three.params
        macs = squeezed.macs + one.macs + three.macs
        return B.BlockCost(params, macs, spec.out_channels, squeezed.out_size)
    if isinstance(spec, B.ESPModule):
        reduce, branches = spec.layers()
        reduced = reference_cost(reduce, size)
        params, macs = reduced.params, reduced.macs
        for branch in branches:
            step = reference_cost(branch, reduced.out_size)
            params, macs = params + step.params, macs + step.macs
        params += C.batchnorm_params(spec.out_channels) + B.activation_params("prelu", spec.out_channels)
        return B.BlockCost(params, macs, spec.out_channels, reduced.out_size)
    if isinstance(spec, B.AvgPool):
        window = (spec.kernel_size, spec.stride, spec.padding)
        out_size = C.conv2d_output_size(checks.check_pair("input_size", size), *window)
        return B.BlockCost(0, 0, spec.channels, out_size)
    if isinstance(spec, (B.ChannelShuffle, B.ImageTap)):
        return B.BlockCost(0, 0, spec.channels, checks.check_pair("input_size", size))
    if isinstance(spec, B.ShuffleNetV1Unit):
        shortcut, main = spec.branches()
        branch = sequence_cost(main, spec.in_channels, size)
        pooled = sequence_cost(shortcut, spec.in_channels, size)  # identity at stride 1
        assert pooled.params == pooled.macs == 0 and pooled.out_size == branch.out_size
        assert branch.out_channels + (pooled.out_channels if shortcut else 0) == spec.out_channels
        return B.BlockCost(branch.params, branch.macs, spec.out_channels, branch.out_size)
    if isinstance(spec, B.EESPUnit):
        reduce, dilated, expand = spec.layers()
        reduced = reference_cost(reduce, size)
        params, macs = reduced.params, reduced.macs
        for conv in dilated:  # side by side on the reduced map
            step = reference_cost(conv, reduced.out_size)
            params, macs = params + step.params, macs + step.macs
        fused = step.out_size
        params += C.batchnorm_params(expand.in_channels) + B.activation_params("prelu", expand.in_channels)
        expanded = reference_cost(expand, fused)
        params, macs = params + expanded.params, macs + expanded.macs
        if spec.image_layers():  # on the input image, pooled to the output's size
            image = sequence_cost(spec.image_layers(), spec.image_channels, fused)
            params, macs = params + image.params, macs + image.macs
        params += B.activation_params("prelu", spec.out_channels)
        return B.BlockCost(params, macs, spec.out_channels, fused)
    if isinstance(spec, B.ESPNetLevel):
        body = sequence_cost(spec.layers(), spec.in_channels, size)
        concat = 2 * spec.width + spec.image_channels
        params = body.params + C.batchnorm_params(concat) + B.activation_params("prelu", concat)
        return B.BlockCost(params, body.macs, concat, body.out_size)
    if isinstance(spec, B.ImageConcat):
        channels = spec.in_channels + spec.image_channels
        params = C.batchnorm_params(channels) + B.activation_params("prelu", channels)
        return B.BlockCost(params, 0, channels, checks.check_pair("input_size", size))
    if isinstance(spec, M.PlainConv):
        out_size = C.conv2d_output_size(
            checks.check_pair("input_size", size), spec.kernel_size, spec.stride, spec.padding
        )
        params = C.conv2d_params(spec.in_channels, spec.out_channels, spec.kernel_size, bias=True)
        params += B.activation_params(spec.activation, spec.out_channels)
        macs = C.conv2d_macs(spec.in_channels, spec.out_channels, spec.kernel_size, out_size)
        return B.BlockCost(params, macs, spec.out_channels, out_size)
    if isinstance(spec, M.MaxPool):
        height, width = checks.check_pair("input_size", size)
        if not spec.ceil_mode:
            C.conv2d_output_size(
                (height, width), spec.kernel_size, spec.stride, spec.padding
            )  # a map too small
        out = (_pooled(spec, height), _pooled(spec, width))
        if spec.ceil_mode and min(out) < 1:
            raise ValueError(
                f"input_size={(height, width)} is too small for max pooling with kernel_size={spec.kernel_size}, "
                f"stride={spec.stride}, padding={spec.padding} even rounded up (ceil_mode)"
            )
        return B.BlockCost(0, 0, spec.channels, out)
    if isinstance(spec, (M.Flatten, M.Dropout)):
        return B.BlockCost(0, 0, spec.channels, checks.check_pair("input_size", size))
    if isinstance(spec, M.BatchNorm):
        return B.BlockCost(
            C.batchnorm_params(spec.channels), 0, spec.channels, checks.check_pair("input_size", size)
        )
    if isinstance(spec, M.Activation):
        params = B.activation_params(spec.activation, spec.channels)
        return B.BlockCost(params, 0, spec.channels, checks.check_pair("input_size", size))
    if isinstance(spec, M.Linear):
        params = C.linear_params(spec.in_features, spec.out_features, spec.bias)
        macs = C.linear_macs(spec.in_features, spec.out_features)
        return B.BlockCost(params, macs, spec.out_features, checks.check_pair("input_size", size))
    raise TypeError(f"no reference cost for {type(spec).__name__}")


def reference_network_cost(network: M.NetworkSpec, resolution: C.Size | None = None) -> M.NetworkCost:
    """Walk `network.stages()` and `classifier()`, made as specs, costing each layer by composition."""
    input_size = checks.check_pair(
        "resolution", network.input_resolution if resolution is None else resolution
    )
    channels, size, rows = network.in_channels, input_size, []
    for stage in network.stages():
        step = sequence_cost(stage.layers, channels, size)
        rows.append(M.StageCost(stage.name, step.params, step.macs, step.out_channels, step.out_size))
        channels, size = step.out_channels, step.out_size
    head = sequence_cost(network.classifier(), channels, (1, 1))
    rows.append(M.StageCost("classifier", head.params, head.macs, head.out_channels, (1, 1)))
    return M.NetworkCost(input_size, sum(r.params for r in rows), sum(r.macs for r in rows), tuple(rows))


def outcome(compute):
    """`compute()`, or the (type, message) of the ValueError or TypeError it raises."""
    try:
        return compute()
    except (ValueError, TypeError) as error:
        return type(error), str(error)
