"""Building blocks of lightweight CNNs: one frozen spec per block, many views of it.

A spec (a frozen dataclass) holds a block's shape. From the spec come

* `spec.build()`: the `nn.Module`,
* `spec.cost(input_size)`: the analytical parameters and conv+linear multiply-adds at an input
  size, from `lwcnn.cost` (no forward pass), and the output shape,
* `spec.layers()` (composite blocks): the list of sub-specs that `build` makes modules of.

`cost` checks `input_size`, then calls the spec's `_cost(height, width)`: integer arithmetic
on the spec's own fields (checked when it was made), with `lwcnn.cost`'s formulas. A layer that
is one conv or one linear map writes its formula; a composite block's cost is its `layers()`
costed in turn (`chain_cost`), with branches side by side where the block has them. Where a
lesson teaches a block's formula, the block costs by that formula: the inverted residual
(MobileNetV2's, lesson 05), and ShuffleNet's unit, ESPNetv2's EESP unit and the fused MBConv
(lesson 13). The tests check each against its `layers()` costed and against torch's own counts.

    >>> from lwcnn.blocks import InvertedResidual
    >>> block = InvertedResidual(16, 24, expanded_channels=96, stride=2)
    >>> block.cost(56)
    BlockCost(params=5136, macs=7300608, out_channels=24, out_size=(28, 28))

One file per block family: `conv.py` (ConvBNAct, depthwise separable), `mbconv.py` (SE,
inverted residual, fused MBConv), `shufflenet.py`, `ghost.py`, `fire.py`, `esp.py`; `spec.py`
holds what they share, `parts.py` the weightless layers several use (average pooling, the tap
that keeps the input image) and `activations.py` the activations by name.
"""

from lwcnn.blocks.activations import (
    ACTIVATIONS,
    HSigmoid,
    HSwish,
    activation_params,
    check_activation,
    make_activation,
)
from lwcnn.blocks.conv import SEPARABLE_ORDERS, ConvBNAct, DepthwiseSeparable
from lwcnn.blocks.esp import (
    EESPBlock,
    EESPUnit,
    ESPBlock,
    ESPModule,
    ESPNetLevel,
    ESPNetLevelBlock,
    ImageConcat,
    ImageConcatBlock,
)
from lwcnn.blocks.fire import Fire, FireBlock
from lwcnn.blocks.ghost import (
    DFC_DIRECTIONS,
    DecoupledFC,
    DFCAttention,
    DFCAttentionBlock,
    GhostBlock,
    GhostBlockV2,
    GhostBottleneck,
    GhostBottleneckBlock,
    GhostBottleneckV2,
    GhostModule,
    GhostModuleV2,
)
from lwcnn.blocks.mbconv import (
    GATES,
    FusedMBConv,
    InvertedResidual,
    MBConv,
    ResidualBlock,
    ResidualLayers,
    SqueezeExcite,
    SqueezeExciteBlock,
    check_residual,
    optional_se,
)
from lwcnn.blocks.parts import (
    AvgPool,
    ImageTap,
    ImageTapModule,
    ReadsImage,
    connect_image,
    pool_image,
)
from lwcnn.blocks.shufflenet import (
    ChannelShuffle,
    ChannelShuffleModule,
    ShuffleNetV1Unit,
    ShuffleNetV2Unit,
    ShuffleV1Block,
    ShuffleV2Block,
    channel_shuffle,
)
from lwcnn.blocks.spec import (
    BATCHNORM_KEYS,
    BlockCost,
    BlockSpec,
    Channels,
    LayerCost,
    Part,
    SameChannels,
    chain_cost,
    frozen_spec,
    per_channel_tensors,
)

BLOCKS = (
    ConvBNAct,
    DepthwiseSeparable,
    SqueezeExcite,
    InvertedResidual,
    FusedMBConv,
    ShuffleNetV2Unit,
    ShuffleNetV1Unit,
    ChannelShuffle,
    GhostModule,
    GhostBottleneck,
    DecoupledFC,
    DFCAttention,
    GhostModuleV2,
    GhostBottleneckV2,
    Fire,
    ESPModule,
    ESPNetLevel,
    ImageConcat,
    EESPUnit,
    AvgPool,
    ImageTap,
)

__all__ = [
    "BLOCKS",
    "ACTIVATIONS",
    "HSigmoid",
    "HSwish",
    "activation_params",
    "check_activation",
    "make_activation",
    "SEPARABLE_ORDERS",
    "ConvBNAct",
    "DepthwiseSeparable",
    "ESPBlock",
    "ESPModule",
    "ESPNetLevel",
    "ESPNetLevelBlock",
    "ImageConcat",
    "ImageConcatBlock",
    "EESPBlock",
    "EESPUnit",
    "AvgPool",
    "ImageTap",
    "ImageTapModule",
    "ReadsImage",
    "connect_image",
    "pool_image",
    "Fire",
    "FireBlock",
    "GhostBlock",
    "GhostBottleneck",
    "GhostBottleneckBlock",
    "GhostModule",
    "DFC_DIRECTIONS",
    "DecoupledFC",
    "DFCAttention",
    "DFCAttentionBlock",
    "GhostBlockV2",
    "GhostModuleV2",
    "GhostBottleneckV2",
    "GATES",
    "FusedMBConv",
    "InvertedResidual",
    "MBConv",
    "ResidualBlock",
    "ResidualLayers",
    "SqueezeExcite",
    "SqueezeExciteBlock",
    "check_residual",
    "optional_se",
    "ShuffleNetV2Unit",
    "ShuffleV2Block",
    "ShuffleNetV1Unit",
    "ShuffleV1Block",
    "ChannelShuffle",
    "ChannelShuffleModule",
    "channel_shuffle",
    "BATCHNORM_KEYS",
    "BlockCost",
    "BlockSpec",
    "Channels",
    "LayerCost",
    "Part",
    "SameChannels",
    "chain_cost",
    "frozen_spec",
    "per_channel_tensors",
]
