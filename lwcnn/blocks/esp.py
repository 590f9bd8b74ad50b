"""ESPNet's efficient spatial pyramid module (Mehta et al., 2018, Sec. 3.1, ESP-B) and the level
of ESPNet-C built from it, and ESPNetv2's EESP unit (Mehta et al., 2019, Sec. 3.2)."""

from __future__ import annotations

import torch
from torch import nn

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.blocks.activations import activation_params
from lwcnn.blocks.conv import ConvBNAct
from lwcnn.blocks.parts import AvgPool, ReadsImage
from lwcnn.blocks.spec import BlockSpec, LayerCost, chain_cost, frozen_spec


class ESPBlock(nn.Module):
    """Reduce, K parallel dilated 3x3 convs, hierarchical feature fusion, concat, BN + PReLU."""

    def __init__(self, spec: ESPModule):
        super().__init__()
        self.spec = spec
        reduce, branches = spec.layers()
        self.reduce = reduce.build()
        self.branches = nn.ModuleList(b.build() for b in branches)
        self.use_residual = spec.use_residual
        self.bn = nn.BatchNorm2d(spec.out_channels)
        self.act = nn.PReLU(spec.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.reduce(x)
        outputs = [branch(reduced) for branch in self.branches]
        # Hierarchical feature fusion: add each larger dilation to the sum of the smaller ones
        # before concatenating, which removes the gridding artefacts of dilated convs.
        fused = [outputs[0]]
        running = None
        for out in outputs[1:]:
            running = out if running is None else running + out
            fused.append(running)
        combined = torch.cat(fused, dim=1)
        if self.use_residual:
            combined = x + combined
        return self.act(self.bn(combined))


@frozen_spec
class ESPModule(BlockSpec):
    """ESPNet's efficient spatial pyramid (ESP-B): a reduce conv to d = N/K channels (1x1, or
    3x3 stride 2 when downsampling), K parallel 3x3 convs with dilations 1, 2, 4, ..., 2^(K-1)
    (the first takes the remainder channels), hierarchical feature fusion, then BN + PReLU.
    A residual is added when the shape allows.
    """

    in_channels: int
    out_channels: int
    branches: int = 5
    stride: int = 1
    residual: bool = True

    def __post_init__(self):
        self._positive("in_channels", "out_channels", "branches")
        if self.stride not in (1, 2):
            raise ValueError(f"stride={self.stride}: allowed are 1 and 2")
        if self.out_channels < self.branches:
            raise ValueError(
                f"out_channels={self.out_channels} must be >= branches={self.branches} (one channel per branch)"
            )

    @property
    def use_residual(self) -> bool:
        return self.residual and self.stride == 1 and self.in_channels == self.out_channels

    @property
    def dilations(self) -> tuple[int, ...]:
        return _esp_dilations(self.branches)

    def layers(self) -> tuple[ConvBNAct, list[ConvBNAct]]:
        width, first = _esp_widths(self.out_channels, self.branches)
        plain = dict(norm=False, activation=None)
        kernel = 1 if self.stride == 1 else 3
        reduce = ConvBNAct(self.in_channels, width, kernel, self.stride, **plain)
        branches = [
            ConvBNAct(width, first if i == 0 else width, 3, dilation=d, **plain)
            for i, d in enumerate(self.dilations)
        ]
        return reduce, branches

    def build(self) -> ESPBlock:
        return ESPBlock(self)

    def _cost(self, height: int, width: int) -> LayerCost:
        """The reduce conv, the dilated branches side by side on its output, then BN + PReLU."""
        reduce, branches = self.layers()
        params, macs, _, height, width = reduce._cost(height, width)
        for branch in branches:
            step_params, step_macs, *_ = branch._cost(height, width)
            params, macs = params + step_params, macs + step_macs
        n = self.out_channels
        params += C.batchnorm_params(n) + activation_params("prelu", n)
        return params, macs, n, height, width


def _esp_widths(out_channels: int, branches: int) -> tuple[int, int]:
    """(d, first): each branch's d = N // K channels; the first branch takes the remainder too."""
    width = out_channels // branches
    return width, out_channels - (branches - 1) * width


def _esp_dilations(branches: int) -> tuple[int, ...]:
    """1, 2, 4, ..., 2^(K-1)."""
    return tuple(2**k for k in range(branches))


def _bn_prelu_params(channels: int) -> int:
    """BatchNorm's scale and shift and PReLU's slope, per channel: the "BR" after a concat."""
    return C.batchnorm_params(channels) + activation_params("prelu", channels)


# --- ESPNet-C: the input image and the long-range shortcuts -------------------------------------------


class ImageConcatBlock(ReadsImage):
    def __init__(self, spec: ImageConcat):
        super().__init__()
        self.spec = spec
        self.bn = nn.BatchNorm2d(spec.out_channels)
        self.act = nn.PReLU(spec.out_channels)

    def forward(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        return self.act(self.bn(torch.cat((x, self.pooled_image(image, x.shape[-2:])), dim=1)))


@frozen_spec
class ImageConcat(BlockSpec):
    """ESPNet's input reinforcement: the input image, average-pooled to the map's size,
    concatenated to the map, then BN + PReLU. Params `3 (M + image)`, no multiply-adds."""

    in_channels: int
    image_channels: int = 3

    def __post_init__(self):
        self._positive("in_channels", "image_channels")

    @property
    def out_channels(self) -> int:
        return self.in_channels + self.image_channels

    def build(self) -> ImageConcatBlock:
        return ImageConcatBlock(self)

    def _cost(self, height: int, width: int) -> LayerCost:
        return _bn_prelu_params(self.out_channels), 0, self.out_channels, height, width


class ESPNetLevelBlock(ReadsImage):
    def __init__(self, spec: ESPNetLevel):
        super().__init__(reads_image=spec.image_channels > 0)
        self.spec = spec
        first, *rest = spec.layers()
        self.down = first.build()
        self.repeated = nn.Sequential(*(layer.build() for layer in rest))
        self.bn = nn.BatchNorm2d(spec.out_channels)
        self.act = nn.PReLU(spec.out_channels)

    def forward(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        down = self.down(x)
        parts = [down, self.repeated(down)]
        if self.reads_image:
            parts.append(self.pooled_image(image, down.shape[-2:]))
        return self.act(self.bn(torch.cat(parts, dim=1)))


@frozen_spec
class ESPNetLevel(BlockSpec):
    """A spatial level of ESPNet-C (as the authors' `ESPNet_Encoder` builds it): a strided ESP
    module (M -> `width`, 3x3 stride-2 reduce), `repeats` ESP modules (the paper's alpha), then
    the long-range shortcut: the strided module's output concatenated with the last module's,
    and with the input image pooled to their size when `image_channels`; BN + PReLU.
    Out: `2 * width + image_channels` channels.

    >>> ESPNetLevel(19, 64, repeats=2, image_channels=3).output_shape(112)
    (131, 56, 56)
    """

    in_channels: int
    width: int  # the ESP modules' channels
    repeats: int = 2  # alpha: ESP modules after the strided one
    branches: int = 5  # K, of every ESP module
    image_channels: int = 0  # the input image's channels, concatenated too; 0: not

    def __post_init__(self):
        self._positive("in_channels", "width", "repeats", "branches")
        checks.check_int("image_channels", self.image_channels, minimum=0)
        if self.width < self.branches:
            raise ValueError(
                f"width={self.width} must be >= branches={self.branches} (one channel per branch)"
            )

    @property
    def out_channels(self) -> int:
        return 2 * self.width + self.image_channels

    def layers(self) -> list[ESPModule]:
        """The strided ESP module, then `repeats` residual ones."""
        k, width = self.branches, self.width
        return [ESPModule(self.in_channels, width, k, stride=2)] + [ESPModule(width, width, k)] * self.repeats

    def build(self) -> ESPNetLevelBlock:
        return ESPNetLevelBlock(self)

    def _cost(self, height: int, width: int) -> LayerCost:
        """Its `layers()` in turn, then BN + PReLU on the concat (pooling costs nothing)."""
        params, macs, _, height, width = chain_cost(self.layers(), height, width)
        return params + _bn_prelu_params(self.out_channels), macs, self.out_channels, height, width


# --- ESPNetv2 -------------------------------------------------------------------------------------------


class EESPBlock(ReadsImage):
    """Reduce, K depthwise dilated 3x3 convs side by side, hierarchical fusion, concat, BN + PReLU,
    expand; then the residual (stride 1) or the pooled input in front (stride 2, plus the input
    image's shortcut), and PReLU."""

    def __init__(self, spec: EESPUnit):
        super().__init__(reads_image=spec.image_channels > 0)
        self.spec = spec
        reduce, dilated, expand = spec.layers()
        self.reduce = reduce.build()
        self.branches = nn.ModuleList(conv.build() for conv in dilated)
        self.bn = nn.BatchNorm2d(expand.in_channels)
        self.act_concat = nn.PReLU(expand.in_channels)
        self.expand = expand.build()
        shortcut, image = spec.shortcut_layers(), spec.image_layers()
        self.shortcut = nn.Sequential(*(layer.build() for layer in shortcut)) if shortcut else None
        self.image_branch = nn.Sequential(*(layer.build() for layer in image)) if image else None
        self.use_residual = spec.use_residual
        self.act = nn.PReLU(spec.out_channels)

    def forward(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        reduced = self.reduce(x)
        fused, running = [], None
        for branch in self.branches:  # hierarchical feature fusion: each branch adds all before it
            running = branch(reduced) if running is None else running + branch(reduced)
            fused.append(running)
        out = self.expand(self.act_concat(self.bn(torch.cat(fused, dim=1))))
        if self.shortcut is not None:
            out = torch.cat((self.shortcut(x), out), dim=1)
            if self.reads_image:
                out = out + self.image_branch(self.pooled_image(image, out.shape[-2:]))
        elif self.use_residual:
            out = out + x
        return self.act(out)


@frozen_spec
class EESPUnit(BlockSpec):
    """ESPNetv2's EESP unit (Mehta et al. 2019, Fig. 1c, Sec. 3.2) and its strided form (Fig. 2).

    Reduce: 1x1 group conv (K groups) to `d = N/K` channels, BN, PReLU. Split and transform:
    K 3x3 depthwise convs side by side on it, with dilations `dilations`. Merge: hierarchical
    feature fusion (each branch's output added to the sum of the branches before it), concat,
    BN + PReLU, and a 1x1 group conv (K groups) N -> N, BN. Stride 1: the input is added when
    the shapes match; stride 2 (Fig. 2): the depthwise convs have stride 2, the branch makes
    `N = out - in` channels, and the 3x3 average-pooled input (stride 2) is concatenated in
    front; with `image_channels`, the input image, average-pooled to the output's size, goes
    through a 3x3 conv + BN + PReLU and a 1x1 conv + BN to `out` channels and is added (the
    shortcut to the input image, Fig. 2 in red). PReLU last.

    Dilation `d_k = k` (k = 1..K; the k-th kernel then spans `2k + 1` pixels); a branch whose
    span would pass `receptive_field_limit` falls back to `d = 1`, and the rates are sorted:
    the rule of the authors' code (`r_lim` of their EESPNet), which narrows the receptive field
    as the maps shrink (limits 13, 11, 9, 7, 5 at the five levels, `ESPNETV2_LEVELS`).

    >>> EESPUnit(128, 128, receptive_field_limit=7).dilations
    (1, 1, 2, 3)
    """

    in_channels: int
    out_channels: int
    stride: int = 1
    branches: int = 4  # K
    receptive_field_limit: int | None = None  # the widest span a branch may have; None: no limit
    image_channels: int = 0  # stride 2: the input image's channels (its shortcut); 0: none

    def __post_init__(self):
        self._positive("in_channels", "out_channels", "branches", "stride")
        if self.stride not in (1, 2):
            raise ValueError(f"stride={self.stride}: allowed are 1 and 2")
        if self.receptive_field_limit is not None:
            checks.check_int("receptive_field_limit", self.receptive_field_limit)
        checks.check_int("image_channels", self.image_channels, minimum=0)
        if self.image_channels and self.stride == 1:
            raise ValueError("image_channels: only a strided unit (stride=2) has the input image's shortcut")
        k, m, made = self.branches, self.in_channels, self.branch_channels
        if made < 1:
            raise ValueError(
                f"out_channels={self.out_channels} must exceed in_channels={m} at stride 2 "
                "(the pooled input is concatenated to the branches' output)"
            )
        if made % (k * k):
            raise ValueError(
                f"branches={k} must divide the {made} channels the branches make (out_channels) into "
                f"K branches whose width is split again into K groups by the reduce conv: K^2 must divide it"
            )
        if m % k:
            raise ValueError(f"branches={k} must divide in_channels={m} (the reduce conv has K groups)")

    @property
    def branch_channels(self) -> int:
        """N, what the K branches make together: the output, less the pooled input at stride 2."""
        return self.out_channels - (self.in_channels if self.stride == 2 else 0)

    @property
    def reduced_channels(self) -> int:
        """d = N / K, each branch's width."""
        return self.branch_channels // self.branches

    @property
    def dilations(self) -> tuple[int, ...]:
        return _eesp_dilations(self.branches, self.receptive_field_limit)

    @property
    def use_residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels

    def layers(self) -> tuple[ConvBNAct, list[ConvBNAct], ConvBNAct]:
        """(reduce, the K dilated depthwise convs side by side on its output, expand)."""
        m, n, d, k = self.in_channels, self.branch_channels, self.reduced_channels, self.branches
        reduce = ConvBNAct(m, d, 1, groups=k, activation="prelu")
        dilated = [
            ConvBNAct(d, d, 3, self.stride, groups=d, dilation=rate, activation=None, norm=False)
            for rate in self.dilations
        ]
        return reduce, dilated, ConvBNAct(n, n, 1, groups=k, activation=None)

    def shortcut_layers(self) -> list[AvgPool]:
        """Stride 2: the 3x3 average pooling of the input; stride 1: nothing (identity or none)."""
        return [AvgPool(self.in_channels, 3, 2, 1)] if self.stride == 2 else []

    def image_layers(self) -> list[ConvBNAct]:
        """The input image's shortcut (on the image pooled to the output's size), if any."""
        c = self.image_channels
        if not c:
            return []
        return [ConvBNAct(c, c, 3, activation="prelu"), ConvBNAct(c, self.out_channels, 1, activation=None)]

    def build(self) -> EESPBlock:
        return EESPBlock(self)

    def _cost(self, height: int, width: int) -> LayerCost:
        """The unit's formula (lesson 13 sets it beside the ESP module's and checks it).

        With M channels in, K branches, the branches' N channels (`branch_channels`) and
        d = N/K (`reduced_channels`): MACs `H*W*(M/K)*d + H'*W'*(K*9*d + (N/K)*N)`, the 1x1
        group reduce at the input's size, the K depthwise 3x3 convs (their dilations change no
        count: "same" padding) and the 1x1 group expand at the output's; per pixel at stride 1,
        `MN/K^2 + 9N + N^2/K` against the ESP module's `MN/K + 9N^2/K`. The input image's
        shortcut, when the unit has one, adds its 3x3 and 1x1 convs at the output's size.
        Params: those weights, the reduce's BN + PReLU (`3d`), BN + PReLU on the concat (`3N`),
        the expand's BN (`2N`), the last PReLU. Pooling costs nothing. The property tests hold
        it equal to `layers()` (and `image_layers()`) costed one by one.
        """
        m, out, stride, k = self.in_channels, self.out_channels, self.stride, self.branches
        n, d = self.branch_channels, self.reduced_channels
        out_height = C.same_out(height, stride)
        out_width = out_height if width == height else C.same_out(width, stride)
        reduce, expand = C.conv_weights(m, d, 1, 1, k), C.conv_weights(n, n, 1, 1, k)  # the 1x1 group convs
        macs = height * width * reduce + out_height * out_width * (k * 9 * d + expand)
        # the reduce's BN + PReLU, the BN + PReLU on the concat, the expand's BN, the last PReLU
        params = reduce + k * 9 * d + expand + _bn_prelu_params(d) + _bn_prelu_params(n) + 2 * n + out
        c = self.image_channels
        if c:  # the image's 3x3 conv + BN + PReLU and 1x1 conv + BN, on the pooled image
            weights = C.conv_weights(c, c, 3, 3, 1) + C.conv_weights(c, out, 1, 1, 1)
            macs += out_height * out_width * weights
            params += weights + _bn_prelu_params(c) + 2 * out
        return params, macs, out, out_height, out_width


def _eesp_dilations(branches: int, limit: int | None) -> tuple[int, ...]:
    """d_k = k, or 1 where the span 2k + 1 passes `limit`; ascending: the fallen-back 1s first.

    >>> _eesp_dilations(4, None), _eesp_dilations(4, 7), _eesp_dilations(4, 2)
    ((1, 2, 3, 4), (1, 1, 2, 3), (1, 1, 1, 1))
    """
    kept = branches if limit is None else max(0, min(branches, (limit - 1) // 2))  # 2k + 1 <= limit
    return (1,) * (branches - kept) + tuple(range(1, kept + 1))
