"""`lwcnn.draw`: every zoo model and every block kind draws; what is drawn lists exactly the spec's
layers, in order; the shapes it prints are the ones `cost()` gives; labels fit in their boxes;
bad arguments raise."""

from __future__ import annotations

import random

import matplotlib.pyplot as plt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import FancyBboxPatch

import lwcnn
from lwcnn import blocks as B
from lwcnn import models as M
from lwcnn import nas, prune
from lwcnn.draw import BLOCK_KINDS, Diagram, describe, draw

few = settings(max_examples=25, deadline=None)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def network_layers(spec):
    return [layer for stage in spec.stages() for layer in stage.layers] + list(spec.classifier())


def block_layers(spec):
    """The layer specs a block is made of, flattened: what its diagram must list."""
    if isinstance(spec, B.ShuffleNetV2Unit):
        shortcut, main = spec.branches()
        return [*shortcut, *main]
    if isinstance(spec, B.ESPModule):
        reduce, branches = spec.layers()
        return [reduce, *branches]
    if isinstance(spec, B.ShuffleNetV1Unit):
        shortcut, main = spec.branches()
        return [*main, *shortcut] if spec.use_residual else [*shortcut, *main]
    if isinstance(spec, B.EESPUnit):
        reduce, dilated, expand = spec.layers()
        return [reduce, *dilated, expand, *spec.shortcut_layers(), *spec.image_layers()]
    if isinstance(spec, B.GhostBottleneck):
        return [*spec.layers(), *spec.shortcut_layers()]
    return list(spec.layers()) if hasattr(spec, "layers") else [spec]


def texts(diagram: Diagram) -> list[str]:
    return [text.get_text() for ax in diagram.figure.axes for text in ax.texts]


def boxes(diagram: Diagram) -> list[FancyBboxPatch]:
    return [patch for ax in diagram.figure.axes for patch in ax.patches if isinstance(patch, FancyBboxPatch)]


def shape_text(shape) -> str:
    return "x".join(map(str, shape))


# --- random valid specs -------------------------------------------------------------------------

ch = st.integers(1, 48)
even = st.integers(1, 24).map(lambda n: 2 * n)
kernels = st.sampled_from([1, 3, 5])
strides = st.integers(1, 2)
acts = st.sampled_from(B.ACTIVATIONS)


@st.composite
def inverted_residuals(draw_):
    m, n, stride = draw_(ch), draw_(ch), draw_(strides)
    expanded = draw_(st.sampled_from([m, 2 * m, 6 * m, m + 8]))
    return B.InvertedResidual(m, n, expanded, draw_(kernels), stride, draw_(st.integers(0, 8)), draw_(acts))


@st.composite
def shuffle_units(draw_):
    stride = draw_(strides)
    n = draw_(even)
    return B.ShuffleNetV2Unit(n if stride == 1 else draw_(ch), n, stride, draw_(kernels))


@st.composite
def esp_modules(draw_):
    branches = draw_(st.integers(1, 5))
    return B.ESPModule(
        draw_(ch), draw_(st.integers(branches, 48)), branches, draw_(strides), draw_(st.booleans())
    )


block_specs = st.one_of(
    st.builds(B.ConvBNAct, ch, ch, kernels, strides, st.just(1), st.integers(1, 2), acts, st.booleans()),
    st.builds(B.DepthwiseSeparable, ch, ch, kernels, strides, acts, st.sampled_from(B.SEPARABLE_ORDERS)),
    st.builds(B.SqueezeExcite, ch, ch, acts, st.sampled_from(B.GATES)),
    inverted_residuals(),
    st.builds(B.FusedMBConv, ch, ch, ch, kernels, strides, st.integers(0, 8)),
    shuffle_units(),
    st.builds(B.GhostModule, ch, ch, kernels, st.integers(2, 4), kernels, strides, st.booleans()),
    st.builds(B.GhostBottleneck, ch, ch, ch, kernels, strides, st.integers(0, 8)),
    st.builds(B.DecoupledFC, ch, kernels, st.sampled_from(B.DFC_DIRECTIONS)),
    st.builds(B.DFCAttention, ch, ch, kernels, strides, kernels),
    st.builds(B.GhostModuleV2, ch, ch, kernels, st.integers(2, 4), kernels, strides, st.booleans()),
    st.builds(B.GhostBottleneckV2, ch, ch, ch, kernels, strides, st.integers(0, 8)),
    st.builds(B.Fire, ch, ch, ch, ch),
    esp_modules(),
    st.builds(
        B.ShuffleNetV1Unit,
        st.sampled_from([12, 24]),
        st.sampled_from([48, 96]),
        st.sampled_from([1, 2, 3]),
        st.just(2),
        st.booleans(),
    ),
    st.sampled_from([B.ShuffleNetV1Unit(24, 24, g) for g in (1, 2, 3)]),
    st.builds(
        B.EESPUnit, st.sampled_from([8, 16]), st.sampled_from([16, 32]), st.just(1), st.just(4), kernels
    ),
    st.builds(
        B.EESPUnit, st.just(16), st.sampled_from([32, 48]), st.just(2), st.just(4), kernels, st.integers(0, 3)
    ),
    st.builds(B.ESPNetLevel, ch, st.integers(5, 24), st.integers(1, 3), st.integers(1, 5), st.integers(0, 3)),
    st.builds(B.ImageConcat, ch, st.integers(1, 3)),
    st.builds(B.ChannelShuffle, st.sampled_from([6, 12]), st.sampled_from([1, 2, 3])),
    st.builds(B.AvgPool, ch, st.just(3), strides),
    st.builds(B.ImageTap, ch),
    st.builds(nas.ConvBlock, ch, ch, kernels, strides, st.integers(0, 8)),
    st.builds(M.PlainConv, ch, ch, st.sampled_from([1, 3]), strides, st.integers(0, 1)),
    st.builds(M.MaxPool, ch, st.sampled_from([2, 3]), strides),
    st.builds(M.Flatten, ch),
    st.builds(M.Dropout, ch, st.floats(0, 0.9)),
    st.builds(M.BatchNorm, ch),
    st.builds(M.Activation, ch, acts),
    st.builds(M.Linear, ch, ch, st.booleans()),
)


@st.composite
def small_networks(draw_):
    kind = draw_(st.sampled_from(["searched", "mobilenet_v2", "pruned"]))
    if kind == "searched":
        space = nas.SearchSpace()
        return space.spec(space.sample(random.Random(draw_(st.integers(0, 10**6)))))
    rows = draw_(
        st.lists(
            st.tuples(st.integers(1, 6), st.integers(4, 64), st.integers(0, 3), strides),
            min_size=1,
            max_size=4,
        )
    )
    spec = M.MobileNetV2(
        width_multiplier=draw_(st.sampled_from([0.35, 0.5, 1.0])), table=rows, num_classes=10
    )
    if kind == "mobilenet_v2":
        return spec
    widths = [
        (group.name, draw_(st.integers(1, group.channels)))
        for group in prune.channel_groups(spec)
        if group.prunable
    ]
    return prune.PrunedSpec(spec, tuple(widths))


# --- networks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", M.MODEL_NAMES)
def test_every_zoo_model_draws_exactly_its_layers_with_the_costed_shapes(name):
    spec = M.spec(name)
    diagram = draw(name)
    assert [item.spec for item in diagram.items] == network_layers(spec)
    assert all(item.label for item in diagram.items)
    _check_network_shapes(spec, diagram, spec.input_resolution)


def _check_network_shapes(spec, diagram, resolution):
    cost = spec.cost(resolution)
    shown = texts(diagram)
    for row in cost.stages:
        drawn = [item for item in diagram.items if item.stage == row.name]
        if not drawn:  # a table row repeated 0 times
            continue
        last = drawn[-1]
        assert last.out_shape == (row.out_channels, *row.out_size)
        assert shape_text(last.out_shape) in shown
    for before, after in zip(diagram.items, diagram.items[1:], strict=False):
        assert after.in_shape[0] == before.out_shape[0]
        assert after.out_shape == after.spec.output_shape(after.in_shape[1:])


@few
@given(spec=small_networks(), resolution=st.sampled_from([32, 64, 96]))
def test_random_networks_draw_their_layers_in_order(spec, resolution):
    diagram = draw(spec, resolution)
    assert [item.spec for item in diagram.items] == network_layers(spec)
    _check_network_shapes(spec, diagram, resolution)
    plt.close("all")


def test_compact_draws_a_run_of_identical_blocks_once_and_full_draws_every_block():
    spec = M.spec("mobilenet_v2")
    runs = sum(
        1
        for stage in [*(s.layers for s in spec.stages()), spec.classifier()]
        for index, layer in enumerate(stage)
        if index == 0 or stage[index - 1] != layer
    )
    assert len(boxes(draw(spec, detail="compact"))) == runs < len(network_layers(spec))
    assert len(boxes(draw(spec, detail="full"))) == len(network_layers(spec))
    assert any(text.endswith("x3") for text in texts(draw(spec)))  # stage4: one block, then 3 alike


def test_searched_and_pruned_networks_draw():
    space = nas.SearchSpace()
    searched = space.spec(space.sample(random.Random(0)))
    assert [item.spec for item in draw(searched).items] == network_layers(searched)
    pruned = prune.unpruned_cfg(M.spec("mobilenet_v3_small"))
    assert [item.spec for item in draw(pruned, 224).items] == network_layers(pruned)


# --- blocks ---------------------------------------------------------------------------------------

ONE_OF_EACH = [
    B.ConvBNAct(16, 32, 3, 2, activation="hswish"),
    B.DepthwiseSeparable(32, 64),
    B.SqueezeExcite(96, 24),
    B.InvertedResidual(24, 24, 144),
    B.FusedMBConv(24, 48, 96, stride=2, squeeze_channels=24),
    B.ShuffleNetV2Unit(116, 116),
    B.ShuffleNetV2Unit(24, 116, 2),
    B.GhostModule(16, 64),
    B.GhostBottleneck(16, 48, 16, squeeze_channels=12),
    B.GhostBottleneck(16, 48, 24, stride=2),
    B.DecoupledFC(48, direction="vertical"),
    B.DFCAttention(16, 48),
    B.GhostModuleV2(16, 48),
    B.GhostBottleneckV2(24, 72, 24, squeeze_channels=20),
    B.Fire(96, 16, 64, 64),
    B.ESPModule(40, 40),
    B.ESPNetLevel(19, 64, 2, image_channels=3),
    B.ImageConcat(16, 3),
    B.ImageTap(3),
    B.EESPUnit(64, 64, receptive_field_limit=7),
    B.EESPUnit(64, 128, stride=2, image_channels=3),
    B.ShuffleNetV1Unit(240, 240, groups=3),
    B.ShuffleNetV1Unit(24, 240, groups=3, stride=2, grouped_first=False),
    B.ChannelShuffle(60, 3),
    B.AvgPool(24),
    nas.ConvBlock(16, 16, squeeze_channels=8, residual=True),
    M.PlainConv(3, 96, 7, 2),
    M.MaxPool(96, 3, 2),
    M.Flatten(96),
    M.Dropout(96),
    M.BatchNorm(96),
    M.Activation(96, "hswish"),
    M.Linear(96, 10),
]


def test_every_block_kind_is_covered():
    assert {type(spec) for spec in ONE_OF_EACH} == set(BLOCK_KINDS)
    assert set(B.BLOCKS) <= set(BLOCK_KINDS)


@pytest.mark.parametrize("spec", ONE_OF_EACH, ids=lambda spec: type(spec).__name__)
def test_every_block_draws_its_layers_and_its_output_shape(spec):
    diagram = draw(spec, 56)
    _check_block(spec, diagram, 56)


@few
@given(spec=block_specs, size=st.integers(8, 40))
def test_random_blocks_draw_their_layers_and_shapes(spec, size):
    _check_block(spec, draw(spec, size), size)
    plt.close("all")


def _check_block(spec, diagram, size):
    assert [item.spec for item in diagram.items] == block_layers(spec)
    assert [item.label for item in diagram.items] == [describe(layer).label for layer in block_layers(spec)]
    for item in diagram.items:
        assert item.out_shape == item.spec.output_shape(item.in_shape[1:])
    assert f"output {shape_text(spec.output_shape(size))}" in texts(diagram)
    assert f"input {shape_text((spec.in_channels, size, size))}" in texts(diagram)
    assert len(boxes(diagram)) >= len(diagram.items)


def test_a_block_without_input_size_prints_no_shapes():
    diagram = draw(B.InvertedResidual(16, 24, 96, stride=2))
    assert all(item.in_shape is None and item.out_shape is None for item in diagram.items)
    assert "input" in texts(diagram) and "output" in texts(diagram)


def test_labels_say_what_the_spec_says():
    labels = [item.label for item in draw(B.InvertedResidual(16, 24, 96, 3, 2, 24, "hswish")).items]
    assert labels == [
        "1x1 conv 16->96, BN, h-swish",
        "3x3 dw conv 96 s2, BN, h-swish",
        "SE 96->24->96, ReLU, h-sigmoid",
        "1x1 conv 96->24, BN, linear",
    ]
    assert describe(B.InvertedResidual(24, 24, 144)).lines == ("MBConv 3x3", "e6 +skip", "ReLU6 ->24")


@few
@given(spec=block_specs)
def test_a_residual_block_draws_a_plus(spec):
    diagram = draw(spec)
    residual = getattr(spec, "use_residual", False) or isinstance(spec, B.GhostBottleneck)
    assert ("+" in texts(diagram)) == residual
    plt.close("all")


# --- the figure -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target", ["mobilenet_v3_large", "efficientnet_b0", B.GhostBottleneck(16, 48, 24, stride=2)]
)
def test_labels_fit_inside_their_boxes_and_the_figure(target):
    _check_labels_fit(draw(target, 224))


@pytest.mark.parametrize("figsize", [(6.4, 4.8), (3, 8), (12, 3)])
def test_labels_fit_in_a_given_axes_of_any_shape(figsize):
    figure, ax = plt.subplots(figsize=figsize)
    diagram = draw("mobilenet_v3_large", ax=ax)
    assert diagram.figure is figure
    _check_labels_fit(diagram)


def _check_labels_fit(diagram):
    figure = diagram.figure
    figure.canvas = FigureCanvasAgg(figure)
    renderer = figure.canvas.get_renderer()
    page = figure.bbox
    box_extents = [patch.get_window_extent(renderer) for patch in boxes(diagram)]
    labelled = 0
    for text in figure.axes[0].texts:
        extent = text.get_window_extent(renderer)
        assert page.x0 <= extent.x0 and extent.x1 <= page.x1 and page.y0 <= extent.y0 and extent.y1 <= page.y1
        inside = [box for box in box_extents if box.contains(*extent.get_points().mean(axis=0))]
        for box in inside:  # a label drawn on a box stays within it
            assert box.x0 <= extent.x0 and extent.x1 <= box.x1, text.get_text()
        labelled += bool(inside)
    assert labelled >= len(box_extents)  # every box's label was checked


def test_png_and_svg_are_deterministic(tmp_path):
    diagram = draw(B.InvertedResidual(16, 16, 64), 32)
    assert diagram._repr_png_().startswith(b"\x89PNG")
    assert draw(B.InvertedResidual(16, 16, 64), 32).to_bytes("svg") == diagram.to_bytes("svg")
    assert b"<dc:date>" not in diagram.to_bytes("svg")
    diagram.save(tmp_path / "block.svg")
    assert (tmp_path / "block.svg").read_bytes() == diagram.to_bytes("svg")


def test_draw_is_exported():
    assert lwcnn.draw is draw and "draw" in lwcnn.__all__


# --- bad arguments -----------------------------------------------------------------------------------


def test_an_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="spec_or_name='mobilenet_v9'.*mobilenet_v2"):
        draw("mobilenet_v9")


@pytest.mark.parametrize("bad", [42, None, B, M.SmallMobileNet(), [B.ConvBNAct(3, 8)]])
def test_other_objects_raise_type_error_naming_what_is_allowed(bad):
    with pytest.raises(TypeError, match="spec_or_name must be a model name, a NetworkSpec or a block spec"):
        draw(bad)


def test_bad_detail_and_input_size_and_path_raise():
    with pytest.raises(ValueError, match="detail='everything'.*compact, full"):
        draw("mobilenet_v2", detail="everything")
    with pytest.raises(ValueError, match="input_size"):
        draw(B.ConvBNAct(3, 8), input_size=0)
    with pytest.raises(ValueError, match="must end in .png or .svg"):
        draw(B.ConvBNAct(3, 8)).save("diagram.pdf")
    with pytest.raises(TypeError, match="cannot describe a int"):
        describe(3)
