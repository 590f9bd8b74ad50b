"""Figures the lessons and widgets draw (matplotlib, one function per figure)."""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from lwcnn import cost

_in_hand = threading.local()  # .figures: the list `own_figures` collects into, in this thread


@contextlib.contextmanager
def own_figures() -> Iterator[list[Figure]]:
    """Within the block (in this thread), the functions here draw on figures pyplot does not know.

    Yields the list they are added to. A widget redrawing on a kernel's other thread uses this:
    the inline backend, after any message it handles, draws and closes every figure pyplot holds,
    so a figure of pyplot's that a widget is still drawing could be drawn twice at once (not
    thread-safe), shown in the wrong place or closed under it.
    """
    outer = getattr(_in_hand, "figures", None)
    _in_hand.figures = []
    try:
        yield _in_hand.figures
    finally:
        _in_hand.figures = outer


def figures_in_hand() -> list[Figure] | None:
    """The figures made so far inside this thread's `own_figures` block (None outside one)."""
    return getattr(_in_hand, "figures", None)


def _subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **shared):
    """`plt.subplots`, or inside `own_figures` the same on a figure of our own."""
    figures = figures_in_hand()
    if figures is None:
        return plt.subplots(nrows, ncols, figsize=figsize, **shared)
    figure = Figure(figsize=figsize)
    figures.append(figure)
    return figure, figure.subplots(nrows, ncols, **shared)


def plain_number(value: float) -> str:
    """A tick label without mathtext: 0.05, 20, 500, 2000, 20 k, 1 M, 10 M, 2 G, 1 T.

    >>> [plain_number(v) for v in (0.05, 20, 2000, 2e4, 1e6, 2.5e9)]
    ['0.05', '20', '2000', '20 k', '1 M', '2.5 G']
    """
    for threshold, divisor, suffix in (
        (1e12, 1e12, " T"),
        (1e9, 1e9, " G"),
        (1e6, 1e6, " M"),
        (1e4, 1e3, " k"),
    ):
        if abs(value) >= threshold:
            return f"{value / divisor:g}{suffix}"
    return f"{value:g}"


class _PlainLogLocator(LogLocator):
    """Major log ticks at 1, 2, 5 x 10^k, or denser or sparser: as many as the axis has room for."""

    SUBS = (
        (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0),
        (1.0, 2.0, 3.0, 5.0),
        (1.0, 2.0, 5.0),
        (1.0, 3.0),
    )

    def tick_values(self, vmin, vmax):
        vmin, vmax = sorted((vmin, vmax))
        if vmin <= 0 or self.axis is None:
            return super().tick_values(vmin, vmax)
        decades = math.log10(vmax / vmin)
        room = self.axis.get_tick_space()  # matplotlib's count of labels that fit along the axis
        if self.axis.axis_name == "x":
            room = int(room * 0.75)  # its count assumes 3-character labels; ours run to 4 or 5
        room = max(room, 2)
        fitting = [subs for subs in self.SUBS if decades * len(subs) + 1 <= room]
        subs = fitting[0] if fitting else (1.0,)
        stride = 1 if fitting else math.ceil((decades + 1) / room)  # every 10th, 100th, ... power
        low, high = math.floor(math.log10(vmin)) - 1, math.ceil(math.log10(vmax)) + 1
        ticks = np.array([s * 10.0**e for e in range(low, high + 1) if e % stride == 0 for s in subs])
        if np.count_nonzero((ticks >= vmin) & (ticks <= vmax)) < 2:  # a sliver of a decade: 1.1, 1.2, ...
            return MaxNLocator(nbins=max(room - 1, 2), steps=[1, 2, 2.5, 5, 10]).tick_values(vmin, vmax)
        return ticks


def log_axis(ax, which: str) -> None:
    """Log scale on axis `which` ("x" or "y"), its ticks labelled in plain numbers (`plain_number`).

    matplotlib's default labels ticks in mathtext (10^2, 2x10^1, ...) and, when a range spans
    less than a decade or two, its minor ticks too, which run into each other on a narrow figure.
    Every log axis of the course goes through here.

    >>> fig, ax = plt.subplots(); _ = ax.plot([20, 500], [1, 2]); log_axis(ax, "x")
    """
    if which not in ("x", "y"):
        raise ValueError(f"which must be 'x' or 'y', got {which!r}")
    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")
    axis.set_major_locator(_PlainLogLocator())
    axis.set_major_formatter(FuncFormatter(lambda value, _: plain_number(value)))
    axis.set_minor_formatter(NullFormatter())


_log_axis = log_axis  # the name this module used before `log_axis` was public


def label_points(
    ax, xs, ys, labels, *, fontsize: float = 7, marker_radius_pt=4.0, avoid=((), ())
) -> list[Annotation]:
    """Write `labels[i]` beside the point (xs[i], ys[i]) where it overlaps no other label and no
    point and stays inside the axes; a label pushed away from its point gets a thin leader line.

    Call it once the figure's layout is final (after `fig.tight_layout()` or the last limit
    change): it places the labels in screen space. The places come from the data, never from the
    names: the most crowded points choose first, each takes the nearest free spot on rings of
    growing radius around its point (the first ring: touching the marker, up-right first, and
    nearer its own point than any other; further out, a leader line says whose label it is).
    `marker_radius_pt`: the markers' radius in points, one for all or one per point.
    `avoid` = (xs, ys): more points (other markers, points along lines) no label may cover.

    >>> fig, ax = plt.subplots(); _ = ax.scatter([1, 1.01], [2, 2]); fig.tight_layout()
    >>> [a.get_text() for a in label_points(ax, [1, 1.01], [2, 2], ["a", "b"])]
    ['a', 'b']
    """
    if not len(xs) == len(ys) == len(labels):
        raise ValueError(
            f"xs, ys and labels must have one entry per point, got {len(xs)}, {len(ys)}, {len(labels)}"
        )
    radii_pt = (
        [marker_radius_pt] * len(xs) if isinstance(marker_radius_pt, int | float) else list(marker_radius_pt)
    )
    if fontsize <= 0 or len(radii_pt) != len(xs) or min(radii_pt, default=0) < 0:
        raise ValueError(
            f"fontsize must be > 0 and marker_radius_pt a radius >= 0 or one per point, got {fontsize}, "
            f"{marker_radius_pt}"
        )
    figure = ax.figure
    ax.set_xlim(ax.get_xlim())  # freeze the limits: the labels are placed for these
    ax.set_ylim(ax.get_ylim())
    renderer = figure._get_renderer()
    px_per_pt = figure.dpi / 72
    radii = [r * px_per_pt for r in radii_pt]
    points = ax.transData.transform(list(zip(xs, ys, strict=True)))
    frame = ax.get_window_extent(renderer)
    sizes = []  # each label's box as matplotlib lays it out (a line's height, not the glyphs')
    for label in labels:
        probe = ax.text(0, 0, str(label), fontsize=fontsize, transform=None)
        extent = probe.get_window_extent(renderer)
        probe.remove()
        sizes.append((extent.width, extent.height))
    line_height = max((h for _, h in sizes), default=0) * 1.3
    reach = math.hypot(frame.width, frame.height)

    def gap(box, point) -> float:
        return math.hypot(
            max(box[0] - point[0], 0, point[0] - box[2]), max(box[1] - point[1], 0, point[1] - box[3])
        )

    def overlap(a, b) -> float:
        width = min(a[2], b[2]) - max(a[0], b[0])
        height = min(a[3], b[3]) - max(a[1], b[1])
        return width * height if width > 0 and height > 0 else 0.0

    avoided = ax.transData.transform(list(zip(*avoid, strict=True))) if len(avoid[0]) else []
    avoid_radius = max(radii, default=0)
    clearance = 1.5 * px_per_pt
    point_boxes = [
        (x - r - clearance, y - r - clearance, x + r + clearance, y + r + clearance)
        for (x, y), r in zip([*points, *avoided], [*radii, *[avoid_radius] * len(avoided)], strict=True)
    ]
    crowding = [sum(math.dist(p, q) < 4 * line_height for q in points) for p in points]
    placed: list[tuple[float, float, float, float]] = []
    annotations: list[Annotation | None] = [None] * len(labels)
    for index in sorted(range(len(labels)), key=lambda i: (-crowding[i], i)):
        (width, height), (x, y) = sizes[index], points[index]
        others = point_boxes[:index] + point_boxes[index + 1 :]  # its own marker: kept off by the ring
        best, found, ring = None, False, 0
        while not found:
            distance = radii[index] + 2 * px_per_pt + ring * line_height
            if distance > reach:
                break
            steps = 8 if ring == 0 else 16
            for step in range(steps):
                angle = math.pi / 4 - 2 * math.pi * step / steps  # up-right, right, down-right, ...
                dx, dy = math.cos(angle), math.sin(angle)
                ha = "left" if dx > 0.38 else "right" if dx < -0.38 else "center"
                va = "bottom" if dy > 0.38 else "top" if dy < -0.38 else "center"
                left = x + distance * dx - {"left": 0, "right": width, "center": width / 2}[ha]
                bottom = y + distance * dy - {"bottom": 0, "top": height, "center": height / 2}[va]
                box = (left - 1, bottom - 1, left + width + 1, bottom + height + 1)
                inside = (
                    box[0] >= frame.x0 and box[2] <= frame.x1 and box[1] >= frame.y0 and box[3] <= frame.y1
                )
                clash = sum(overlap(box, other) for other in placed + others)
                if ring == 0:  # no leader line: the label must sit nearer its own point than any other
                    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
                    own_gap, own_centre = gap(box, (x, y)), math.dist(centre, (x, y))
                    clash += sum(
                        gap(box, q) < own_gap or math.dist(centre, q) < own_centre
                        for j, q in enumerate(points)
                        if j != index
                    )
                score = clash + (0 if inside else 1e9) + 1e-3 * ring
                if best is None or score < best[0]:
                    best = (score, box, distance * dx, distance * dy, ha, va, ring)
                if clash == 0 and inside:
                    found = True
                    break
            ring += 1
        _, box, dx, dy, ha, va, best_ring = best
        placed.append(box)
        leader = dict(arrowstyle="-", color="0.55", lw=0.6, shrinkA=0, shrinkB=radii_pt[index])
        annotations[index] = ax.annotate(
            str(labels[index]),
            (xs[index], ys[index]),
            xytext=(dx / px_per_pt, dy / px_per_pt),
            textcoords="offset points",
            ha=ha,
            va=va,
            fontsize=fontsize,
            arrowprops=leader if best_ring > 0 else None,
        )
    return annotations


def scatter_groups(ax, groups: dict, *, colors=None, base_size: float = 36.0) -> None:
    """Scatter several groups of points, each its own marker and size, so that groups landing on
    the same point all stay visible: outlines nested from large (first group) to small, the last
    group filled on top.

    `groups` maps a legend label to a pair (xs, ys).

    >>> fig, ax = plt.subplots()
    >>> scatter_groups(ax, {"beta = 0": ([1.0], [0.9]), "beta = 1": ([1.0], [0.9])})
    """
    markers = ("*", "D", "^", "o", "s", "v", "P", "X")
    if not 1 <= len(groups) <= len(markers):
        raise ValueError(f"groups must have 1 to {len(markers)} entries, got {len(groups)}")
    colors = colors or [f"C{i}" for i in range(len(groups))]
    if len(colors) != len(groups):
        raise ValueError(f"colors must have one entry per group ({len(groups)}), got {len(colors)}")
    last = len(groups) - 1
    for index, (label, (xs, ys)) in enumerate(groups.items()):
        size = base_size * 2.0 ** (last - index)  # each outline about 1.4 times as wide as the next
        if markers[index] == "*":
            size *= 1.8  # a star covers less of its box than a disc or a diamond does
        filled = index == last
        ax.scatter(
            xs, ys, s=size, marker=markers[index], label=label, zorder=3 + index,
            facecolors=colors[index] if filled else "none", edgecolors=colors[index],
            linewidths=0.8 if filled else 1.6,
        )  # fmt: skip


def shared_histograms(samples: dict, *, bins: int = 40, xlabel: str = "", figsize=None):
    """One histogram per entry of `samples` (title -> values), side by side on the same x axis and
    the same bins, so the panels compare. Returns the axes.

    >>> axes = shared_histograms({"a": [0.1, 0.2], "b": [0.5, 0.9]}, xlabel="|gamma|")
    """
    if not samples:
        raise ValueError("samples must hold at least one series")
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    values = [float(v) for series in samples.values() for v in series]
    low, high = min(values), max(values)
    high = high if high > low else low + 1
    edges = [low + (high - low) * i / bins for i in range(bins + 1)]
    _, axes = _subplots(1, len(samples), figsize=figsize or (4 * len(samples), 3), sharex=True, sharey=True)
    axes = list(axes) if len(samples) > 1 else [axes]
    for ax, (title, series) in zip(axes, samples.items(), strict=True):
        ax.hist([float(v) for v in series], bins=edges, color="tab:blue")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
    return axes


def seed_spread(accuracy: dict, ax=None, *, xlabel: str = "test accuracy (%)"):
    """One row per variant: each seed's accuracy as a dot, the mean as a bar with the seeds'
    range as its error bar, on an axis zoomed to where the variants differ. Returns the axes.

    >>> ax = seed_spread({"relu": [0.86, 0.87, 0.87], "h-swish": [0.86, 0.88, 0.87]})
    """
    if not accuracy or any(len(values) == 0 for values in accuracy.values()):
        raise ValueError("accuracy must map each variant to at least one seed's accuracy")
    if ax is None:
        _, ax = _subplots(figsize=(7, 0.5 * len(accuracy) + 1.2))
    names = list(accuracy)
    for row, name in enumerate(names):
        values = [100 * v for v in accuracy[name]]
        mean = sum(values) / len(values)
        ax.errorbar(
            mean, row, xerr=[[mean - min(values)], [max(values) - mean]], fmt="o", color="C0",
            capsize=4, markersize=7, zorder=3, label="mean, seeds' range" if row == 0 else None,
        )  # fmt: skip
        ax.scatter(
            values, [row] * len(values), s=14, color="C1", zorder=4, label="one seed" if row == 0 else None
        )
    everything = [100 * v for values in accuracy.values() for v in values]
    margin = max(0.5, 0.15 * (max(everything) - min(everything)))
    ax.set_xlim(min(everything) - margin, max(everything) + margin)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return ax


def spread_curves(curves: dict, ax=None, *, xlabel: str = "prune rate (share of channels removed)"):
    """One curve per name of `curves` ({name: {x: accuracies of the seeds}}): the mean over the
    seeds as a line with dots, the seeds' range (lowest to highest) as a band around it, in
    percent, on an axis zoomed to the curves. Returns the axes.

    >>> ax = spread_curves({"plain": {0.2: [0.80, 0.82], 0.4: [0.70, 0.74]}})
    """
    if not curves or any(
        not points or any(len(v) == 0 for v in points.values()) for points in curves.values()
    ):
        raise ValueError("curves must map each name to {x: at least one seed's accuracy}")
    if ax is None:
        _, ax = _subplots(figsize=(6, 3.6))
    everything = []
    for index, (name, points) in enumerate(curves.items()):
        xs = sorted(points)
        values = [[100 * v for v in points[x]] for x in xs]
        means = [sum(v) / len(v) for v in values]
        color = f"C{index}"
        ax.fill_between(xs, [min(v) for v in values], [max(v) for v in values], color=color, alpha=0.2, lw=0)
        ax.plot(xs, means, "o-", color=color, markersize=4, label=f"{name} (mean; band: seeds' range)")
        everything += [v for seed_values in values for v in seed_values]
    margin = max(0.5, 0.05 * (max(everything) - min(everything)))
    ax.set_ylim(min(everything) - margin, max(everything) + margin)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def conv_cost_bars(summary: dict, ax=None):
    """Bars: MACs of a standard conv, this conv and a depthwise-separable conv of the same shape."""
    if ax is None:
        _, ax = _subplots(figsize=(6, 2.6))
    labels = ["standard", f"this conv (groups={summary['groups']})", "depthwise-separable"]
    values = [summary["standard_macs"], summary["macs"], summary["separable_macs"]]
    bars = ax.barh(labels, values, color=["#999999", "#1f77b4", "#2ca02c"])
    ax.bar_label(bars, labels=[f"{v / 1e6:,.2f} M" for v in values], padding=3)
    ax.set_xlabel("multiply-adds (MACs)")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: plain_number(value)))
    ax.set_xlim(0, max(values) * 1.3)
    ax.invert_yaxis()
    ax.figure.tight_layout()
    return ax


def separable_ratio_curve(summary: dict, ax=None, max_channels: int = 1024):
    """`1/N + 1/Dk^2` against N for Dk = 3, 5, 7, with the current setting marked."""
    if ax is None:
        _, ax = _subplots(figsize=(6, 3))
    channels = list(range(1, max_channels + 1))
    for k in (3, 5, 7):
        ratios = [float(cost.separable_to_standard_ratio(n, k)) for n in channels]
        ax.plot(channels, ratios, label=f"Dk = {k}", lw=1.5 if k == summary["kernel_size"] else 0.8)
    ax.plot(summary["out_channels"], float(summary["ratio"]), "ko")
    log_axis(ax, "x")
    log_axis(ax, "y")
    ax.set_xlabel("output channels N")
    ax.set_ylabel("separable / standard MACs")
    ax.legend()
    ax.figure.tight_layout()
    return ax


def expansion_curves(curve: list[dict], current: dict, axes=None):
    """MACs and activation memory of an inverted residual against its expansion ratio t."""
    if axes is None:
        _, axes = _subplots(1, 2, figsize=(9, 3))
    ratios = [s["expand_ratio"] for s in curve]
    axes[0].plot(ratios, [s["macs"] / 1e6 for s in curve], marker=".")
    axes[0].plot(current["expand_ratio"], current["macs"] / 1e6, "ko")
    axes[0].set_ylabel("MACs (millions)")
    axes[1].plot(ratios, [s["expanded_bytes"] / 1e6 for s in curve], marker=".", label="expanded tensor")
    axes[1].plot(ratios, [s["bottleneck_bytes"] / 1e6 for s in curve], marker=".", label="thin in + out")
    axes[1].set_ylabel("activation memory (MB, float32)")
    axes[1].legend()
    for ax in axes:
        ax.set_xlabel("expansion ratio t")
    axes[0].figure.tight_layout()
    return axes


def width_resolution_grid(grid: list[dict], current: dict, axes=None):
    """MobileNetV1's alpha x resolution grid: MACs vs params, and the paper's top-1 vs MACs.

    `grid` and `current` are `lwcnn.widgets.width_resolution_summary` dicts. Left: every grid
    model (one line per alpha, resolution changes MACs only), the paper's published points
    (crosses) and the current setting (black dot). Right: the paper's top-1 against its
    Mult-Adds, with the current setting's MACs as a dashed line.
    """
    from lwcnn import papers

    if axes is None:
        _, axes = _subplots(1, 2, figsize=(10, 3.6))
    left, right = axes
    for alpha in sorted({s["width_multiplier"] for s in grid}, reverse=True):
        row = [s for s in grid if s["width_multiplier"] == alpha]
        left.plot([s["macs"] / 1e6 for s in row], [s["params"] / 1e6 for s in row], marker="o", ms=4)
    published = {*papers.MOBILENET_V1_WIDTH, *papers.MOBILENET_V1_RESOLUTION}
    left.plot([p.macs_m for p in published], [p.params_m for p in published], "rx", ms=8, label="paper")
    left.plot(current["macs"] / 1e6, current["params"] / 1e6, "ko", ms=8, label="current")
    log_axis(left, "x")
    log_axis(left, "y")
    left.set_xlabel("MACs (millions)")
    left.set_ylabel("params (millions)")
    left.legend(fontsize=8)
    for points, label in (
        (papers.MOBILENET_V1_WIDTH, "width (Table 6)"),
        (papers.MOBILENET_V1_RESOLUTION, "resolution (Table 7)"),
    ):
        right.plot([p.macs_m for p in points], [p.top1 for p in points], marker="s", label=label)
    right.axvline(current["macs"] / 1e6, color="k", ls="--", lw=1, label="current MACs")
    log_axis(right, "x")
    right.set_xlabel("Mult-Adds (millions)")
    right.set_ylabel("ImageNet top-1 (%, paper)")
    right.legend(fontsize=8)
    left.figure.tight_layout()
    line_starts = [
        min((s for s in grid if s["width_multiplier"] == alpha), key=lambda s: s["macs"])
        for alpha in sorted({s["width_multiplier"] for s in grid}, reverse=True)
    ]
    along_lines = [  # the lines between the grid's points, sampled, for the labels to keep off
        (a["macs"] ** (1 - f) * b["macs"] ** f / 1e6, a["params"] / 1e6)
        for a in grid
        for b in grid
        if a["width_multiplier"] == b["width_multiplier"] and a["macs"] < b["macs"]
        for f in (0.2, 0.4, 0.6, 0.8)
    ]
    along_lines += [(p.macs_m, p.params_m) for p in published]
    label_points(
        left,
        [s["macs"] / 1e6 for s in line_starts],
        [s["params"] / 1e6 for s in line_starts],
        [f"alpha {s['width_multiplier']:g}" for s in line_starts],
        fontsize=8,
        avoid=tuple(zip(*along_lines, strict=True)),
    )
    return axes


def kernel_choice_curves(curve: list[dict], current: dict, ax=None):
    """MACs of one 5x5 and of two 3x3 separable layers against N, for the current M and size."""
    if ax is None:
        _, ax = _subplots(figsize=(6, 3))
    n = [s["out_channels"] for s in curve]
    ax.plot(n, [s["one_5x5_macs"] / 1e6 for s in curve], label="one 5x5: HWM(25+N)")
    ax.plot(n, [s["two_3x3_macs"] / 1e6 for s in curve], label="two 3x3: HWM(9+N) + HWN(9+N)")
    ax.axvline(
        current["crossover"], color="grey", ls=":", lw=1, label=f"crossover N = {current['crossover']}"
    )
    ax.plot(current["out_channels"], current["one_5x5_macs"] / 1e6, "ko")
    ax.plot(current["out_channels"], current["two_3x3_macs"] / 1e6, "ko")
    log_axis(ax, "x")
    log_axis(ax, "y")
    ax.set_xlabel("output channels N")
    ax.set_ylabel("MACs (millions)")
    ax.set_title(f"M = {current['in_channels']}, {current['feature_size']}x{current['feature_size']}")
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax


def se_cost_curves(current: dict, ax=None, max_channels: int = 1024):
    """SE parameters `2CS + S + C` against C for r = 1/8, 1/4, 1/2, with the current setting."""
    if ax is None:
        _, ax = _subplots(figsize=(6, 3))
    channels = list(range(8, max_channels + 1, 8))
    for ratio in (0.125, 0.25, 0.5):
        params = [cost.se_params(c, cost.se_channels(c, ratio, divisor=None)) for c in channels]
        ax.plot(channels, [p / 1e3 for p in params], label=f"r = {ratio:g}")
    ax.plot(current["channels"], current["params"] / 1e3, "ko", label="current")
    ax.set_xlabel("channels C")
    ax.set_ylabel("SE params (thousands)")
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax


def kept_channels_bars(summary: dict, ax=None):
    """Bars: each prunable channel group's width before (grey) and after slimming (blue)."""
    names = [name.removeprefix("features.") for name, _, _ in summary["kept"]]
    kept = [kept for _, kept, _ in summary["kept"]]
    channels = [channels for _, _, channels in summary["kept"]]
    if ax is None:
        _, ax = _subplots(figsize=(7, 0.22 * len(names) + 1))
    ax.barh(names, channels, color="#dddddd", label="before")
    ax.barh(names, kept, color="#1f77b4", label="kept")
    ax.set_xlabel("channels")
    ax.set_title(f"channels per layer, prune rate {summary['prune_rate']:.2f}", fontsize=10, loc="left")
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, fontsize=8, frameon=False)
    ax.figure.tight_layout()
    return ax


def reward_landscape(rows, summary: dict, ax=None):
    """Latency against accuracy for every table row, coloured by reward; Pareto front, T, the best."""
    if ax is None:
        _, ax = _subplots(figsize=(7, 3.8))
    latencies = [row.latency_ms for row in rows]
    accuracies = [row.accuracy for row in rows]
    points = ax.scatter(latencies, accuracies, c=summary["rewards"], cmap="viridis", s=14)
    ax.figure.colorbar(points, ax=ax, label="reward")
    front = summary["pareto"]
    ax.plot(
        [latencies[i] for i in front],
        [accuracies[i] for i in front],
        "-",
        color="tab:red",
        lw=1,
        label="Pareto front",
    )
    ax.axvline(summary["target_ms"], color="gray", ls="--", lw=1, label="target T")
    best = summary["best"]
    ax.plot(latencies[best], accuracies[best], "*", color="tab:red", ms=14, label="best reward")
    ax.set_xlabel("CPU latency (ms)")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8, loc="lower right")
    ax.figure.tight_layout()
    return ax


def compound_scaling_curve(curve: list[dict], summary: dict, ax=None):
    """Real MACs over the base's against phi (`lwcnn.widgets.compound_summary` dicts), with the
    nominal `(alpha beta^2 gamma^2)^phi`, `2^phi` and the current setting."""
    if ax is None:
        _, ax = _subplots(figsize=(6.5, 3.2))
    phis = [s["phi"] for s in curve]
    ax.plot(phis, [s["macs_ratio"] for s in curve], ".-", label="real MACs / base (rounded network)")
    ax.plot(phis, [s["nominal_ratio"] for s in curve], "--", label="d w^2 r^2 = (alpha beta^2 gamma^2)^phi")
    ax.plot(phis, [s["two_to_phi"] for s in curve], ":", color="gray", label="2^phi")
    ax.plot(summary["phi"], summary["macs_ratio"], "ko", label="current")
    log_axis(ax, "y")
    ax.set_xlabel("phi")
    ax.set_ylabel("FLOPs relative to the base")
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax


def tinynet_fit(gp, samples, best, summary: dict, axes=None):
    """TinyNet's GPs r(c) and d(c): mean and a 2-sigma band, the sampled models (grey), the best
    ones the GPs were fitted on (blue), inverse compound scaling's path, and the current budget."""
    import numpy as np

    from lwcnn import scaling

    if axes is None:
        _, axes = _subplots(1, 2, figsize=(10, 3.4))
    budgets = np.linspace(0.1, 1.0, 91)
    p = gp.predict(budgets)
    inverse = [scaling.inverse_compound_multipliers(c) for c in budgets]
    for ax, name in zip(axes, ("resolution", "depth"), strict=True):
        mean, std = p[name], p[f"{name}_std"]
        ax.fill_between(
            budgets, mean - 2 * std, mean + 2 * std, color="tab:blue", alpha=0.15, label="GP +- 2 sd"
        )
        ax.plot(budgets, mean, color="tab:blue", label="GP mean")
        ax.plot([row.budget for row in samples], [getattr(row.multipliers, name) for row in samples],
                ".", color="gray", label="samples")  # fmt: skip
        ax.plot([row.budget for row in best], [getattr(row.multipliers, name) for row in best], "o",
                color="tab:blue", mfc="none", label="best per budget (fitted)")  # fmt: skip
        ax.plot(budgets, [getattr(m, name) for m in inverse], "--", color="tab:red", label="inverse compound")
        ax.axvline(summary["budget"], color="k", ls=":", lw=1, label="current budget")
        ax.set_xlabel("FLOPs budget c")
        ax.set_ylabel(f"{name} multiplier {name[0]}")
    axes[0].legend(fontsize=7)
    axes[0].figure.tight_layout()
    return axes


def gumbel_draws(summary: dict, ax=None):
    """The softmax of the toy logits beside a few Gumbel-softmax draws at the summary's temperature."""
    if ax is None:
        _, ax = _subplots(figsize=(7, 2.8))
    series = [("softmax(theta)", summary["probabilities"])]
    series += [(f"draw {i + 1}", sample) for i, sample in enumerate(summary["samples"])]
    options = len(summary["probabilities"])
    width = 0.8 / len(series)
    for index, (label, values) in enumerate(series):
        ax.bar(
            [o + (index - (len(series) - 1) / 2) * width for o in range(options)], values, width, label=label
        )
    ax.set_xticks(range(options), [f"block {o + 1}" for o in range(options)])
    ax.set_ylim(0, 1)
    ax.set_ylabel("mixing weight")
    ax.set_title(f"Gumbel-softmax at tau = {summary['temperature']:.2f}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.figure.tight_layout()
    return ax


def quant_grid(summary: dict, axes=None):
    """Two histograms with the quantization grid over them (`widgets.quant_grid_summary`): the
    whole layer with the grid of its widest channel, and its narrowest channel with its own grid."""
    if axes is None:
        _, axes = _subplots(1, 2, figsize=(9, 3.0))
    panels = (
        (summary["values"], summary["grid_widest"], f"the layer's {summary['weights']:,} weights"),
        (
            summary["narrowest_values"],
            summary["grid_narrowest"],
            f"channel {summary['narrowest_channel']} (narrowest)",
        ),
    )
    for ax, (values, grid, title) in zip(axes, panels, strict=True):
        low, high = min(values), max(values)
        margin = 0.15 * (high - low or 1.0)
        ax.hist(values, bins=60, range=(low - margin, high + margin), color="#1f77b4")
        shown = [g for g in grid if low - margin <= g <= high + margin]
        ax.vlines(shown, 0, 1, transform=ax.get_xaxis_transform(), color="#d62728", linewidth=0.6, alpha=0.7)
        ax.set_title(f"{title}: {len(shown)} grid points in view", fontsize=9, loc="left")
        ax.set_xlabel("weight (folded)")
    axes[0].set_ylabel("count")
    scheme = "per channel" if summary["per_channel"] else "per tensor"
    axes[0].figure.suptitle(f"{summary['bits']}-bit grid ({scheme}) in red", fontsize=10, x=0.01, ha="left")
    axes[0].figure.tight_layout()
    return axes


def fire_cost_bars(summary: dict, axes=None):
    """Bars: params and MACs of a plain 3x3 conv, the 1x1/3x3 mix without squeeze, and the Fire
    module (lesson 13's widget, `widgets.fire_summary`)."""
    if axes is None:
        _, axes = _subplots(1, 2, figsize=(8, 2.4))
    labels = ["plain 3x3 conv", "1x1/3x3 mix, no squeeze", "Fire module"]
    colors = ["#999999", "#ff7f0e", "#1f77b4"]
    for ax, key, unit in zip(axes, ("params", "macs"), ("params", "MACs"), strict=True):
        values = [summary[f"conv3x3_{key}"], summary[f"no_squeeze_{key}"], summary[key]]
        bars = ax.barh(labels, values, color=colors)
        ax.bar_label(bars, labels=[plain_number(v) for v in values], padding=3, fontsize=8)
        ax.set_xlim(0, max(values) * 1.4)
        ax.set_xlabel(unit)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: plain_number(value)))
        ax.invert_yaxis()
    axes[1].set_yticklabels([])
    axes[0].figure.tight_layout()
    return axes
