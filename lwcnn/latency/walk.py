"""A network as the blocks a latency table times: every module call, in order, with its input shape.

FBNet prices a network as the sum of its blocks' latencies, so a table needs each block at the
input shape it gets inside the network. `network_layers` walks a `lwcnn.models` network spec
stage by stage (the stem and head included), then the global average pooling and each classifier
layer; `network_blocks` is the same walk as the (spec, input shape) pairs a table measures, each
once, plus one `Container` call: the `nn.Sequential` levels around the blocks cost a little too
(`container_calls` counts them).

    >>> from lwcnn.models import spec
    >>> len(network_blocks(spec("mobilenet_v3_small"), resolution=96))  # 2 repeated blocks once
    18
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.blocks import BlockCost

CONTAINER_SHAPE = (1,)  # a container's time does not depend on its input; this is its shape key


@dataclass(frozen=True)
class GlobalAvgPool:
    """The global average pooling between a network's features and its classifier."""

    channels: int

    in_channels = out_channels = property(lambda self: self.channels)

    def build(self) -> nn.AdaptiveAvgPool2d:
        return nn.AdaptiveAvgPool2d(1)

    def cost(self, input_size: C.Size) -> BlockCost:
        checks.check_pair("input_size", input_size)
        return BlockCost(0, 0, self.channels, (1, 1))


@dataclass(frozen=True)
class Container:
    """One call of an empty `nn.Sequential`: what each container level of a network adds."""

    def build(self) -> nn.Sequential:
        return nn.Sequential()

    def cost(self, input_size: C.Size) -> BlockCost:
        return BlockCost(0, 0, 1, checks.check_pair("input_size", input_size))


@dataclass(frozen=True)
class Layer:
    """One module call of a network: where it sits, its spec and the shape it receives (batch first)."""

    stage: str
    spec: Any
    input_shape: tuple[int, ...]


def network_layers(network: Any, resolution: C.Size | None = None, batch_size: int = 1) -> list[Layer]:
    """Every block a network calls, in order, with its input shape: the stages' blocks (stem and
    head included), the global average pooling and each classifier layer.

    `network` is a `lwcnn.models` spec (with `stages()` and `classifier()`) or a `SmallMobileNet`;
    `resolution` defaults to the spec's `input_resolution` (32 for a SmallMobileNet).
    """
    checks.check_positive_int("batch_size", batch_size)
    if callable(getattr(network, "stages", None)) and callable(getattr(network, "classifier", None)):
        stages = [(stage.name, stage.layers) for stage in network.stages()]
        classifier, default = list(network.classifier()), network.input_resolution
    elif callable(getattr(network, "layers", None)) and hasattr(network, "feature_channels"):
        from lwcnn.models import Flatten, Linear  # SmallMobileNet: features, pool, flatten, linear

        width = network.feature_channels
        stages, default = [("features", network.layers())], 32
        classifier = [Flatten(width), Linear(width, network.num_classes)]
    else:
        raise ValueError(
            f"network must be a lwcnn.models network spec (with stages() and classifier()), "
            f"got {type(network).__name__}"
        )
    size = checks.check_pair("resolution", default if resolution is None else resolution)
    channels, layers = network.in_channels, []
    for name, stage_layers in stages:
        for spec in stage_layers:
            layers.append(Layer(name, spec, (batch_size, channels, *size)))
            step = spec.cost(size)
            channels, size = step.out_channels, step.out_size
    layers.append(Layer("avgpool", GlobalAvgPool(channels), (batch_size, channels, *size)))
    shape: tuple[int, ...] = (batch_size, channels, 1, 1)
    for spec in classifier:
        layers.append(Layer("classifier", spec, shape))
        if type(spec).__name__ == "Flatten":
            shape = (batch_size, shape[1])
        elif type(spec).__name__ == "Linear":
            shape = (batch_size, spec.out_features)
        elif len(shape) == 4:  # a 1x1 conv on the pooled map (GhostNet's conv_head)
            shape = (batch_size, spec.out_channels, 1, 1)
    return layers


def network_blocks(
    network: Any, resolution: C.Size | None = None, batch_size: int = 1
) -> list[tuple[Any, tuple[int, ...]]]:
    """The (block spec, input shape) pairs a table needs to predict `network`: each layer of
    `network_layers` and the container, once each."""
    pairs = [(layer.spec, layer.input_shape) for layer in network_layers(network, resolution, batch_size)]
    return list(dict.fromkeys([*pairs, (Container(), (batch_size, *CONTAINER_SHAPE))]))


def container_calls(network: Any) -> int:
    """nn.Sequential calls around the blocks: the model, `features`, one per stage and the
    classifier (`NetworkSpec.build`); a SmallMobileNet: the model and `features`."""
    return 3 + len(network.stages()) if callable(getattr(network, "stages", None)) else 2
