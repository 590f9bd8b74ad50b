"""Weightless layers the blocks share: average pooling (the strided shortcut of ShuffleNet and
ESPNetv2), and the tap that keeps a network's input image for the blocks that read it again
(the "input reinforcement" of ESPNet and ESPNetv2).

A block that reads the image again cannot get it through an `nn.Sequential`, which hands each
layer one tensor. So the network's first layer is an `ImageTap`, whose module keeps the image it
passes on, and `connect_image(model)` points every module that reads the image (`ReadsImage`) at
that tap. Alone, such a module takes the image as a second argument: `module(x, image)`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.blocks.spec import LayerCost, SameChannels, frozen_spec


@frozen_spec
class AvgPool(SameChannels):
    """Average pooling (torch's: zero padding counts in the mean): no parameters and no
    multiply-adds (FlopCounterMode counts none), it only shrinks the map."""

    channels: int
    kernel_size: int = 3
    stride: int = 2
    padding: int = 1  # on each side

    def __post_init__(self) -> None:
        self._positive("channels", "kernel_size", "stride")
        checks.check_int("padding", self.padding, minimum=0)
        if 2 * self.padding > self.kernel_size:
            raise ValueError(f"padding={self.padding} must be at most half of kernel_size={self.kernel_size}")

    def build(self) -> nn.AvgPool2d:
        return nn.AvgPool2d(self.kernel_size, self.stride, self.padding)

    def _cost(self, height: int, width: int) -> LayerCost:
        # without "same" padding a map can be smaller than the window: `window_out` says so
        out_height, out_width = C.window_out(height, width, self.kernel_size, self.stride, self.padding)
        return 0, 0, self.channels, out_height, out_width


class ImageTapModule(nn.Module):
    """Hands its input on untouched and keeps it in `image` for the modules that read it again."""

    def __init__(self) -> None:
        super().__init__()
        self.image: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.image = x
        return x


@frozen_spec
class ImageTap(SameChannels):
    """The first layer of a network whose blocks read the input image again (ESPNet-C, ESPNetv2):
    it hands the image on and keeps it. No parameters, no multiply-adds."""

    channels: int

    def __post_init__(self) -> None:
        self._positive("channels")

    def build(self) -> ImageTapModule:
        return ImageTapModule()

    def _cost(self, height: int, width: int) -> LayerCost:
        return 0, 0, self.channels, height, width


def pool_image(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """`image` average-pooled (3x3, stride 2, padding 1) until it is `size`, at least once: the
    pyramid both ESPNets use to bring the image to a feature map's size.

    >>> pool_image(torch.zeros(1, 3, 224, 224), (28, 28)).shape
    torch.Size([1, 3, 28, 28])
    """
    while True:
        pooled = F.avg_pool2d(image, 3, stride=2, padding=1)
        if tuple(pooled.shape[-2:]) == tuple(size):
            return pooled
        if pooled.shape[-2:] == image.shape[-2:]:  # 1x1 stays 1x1: `size` is out of reach
            raise ValueError(f"an image of {tuple(image.shape[-2:])} pools to no map of {tuple(size)}")
        image = pooled


class ReadsImage(nn.Module):
    """A block's module that can read the network's input image again (`reads_image`).
    `connect_image` points it at the network's `ImageTapModule`; alone, it takes the image as
    `forward`'s second argument."""

    def __init__(self, reads_image: bool = True) -> None:
        super().__init__()
        self.reads_image = reads_image
        self.__dict__["_tap"] = None  # not a submodule: the tap belongs to the network's stem

    def connect(self, tap: ImageTapModule) -> None:
        self.__dict__["_tap"] = tap

    def pooled_image(self, image: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        """The input image (given, or kept by the connected tap) pooled to `size`."""
        if image is None:
            tap = self.__dict__["_tap"]
            if tap is None or tap.image is None:
                raise RuntimeError(
                    f"{type(self).__name__} reads the input image: call it as module(x, image), or "
                    "build it inside a network whose first layer is an ImageTap (connect_image)"
                )
            image = tap.image
        return pool_image(image, size)


def connect_image(model: nn.Module) -> nn.Module:
    """Point every module of `model` that reads the input image at its one `ImageTapModule`."""
    readers = [module for module in model.modules() if isinstance(module, ReadsImage) and module.reads_image]
    taps = [module for module in model.modules() if isinstance(module, ImageTapModule)]
    if readers and len(taps) != 1:
        raise ValueError(
            f"{len(readers)} module(s) read the input image: model needs one ImageTap, has {len(taps)}"
        )
    for reader in readers:
        reader.connect(taps[0])
    return model
