"""Figures the lessons and widgets draw (matplotlib, one function per figure)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

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


def _subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float]):
    """`plt.subplots`, or inside `own_figures` the same on a figure of our own."""
    figures = figures_in_hand()
    if figures is None:
        return plt.subplots(nrows, ncols, figsize=figsize)
    figure = Figure(figsize=figsize)
    figures.append(figure)
    return figure, figure.subplots(nrows, ncols)


def _log_axis(ax, which: str) -> None:
    """Log scale on axis `which` ("x" or "y"), labelled 1, 2, 5, 10, 20, 50, ... in plain numbers.

    matplotlib's default labels its minor ticks in mathtext (2x10^1, 3x10^1, ...) when a range
    spans less than a decade or two, and on a narrow figure they run into each other.
    """
    if which not in ("x", "y"):
        raise ValueError(f"which must be 'x' or 'y', got {which!r}")
    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def conv_cost_bars(summary: dict, ax=None):
    """Bars: MACs of a standard conv, this conv and a depthwise-separable conv of the same shape."""
    if ax is None:
        _, ax = _subplots(figsize=(6, 2.6))
    labels = ["standard", f"this conv (groups={summary['groups']})", "depthwise-separable"]
    values = [summary["standard_macs"], summary["macs"], summary["separable_macs"]]
    bars = ax.barh(labels, values, color=["#999999", "#1f77b4", "#2ca02c"])
    ax.bar_label(bars, labels=[f"{v / 1e6:,.2f} M" for v in values], padding=3)
    ax.set_xlabel("multiply-adds (MACs)")
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
    _log_axis(ax, "x")
    _log_axis(ax, "y")
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
        left.annotate(f"alpha {alpha:g}", (row[0]["macs"] / 1e6, row[0]["params"] / 1e6), fontsize=8)
    published = {*papers.MOBILENET_V1_WIDTH, *papers.MOBILENET_V1_RESOLUTION}
    left.plot([p.macs_m for p in published], [p.params_m for p in published], "rx", ms=8, label="paper")
    left.plot(current["macs"] / 1e6, current["params"] / 1e6, "ko", ms=8, label="current")
    _log_axis(left, "x")
    _log_axis(left, "y")
    left.set_xlabel("MACs (millions)")
    left.set_ylabel("params (millions)")
    left.legend(fontsize=8)
    for points, label in (
        (papers.MOBILENET_V1_WIDTH, "width (Table 6)"),
        (papers.MOBILENET_V1_RESOLUTION, "resolution (Table 7)"),
    ):
        right.plot([p.macs_m for p in points], [p.top1 for p in points], marker="s", label=label)
    right.axvline(current["macs"] / 1e6, color="k", ls="--", lw=1, label="current MACs")
    _log_axis(right, "x")
    right.set_xlabel("Mult-Adds (millions)")
    right.set_ylabel("ImageNet top-1 (%, paper)")
    right.legend(fontsize=8)
    left.figure.tight_layout()
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
    _log_axis(ax, "x")
    _log_axis(ax, "y")
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
    ax.set_title(f"prune rate {summary['prune_rate']:.2f}", fontsize=10)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(loc="lower right", fontsize=8)
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
    ax.axvline(summary["target_ms"], color="gray", ls="--", lw=1, label="T")
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
    _log_axis(ax, "y")
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
        ax.axvline(summary["budget"], color="k", ls=":", lw=1)
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
    ax.legend(fontsize=8, ncol=len(series))
    ax.figure.tight_layout()
    return ax
