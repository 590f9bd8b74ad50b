"""The gradient receptive field: which input pixels an output pixel depends on, and how much.

`cost.receptive_field` gives the size of the square an output pixel can see. Inside that square
a stack of dilated convs may see only some pixels (ESPNet's "gridding"): the gradient
`|d output[centre] / d input|` shows which, as an image (Luo et al. 2016 call it the effective
receptive field). With every weight set to 1 (`uniform_weights=True`), the gradient counts the
paths from each input pixel to the output pixel: zero exactly where the output is blind.

    >>> from torch import nn
    >>> stack = nn.Sequential(nn.Conv2d(1, 1, 3, padding=2, dilation=2), nn.Conv2d(1, 1, 3, padding=2, dilation=2))
    >>> field = gradient_receptive_field(stack, 1, 15)
    >>> receptive_extent(field), int((field > 0).sum())   # a 9x9 square, but only 25 pixels of it
    (9, 25)
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from lwcnn import checks


def gradient_receptive_field(
    module: nn.Module,
    in_channels: int,
    size: int,
    out_channels: list[int] | None = None,
    uniform_weights: bool = True,
) -> torch.Tensor:
    """`|d y[centre] / d x|` summed over the input's channels: a `size x size` float64 image.

    `y[centre]` is the sum of the output's centre pixel over `out_channels` (all when None).
    With `uniform_weights`, a copy of the module gets every conv and linear weight 1 and every
    bias 0, and the input is all ones, so that the gradient counts paths (exact, the same on every
    CPU for a stack of convs) rather than depending on random weights; BatchNorms are left in
    eval mode. The module itself is never changed. `size` must be odd (a centre pixel); with
    strides, choose it so that the output's centre pixel sits over the input's (13 -> 7 for a
    stride-2 3x3 conv), or the field comes out off-centre.
    """
    checks.check_int("in_channels", in_channels)
    checks.check_int("size", size)
    if size % 2 == 0:
        raise ValueError(f"size must be odd so that the map has a centre pixel, got {size}")
    probe = copy.deepcopy(module).double().eval()
    if uniform_weights:
        with torch.no_grad():
            for layer in probe.modules():
                if isinstance(layer, nn.Conv2d | nn.Linear):
                    layer.weight.fill_(1.0)
                    if layer.bias is not None:
                        layer.bias.zero_()
    x = torch.ones(1, in_channels, size, size, dtype=torch.float64, requires_grad=True)
    y = probe(x)
    if y.dim() != 4:
        raise ValueError(
            f"the module must return a (batch, channels, height, width) map, got shape {tuple(y.shape)}"
        )
    channels = list(range(y.shape[1])) if out_channels is None else list(out_channels)
    centre = y[0, channels, y.shape[2] // 2, y.shape[3] // 2].sum()
    (gradient,) = torch.autograd.grad(centre, x)
    return gradient[0].abs().sum(dim=0).detach()


def receptive_extent(field: torch.Tensor) -> int:
    """The side of the smallest square around the centre that holds every non-zero pixel of
    `field` (a `gradient_receptive_field`): what `cost.receptive_field` predicts."""
    rows, cols = torch.nonzero(field, as_tuple=True)
    if rows.numel() == 0:
        return 0
    centre = field.shape[0] // 2
    reach = int(max((rows - centre).abs().max(), (cols - centre).abs().max()))
    return 2 * reach + 1


def coverage(field: torch.Tensor) -> float:
    """The share of the pixels inside the receptive square (`receptive_extent`) that the output
    depends on at all: 1.0 for ordinary convs, less when dilations leave holes (gridding)."""
    extent = receptive_extent(field)
    if extent == 0:
        return 0.0
    centre, half = field.shape[0] // 2, extent // 2
    square = field[centre - half : centre + half + 1, centre - half : centre + half + 1]
    return float((square > 0).double().mean())


def dilated_stack(dilations: list[int], channels: int = 1) -> nn.Sequential:
    """3x3 convs with the given dilations, "same" padding, one after another (no bias)."""
    return nn.Sequential(
        *(nn.Conv2d(channels, channels, 3, padding=d, dilation=d, bias=False) for d in dilations)
    )


__all__ = ["coverage", "dilated_stack", "gradient_receptive_field", "receptive_extent"]
