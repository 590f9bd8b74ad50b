"""ShuffleNetV2's four guidelines as small benchmark networks (Ma et al. 2018, Sec. 2 and Tables 1-4).

Each guideline compares networks with the same multiply-adds that a device runs at different
speeds. The paper stacks 10 units at 56x56; so do these builders, and lesson 07 times them live
while `benchmarks/record_latency.py` records them (table `guidelines`) for the lesson's checked
claims.

- G1, equal channel widths: `stack_1x1(c1, c2)`, 1x1 convs alternating c1 -> c2 -> c1, at the
  ratios of `G1_WIDTHS` (the MACs stay about the same, the memory traffic grows with the ratio);
- G2, groups: `stack_1x1(c, c, groups=g)` with `c` widened so the MACs stay (`G2_GROUPS`);
- G3, fragmentation: `fragments(pieces)`, one 1x1 conv split into `pieces` parallel convs;
- G4, element-wise ops: `element_wise_variant(activation, shortcut)`, an inverted residual with
  and without its activations and its shortcut add.

    >>> [name for name, _, _ in items()][:2]
    ['G1 1:1', 'G1 1:2']

`relative_times` puts a recording of these networks next to the paper's Tables 1-4
(`lwcnn.papers.SHUFFLENET_V2_GUIDELINES`), each as time relative to the guideline's first network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from lwcnn import papers
from lwcnn.blocks import InvertedResidual

SIZE = 56  # every guideline runs on 56x56 maps, as in the paper
G1_WIDTHS = ((128, 128), (90, 180), (52, 312), (36, 432))  # c1:c2 = 1:1, 1:2, 1:6, 1:12 (Table 1)
G2_GROUPS = ((1, 128), (2, 180), (4, 256), (8, 360))  # (groups, channels) at about equal MACs (Table 2)
G3_CHANNELS = 128
G3_PIECES = (1, 4, 8, 16)
G4_BLOCK = (32, 192)  # an inverted residual 32 -> 192 -> 32 (expansion 6)
G4_VARIANTS = (("relu6", True), ("relu6", False), ("identity", True), ("identity", False))


def stack_1x1(c1: int, c2: int, groups: int = 1, layers: int = 10) -> nn.Sequential:
    """ShuffleNetV2's G1/G2 benchmark: `layers` bias-free 1x1 convs alternating c1 -> c2 -> c1 ..."""
    return nn.Sequential(
        *(
            nn.Conv2d(*((c1, c2) if i % 2 == 0 else (c2, c1)), 1, groups=groups, bias=False)
            for i in range(layers)
        )
    )


class Parallel(nn.Module):
    """Run every branch on the same input and concatenate their outputs along the channels."""

    def __init__(self, branches: list[nn.Module]):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


def fragments(pieces: int, channels: int = G3_CHANNELS) -> nn.Module:
    """One `channels -> channels` 1x1 conv, or the same work split into `pieces` parallel convs."""
    if pieces < 1 or channels % pieces:
        raise ValueError(f"pieces must be a positive divisor of channels={channels}, got {pieces!r}")
    if pieces == 1:
        return nn.Conv2d(channels, channels, 1, bias=False)
    return Parallel([nn.Conv2d(channels, channels // pieces, 1, bias=False) for _ in range(pieces)])


class WithoutShortcut(nn.Module):
    """An inverted residual's layers with the shortcut add left out."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block.block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


def element_wise_variant(activation: str, shortcut: bool) -> nn.Module:
    """G4: the inverted residual of `G4_BLOCK` with `activation` ('identity' drops them) and with or
    without its shortcut: the same multiply-adds, fewer element-wise passes."""
    thin, expanded = G4_BLOCK
    built = InvertedResidual(thin, thin, expanded, activation=activation).build()
    return built if shortcut else WithoutShortcut(built)


def items() -> list[tuple[str, Callable[[], nn.Module], tuple[int, ...]]]:
    """(label, builder, input shape at batch 1) for every network of the four guidelines."""
    found = [
        (f"G1 1:{c2 // c1}", lambda c1=c1, c2=c2: stack_1x1(c1, c2), (1, c1, SIZE, SIZE))
        for c1, c2 in G1_WIDTHS
    ]
    found += [(f"G2 g={g}", lambda c=c, g=g: stack_1x1(c, c, g), (1, c, SIZE, SIZE)) for g, c in G2_GROUPS]
    found += [
        (f"G3 {p} piece{'s' if p > 1 else ''}", lambda p=p: fragments(p), (1, G3_CHANNELS, SIZE, SIZE))
        for p in G3_PIECES
    ]
    found += [
        (
            f"G4 {activation}, {'with' if shortcut else 'no'} shortcut",
            lambda a=activation, s=shortcut: element_wise_variant(a, s),
            (1, G4_BLOCK[0], SIZE, SIZE),
        )
        for activation, shortcut in G4_VARIANTS
    ]
    return found


# Our networks -> the paper's columns in Tables 1-4 (None: the paper has no such network).
PAPER_COLUMNS = {
    "G1 1:1": "1:1",
    "G1 1:2": "1:2",
    "G1 1:6": "1:6",
    "G1 1:12": "1:12",
    "G2 g=1": "g=1",
    "G2 g=2": "g=2",
    "G2 g=4": "g=4",
    "G2 g=8": "g=8",
    "G3 1 piece": "1 fragment",
    "G3 4 pieces": "4 in parallel",
    "G3 8 pieces": None,
    "G3 16 pieces": None,
    "G4 relu6, with shortcut": "ReLU, shortcut",
    "G4 relu6, no shortcut": "ReLU only",
    "G4 identity, with shortcut": "shortcut only",
    "G4 identity, no shortcut": "neither",
}


def relative_times(
    guideline: str, recorded_ms: Mapping[str, float]
) -> list[tuple[str, float | None, float | None, float]]:
    """(network, paper GPU, paper ARM, recorded) time of each network of `guideline` ('G1'..'G4')
    relative to the guideline's first network. The paper gives throughput, so its time ratio is
    the first network's speed over this one's; `recorded_ms` maps network labels to milliseconds.

    >>> relative_times("G1", {label: 1.0 for label in PAPER_COLUMNS})[-1][:3]
    ('G1 1:12', 1.9786096256684491, 1.3229166666666667)
    """
    if guideline not in papers.SHUFFLENET_V2_GUIDELINES:
        raise ValueError(
            f"guideline must be one of {tuple(papers.SHUFFLENET_V2_GUIDELINES)}, got {guideline!r}"
        )
    table = papers.SHUFFLENET_V2_GUIDELINES[guideline]
    labels = [label for label in PAPER_COLUMNS if label.startswith(guideline + " ")]
    first = labels[0]
    missing = [label for label in labels if label not in recorded_ms]
    if missing:
        raise ValueError(f"recorded_ms lacks {missing}; record them with benchmarks/record_latency.py")
    rows = []
    for label in labels:
        column = PAPER_COLUMNS[label]
        gpu = arm = None
        if column is not None:
            gpu = table.gpu_batches_per_s[PAPER_COLUMNS[first]] / table.gpu_batches_per_s[column]
            arm = table.arm_images_per_s[PAPER_COLUMNS[first]] / table.arm_images_per_s[column]
        rows.append((label, gpu, arm, recorded_ms[label] / recorded_ms[first]))
    return rows
