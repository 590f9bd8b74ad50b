"""Whole networks, written as data: a spec lists the blocks, `build` makes the module from them.

One frozen dataclass per network holds its paper's table. From that one spec come

* `spec.stages()`: the network as named stages of `lwcnn.blocks` specs (plus `spec.classifier()`),
* `spec.build()`: the `nn.Module`, built from those block specs,
* `spec.cost(resolution)`: params and conv+linear MACs per stage and in total, each layer
  spec's own cost summed (integer arithmetic: no module, no forward pass).

    >>> cost("mobilenet_v2").macs               # torchvision's MobileNetV2: FlopCounterMode / 2
    300774272
    >>> cost("mobilenet_v1", width_multiplier=0.5, resolution=160).macs
    76524800
    >>> model = build("mobilenet_v3_small", num_classes=10, small_input=True)   # for 32x32 images

By name: `spec(name, **options)`, `build(name, **options)`, `cost(name, resolution, **options)`;
`MODEL_NAMES` lists the names and `options(name)` the options of one. `load_torchvision_weights`
and `load_timm_weights` copy a torchvision or timm model's weights into the module `build` made.

The course's own 32x32 training network is `SmallMobileNet`:

>>> spec = SmallMobileNet(conv="separable")
>>> model = spec.build()                  # an nn.Sequential for 32x32 inputs
>>> spec.cost(32).params, spec.cost(32).macs
(13898, 369920)

One file per concern: `network.py` (what every network spec shares), `layers.py` (the layers
around the blocks), one file per family (`mobilenet_v1.py` ... `squeezenet.py`), `small.py` (the
course's training networks) and `zoo.py` (the networks by name).
"""

from lwcnn.models.efficientnet import (
    EFFICIENTNET_B0_TABLE,
    EFFICIENTNET_SCALING,
    TINYNET_SCALING,
    EfficientNet,
    TinyNet,
    tinynet_resolution,
)
from lwcnn.models.efficientnet_v2 import (
    EFFICIENTNET_V2_B0_TABLE,
    EFFICIENTNET_V2_S_TABLE,
    EFFICIENTNET_V2_VARIANTS,
    EfficientNetV2,
    EfficientNetV2Row,
)
from lwcnn.models.espnet import ESPNETV2_LEVELS, EESPLevel, ESPNetC, ESPNetV2
from lwcnn.models.fbnet import FBNET_C_TABLE, FBNet, FBNetRow
from lwcnn.models.ghostnet import GHOSTNET_TABLE, GhostNet, GhostNetV2, GhostRow
from lwcnn.models.layers import (
    GLUE_LAYERS,
    Activation,
    BatchNorm,
    Dropout,
    Flatten,
    Linear,
    MaxPool,
    PlainConv,
)
from lwcnn.models.mnasnet import MNASNET_A1_TABLE, MNASNET_B1_TABLE, MNASNET_TABLES, MBRow, MnasNet
from lwcnn.models.mobilenet_v1 import MOBILENET_V1_TABLE, MobileNetV1, V1Row
from lwcnn.models.mobilenet_v2 import MOBILENET_V2_TABLE, MobileNetV2, V2Row
from lwcnn.models.mobilenet_v3 import (
    MOBILENET_V3_LARGE_TABLE,
    MOBILENET_V3_LAST_CHANNELS,
    MOBILENET_V3_SMALL_TABLE,
    MOBILENET_V3_TABLES,
    MobileNetV3,
    V3Row,
)
from lwcnn.models.network import (
    NO_SE,
    SMALL_INPUT_NORM_MOMENTUM,
    Layer,
    NetworkCost,
    NetworkSpec,
    ScaledNetwork,
    Stage,
    StageCost,
    StageLayers,
    check_rows,
    clear_cost_caches,
    dropout_classifier,
    numbered_stages,
    repeated_rows,
    without_first_stride,
)
from lwcnn.models.shufflenet_v1 import SHUFFLENET_V1_CHANNELS, SHUFFLENET_V1_REPEATS, ShuffleNetV1
from lwcnn.models.shufflenet_v2 import SHUFFLENET_V2_CHANNELS, ShuffleNetV2
from lwcnn.models.small import (
    CONV_KINDS,
    SmallMBConvNet,
    SmallMobileNet,
    small_mobilenet,
    small_mobilenet_cost,
)
from lwcnn.models.squeezenet import MAXPOOL, SQUEEZENET_TABLES, FireRow, SqueezeNet
from lwcnn.models.zoo import (
    MODEL_NAMES,
    NETWORK_SPECS,
    TIMM_NAMES,
    TORCHVISION_NAMES,
    build,
    cost,
    load_timm_weights,
    load_torchvision_weights,
    options,
    spec,
)

__all__ = [
    "CONV_KINDS",
    "SmallMobileNet",
    "small_mobilenet",
    "small_mobilenet_cost",
    "SmallMBConvNet",
    "PlainConv",
    "MaxPool",
    "Flatten",
    "Dropout",
    "BatchNorm",
    "Activation",
    "Linear",
    "GLUE_LAYERS",
    "Stage",
    "StageCost",
    "NetworkCost",
    "NO_SE",
    "SMALL_INPUT_NORM_MOMENTUM",
    "Layer",
    "StageLayers",
    "NetworkSpec",
    "ScaledNetwork",
    "clear_cost_caches",
    "check_rows",
    "without_first_stride",
    "numbered_stages",
    "repeated_rows",
    "dropout_classifier",
    "V1Row",
    "MOBILENET_V1_TABLE",
    "MobileNetV1",
    "V2Row",
    "MOBILENET_V2_TABLE",
    "MobileNetV2",
    "V3Row",
    "MOBILENET_V3_LARGE_TABLE",
    "MOBILENET_V3_SMALL_TABLE",
    "MOBILENET_V3_TABLES",
    "MOBILENET_V3_LAST_CHANNELS",
    "MobileNetV3",
    "MBRow",
    "MNASNET_B1_TABLE",
    "MNASNET_A1_TABLE",
    "MNASNET_TABLES",
    "MnasNet",
    "SHUFFLENET_V2_CHANNELS",
    "SHUFFLENET_V1_CHANNELS",
    "SHUFFLENET_V1_REPEATS",
    "ShuffleNetV1",
    "EESPLevel",
    "ESPNETV2_LEVELS",
    "ESPNetV2",
    "ESPNetC",
    "ShuffleNetV2",
    "GhostRow",
    "GHOSTNET_TABLE",
    "GhostNet",
    "GhostNetV2",
    "EFFICIENTNET_B0_TABLE",
    "EFFICIENTNET_SCALING",
    "EfficientNet",
    "TINYNET_SCALING",
    "TinyNet",
    "tinynet_resolution",
    "EfficientNetV2Row",
    "EFFICIENTNET_V2_S_TABLE",
    "EFFICIENTNET_V2_B0_TABLE",
    "EFFICIENTNET_V2_VARIANTS",
    "EfficientNetV2",
    "FBNetRow",
    "FBNET_C_TABLE",
    "FBNet",
    "FireRow",
    "MAXPOOL",
    "SQUEEZENET_TABLES",
    "SqueezeNet",
    "NETWORK_SPECS",
    "MODEL_NAMES",
    "TIMM_NAMES",
    "TORCHVISION_NAMES",
    "options",
    "spec",
    "build",
    "cost",
    "load_torchvision_weights",
    "load_timm_weights",
]
