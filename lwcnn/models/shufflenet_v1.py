"""ShuffleNet (Zhang et al., 2018): pointwise group convolutions and channel shuffle (Table 1)."""

from __future__ import annotations

from typing import ClassVar

from lwcnn import cost as C
from lwcnn.blocks import ConvBNAct, ShuffleNetV1Unit, frozen_spec
from lwcnn.models.layers import Flatten, Linear, MaxPool
from lwcnn.models.network import Layer, ScaledNetwork, StageLayers

SHUFFLENET_V1_CHANNELS: dict[int, tuple[int, int, int]] = {
    # ShuffleNet, Table 1: output channels of Stage2, Stage3, Stage4 for g groups (at 1x)
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
SHUFFLENET_V1_REPEATS = (4, 8, 4)  # Table 1: units per stage, the first of each with stride 2


@frozen_spec(kw_only=True, always_check=True)
class ShuffleNetV1(ScaledNetwork):
    """ShuffleNet (Zhang et al. 2018, Table 1): a 3x3 conv (stride 2) to 24 channels and a 3x3
    max pool (stride 2), Stage2-4 of 4, 8 and 4 ShuffleNet units (the first of each with
    stride 2; the first unit of Stage2 has a plain first 1x1 conv, its 24 inputs being too few to
    group), global pooling and a linear classifier. `groups` (g) picks a column of Table 1.

    `width_multiplier` is the paper's "ShuffleNet s x" (Table 2: 0.25x, 0.5x, 1x; Table 5 also
    1.5x and 2x), "the number of filters" times s. The paper gives no rounding; here every
    width scales, the stem's too (as mmpretrain does, `int(24 s)`; the authors' released models
    keep 24 at 1.5x), rounded (`make_divisible`) to a multiple of g for the stem and of 4g for
    the stages, so that the bottleneck (a quarter of the output) and the branch of a stride-2
    unit (output less input) split into g groups. At 1x this is Table 1 exactly.

    At 224 and 1x the multiply-adds are Table 1's complexity within 1% for every g (143, 140,
    137, 133, 137 M for g = 1, 2, 3, 4, 8). The paper gives no parameter counts; g = 3 has
    1,865,728 (with the classifier's bias): mmpretrain's 1.87 M, the authors' released 1.9 M.
    At 1.5x the stem's 36 channels make 300 M multiply-adds where the authors' model, whose
    stem keeps 24, has 292 M.
    """

    groups: int = 3

    choices: ClassVar[dict] = {"groups": SHUFFLENET_V1_CHANNELS}
    stem_channels: ClassVar[int] = 24  # Table 1's Conv1

    @property
    def channels(self) -> tuple[int, int, int]:
        """The output channels of Stage2-4 at this width."""
        g, width = self.groups, self.width_multiplier
        # make_divisible, unchecked: the width multiplier was checked positive
        return tuple(C.nearest_multiple(c * width, 4 * g, 4 * g) for c in SHUFFLENET_V1_CHANNELS[g])

    def _make_stages(self) -> list[StageLayers]:
        g = self.groups
        stem = C.nearest_multiple(self.stem_channels * self.width_multiplier, g, g)
        stages = [("stem", [ConvBNAct(self.in_channels, stem, 3, 2), MaxPool(stem, 3, 2, 1)])]
        channels = stem
        for index, (out, repeats) in enumerate(zip(self.channels, SHUFFLENET_V1_REPEATS, strict=True), 2):
            units = [ShuffleNetV1Unit(channels, out, g, stride=2, grouped_first=index > 2)]
            units += [ShuffleNetV1Unit(out, out, g)] * (repeats - 1)
            stages.append((f"stage{index}", units))
            channels = out
        return stages

    def _make_classifier(self) -> list[Layer]:
        channels = self.channels[-1]
        return [Flatten(channels), Linear(channels, self.num_classes)]
