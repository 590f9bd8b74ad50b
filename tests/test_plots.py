"""The figures read: no label on another, nothing outside the figure, legends off the data, log
ticks in plain numbers, every point of overlaid groups visible, histograms on one x axis.

Each check is a function of a drawn figure (`_overlapping_texts`, `_texts_outside`, ...) and is
shown to fail on the way the figure was drawn before (`test_the_checks_can_fail`).
"""

from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.collections import PathCollection
from matplotlib.patches import Rectangle

from lwcnn import nas, plots, prune, widgets
from lwcnn.paths import PRUNING_CHECKPOINT

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --- the checks ------------------------------------------------------------------------------


def _overlap(a, b, tolerance: float = 0.5) -> bool:
    """Whether two display-space boxes share more than `tolerance` pixels each way."""
    return min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance and min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance


def _axes_texts(ax):
    """The texts drawn on `ax` outside its legend: tick labels, axis labels, titles, annotations."""
    texts = [*_tick_labels(ax), ax.xaxis.label, ax.yaxis.label, ax.title, ax._left_title, *ax.texts]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def _visible_texts(figure):
    """Every drawn text of the figure: each axes' texts, its legend's, the figure's own."""
    texts = [t for t in figure.texts if t.get_visible() and t.get_text().strip()]
    for ax in figure.axes:
        texts += _axes_texts(ax)
        if ax.get_legend() is not None:
            texts += [t for t in ax.get_legend().get_texts() if t.get_text().strip()]
    return texts


def _tick_labels(ax, which: str = "xy"):
    """The major tick labels matplotlib draws on `ax` (those inside the view, with text)."""
    labels = []
    for axis in [getattr(ax, f"{w}axis") for w in which]:
        low, high = sorted(axis.get_view_interval())
        for tick in axis.get_major_ticks():
            if low - 1e-12 * abs(high) <= tick.get_loc() <= high * (1 + 1e-12) and tick.label1.get_text():
                labels.append(tick.label1)
    return labels


def _text_box(text, renderer):
    """The box of a text's letters (an annotation's own extent also holds its leader line)."""
    return matplotlib.text.Text.get_window_extent(text, renderer)


def _overlapping_texts(texts) -> list[tuple[str, str]]:
    renderer = texts[0].figure._get_renderer() if texts else None
    boxes = [(t.get_text(), _text_box(t, renderer)) for t in texts]
    return [
        (a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1 :] if _overlap(box_a, box_b)
    ]


def _texts_outside(texts, frame) -> list[str]:
    """Texts whose box leaves `frame` (a display-space box) by more than a pixel."""
    renderer = texts[0].figure._get_renderer() if texts else None
    outside = []
    for t in texts:
        box = _text_box(t, renderer)
        if box.x0 < frame.x0 - 1 or box.x1 > frame.x1 + 1 or box.y0 < frame.y0 - 1 or box.y1 > frame.y1 + 1:
            outside.append(t.get_text())
    return outside


def _data_under_legend(ax) -> int:
    """How many data points (line vertices, scatter points) and bars the legend of `ax` covers."""
    legend = ax.get_legend()
    if legend is None:
        return 0
    box = legend.get_window_extent(ax.figure._get_renderer())
    covered = 0
    for line in ax.get_lines():
        for x, y in line.get_transform().transform(line.get_xydata()):
            covered += box.x0 < x < box.x1 and box.y0 < y < box.y1
    for collection in ax.collections:
        if isinstance(collection, PathCollection):
            for x, y in collection.get_offset_transform().transform(collection.get_offsets()):
                covered += box.x0 < x < box.x1 and box.y0 < y < box.y1
    for patch in ax.patches:
        if isinstance(patch, Rectangle) and patch.get_width() and patch.get_height():
            covered += _overlap(patch.get_window_extent(), box)
    return covered


def _mathtext_tick_labels(ax) -> list[str]:
    """Tick labels written as powers (10^2, 2x10^1, 1e+06) rather than plain numbers."""
    return [t.get_text() for t in _tick_labels(ax) if re.search(r"\$|\\times|\^|e[+-]\d", t.get_text())]


def _drawn(figure):
    figure.canvas.draw()
    return figure


# --- log axes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.05, "0.05"), (20, "20"), (500, "500"), (2000, "2000"), (2e4, "20 k"), (1e6, "1 M"), (2.5e9, "2.5 G")],
)
def test_plain_number(value, text):
    assert plots.plain_number(value) == text


@settings(max_examples=25, deadline=None)
@given(low=st.floats(-3, 6), decades=st.floats(0.15, 6), which=st.sampled_from("xy"))
def test_log_axis_ticks_are_plain_readable_numbers(low, decades, which):
    """Any range from a sixth of a decade to six: at least two labelled ticks, plain numbers, none
    running into the next."""
    plt.close("all")  # the fixture closes once per test, not per example
    figure, ax = plt.subplots(figsize=(5, 3))
    values = [10**low, 10 ** (low + decades)]
    ax.plot(values, values)
    plots.log_axis(ax, which)
    figure.tight_layout()
    _drawn(figure)
    labels = _tick_labels(ax, which)
    assert len(labels) >= 2, [t.get_text() for t in labels]
    assert not _mathtext_tick_labels(ax)
    assert not _overlapping_texts(labels)


def test_log_axis_rejects_a_bad_axis():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="which"):
        plots.log_axis(ax, "z")


LOG_SCALE = re.compile(r"""set_[xy]scale\(\s*["']log|[xy]scale\s*=\s*["']log|\bloglog\(|\bsemilog[xy]\(""")


def test_every_log_axis_goes_through_log_axis():
    """No lesson or module sets a log scale itself: they call `plots.log_axis`."""
    sources = {path.name: path.read_text() for path in (ROOT / "lwcnn").rglob("*.py")}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        sources[path.name] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    offenders = {name: LOG_SCALE.findall(text) for name, text in sources.items()}
    offenders = {name: found for name, found in offenders.items() if found and name != "plots.py"}
    assert not offenders
    assert len(LOG_SCALE.findall(sources["plots.py"])) == 0


# --- labels beside points ----------------------------------------------------------------------

WORDS = st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=2, max_size=16)


@settings(max_examples=30, deadline=None)
@given(
    points=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=14),
    words=st.lists(WORDS, min_size=14, max_size=14),
    log_x=st.booleans(),
)
def test_label_points_no_overlap_nothing_clipped(points, words, log_x):
    """Any points, even all on one spot: every label is drawn, none on another label or on a
    point, all inside the axes."""
    plt.close("all")
    figure, ax = plt.subplots(figsize=(7, 4))
    xs = [10 ** (1 + 2 * x) if log_x else x for x, _ in points]
    ys = [y for _, y in points]
    ax.scatter(xs, ys, s=20)
    if log_x:
        plots.log_axis(ax, "x")
    ax.set_xlabel("x")
    figure.tight_layout()
    labels = words[: len(points)]
    annotations = plots.label_points(ax, xs, ys, labels, marker_radius_pt=2.5)
    _drawn(figure)
    assert [a.get_text() for a in annotations] == labels
    assert not _overlapping_texts(annotations)
    assert not _texts_outside(annotations, ax.get_window_extent())
    renderer = figure._get_renderer()
    centres = ax.transData.transform(list(zip(xs, ys, strict=True)))
    for annotation in annotations:
        box = _text_box(annotation, renderer)
        assert not any(box.x0 + 1 < x < box.x1 - 1 and box.y0 + 1 < y < box.y1 - 1 for x, y in centres)
    for index, annotation in enumerate(annotations):  # without a leader line: nearest its own point
        if annotation.arrow_patch is None:
            box = _text_box(annotation, renderer)
            gaps = [
                math.hypot(max(box.x0 - x, 0, x - box.x1), max(box.y0 - y, 0, y - box.y1)) for x, y in centres
            ]
            assert gaps[index] <= min(gaps) + 1.5, labels[index]
            centre = ((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2)
            assert math.dist(centre, centres[index]) <= min(math.dist(centre, c) for c in centres) + 1.5


def test_label_points_rejects_mismatched_lengths():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="one entry per point"):
        plots.label_points(ax, [1, 2], [1], ["a", "b"])
    with pytest.raises(ValueError, match="marker_radius_pt"):
        plots.label_points(ax, [1, 2], [1, 2], ["a", "b"], marker_radius_pt=[1.0])


# --- overlaid groups, shared histograms ----------------------------------------------------------

PURE = {"red": (230, 0, 0), "green": (0, 170, 0), "blue": (0, 0, 230), "magenta": (200, 0, 200)}


def _pixels_of(figure, rgb, tolerance: int = 40) -> int:
    image = np.asarray(_drawn(figure).canvas.buffer_rgba())[..., :3].astype(int)
    return int((np.abs(image - np.array(rgb)).max(axis=-1) < tolerance).sum())


@pytest.mark.parametrize("groups", [2, 3, 4])
def test_scatter_groups_on_one_spot_all_show(groups):
    """Groups whose points coincide (FBNet at two betas finding one network): each group's
    colour still shows on the figure."""
    figure, ax = plt.subplots(figsize=(3, 3))
    colours = list(PURE)[:groups]
    plots.scatter_groups(
        ax,
        {name: ([1.0], [1.0]) for name in colours},
        colors=[tuple(c / 255 for c in PURE[name]) for name in colours],
    )
    for name in colours:
        assert _pixels_of(figure, PURE[name]) >= 20, name


def test_scatter_groups_rejects_bad_arguments():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="groups"):
        plots.scatter_groups(ax, {})
    with pytest.raises(ValueError, match="colors"):
        plots.scatter_groups(ax, {"a": ([1], [1])}, colors=["red", "blue"])


def test_shared_histograms_share_x_and_bins():
    samples = {"s = 0": [0.9, 1.0, 1.1, 2.0], "s = 0.01": [0.0, 0.0, 0.01, 0.3]}
    axes = plots.shared_histograms(samples, bins=20, xlabel="|gamma|")
    assert axes[0].get_shared_x_axes().joined(axes[0], axes[1])
    assert axes[0].get_xlim() == axes[1].get_xlim()
    edges = [[(p.get_x(), p.get_width()) for p in ax.patches] for ax in axes]
    assert edges[0] == edges[1] and len(edges[0]) == 20
    with pytest.raises(ValueError, match="samples"):
        plots.shared_histograms({})


# --- every figure of lwcnn.plots -------------------------------------------------------------------


def _figures():
    """Each plots function with the defaults its widget starts from (name -> drawing function)."""
    rows = nas.load_table(ROOT / "data" / "nasbench_digits.csv")
    s = widgets.compound_summary(phi=1.0)
    return {
        "conv_cost_bars": lambda: plots.conv_cost_bars(widgets.conv_layer_summary()),
        "separable_ratio_curve": lambda: plots.separable_ratio_curve(widgets.separable_summary()),
        "expansion_curves": lambda: plots.expansion_curves(
            [widgets.expansion_summary(expand_ratio=t) for t in range(1, 13)], widgets.expansion_summary()
        ),
        "width_resolution_grid": lambda: plots.width_resolution_grid(
            widgets.width_resolution_grid(), widgets.width_resolution_summary()
        ),
        "kernel_choice_curves": lambda: plots.kernel_choice_curves(
            [widgets.kernel_choice_summary(32, n, 28) for n in range(1, 257)], widgets.kernel_choice_summary()
        ),
        "se_cost_curves": lambda: plots.se_cost_curves(widgets.se_summary()),
        "compound_scaling_curve": lambda: plots.compound_scaling_curve(
            [widgets.compound_summary(p / 4, s["alpha"], s["beta"], s["gamma"]) for p in range(-12, 13)], s
        ),
        "gumbel_draws": lambda: plots.gumbel_draws(widgets.gumbel_summary(temperature=0.1)),
        "reward_landscape": lambda: plots.reward_landscape(
            rows, widgets.reward_summary(rows, statistics.median(r.latency_ms for r in rows))
        ),
        "kept_channels_bars": lambda: plots.kept_channels_bars(
            widgets.slimming_summary(
                prune.load_pruned(PRUNING_CHECKPOINT).model.eval(),
                0.5,
            )
        ),
    }


@pytest.mark.parametrize("name", list(_figures()))
def test_every_figure_reads(name):
    """No text on another text, nothing outside the figure, no legend on the data, no powers on
    the ticks."""
    _figures()[name]()
    figure = _drawn(plt.gcf())
    texts = _visible_texts(figure)
    assert not _texts_outside(texts, figure.bbox), name
    for ax in figure.axes:
        if ax.get_label() == "<colorbar>":
            continue
        assert not _overlapping_texts(_axes_texts(ax)), name
        assert _data_under_legend(ax) == 0, (name, ax.get_legend())
        assert not _mathtext_tick_labels(ax), name
        assert not _texts_outside(ax.texts, ax.get_window_extent()), name  # labels beside points
        assert not ax.xaxis.get_offset_text().get_text(), name  # a "1e8" at the axis' end
        assert not ax.yaxis.get_offset_text().get_text(), name


# --- the checks fail on what the figures did before ----------------------------------------------


def test_the_checks_can_fail():
    """Each check above flags the way the figures were drawn before this module drew them."""
    # Fixed offsets beside crowded points (the zoo scatter): labels on labels, one clipped.
    figure, ax = plt.subplots(figsize=(7, 4))
    xs, ys = [300, 310, 305, 1800], [72.0, 72.1, 72.15, 81.0]
    ax.scatter(xs, ys)
    texts = [
        ax.annotate(f"model_{i}_name", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        for i, (x, y) in enumerate(zip(xs, ys, strict=True))
    ]
    ax.set_xscale("log")
    figure.tight_layout()
    _drawn(figure)
    assert _overlapping_texts(texts)
    assert _texts_outside(texts, ax.get_window_extent())
    # matplotlib's own log ticks: 10^2, and 2x10^1 on a short range.
    assert _mathtext_tick_labels(ax)
    # A legend in the lower right over the longest bar (the kept-channels bars).
    figure, ax = plt.subplots(figsize=(7, 2))
    ax.barh(["a", "b", "c"], [100, 20, 10], label="before")
    ax.legend(loc="lower right")
    _drawn(figure)
    assert _data_under_legend(ax) > 0
    # Stars of one size on one spot: only the last colour shows.
    figure, ax = plt.subplots(figsize=(3, 3))
    for name in ("red", "blue"):
        ax.scatter([1.0], [1.0], s=60, marker="*", color=tuple(c / 255 for c in PURE[name]))
    assert _pixels_of(figure, PURE["red"]) < 20
    # Each panel its own bins and x range (the |gamma| histograms before).
    figure, axes = plt.subplots(1, 2, sharey=True)
    axes[0].hist([0.9, 1.0, 2.0], bins=20)
    axes[1].hist([0.0, 0.01, 0.3], bins=20)
    assert not axes[0].get_shared_x_axes().joined(axes[0], axes[1])
    assert axes[0].get_xlim() != axes[1].get_xlim()


def test_seed_spread_draws_a_row_per_variant_with_the_seeds_range():
    accuracy = {"relu": [0.86, 0.87, 0.875], "h-swish": [0.85, 0.88]}
    ax = plots.seed_spread(accuracy)
    assert [label.get_text() for label in ax.get_yticklabels()] == ["relu", "h-swish"]
    low, high = ax.get_xlim()
    assert low < 85 and high > 88 and high - low < 10  # zoomed to where the variants are
    with pytest.raises(ValueError, match="at least one seed"):
        plots.seed_spread({"relu": []})


def test_spread_curves_draw_the_mean_and_a_band_per_curve_zoomed_to_them():
    curves = {"plain": {0.2: [0.80, 0.82, 0.81], 0.4: [0.70, 0.74]}, "sparse": {0.2: [0.84], 0.4: [0.83]}}
    ax = plots.spread_curves(curves)
    lines = ax.get_lines()
    assert [list(line.get_ydata()) for line in lines] == [pytest.approx([81, 72]), pytest.approx([84, 83])]
    assert len(ax.collections) == 2  # one band per curve
    low, high = ax.get_ylim()
    assert 69 < low < 70 and 84 < high < 85.5  # zoomed to the seeds, not 0-100
    with pytest.raises(ValueError, match="at least one seed"):
        plots.spread_curves({"plain": {0.2: []}})
    with pytest.raises(ValueError, match="at least one seed"):
        plots.spread_curves({})
