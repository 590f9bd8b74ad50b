"""Figures the papers publish, as data: the lessons put them next to what `lwcnn` counts.

Each entry is copied from the paper's own table (the source names table or figure). MACs are
the papers' "Mult-Adds" / "MAdds" / "FLOPs" (all of them count multiply-adds of conv and
linear layers), in millions; params in millions; top-1 is ImageNet single-crop accuracy in %.
`None` where the paper does not give the figure.

    >>> PAPER_FIGURES["mobilenet_v2"].top1
    72.0
    >>> [row.macs_m for row in MOBILENET_V1_WIDTH]
    [569, 325, 149, 41]
"""

from __future__ import annotations

from typing import NamedTuple

from lwcnn.tables import table


class PaperFigure(NamedTuple):
    """One model's published figures: top-1 (%), MACs (millions), params (millions), source."""

    top1: float | None
    macs_m: float | None
    params_m: float | None
    source: str


class V1Point(NamedTuple):
    """A MobileNetV1 row of Table 6 (width) or Table 7 (resolution)."""

    width_multiplier: float
    resolution: int
    top1: float
    macs_m: int
    params_m: float


# Howard et al. 2017, Table 6 (width multiplier at 224) and Table 7 (resolution at width 1.0),
# which share their first row
MOBILENET_V1_POINTS: tuple[V1Point, ...] = table(
    V1Point,
    """
    alpha  resolution  top-1  MACs(M)  params(M)
      1.0         224   70.6      569        4.2
     0.75         224   68.4      325        2.6
      0.5         224   63.7      149        1.3
     0.25         224   50.6       41        0.5
      1.0         192   69.1      418        4.2
      1.0         160   67.2      290        4.2
      1.0         128   64.4      186        4.2
""",
)
MOBILENET_V1_WIDTH = tuple(point for point in MOBILENET_V1_POINTS if point.resolution == 224)
MOBILENET_V1_RESOLUTION = tuple(point for point in MOBILENET_V1_POINTS if point.width_multiplier == 1.0)

MOBILENET_V1_LAYER_SHARES: dict[str, tuple[float, float]] = {
    # Howard et al. 2017, Table 2: share of Mult-Adds and of parameters (%) per layer type
    "conv 1x1": (94.86, 74.59),
    "conv dw 3x3": (3.06, 1.06),
    "conv 3x3": (1.19, 0.02),
    "fully connected": (0.18, 24.33),
}

PAPER_FIGURES: dict[str, PaperFigure] = {
    "mobilenet_v1": PaperFigure(70.6, 569, 4.2, "MobileNetV1, Table 6"),
    "mobilenet_v2": PaperFigure(72.0, 300, 3.4, "MobileNetV2, Table 4"),
    "mobilenet_v3_large": PaperFigure(75.2, 219, 5.4, "MobileNetV3, Table 3"),
    "mobilenet_v3_small": PaperFigure(67.4, 56, 2.5, "MobileNetV3, Table 3"),
    "mnasnet_a1": PaperFigure(75.2, 312, 3.9, "MnasNet, Table 1"),
    "shufflenet_v2_x0_5": PaperFigure(60.3, 41, 1.4, "ShuffleNetV2, Table 5 (error 39.7)"),
    "shufflenet_v2_x1_0": PaperFigure(69.4, 146, 2.3, "ShuffleNetV2, Table 5 (error 30.6)"),
    "shufflenet_v2_x1_5": PaperFigure(72.6, 299, 3.5, "ShuffleNetV2, Table 5 (error 27.4)"),
    "shufflenet_v2_x2_0": PaperFigure(74.9, 591, 7.4, "ShuffleNetV2, Table 5 (error 25.1)"),
    "ghostnet_1_0": PaperFigure(73.9, 141, 5.2, "GhostNet, Table 7"),
    # GhostNetV2's ImageNet table (Sec. 4.1); 1.0x's 75.3% and 167 M are also in its abstract
    "ghostnetv2_1_0": PaperFigure(75.3, 167, 6.1, "GhostNetV2, ImageNet table"),
    "ghostnetv2_1_3": PaperFigure(76.9, 269, 8.9, "GhostNetV2, ImageNet table"),
    "ghostnetv2_1_6": PaperFigure(77.8, 399, 12.3, "GhostNetV2, ImageNet table"),
    "efficientnet_b0": PaperFigure(77.1, 390, 5.3, "EfficientNet, Table 2"),
    "efficientnet_b1": PaperFigure(79.1, 700, 7.8, "EfficientNet, Table 2"),
    "efficientnet_b2": PaperFigure(80.1, 1000, 9.2, "EfficientNet, Table 2"),
    "efficientnet_b3": PaperFigure(81.6, 1800, 12.0, "EfficientNet, Table 2"),
    "squeezenet1_0": PaperFigure(57.5, None, 1.25, "SqueezeNet, Table 2"),
    # EfficientNetV2-S: the paper's 22 M params (Table 7); its FLOPs as the authors' README gives
    # them (8.4 B at 384), which the network's count matches; B0-B3 only in that README
    "efficientnetv2_s": PaperFigure(83.9, 8400, 22.0, "EfficientNetV2, Table 7; FLOPs: authors' README"),
    "efficientnetv2_b0": PaperFigure(78.7, 720, 7.1, "EfficientNetV2, authors' README"),
    "efficientnetv2_b1": PaperFigure(79.8, 1200, 8.1, "EfficientNetV2, authors' README"),
    "efficientnetv2_b2": PaperFigure(80.5, 1700, 10.1, "EfficientNetV2, authors' README"),
    "efficientnetv2_b3": PaperFigure(82.1, 3000, 14.4, "EfficientNetV2, authors' README"),
    # TinyNet: FLOPs and top-1 of the authors' README (TinyNet-E's 24 M and 59.9% are the
    # abstract's); the paper's params disagree with the released networks (TinyNet-A: 5.1 M
    # quoted, 6.19 M in the authors' and timm's code), so none are given here
    "tinynet_a": PaperFigure(76.8, 339, None, "TinyNet, authors' README"),
    "tinynet_b": PaperFigure(75.0, 202, None, "TinyNet, authors' README"),
    "tinynet_c": PaperFigure(71.2, 100, None, "TinyNet, authors' README"),
    "tinynet_d": PaperFigure(67.0, 52, None, "TinyNet, authors' README"),
    "tinynet_e": PaperFigure(59.9, 24, None, "TinyNet, abstract"),
    "fbnet_c": PaperFigure(74.9, 375, 5.5, "FBNet, Table 2"),
    # ShuffleNet 1x: Table 1's complexity (MFLOPs, which are multiply-adds) per g; Table 2's
    # top-1 (100 - error, 1x); the paper gives no parameter counts
    "shufflenet_v1_g1": PaperFigure(66.4, 143, None, "ShuffleNet, Table 1; Table 2 (error 33.6)"),
    "shufflenet_v1_g2": PaperFigure(67.3, 140, None, "ShuffleNet, Table 1; Table 2 (error 32.7)"),
    "shufflenet_v1_g3": PaperFigure(67.4, 137, None, "ShuffleNet, Table 1; Table 2 (error 32.6)"),
    "shufflenet_v1_g4": PaperFigure(67.2, 133, None, "ShuffleNet, Table 1; Table 2 (error 32.8)"),
    "shufflenet_v1_g8": PaperFigure(67.6, 137, None, "ShuffleNet, Table 1; Table 2 (error 32.4)"),
    # ESPNetv2 s = 1: the authors' README (85.72 M FLOPs, which leave out the classifier's 1.02 M
    # multiply-adds; 1.67 M params; 66.1%), the paper's ImageNet results rounded
    "espnetv2": PaperFigure(66.1, 85.72, 1.67, "ESPNetv2, ImageNet results; authors' README"),
}

# --- headline figures the lessons quote, each with the paper's table or section ------------------


class DeviceLatency(NamedTuple):
    """A network's published top-1 (%) and latency (ms) on named devices, with its source."""

    top1: float
    latency_ms: dict[str, float]
    source: str


MOBILENET_V3_PIXEL: dict[str, DeviceLatency] = {
    # Howard et al. 2019, Table 3: float, single large core, batch 1 (arXiv v5; the earliest
    # version gave V3-Small 66 M MAdds and 2.9 M params, the same accuracy and latencies)
    "mobilenet_v3_large": DeviceLatency(
        75.2, {"Pixel 1": 51, "Pixel 2": 61, "Pixel 3": 44}, "MobileNetV3, Table 3"
    ),
    "mobilenet_v3_small": DeviceLatency(
        67.4, {"Pixel 1": 15.8, "Pixel 2": 19.4, "Pixel 3": 14.4}, "MobileNetV3, Table 3"
    ),
}


class Headline(NamedTuple):
    """A search paper's headline: its network's top-1 (%) at a latency (ms) on a device, and how
    much faster it is than other networks at about the same accuracy."""

    version: str
    network: str
    top1: float
    latency_ms: float
    device: str
    faster_than: dict[str, float]


MNASNET_HEADLINES: tuple[Headline, ...] = (
    # Tan et al., arXiv 1807.11626: the abstracts of v1 (2018) and of the CVPR 2019 version (v3).
    # v1: "1.5x faster than MobileNetV2 and 2.4x faster than NASNet with the same top-1 accuracy".
    Headline("arXiv v1, 2018", "MnasNet", 74.0, 76, "Pixel 1", {"MobileNetV2": 1.5, "NASNet": 2.4}),
    # CVPR: +0.5 points over MobileNetV2 (1.4) (Sec. 6.1) and +1.2 over NASNet.
    Headline("CVPR 2019", "MnasNet-A1", 75.2, 78, "Pixel 1", {"MobileNetV2 (1.4)": 1.8, "NASNet": 2.3}),
)

MNASNET_SINGLE_OP: dict[str, tuple[float, float]] = {
    # Tan et al. 2019, Table 6: MnasNet-A1 against networks that repeat one layer type everywhere
    # (top-1 %, Pixel 1 latency ms). 5x5 kernels buy accuracy at a latency cost.
    "MnasNet-A1": (75.2, 78),
    "MBConv3 3x3 only": (71.8, 63),
    "MBConv3 5x5 only": (72.5, 78),
    "MBConv6 3x3 only": (74.9, 116),
    "MBConv6 5x5 only": (75.6, 146),
}

MOBILENET_V3_ACTIVATIONS: dict[str, tuple[float, float]] = {
    # Howard et al. 2019, Table 5: MobileNetV3-Large with other non-linearities
    # (top-1 %, Pixel 1 latency ms with the optimized h-swish)
    "h-swish from block 7 (V3-Large)": (75.2, 51.4),
    "ReLU everywhere": (74.5, 50.5),
    "h-swish from 16 channels": (75.4, 53.5),
    "h-swish from 112 channels": (75.0, 51.0),
}


class GuidelineTable(NamedTuple):
    """One of ShuffleNetV2's Tables 1-4 at its smallest setting: speed per configuration on a GPU
    (GTX 1080Ti, batches/s) and an ARM CPU (Snapdragon 810, one thread, images/s)."""

    guideline: str
    gpu_batches_per_s: dict[str, float]
    arm_images_per_s: dict[str, float]


SHUFFLENET_V2_GUIDELINES: dict[str, GuidelineTable] = {
    # Ma et al. 2018, Tables 1-4, the "x1" columns (10 stacked units at 56x56)
    "G1": GuidelineTable(
        "equal channel width minimizes memory access cost",
        {"1:1": 1480, "1:2": 1296, "1:6": 876, "1:12": 748},
        {"1:1": 76.2, "1:2": 72.9, "1:6": 69.1, "1:12": 57.6},
    ),
    "G2": GuidelineTable(
        "excessive group convolution increases memory access cost",
        {"g=1": 2451, "g=2": 1725, "g=4": 1026, "g=8": 634},
        {"g=1": 40.0, "g=2": 35.0, "g=4": 32.9, "g=8": 27.8},
    ),
    "G3": GuidelineTable(
        "network fragmentation reduces the degree of parallelism",
        {
            "1 fragment": 2446,
            "2 in series": 1790,
            "4 in series": 752,
            "2 in parallel": 1537,
            "4 in parallel": 691,
        },
        {
            "1 fragment": 40.2,
            "2 in series": 38.6,
            "4 in series": 38.4,
            "2 in parallel": 33.4,
            "4 in parallel": 35.0,
        },
    ),
    "G4": GuidelineTable(
        "element-wise operations are non-negligible",
        {"ReLU, shortcut": 2427, "ReLU only": 2647, "shortcut only": 2672, "neither": 2842},
        {"ReLU, shortcut": 56.7, "ReLU only": 61.9, "shortcut only": 57.3, "neither": 66.3},
    ),
}

EFFICIENTNET_SINGLE_DIMENSION: dict[str, float] = {
    # Tan & Le 2019 (arXiv v5), Table 7: EfficientNet-B0 scaled to about 1.8 B FLOPs (top-1 %)
    "depth (d=4)": 79.0,
    "width (w=2)": 78.9,
    "resolution (r=2)": 79.1,
    "compound": 81.1,
}


class PruningStudy(NamedTuple):
    """The course's source study of network slimming on MobileNetV3 (CIFAR-10), its Table 2."""

    size_before_mb: float
    size_after_mb: float
    ratio_in_body: float
    ratio_in_abstract: float
    accuracy_gain_points: float
    best_prune_rate: float
    file_holds: str


PRUNING_STUDY = PruningStudy(
    93, 16, 5.8, 3.2, 1.6, 0.4, "the state_dict, the optimizer's state and the epoch, not the weights alone"
)


class Compressed(NamedTuple):
    """A network's storage before and after a compression pipeline, as a paper reports it."""

    network: str
    before_mb: float
    after_mb: float
    ratio: int
    source: str


# Han, Mao and Dally, "Deep Compression" (ICLR 2016), abstract: pruning, trained quantization and
# Huffman coding, no loss of ImageNet accuracy
DEEP_COMPRESSION: tuple[Compressed, ...] = (
    Compressed("AlexNet", 240, 6.9, 35, "Han et al. 2016, abstract"),
    Compressed("VGG-16", 552, 11.3, 49, "Han et al. 2016, abstract"),
)


class Collapse(NamedTuple):
    """Top-1 (%) of MobileNets in float and after 8-bit per-tensor (layer-wise) weight quantization."""

    float_top1_low: float
    float_top1_high: float
    per_tensor_top1: float
    source: str


# Oh, Lee, Park, Walagaurav and Kwon 2020 (arXiv 2008.05767), abstract: "the MobileNet family"
# on ImageNet after post-training 8-bit layer-wise weight quantization
PER_TENSOR_MOBILENETS = Collapse(70.60, 71.87, 0.1, "Oh et al. 2020, abstract")


class FusedStages(NamedTuple):
    """EfficientNet-B4 with Fused-MBConv in its first stages: size, accuracy and training speed."""

    variant: str
    params_m: float
    flops_b: float
    top1: float
    tpu_images_per_s: int  # training throughput per TPUv3 core
    v100_images_per_s: int  # per V100 GPU


# Tan and Le 2021 (EfficientNetV2), Table 3: MBConv replaced by Fused-MBConv in stages 1-3, 1-5, 1-7
EFFICIENTNET_V2_FUSED_STAGES: tuple[FusedStages, ...] = table(
    FusedStages,
    """
    variant          params(M)  FLOPs(B)  top-1  TPU  V100
    no-fused              19.3       4.5   82.8  262   155
    fused-stage1-3        20.0       7.5   83.1  362   216
    fused-stage1-5        43.4      21.3   83.1  327   223
    fused-stage1-7       132.0      34.4   81.7  254   206
""",
)
