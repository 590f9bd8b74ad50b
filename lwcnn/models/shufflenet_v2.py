"""ShuffleNetV2 (Ma et al., 2018): channel split, shuffle and two-branch units (Table 5)."""

from __future__ import annotations

from typing import ClassVar

from lwcnn import checks
from lwcnn.blocks import ConvBNAct, ShuffleNetV2Unit, frozen_spec
from lwcnn.models.layers import Flatten, Linear, MaxPool
from lwcnn.models.network import Layer, ScaledNetwork, StageLayers

SHUFFLENET_V2_CHANNELS: dict[float, tuple[int, int, int, int, int]] = {
    # ShuffleNetV2, Table 5: output channels of Conv1, Stage2, Stage3, Stage4, Conv5
    0.5: (24, 48, 96, 192, 1024),
    1.0: (24, 116, 232, 464, 1024),
    1.5: (24, 176, 352, 704, 1024),
    2.0: (24, 244, 488, 976, 2048),
}


@frozen_spec(kw_only=True, always_check=True)
class ShuffleNetV2(ScaledNetwork):
    """ShuffleNetV2 (Ma et al. 2018, Table 5): 3x3 conv (stride 2) and 3x3 max pool, then
    Stage2-4 of ShuffleNetV2 units (the first of each with stride 2, `stage_repeats` in all), a
    1x1 conv (Conv5), pooling and a linear classifier. `width_multiplier` picks a column of the
    table: 0.5, 1.0, 1.5 or 2.0.
    """

    stage_repeats: tuple[int, int, int] = (4, 8, 4)

    choices: ClassVar[dict] = {"width_multiplier": SHUFFLENET_V2_CHANNELS}

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(checks.check_sequence("stage_repeats", self.stage_repeats, "3 counts (Stage2-4)")) != 3:
            raise ValueError(f"stage_repeats must hold 3 counts (Stage2-4), got {self.stage_repeats!r}")
        for index, repeats in enumerate(self.stage_repeats):
            checks.check_int(f"stage_repeats[{index}]", repeats)

    @property
    def channels(self) -> tuple[int, int, int, int, int]:
        return SHUFFLENET_V2_CHANNELS[self.width_multiplier]

    def _make_stages(self) -> list[StageLayers]:
        conv1, *stage_channels, conv5 = self.channels
        stages = [("stem", [ConvBNAct(self.in_channels, conv1, 3, 2), MaxPool(conv1, 3, 2, 1)])]
        channels = conv1
        for index, (out, repeats) in enumerate(zip(stage_channels, self.stage_repeats, strict=True), 2):
            units = [ShuffleNetV2Unit(channels, out, stride=2)]
            units += [ShuffleNetV2Unit(out, out, stride=1)] * (repeats - 1)
            stages.append((f"stage{index}", units))
            channels = out
        return [*stages, ("head", [ConvBNAct(channels, conv5, 1)])]

    def _make_classifier(self) -> list[Layer]:
        channels = self.channels[-1]
        return [Flatten(channels), Linear(channels, self.num_classes)]
