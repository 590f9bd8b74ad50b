"""Architecture diagrams drawn from the specs: one more view of the spec that builds and costs.

`draw(spec_or_name, input_size)` draws

* a block spec (`lwcnn.blocks`, the glue layers of `lwcnn.models`, `lwcnn.nas.ConvBlock`) as a
  vertical flow chart of its layers, one box per layer of `layers()`, with the tensor shape
  after each layer (from the layers' `cost`, no forward pass), the shortcut as a bypass into a
  "+", and the parallel branches of ShuffleNetV2, Fire, ESP and Ghost side by side;
* a network spec (`lwcnn.models.NetworkSpec`, a zoo name from `lwcnn.models.MODEL_NAMES`, a
  `PrunedSpec` or a `SearchedNet`) as one row per stage of compact block boxes, with the
  stage's output shape from `spec.cost(resolution)`.

Every label is read from the spec's fields, so a diagram cannot disagree with the code. What
each kind of layer is called lives in one table, `_DESCRIBE` (one small function per kind).

    >>> import lwcnn
    >>> from lwcnn.blocks import InvertedResidual
    >>> diagram = lwcnn.draw(InvertedResidual(24, 24, expanded_channels=144), input_size=56)
    >>> [item.label for item in diagram.items]
    ['1x1 conv 24->144, BN, ReLU6', '3x3 dw conv 144, BN, ReLU6', '1x1 conv 144->24, BN, linear']
    >>> diagram.items[-1].out_shape
    (24, 56, 56)
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from lwcnn import blocks as B
from lwcnn import checks, nas
from lwcnn import models as M
from lwcnn.cost import Size

if TYPE_CHECKING:  # matplotlib is imported when a diagram is drawn, so `import lwcnn` stays quick
    from matplotlib.figure import Figure

DETAILS = ("compact", "full")  # networks: repeated identical blocks as one "xN" box, or every block
Shape = tuple[int, int, int]  # (channels, height, width)

# --- what each kind of layer is called ----------------------------------------------------------

ACTIVATION_NAMES = {
    "relu": "ReLU",
    "relu6": "ReLU6",
    "hswish": "h-swish",
    "hsigmoid": "h-sigmoid",
    "sigmoid": "sigmoid",
    "silu": "SiLU",
    "swish": "swish",
    "prelu": "PReLU",
    "identity": "linear",
    None: "linear",
}


class Description(NamedTuple):
    """How a layer is labelled: `label`, one line for a block's flow chart (`1x1 conv 16->96,
    BN, ReLU6`), and `lines`, two or three short lines for a network's compact box."""

    label: str
    lines: tuple[str, ...]


_DESCRIBE: dict[type, Callable[[Any], Description]] = {}


def _describes(kind: type) -> Callable:
    def register(function: Callable[[Any], Description]) -> Callable[[Any], Description]:
        _DESCRIBE[kind] = function
        return function

    return register


def _act(name: str | None) -> str:
    return ACTIVATION_NAMES[name]


def _kernel(k: int) -> str:
    return f"{k}x{k}"


def _expansion(expanded: int, in_channels: int) -> str:
    """MobileNetV2's `t` when E is a whole multiple of M, else the expanded width (V3's "exp")."""
    return f"e{expanded // in_channels}" if expanded % in_channels == 0 else f"exp{expanded}"


def _stride(stride: int) -> str:
    return f" s{stride}" if stride > 1 else ""


def _join(*parts: str) -> str:
    return " ".join(part for part in parts if part)


@_describes(B.ConvBNAct)
def _conv_bn_act(spec: B.ConvBNAct) -> Description:
    m, n, groups = spec.in_channels, spec.out_channels, spec.groups
    depthwise = groups == m and groups > 1
    name = "dw conv" if depthwise else "conv" if groups == 1 else f"conv g{groups}"
    channels = f"{m}" if depthwise and m == n else f"{m}->{n}"
    dilation = f" d{spec.dilation}" if spec.dilation > 1 else ""
    after = [part for part, on in (("BN", spec.norm), ("bias", spec.bias)) if on]
    label = ", ".join(
        [f"{_kernel(spec.kernel_size)} {name} {channels}{_stride(spec.stride)}{dilation}", *after]
    )
    label += f", {_act(spec.activation)}"
    short = "dw" if depthwise else "conv"
    return Description(
        label, (f"{short} {_kernel(spec.kernel_size)}{_stride(spec.stride)}", _act(spec.activation), f"->{n}")
    )


@_describes(M.PlainConv)
def _plain_conv(spec: M.PlainConv) -> Description:
    k, m, n = _kernel(spec.kernel_size), spec.in_channels, spec.out_channels
    label = f"{k} conv {m}->{n}{_stride(spec.stride)} pad {spec.padding}, bias, {_act(spec.activation)}"
    return Description(
        label, (f"conv {k}{_stride(spec.stride)}", f"pad {spec.padding} {_act(spec.activation)}", f"->{n}")
    )


@_describes(B.DepthwiseSeparable)
def _separable(spec: B.DepthwiseSeparable) -> Description:
    k, n = _kernel(spec.kernel_size), spec.out_channels
    order = "" if spec.order == "mobilenet" else " (Xception order)"
    label = f"{k} separable {spec.in_channels}->{n}{_stride(spec.stride)}{order}, {_act(spec.activation)}"
    return Description(label, (f"dw-sep {k}{_stride(spec.stride)}", _act(spec.activation), f"->{n}"))


@_describes(B.SqueezeExcite)
def _squeeze_excite(spec: B.SqueezeExcite) -> Description:
    c, s = spec.channels, spec.squeeze_channels
    label = f"SE {c}->{s}->{c}, {_act(spec.activation)}, {_act(spec.gate)}"
    return Description(label, (f"SE {c}->{s}", _act(spec.gate), f"->{c}"))


def _mbconv(name: str, spec: Any, expansion: str) -> Description:
    """The compact box of the residual-capable blocks: kind, kernel, stride, expansion, SE, skip."""
    k = _kernel(spec.kernel_size)
    se = "SE" if spec.squeeze_channels else ""
    skip = "+skip" if spec.use_residual else ""
    activation = _act(getattr(spec, "activation", "relu"))
    label = _join(
        f"{name} {k}{_stride(spec.stride)}",
        expansion,
        se,
        activation,
        skip,
        f"{spec.in_channels}->{spec.out_channels}",
    )
    return Description(
        label,
        (
            f"{name} {k}{_stride(spec.stride)}",
            _join(expansion, se, skip),
            f"{activation} ->{spec.out_channels}",
        ),
    )


@_describes(B.InvertedResidual)
def _inverted_residual(spec: B.InvertedResidual) -> Description:
    expansion = _expansion(spec.expanded_channels, spec.in_channels) if spec.has_expansion else "e1"
    return _mbconv("MBConv", spec, expansion)


@_describes(B.FusedMBConv)
def _fused_mbconv(spec: B.FusedMBConv) -> Description:
    return _mbconv("Fused", spec, _expansion(spec.expanded_channels, spec.in_channels))


@_describes(nas.ConvBlock)
def _searched_conv(spec: nas.ConvBlock) -> Description:
    return _mbconv("conv", spec, "")


@_describes(B.ShuffleNetV2Unit)
def _shuffle_unit(spec: B.ShuffleNetV2Unit) -> Description:
    k, n = _kernel(spec.kernel_size), spec.out_channels
    how = "split" if spec.stride == 1 else "copy"
    label = f"ShuffleNetV2 unit {k}{_stride(spec.stride)} {spec.in_channels}->{n} ({how}, concat, shuffle)"
    return Description(label, (f"Shuffle {k}{_stride(spec.stride)}", f"{how}+shuffle", f"->{n}"))


def _ghost_module_description(spec: B.GhostModule, gate: str, short: str) -> Description:
    act = "ReLU" if spec.relu else "linear"
    label = (
        f"Ghost module {spec.in_channels}->{spec.out_channels}{_stride(spec.stride)} "
        f"({_kernel(spec.kernel_size)} conv + {_kernel(spec.dw_size)} dw ghosts), {act}{gate}"
    )
    return Description(
        label,
        (
            f"{short} {_kernel(spec.kernel_size)}{_stride(spec.stride)}",
            f"ratio {spec.ratio} {act}",
            f"->{spec.out_channels}",
        ),
    )


@_describes(B.GhostModule)
def _ghost_module(spec: B.GhostModule) -> Description:
    return _ghost_module_description(spec, "", "Ghost")


def _bottleneck_description(spec: B.GhostBottleneck, name: str, short: str) -> Description:
    k, se = _kernel(spec.kernel_size), "SE" if spec.squeeze_channels else ""
    skip = "+skip" if spec.use_identity else "+conv skip"
    label = _join(
        f"{name} {k}{_stride(spec.stride)}",
        f"mid {spec.mid_channels}",
        se,
        skip,
        f"{spec.in_channels}->{spec.out_channels}",
    )
    return Description(
        label,
        (
            f"{short} {k}{_stride(spec.stride)}",
            _join(f"mid{spec.mid_channels}", se),
            f"{skip} ->{spec.out_channels}",
        ),
    )


@_describes(B.GhostBottleneck)
def _ghost_bottleneck(spec: B.GhostBottleneck) -> Description:
    return _bottleneck_description(spec, "Ghost bottleneck", "G-bneck")


@_describes(B.GhostBottleneckV2)
def _ghost_bottleneck_v2(spec: B.GhostBottleneckV2) -> Description:
    return _bottleneck_description(spec, "Ghost bottleneck + DFC", "G-bneck+DFC")


@_describes(B.GhostModuleV2)
def _ghost_module_v2(spec: B.GhostModuleV2) -> Description:
    return _ghost_module_description(spec, ", x DFC gate", "Ghost+DFC")


@_describes(B.DFCAttention)
def _dfc_attention(spec: B.DFCAttention) -> Description:
    k, reach = _kernel(spec.kernel_size), spec.fc_kernel_size
    label = (
        f"DFC attention {spec.in_channels}->{spec.out_channels}{_stride(spec.stride)} "
        f"(2x2 pool, {k} conv, 1x{reach} + {reach}x1 dw FC, sigmoid, upsample)"
    )
    return Description(
        label, (f"DFC {k}{_stride(spec.stride)}", f"FC 1x{reach}+{reach}x1", f"->{spec.out_channels}")
    )


@_describes(B.DecoupledFC)
def _decoupled_fc(spec: B.DecoupledFC) -> Description:
    height, width = spec.kernel_shape
    label = f"{height}x{width} dw FC {spec.channels} ({spec.direction}), BN, linear"
    return Description(label, (f"{spec.direction[0]}-FC {height}x{width}", "BN", f"->{spec.channels}"))


@_describes(B.Fire)
def _fire(spec: B.Fire) -> Description:
    s, e1, e3 = spec.squeeze_channels, spec.expand1x1_channels, spec.expand3x3_channels
    label = f"Fire {spec.in_channels}->{s}->{e1}+{e3}"
    return Description(label, ("Fire", f"sq{s} {e1}+{e3}", f"->{spec.out_channels}"))


@_describes(B.ESPModule)
def _esp(spec: B.ESPModule) -> Description:
    skip = "+skip" if spec.use_residual else ""
    label = _join(
        f"ESP module K={spec.branches}{_stride(spec.stride)}",
        skip,
        f"{spec.in_channels}->{spec.out_channels}",
    )
    return Description(
        label, (f"ESP K{spec.branches}{_stride(spec.stride)}", _join("PReLU", skip), f"->{spec.out_channels}")
    )


@_describes(B.ESPNetLevel)
def _esp_level(spec: B.ESPNetLevel) -> Description:
    image = " + image" if spec.image_channels else ""
    label = (
        f"ESPNet level: strided ESP + {spec.repeats} ESP K={spec.branches}, "
        f"concat{image} {spec.in_channels}->{spec.out_channels}"
    )
    return Description(
        label,
        (f"ESP level K{spec.branches} s2", f"x{spec.repeats}+1 concat{image}", f"->{spec.out_channels}"),
    )


@_describes(B.ImageConcat)
def _image_concat(spec: B.ImageConcat) -> Description:
    label = f"concat pooled input image {spec.in_channels}+{spec.image_channels}, BN, PReLU"
    return Description(label, ("concat image", "BN PReLU", f"->{spec.out_channels}"))


@_describes(B.ImageTap)
def _image_tap(spec: B.ImageTap) -> Description:
    return Description(f"keep the input image ({spec.channels} ch)", ("image tap", "", f"->{spec.channels}"))


@_describes(B.EESPUnit)
def _eesp(spec: B.EESPUnit) -> Description:
    skip = "+skip" if spec.use_residual else ""
    image = "+image" if spec.image_channels else ""
    rates = ",".join(map(str, spec.dilations))
    label = _join(
        f"EESP unit K={spec.branches}{_stride(spec.stride)} d={rates}",
        skip,
        image,
        f"{spec.in_channels}->{spec.out_channels}",
    )
    return Description(
        label,
        (
            f"EESP K{spec.branches}{_stride(spec.stride)}",
            _join(f"d{rates}", skip, image),
            f"->{spec.out_channels}",
        ),
    )


@_describes(B.ShuffleNetV1Unit)
def _shuffle_v1_unit(spec: B.ShuffleNetV1Unit) -> Description:
    how = "add" if spec.use_residual else "concat"
    plain = "" if spec.grouped_first else ", first 1x1 plain"
    label = (
        f"ShuffleNet unit g={spec.groups}{_stride(spec.stride)} {spec.in_channels}->{spec.out_channels} "
        f"(bottleneck {spec.bottleneck}, {how}{plain})"
    )
    return Description(
        label, (f"Shuffle g{spec.groups}{_stride(spec.stride)}", how, f"->{spec.out_channels}")
    )


@_describes(B.ChannelShuffle)
def _channel_shuffle(spec: B.ChannelShuffle) -> Description:
    return Description(
        f"channel shuffle {spec.channels}, {spec.groups} groups",
        ("shuffle", f"g{spec.groups}", f"->{spec.channels}"),
    )


@_describes(B.AvgPool)
def _avg_pool(spec: B.AvgPool) -> Description:
    k = _kernel(spec.kernel_size)
    return Description(
        f"{k} avg pool{_stride(spec.stride)} pad {spec.padding}",
        (f"avgpool {k}{_stride(spec.stride)}", f"pad {spec.padding}", f"->{spec.channels}"),
    )


@_describes(M.MaxPool)
def _max_pool(spec: M.MaxPool) -> Description:
    k = _kernel(spec.kernel_size)
    ceil = " ceil" if spec.ceil_mode else ""
    return Description(
        f"{k} max pool{_stride(spec.stride)}{ceil}",
        (f"maxpool {k}{_stride(spec.stride)}", ceil.strip(), f"->{spec.channels}"),
    )


@_describes(M.Flatten)
def _flatten(spec: M.Flatten) -> Description:
    return Description(f"flatten {spec.channels}", ("flatten", "", f"->{spec.channels}"))


@_describes(M.Dropout)
def _dropout(spec: M.Dropout) -> Description:
    return Description(f"dropout p={spec.p:g}", ("dropout", f"p={spec.p:g}", ""))


@_describes(M.BatchNorm)
def _batch_norm(spec: M.BatchNorm) -> Description:
    return Description(f"BN {spec.channels}", ("BN", "", f"->{spec.channels}"))


@_describes(M.Activation)
def _activation(spec: M.Activation) -> Description:
    return Description(_act(spec.activation), (_act(spec.activation), "", ""))


@_describes(M.Linear)
def _linear(spec: M.Linear) -> Description:
    bias = "" if spec.bias else ", no bias"
    return Description(
        f"FC {spec.in_features}->{spec.out_features}{bias}",
        ("FC", f"{spec.in_features}->", f"{spec.out_features}"),
    )


BLOCK_KINDS = tuple(_DESCRIBE)  # what draw() accepts as a block


def describe(spec: Any) -> Description:
    """The labels of one layer spec (any class in `BLOCK_KINDS`).

    >>> describe(B.SqueezeExcite(96, 24)).label
    'SE 96->24->96, ReLU, h-sigmoid'
    """
    kind = type(spec)
    if kind not in _DESCRIBE:
        allowed = ", ".join(k.__name__ for k in BLOCK_KINDS)
        raise TypeError(f"spec: cannot describe a {kind.__name__}; allowed: {allowed}")
    return _DESCRIBE[kind](spec)


# --- what is drawn ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One layer spec as drawn: its label, its stage (networks), and the shapes around it when an
    input size was given. A block's items are its `layers()` flattened (ESP's branches, and for
    ShuffleNetV2 `branches()`, for GhostBottleneck `layers()` then `shortcut_layers()`); a Ghost
    module inside a Ghost bottleneck is one item."""

    spec: Any
    label: str
    stage: str | None = None
    in_shape: Shape | None = None
    out_shape: Shape | None = None


@dataclass
class Diagram:
    """What `draw` returns: the drawn `items` (one per layer spec, in order) and the `figure`."""

    items: list[Item]
    figure: Figure = field(repr=False)

    def __repr__(self) -> str:  # exact on every machine, unlike the PNG's bytes
        return f"<Diagram: {len(self.items)} layers drawn>"

    def _repr_png_(self) -> bytes:
        return self.to_bytes("png")

    def to_bytes(self, format: str = "png") -> bytes:
        """The figure as PNG or SVG bytes (SVG without a date, with a fixed hash salt)."""
        import matplotlib

        buffer = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "lwcnn"}):
            metadata = {"Date": None} if format == "svg" else {"Software": None}
            self.figure.savefig(buffer, format=format, dpi=150, metadata=metadata)
        return buffer.getvalue()

    def save(self, path: str) -> None:
        """Write the figure to `path` (.png or .svg), deterministically."""
        suffix = str(path).rsplit(".", 1)[-1].lower()
        if suffix not in ("png", "svg"):
            raise ValueError(f"path={path!r} must end in .png or .svg")
        with open(path, "wb") as file:
            file.write(self.to_bytes(suffix))


# --- a tiny canvas in points: boxes, round "ops", arrows and notes ----------------------------------

FONT_SIZE = 8.5
CHAR_WIDTH = 0.61 * FONT_SIZE  # DejaVu Sans Mono's advance: labels are measured, not guessed
LINE_HEIGHT = 1.25 * FONT_SIZE
PADDING = 8
ROW_GAP = 30  # vertical space between two boxes of a flow chart, where the shape note goes
COLUMN_GAP = 34
LAYER_COLOR = "#dbe9f6"
GLUE_COLOR = "#eeeeee"
OP_COLOR = "#fff2cc"
NOTE_COLOR = "#555555"


class _Canvas:
    """Shapes laid out in points (y grows downward), drawn at the end onto one Axes."""

    def __init__(self) -> None:
        self.boxes: list[tuple[float, float, float, float, str, str]] = []
        self.circles: list[tuple[float, float, str]] = []
        self.lines: list[tuple[list[tuple[float, float]], bool]] = []
        self.notes: list[tuple[float, float, str, str, bool]] = []

    @staticmethod
    def text_size(text: str) -> tuple[float, float]:
        lines = text.split("\n")
        return max(len(line) for line in lines) * CHAR_WIDTH, len(lines) * LINE_HEIGHT

    def box(
        self, x: float, top: float, text: str, color: str = LAYER_COLOR, width: float | None = None
    ) -> tuple[float, float]:
        """A box centred on x from `top` down; returns (top, bottom)."""
        text_width, text_height = self.text_size(text)
        width = text_width + 2 * PADDING if width is None else width
        height = text_height + PADDING
        self.boxes.append((x - width / 2, top, width, height, text, color))
        return top, top + height

    def op(self, x: float, top: float, text: str) -> tuple[float, float]:
        """A round (for "+") or rounded-box operation node; returns (top, bottom)."""
        if text == "+":
            self.circles.append((x, top + 8, "+"))
            return top, top + 16
        return self.box(x, top, text, OP_COLOR)

    def arrow(self, *points: tuple[float, float], head: bool = True) -> None:
        self.lines.append((list(points), head))

    def note(self, x: float, y: float, text: str, align: str = "left", bold: bool = False) -> None:
        self.notes.append((x, y, text, align, bold))

    def extent(self) -> tuple[float, float, float, float]:
        xs, ys = [], []
        for left, top, width, height, *_ in self.boxes:
            xs += [left, left + width]
            ys += [top, top + height]
        for x, y, _ in self.circles:
            xs += [x - 8, x + 8]
            ys += [y - 8, y + 8]
        for points, _ in self.lines:
            xs += [p[0] for p in points]
            ys += [p[1] for p in points]
        for x, y, text, align, _ in self.notes:
            width, height = self.text_size(text)
            left = {"left": x, "right": x - width, "center": x - width / 2}[align]
            xs += [left, left + width]
            ys += [y - height / 2, y + height / 2]
        margin = 10
        return min(xs) - margin, max(xs) + margin, min(ys) - margin, max(ys) + margin

    def render(self, ax: Any, scale: float = 1.0) -> None:
        """Draw onto `ax`, whose data units are `scale` points (text and lines shrink with it)."""
        from matplotlib.patches import Circle, FancyBboxPatch

        text = dict(family="DejaVu Sans Mono", fontsize=FONT_SIZE * scale)
        line = 0.9 * scale
        for points, head in self.lines:
            for start, end in zip(points[:-2], points[1:-1], strict=True):
                ax.plot(*zip(start, end, strict=True), color="black", linewidth=line, solid_capstyle="butt")
            style = "-|>" if head else "-"
            ax.annotate(
                "",
                xy=points[-1],
                xytext=points[-2],
                arrowprops=dict(
                    arrowstyle=style,
                    color="black",
                    linewidth=line,
                    shrinkA=0,
                    shrinkB=0,
                    mutation_scale=9 * scale,
                ),
            )
        for left, top, width, height, label, color in self.boxes:
            ax.add_patch(
                FancyBboxPatch(
                    (left, top),
                    width,
                    height,
                    boxstyle="round,pad=0,rounding_size=4",
                    facecolor=color,
                    edgecolor="#333333",
                    linewidth=line,
                )
            )
            ax.text(left + width / 2, top + height / 2, label, ha="center", va="center", **text)
        for x, y, label in self.circles:
            ax.add_patch(Circle((x, y), 8, facecolor=OP_COLOR, edgecolor="#333333", linewidth=line))
            ax.text(x, y, label, ha="center", va="center", fontweight="bold", **text)
        for x, y, label, align, bold in self.notes:
            ax.text(
                x,
                y,
                label,
                ha=align,
                va="center",
                color="black" if bold else NOTE_COLOR,
                fontweight="bold" if bold else "normal",
                **text,
            )


# --- one block as a flow chart -----------------------------------------------------------------------


def _shape_text(shape: Shape | None) -> str:
    return "" if shape is None else "x".join(map(str, shape))


class _Flow:
    """Lays out a block's layers top to bottom, keeping the `Item`s in the order drawn."""

    def __init__(self, canvas: _Canvas, input_size: tuple[int, int] | None) -> None:
        self.canvas, self.sized, self.items = canvas, input_size is not None, []

    def layer(self, spec: Any, x: float, top: float, shape: Shape | None) -> tuple[float, Shape | None]:
        """One box for `spec`; returns its bottom and its output shape."""
        out = spec.output_shape(shape[1:]) if shape is not None else None
        self.items.append(Item(spec, describe(spec).label, None, shape, out))
        return self.canvas.box(x, top, describe(spec).label)[1], out

    def chain(
        self, specs: Iterable[Any], x: float, top: float, shape: Shape | None
    ) -> tuple[float, Shape | None]:
        """Boxes one under the other, joined by arrows that carry the shape between them."""
        for index, spec in enumerate(specs):
            if index:
                self.link(x, top, top + ROW_GAP, shape)
                top += ROW_GAP
            top, shape = self.layer(spec, x, top, shape)
        return top, shape

    def link(self, x: float, start: float, end: float, shape: Shape | None, head: bool = True) -> None:
        self.canvas.arrow((x, start), (x, end), head=head)
        if self.sized and shape is not None and end - start >= ROW_GAP:
            self.canvas.note(x + 5, (start + end) / 2, _shape_text(shape))

    def branches(
        self, columns: list[tuple[list[Any], Shape | None]], top: float, join: str
    ) -> tuple[float, list[Shape | None]]:
        """Parallel chains side by side from one fork to a `join` node; an empty chain is a pass-through."""
        widths = [
            max([_Canvas.text_size(describe(s).label)[0] + 2 * PADDING for s in specs] + [70])
            for specs, _ in columns
        ]
        total = sum(widths) + COLUMN_GAP * (len(widths) - 1)
        xs, left = [], -total / 2
        for width in widths:
            xs.append(left + width / 2)
            left += width + COLUMN_GAP
        self.canvas.arrow((xs[0], top), (xs[-1], top), head=False)  # the fork
        bottoms, shapes = [], []
        for x, (specs, shape) in zip(xs, columns, strict=True):
            bottom = top  # an empty chain passes its input through to the join
            if specs:
                self.link(x, top, top + ROW_GAP, shape)
                bottom, shape = self.chain(specs, x, top + ROW_GAP, shape)
            bottoms.append(bottom)
            shapes.append(shape)
        join_top = max(bottoms) + ROW_GAP
        for x, bottom, shape in zip(xs, bottoms, shapes, strict=True):
            self.link(x, bottom, join_top, shape, head=False)
        self.canvas.arrow((xs[0], join_top), (xs[-1], join_top), head=False)
        self.canvas.arrow((0, join_top), (0, join_top + ROW_GAP / 2))
        return self.canvas.op(0, join_top + ROW_GAP / 2, join)[1], shapes


def _residual_bypass(canvas: _Canvas, top: float, bottom: float, right: float) -> float:
    """The identity shortcut: from the input, around the layers, into a "+"; returns the "+"'s bottom."""
    plus_top = bottom + ROW_GAP / 2
    canvas.arrow((0, top), (right, top), (right, plus_top + 8), (8, plus_top + 8))
    canvas.arrow((0, bottom), (0, plus_top))
    return canvas.op(0, plus_top, "+")[1]


def _draw_block(spec: Any, input_size: tuple[int, int] | None, canvas: _Canvas) -> list[Item]:
    flow = _Flow(canvas, input_size)
    shape: Shape | None = (spec.in_channels, *input_size) if input_size is not None else None
    title = describe(spec).label
    canvas.note(0, -2 * ROW_GAP, title, align="center", bold=True)
    canvas.note(0, -ROW_GAP - 6, f"input {_shape_text(shape)}".strip(), align="center")
    top = 0.0
    canvas.arrow((0, -ROW_GAP), (0, top))

    if isinstance(spec, B.ShuffleNetV2Unit):
        shortcut, main = spec.branches()
        if spec.stride == 1:
            _, top = canvas.op(0, top, "channel split")
            canvas.arrow((0, top), (0, top + 6), head=False)
            half = None if shape is None else (shape[0] // 2, *shape[1:])
            bottom, _ = flow.branches([([], half), (main, half)], top + 6, "concat")
        else:
            bottom, _ = flow.branches([(shortcut, shape), (main, shape)], top, "concat")
        canvas.arrow((0, bottom), (0, bottom + ROW_GAP / 2))
        _, bottom = canvas.op(0, bottom + ROW_GAP / 2, "channel shuffle (2 groups)")
    elif isinstance(spec, B.Fire):
        squeeze, expand1, expand3 = spec.layers()
        bottom, shape = flow.layer(squeeze, 0, top, shape)
        canvas.arrow((0, bottom), (0, bottom + 6), head=False)
        bottom, _ = flow.branches([([expand1], shape), ([expand3], shape)], bottom + 6, "concat")
    elif isinstance(spec, B.GhostModule):
        primary, cheap = spec.layers()
        bottom, shape = flow.layer(primary, 0, top, shape)
        canvas.arrow((0, bottom), (0, bottom + 6), head=False)
        bottom, _ = flow.branches(
            [([], shape), ([cheap], shape)], bottom + 6, f"concat, first {spec.out_channels}"
        )
    elif isinstance(spec, B.ESPModule):
        reduce, branch_specs = spec.layers()
        bottom, shape = flow.layer(reduce, 0, top, shape)
        canvas.arrow((0, bottom), (0, bottom + 6), head=False)
        columns = [([branch], shape) for branch in branch_specs]
        bottom, _ = flow.branches(columns, bottom + 6, "add hierarchically, concat")
        if spec.use_residual:
            bottom = _residual_bypass(canvas, -ROW_GAP / 2, bottom, _right_edge(canvas) + 16)
        canvas.arrow((0, bottom), (0, bottom + ROW_GAP / 2))
        _, bottom = canvas.op(0, bottom + ROW_GAP / 2, "BN, PReLU")
    elif isinstance(spec, B.ShuffleNetV1Unit):
        shortcut, main = spec.branches()
        if spec.use_residual:
            bottom, _ = flow.chain(main, 0, top, shape)
            bottom = _residual_bypass(canvas, -ROW_GAP / 2, bottom, _right_edge(canvas) + 16)
        else:
            bottom, _ = flow.branches([(shortcut, shape), (main, shape)], top, "concat")
        canvas.arrow((0, bottom), (0, bottom + ROW_GAP / 2))
        _, bottom = canvas.op(0, bottom + ROW_GAP / 2, "ReLU")
    elif isinstance(spec, B.EESPUnit):
        bottom = _draw_eesp(spec, flow, canvas, top, shape)
    elif isinstance(spec, B.ESPNetLevel):
        strided, *rest = spec.layers()
        bottom, strided_shape = flow.layer(strided, 0, top, shape)
        fork = bottom + 4
        flow.link(0, bottom, bottom + ROW_GAP, strided_shape)
        bottom, _ = flow.chain(rest, 0, bottom + ROW_GAP, strided_shape)
        join = bottom + ROW_GAP / 2
        label = f"concat{' + image' if spec.image_channels else ''}, BN, PReLU"
        half = _Canvas.text_size(label)[0] / 2 + PADDING
        right = max(_right_edge(canvas), half) + 16
        middle = join + (LINE_HEIGHT + PADDING) / 2
        canvas.arrow((0, fork), (right, fork), (right, middle), (half, middle))
        canvas.arrow((0, bottom), (0, join))
        _, bottom = canvas.op(0, join, label)
    elif isinstance(spec, B.GhostBottleneck):
        main, side = spec.layers(), spec.shortcut_layers()
        if side:
            bottom, _ = flow.branches([(main, shape), (side, shape)], top, "+")
        else:
            bottom, _ = flow.chain(main, 0, top, shape)
            bottom = _residual_bypass(canvas, -ROW_GAP / 2, bottom, _right_edge(canvas) + 16)
    elif isinstance(spec, B.GhostModuleV2):
        ghost, attention = spec.layers()
        bottom, _ = flow.branches([([ghost], shape), ([attention], shape)], top, "multiply")
    elif isinstance(spec, B.DFCAttention):
        _, top = canvas.op(0, top, "2x2 avg pool")
        pooled = None if shape is None else (shape[0], shape[1] // 2, shape[2] // 2)
        flow.link(0, top, top + ROW_GAP, pooled)
        bottom, _ = flow.chain(spec.layers(), 0, top + ROW_GAP, pooled)
        canvas.arrow((0, bottom), (0, bottom + ROW_GAP / 2))
        _, bottom = canvas.op(0, bottom + ROW_GAP / 2, "sigmoid, upsample (nearest)")
    elif hasattr(spec, "layers"):  # a run of layers, maybe with a shortcut
        bottom, _ = flow.chain(spec.layers(), 0, top, shape)
        if getattr(spec, "use_residual", False):
            bottom = _residual_bypass(canvas, -ROW_GAP / 2, bottom, _right_edge(canvas) + 16)
    else:  # one layer
        bottom, _ = flow.layer(spec, 0, top, shape)

    out = spec.output_shape(input_size) if input_size is not None else None
    canvas.arrow((0, bottom), (0, bottom + ROW_GAP))
    canvas.note(0, bottom + ROW_GAP + 8, f"output {_shape_text(out)}".strip(), align="center")
    return flow.items


def _right_edge(canvas: _Canvas) -> float:
    return max(left + width for left, _, width, *_ in canvas.boxes)


def _box_width(specs: Iterable[Any]) -> float:
    return max(_Canvas.text_size(describe(spec).label)[0] + 2 * PADDING for spec in specs)


def _side_chain(
    flow: _Flow,
    canvas: _Canvas,
    specs: list[Any],
    shape: Shape | None,
    source: float | None,
    join: str,
    above: float,
) -> float:
    """A chain of `specs` to the right of what is drawn, from the input line at `source` (or from
    a note "input image" when None) into a new op `join` on the centre line under `above`;
    returns the op's bottom."""
    x = _right_edge(canvas) + COLUMN_GAP + _box_width(specs) / 2
    if source is None:
        canvas.note(x, -ROW_GAP - 6, "input image, pooled", align="center")
        canvas.arrow((x, -ROW_GAP), (x, 0))
    else:
        canvas.arrow((0, source), (x, source), (x, 0))
    bottom, _ = flow.chain(specs, x, 0, shape)
    top = max(above, bottom) + ROW_GAP / 2
    canvas.arrow((0, above), (0, top))
    middle = top + (LINE_HEIGHT + PADDING) / 2
    canvas.arrow((x, bottom), (x, middle), (_Canvas.text_size(join)[0] / 2 + PADDING, middle))
    return canvas.op(0, top, join)[1]


def _draw_eesp(spec: B.EESPUnit, flow: _Flow, canvas: _Canvas, top: float, shape: Shape | None) -> float:
    """Reduce, the dilated branches side by side, the fusion, expand; then the residual, or the
    pooled input concatenated (and the input image's shortcut added); PReLU."""
    reduce, dilated, expand = spec.layers()
    bottom, reduced = flow.layer(reduce, 0, top, shape)
    canvas.arrow((0, bottom), (0, bottom + 6), head=False)
    bottom, shapes = flow.branches(
        [([conv], reduced) for conv in dilated], bottom + 6, "add hierarchically, concat"
    )
    canvas.arrow((0, bottom), (0, bottom + ROW_GAP / 2))
    _, bottom = canvas.op(0, bottom + ROW_GAP / 2, "BN, PReLU")
    fused = None if shape is None else (expand.in_channels, *shapes[0][1:])
    flow.link(0, bottom, bottom + ROW_GAP, fused)
    bottom, out = flow.layer(expand, 0, bottom + ROW_GAP, fused)
    if spec.use_residual:
        bottom = _residual_bypass(canvas, -ROW_GAP / 2, bottom, _right_edge(canvas) + 16)
    shortcut, image = spec.shortcut_layers(), spec.image_layers()
    if shortcut:
        bottom = _side_chain(
            flow, canvas, shortcut, shape, -ROW_GAP / 2, "concat: pooled input first", bottom
        )
    if image:
        image_shape = None if out is None else (spec.image_channels, *out[1:])
        bottom = _side_chain(flow, canvas, image, image_shape, None, "add the image", bottom)
    canvas.arrow((0, bottom), (0, bottom + ROW_GAP / 2))
    return canvas.op(0, bottom + ROW_GAP / 2, "PReLU")[1]


# --- a network: one row per stage ------------------------------------------------------------------


def _runs(layers: Iterable[Any]) -> list[tuple[Any, int]]:
    """Consecutive identical specs as (spec, count): the paper's "n" column."""
    runs: list[tuple[Any, int]] = []
    for layer in layers:
        if runs and runs[-1][0] == layer:
            runs[-1] = (layer, runs[-1][1] + 1)
        else:
            runs.append((layer, 1))
    return runs


def _draw_network(
    spec: M.NetworkSpec, title: str, resolution: tuple[int, int], detail: str, canvas: _Canvas
) -> list[Item]:
    costs = spec.cost(resolution)
    rows = [*((stage.name, stage.layers) for stage in spec.stages()), ("classifier", spec.classifier())]
    items: list[Item] = []
    shape: Shape = (spec.in_channels, *resolution)
    for stage, layers in rows:
        if stage == "classifier":  # after the global average pooling
            shape = (shape[0], 1, 1)
        for layer in layers:
            out = layer.output_shape(shape[1:])
            items.append(Item(layer, describe(layer).label, stage, shape, out))
            shape = out

    texts = []  # one list of box texts per row
    for _, layers in rows:
        runs = _runs(layers) if detail == "compact" else [(layer, 1) for layer in layers]
        texts.append([_box_text(describe(layer).lines, count) for layer, count in runs])
    box_width = max(_Canvas.text_size(text)[0] for row in texts for text in row) + 2 * PADDING
    box_height = 3 * LINE_HEIGHT + PADDING
    shapes = {row.name: _shape_text((row.out_channels, *row.out_size)) for row in costs.stages}
    x0 = max(len(text) for stage, _ in rows for text in (stage, shapes[stage])) * CHAR_WIDTH + 24
    pitch = box_width + 16
    heading = f"{title} at {resolution[0]}x{resolution[1]}: {costs.params:,} params, {costs.macs:,} MACs"
    canvas.note(0, -LINE_HEIGHT - 6, heading, bold=True)
    for row_index, ((stage, _), row) in enumerate(zip(rows, texts, strict=True)):
        top = row_index * (box_height + 14)
        middle = top + box_height / 2
        canvas.note(0, middle - LINE_HEIGHT / 2, stage, bold=True)
        canvas.note(0, middle + LINE_HEIGHT / 2, shapes[stage])
        color = GLUE_COLOR if stage in ("stem", "head", "classifier") else LAYER_COLOR
        if not row:  # a table row repeated 0 times
            canvas.note(x0, middle, "(no layers)")
        for column, text in enumerate(row):
            left = x0 + column * pitch
            canvas.box(left + box_width / 2, top, text, color, width=box_width)
            if column:
                canvas.arrow((left - pitch + box_width, middle), (left, middle))
    return items


def _box_text(lines: tuple[str, ...], count: int) -> str:
    """A compact box's three lines, the last with "xN" when N identical blocks follow each other."""
    return "\n".join((*lines[:2], _join(lines[2], f"x{count}" if count > 1 else "")))


# --- the entry point ---------------------------------------------------------------------------------


def _figure_for(canvas: _Canvas, ax: Any) -> Figure:
    from matplotlib.figure import Figure

    left, right, top, bottom = canvas.extent()
    scale = 1.0  # a new figure is sized so that one data unit is one point
    if ax is None:
        figure = Figure(figsize=((right - left) / 72, (bottom - top) / 72))
        ax = figure.add_axes((0, 0, 1, 1))
    else:  # fit the drawing into the given Axes, shrinking its text with it
        box = ax.get_position()
        width_pt = box.width * ax.figure.get_figwidth() * 72
        height_pt = box.height * ax.figure.get_figheight() * 72
        scale = min(width_pt / (right - left), height_pt / (bottom - top))
    canvas.render(ax, scale)
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)  # y grows downward, like reading
    ax.set_aspect("equal")
    ax.axis("off")
    return ax.figure


def draw(
    spec_or_name: Any, input_size: Size | None = None, *, detail: str = "compact", ax: Any = None
) -> Diagram:
    """Draw a block spec, a network spec or a zoo name; returns a `Diagram` (items and figure).

    A block is a flow chart of its layers, with the shape after each layer when `input_size`
    is given. A network is one row per stage (shapes at `input_size`, default the spec's
    `input_resolution`); `detail="compact"` draws repeated identical blocks once as "xN",
    `"full"` every block. `ax` draws into an existing Axes instead of a new figure.

    >>> diagram = draw("mobilenet_v3_small")
    >>> len(diagram.items), diagram.items[0].label
    (18, '3x3 conv 3->16 s2, BN, h-swish')
    """
    if detail not in DETAILS:
        raise ValueError(f"detail={detail!r} is unknown; allowed: {', '.join(DETAILS)}")
    title = spec_or_name if isinstance(spec_or_name, str) else type(spec_or_name).__name__
    if isinstance(getattr(spec_or_name, "base", None), M.NetworkSpec):  # lwcnn.prune.PrunedSpec
        title = f"{type(spec_or_name.base).__name__}, pruned"
    if isinstance(spec_or_name, str):
        if spec_or_name not in M.MODEL_NAMES:
            raise ValueError(
                f"spec_or_name={spec_or_name!r} is not a model name; valid names: {', '.join(M.MODEL_NAMES)}"
            )
        spec_or_name = M.spec(spec_or_name)
    canvas = _Canvas()
    if isinstance(spec_or_name, M.NetworkSpec):
        size = checks.check_pair(
            "input_size", spec_or_name.input_resolution if input_size is None else input_size
        )
        items = _draw_network(spec_or_name, title, size, detail, canvas)
    elif type(spec_or_name) in _DESCRIBE:
        size = None if input_size is None else checks.check_pair("input_size", input_size)
        items = _draw_block(spec_or_name, size, canvas)
    else:
        allowed = ", ".join(kind.__name__ for kind in BLOCK_KINDS)
        raise TypeError(
            f"spec_or_name must be a model name, a NetworkSpec or a block spec ({allowed}); "
            f"got {type(spec_or_name).__name__}"
        )
    return Diagram(items, _figure_for(canvas, ax))
