"""The search space: MnasNet's factorised hierarchical space (Tan et al. 2019, section 4.1) on a
32x32 backbone, and the network an architecture describes.

A fixed stem, then `B` blocks, and per block one choice of

- ConvOp: a plain conv ("conv"), a depthwise-separable conv ("dwsep"), or an MBConv with
  expansion 3 or 6 ("mbconv3", "mbconv6"); kernel 3 or 5; squeeze-and-excite ratio 0 or 0.25;
- skip: an identity residual where the shapes allow it, or none;
- a width factor on the block's base width, and the number of layers N_i.

The layers inside a block are identical, so the space has `S^B` points, not `S^(B*N)`.
`SearchSpace.spec(arch)` turns an architecture into an `lwcnn.models` spec (so `models.cost`,
`lwcnn.lut` and `lwcnn.train` work on it); `encode` / `decode` map it to and from integer
choices, which is all a search strategy sees.

    >>> space = SearchSpace()
    >>> space.block_size, space.size   # S and S^B
    (288, 6879707136)
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from lwcnn import checks
from lwcnn import cost as C
from lwcnn.blocks import (
    ConvBNAct,
    InvertedResidual,
    ResidualLayers,
    SqueezeExcite,
    check_residual,
    frozen_spec,
)
from lwcnn.models import Flatten, Linear, NetworkSpec, StageLayers

OPS = ("conv", "dwsep", "mbconv3", "mbconv6")
EXPANSION = {"conv": 1, "dwsep": 1, "mbconv3": 3, "mbconv6": 6}


class BlockChoice(NamedTuple):
    """One block's decisions (MnasNet Fig. 4): op, kernel, SE ratio, skip, width factor, layers."""

    op: str = "mbconv6"
    kernel: int = 3
    se_ratio: float = 0.0
    skip: str = "identity"
    width: float = 1.0
    layers: int = 1


DECISIONS = BlockChoice._fields


# --- the plain conv op, with optional SE and shortcut -------------------------------------------


@frozen_spec
class ConvBlock(ResidualLayers):
    """k x k conv -> BN -> ReLU, optional squeeze-and-excite, optional identity shortcut.

    The search space's "conv" op: `ConvBNAct` plus what MnasNet's other ops can have (SE, skip).
    """

    in_channels: int
    out_channels: int
    kernel_size: int = 3
    stride: int = 1
    squeeze_channels: int = 0  # SE's squeezed width; 0: no SE
    residual: bool = False  # the identity shortcut (needs stride 1 and as many channels out as in)

    def __post_init__(self) -> None:
        self._positive("in_channels", "out_channels", "kernel_size", "stride")
        checks.check_int("squeeze_channels", self.squeeze_channels, minimum=0)
        C.same_padding(self.kernel_size)
        check_residual(self)

    @property
    def use_residual(self) -> bool:
        return self.residual

    def layers(self) -> list:
        m, n = self.in_channels, self.out_channels
        specs: list = [ConvBNAct(m, n, self.kernel_size, self.stride, activation="relu")]
        if self.squeeze_channels:
            specs.append(SqueezeExcite(n, self.squeeze_channels, "relu", "sigmoid"))
        return specs


# --- the network an architecture describes ------------------------------------------------------


@dataclass(frozen=True)
class SearchedNet(NetworkSpec):
    """A network of the search space: stem (3x3, `stem_stride`), one stage per block choice, a 1x1
    head, global pooling and a linear classifier.

    Block i has `layers` identical layers of `make_divisible(base_widths[i] * width, 8)`
    channels; the first has stride `strides[i]`. "identity" skip adds a shortcut to every layer
    whose input and output shapes match (MnasNet: skip ops apply where they can).
    """

    blocks: tuple[BlockChoice, ...]
    base_widths: tuple[int, ...] = (16, 24, 40, 64)
    strides: tuple[int, ...] = (1, 2, 2, 2)
    stem_channels: int = 16
    stem_stride: int = 1
    head_channels: int = 128
    num_classes: int = 10
    in_channels: int = 1
    resolution: int | None = None

    default_resolution: ClassVar[int] = 32

    def __post_init__(self) -> None:
        super().__post_init__()  # what every network checks: classes, input channels, stem, ...
        object.__setattr__(self, "blocks", tuple(BlockChoice(*block) for block in self.blocks))
        if not len(self.blocks) == len(self.base_widths) == len(self.strides):
            raise ValueError(
                f"blocks, base_widths and strides must have one entry per block, got "
                f"{len(self.blocks)}, {len(self.base_widths)} and {len(self.strides)}"
            )
        for block in self.blocks:
            _check_block(block)
        for name in ("stem_stride", "head_channels"):
            checks.check_int(name, getattr(self, name))
        for name in ("base_widths", "strides"):
            for value in getattr(self, name):
                checks.check_int(name, value)

    def _make_stages(self) -> list[StageLayers]:
        channels = self.stem_channels
        stages: list[StageLayers] = [
            ("stem", [ConvBNAct(self.in_channels, channels, 3, self.stem_stride, activation="relu")])
        ]
        for index, (block, base, stride) in enumerate(
            zip(self.blocks, self.base_widths, self.strides, strict=False)
        ):
            out = C.nearest_multiple(base * block.width, 8, 8)
            layers = []
            for layer in range(block.layers):
                layers.append(_op_layer(block, channels, out, stride if layer == 0 else 1))
                channels = out
            stages.append((f"block{index + 1}", layers))
        stages.append(("head", [ConvBNAct(channels, self.head_channels, 1, activation="relu")]))
        return stages

    def _make_classifier(self) -> list:
        return [Flatten(self.head_channels), Linear(self.head_channels, self.num_classes)]


def _op_layer(block: BlockChoice, in_channels: int, out_channels: int, stride: int) -> Any:
    """One layer of a block: the op at these channels and stride, SE and skip as chosen."""
    residual = block.skip == "identity" and stride == 1 and in_channels == out_channels
    if block.op == "conv":
        squeeze = C.se_channels(out_channels, block.se_ratio, 8) if block.se_ratio else 0
        return ConvBlock(in_channels, out_channels, block.kernel, stride, squeeze, residual)
    expanded = in_channels * EXPANSION[block.op]
    squeeze = C.se_channels(expanded, block.se_ratio, 8) if block.se_ratio else 0
    return InvertedResidual(
        in_channels,
        out_channels,
        expanded,
        block.kernel,
        stride,
        squeeze,
        activation="relu",
        se_gate="sigmoid",
        residual=residual,
    )


def _check_block(block: BlockChoice) -> None:
    if block.op not in OPS:
        raise ValueError(f"op={block.op!r} is unknown; allowed: {', '.join(OPS)}")
    if block.skip not in ("identity", "none"):
        raise ValueError(f"skip={block.skip!r} is unknown; allowed: identity, none")
    checks.check_interval("se_ratio", block.se_ratio, 0, 1)
    checks.check_greater("width", block.width)
    checks.check_int("layers", block.layers)
    checks.check_int("kernel", block.kernel)


# --- the search space ---------------------------------------------------------------------------

Arch = tuple[BlockChoice, ...]


@dataclass(frozen=True)
class SearchSpace:
    """The options of every decision, for `blocks` searchable blocks (MnasNet's S^B space).

    Narrow an option tuple to make a sub-space (the course's table uses a small one). An
    architecture is a tuple of `BlockChoice`, one per block.
    """

    ops: tuple[str, ...] = OPS
    kernels: tuple[int, ...] = (3, 5)
    se_ratios: tuple[float, ...] = (0.0, 0.25)
    skips: tuple[str, ...] = ("none", "identity")
    widths: tuple[float, ...] = (0.75, 1.0, 1.25)
    layers: tuple[int, ...] = (1, 2, 3)
    base_widths: tuple[int, ...] = (16, 24, 40, 64)
    strides: tuple[int, ...] = (1, 2, 2, 2)
    network: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)  # SearchedNet options

    def __post_init__(self) -> None:
        for name, options in self.options_per_decision().items():
            if not options or len(set(options)) != len(options):
                raise ValueError(f"{name} must list at least one option, each once; got {options!r}")
        for op in self.ops:
            _check_block(BlockChoice(op=op))
        if len(self.base_widths) != len(self.strides):
            raise ValueError("base_widths and strides must have one entry per block")

    @property
    def blocks(self) -> int:
        return len(self.base_widths)

    def options_per_decision(self) -> dict[str, tuple]:
        """Decision name -> its options, in `BlockChoice` order."""
        return {
            "op": tuple(self.ops),
            "kernel": tuple(self.kernels),
            "se_ratio": tuple(self.se_ratios),
            "skip": tuple(self.skips),
            "width": tuple(self.widths),
            "layers": tuple(self.layers),
        }

    def choices(self) -> list[tuple[int, str, tuple]]:
        """Every decision of an architecture, in encoding order: (block, decision, options)."""
        per_block = self.options_per_decision()
        return [(block, name, options) for block in range(self.blocks) for name, options in per_block.items()]

    @property
    def block_size(self) -> int:
        """S: the choices for one block."""
        return math.prod(len(options) for options in self.options_per_decision().values())

    @property
    def size(self) -> int:
        """S^B: the architectures the space encodes (MnasNet's count)."""
        return self.block_size**self.blocks

    def encode(self, arch: Sequence[BlockChoice]) -> tuple[int, ...]:
        """The option index of each decision, block after block."""
        arch = self.check_arch(arch)
        return tuple(options.index(getattr(arch[block], name)) for block, name, options in self.choices())

    def decode(self, code: Sequence[int]) -> Arch:
        """The architecture whose option indices are `code` (inverse of `encode`)."""
        choices = self.choices()
        if len(code) != len(choices):
            raise ValueError(f"code must have {len(choices)} indices, got {len(code)}")
        values: list[dict[str, Any]] = [{} for _ in range(self.blocks)]
        for index, (block, name, options) in zip(code, choices, strict=True):
            # any integer type: a code may come from NumPy (an argmax, an array of indices)
            if (
                isinstance(index, bool)
                or not isinstance(index, numbers.Integral)
                or not 0 <= index < len(options)
            ):
                raise ValueError(
                    f"code index for block {block} {name} must be in [0, {len(options)}), got {index!r}"
                )
            values[block][name] = options[int(index)]
        return tuple(BlockChoice(**block) for block in values)

    def sample(self, rng: random.Random) -> Arch:
        """One architecture drawn uniformly."""
        return self.decode([rng.randrange(len(options)) for _, _, options in self.choices()])

    def mutate(self, arch: Sequence[BlockChoice], rng: random.Random) -> Arch:
        """`arch` with one decision (drawn uniformly) changed to another of its options."""
        code = list(self.encode(arch))
        movable = [i for i, (_, _, options) in enumerate(self.choices()) if len(options) > 1]
        if not movable:
            raise ValueError("every decision has a single option: nothing to mutate")
        position = rng.choice(movable)
        options = self.choices()[position][2]
        code[position] = rng.choice([i for i in range(len(options)) if i != code[position]])
        return self.decode(code)

    def all_archs(self) -> list[Arch]:
        """Every architecture of the space, in encoding order (only for small sub-spaces)."""
        if self.size > 100_000:
            raise ValueError(f"the space has {self.size:,} architectures; enumerate a sub-space")
        sizes = [len(options) for _, _, options in self.choices()]
        codes = [[]]
        for size in sizes:
            codes = [code + [i] for code in codes for i in range(size)]
        return [self.decode(code) for code in codes]

    def spec(self, arch: Sequence[BlockChoice]) -> SearchedNet:
        """The `lwcnn.models` spec of `arch`: cost it, build it, train it."""
        arch = self.check_arch(arch)
        return SearchedNet(arch, self.base_widths, self.strides, **self.network)

    def check_arch(self, arch: Sequence[BlockChoice]) -> Arch:
        """`arch` as a tuple of `BlockChoice`, if it has one per block and every option is in this
        space; else a ValueError naming the decision and its allowed options."""
        arch = tuple(BlockChoice(*block) for block in arch)
        if len(arch) != self.blocks:
            raise ValueError(f"arch must have {self.blocks} blocks, got {len(arch)}")
        for block in arch:
            for name, options in self.options_per_decision().items():
                if getattr(block, name) not in options:
                    raise ValueError(
                        f"{name}={getattr(block, name)!r} is not in this space; allowed: {options}"
                    )
        return arch


# --- the course's sub-spaces ---------------------------------------------------------------------
#
# The course's tabular benchmark (benchmarks/nasbench_build.py -> data/nasbench_digits.csv): three
# blocks after a stride-2 stem (32 -> 16 -> 8 -> 4), one layer each, op x kernel per block:
# 6^3 = 216 networks, each trained on digits with 3 seeds, about 8 s a run on one CPU thread.
TABLE_SPACE = SearchSpace(
    ops=("dwsep", "mbconv3", "mbconv6"),
    kernels=(3, 5),
    se_ratios=(0.0,),
    skips=("identity",),
    widths=(1.0,),
    layers=(1,),
    base_widths=(16, 24, 40),
    strides=(1, 2, 2),
    network={"stem_stride": 2},
)

# A second, disjoint space of the same shape (same decisions, other networks: every block with SE
# and without the identity shortcut), trained once for a held-out table. Search settings are
# chosen on it, never on the course's table (`benchmarks/nas_settings.py`).
HELDOUT_SPACE = dataclasses.replace(
    TABLE_SPACE, se_ratios=(0.25,), skips=("none",), network=dict(TABLE_SPACE.network)
)
