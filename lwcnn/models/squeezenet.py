"""SqueezeNet 1.0 and 1.1 (Iandola et al., 2016): Fire modules (Table 1)."""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from lwcnn.blocks import ConvBNAct, Fire, frozen_spec
from lwcnn.models.layers import Dropout, Flatten, MaxPool, PlainConv
from lwcnn.models.network import Layer, NetworkSpec, StageLayers, numbered_stages
from lwcnn.tables import table


class FireRow(NamedTuple):
    """A Fire module of SqueezeNet's Table 1: squeeze s1x1, expand e1x1 and e3x3 channels."""

    squeeze: int
    expand1x1: int
    expand3x3: int


MAXPOOL = "maxpool"  # a 3x3 stride-2 max pool (ceil mode) in a SqueezeNet table

# the eight Fire modules of Table 1, the same in both versions (torchvision's)
SQUEEZENET_FIRE_MODULES: tuple[FireRow, ...] = table(
    FireRow,
    """
    s1x1  e1x1  e3x3
      16    64    64
      16    64    64
      32   128   128
      32   128   128
      48   192   192
      48   192   192
      64   256   256
      64   256   256
""",
)

# version: (conv1 channels, conv1 kernel), and the Fire modules a max pool goes before. The
# SqueezeNet repo's v1.1 has a 3x3 conv1 with 64 filters and moves the pools earlier.
SQUEEZENET_VERSIONS: dict[str, tuple[tuple[int, int], tuple[int, ...]]] = {
    "1_0": ((96, 7), (0, 3, 7)),
    "1_1": ((64, 3), (0, 2, 4)),
}

# version: (conv1, the Fire modules with MAXPOOL where a pool goes), what the network reads
SQUEEZENET_TABLES: dict[str, tuple[tuple[int, int], tuple[FireRow | str, ...]]] = {
    version: (
        conv1,
        tuple(
            item
            for index, fire in enumerate(SQUEEZENET_FIRE_MODULES)
            for item in ((MAXPOOL, fire) if index in pools else (fire,))
        ),
    )
    for version, (conv1, pools) in SQUEEZENET_VERSIONS.items()
}


@frozen_spec(always_check=True)
class SqueezeNet(NetworkSpec):
    """SqueezeNet 1.0 (Iandola et al. 2016, Table 1) and 1.1, as torchvision builds them: conv1
    (no padding, bias, ReLU), Fire modules between 3x3 stride-2 max pools (ceil mode), then
    dropout and a 1x1 conv to the classes + ReLU, averaged over the map. No BatchNorm.
    """

    version: str = "1_0"
    resolution: int | None = None
    num_classes: int = 1000
    in_channels: int = 3
    dropout: float = 0.5

    choices: ClassVar[dict] = {"version": SQUEEZENET_TABLES}

    def _make_stages(self) -> list[StageLayers]:
        (conv1, kernel), rows = SQUEEZENET_TABLES[self.version]
        groups: list[list[Layer]] = [[PlainConv(self.in_channels, conv1, kernel, stride=2)]]
        channels = conv1
        for row in rows:
            if row == MAXPOOL:
                groups.append([MaxPool(channels, 3, 2, ceil_mode=True)])
            else:
                groups[-1].append(Fire(channels, *row))
                channels = row.expand1x1 + row.expand3x3  # Fire concatenates its two expands
        # conv1 and the first pool form the stem; every later pool opens a stage
        stem = ("stem", [*groups[0], *groups[1][:1]])
        stages = numbered_stages([groups[1][1:], *groups[2:]])
        head = [
            Dropout(channels, self.dropout),
            ConvBNAct(channels, self.num_classes, 1, norm=False, bias=True),
        ]
        return [stem, *stages, ("head", head)]

    def _make_classifier(self) -> list[Layer]:
        return [Flatten(self.num_classes)]
