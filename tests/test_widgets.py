"""The sliders' callbacks: numbers checked against torch, clamping, and live re-rendering."""

from __future__ import annotations

import inspect
import threading
import time

import ipywidgets
import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import counted_macs, counted_params
from torch import nn

from lwcnn import models, nas, plots, prune, widgets

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    """The widgets draw a figure per render; close them so tests do not pile them up."""
    yield
    plt.close("all")


@settings(max_examples=100, deadline=None)
@given(
    h=st.integers(1, 20),
    w=st.integers(1, 20),
    cin=st.integers(1, 24),
    cout=st.integers(1, 24),
    k=st.integers(0, 8),
    stride=st.integers(0, 5),
    groups=st.integers(-2, 30),
)
def test_conv_summary_matches_a_real_conv_after_clamping(h, w, cin, cout, k, stride, groups):
    s = widgets.conv_layer_summary(h, w, cin, cout, k, stride, groups)
    assert s["kernel_size"] % 2 == 1 and 1 <= s["stride"] <= 8
    assert cin % s["groups"] == 0 and cout % s["groups"] == 0
    conv = nn.Conv2d(
        cin, cout, s["kernel_size"], s["stride"], s["kernel_size"] // 2, groups=s["groups"], bias=False
    )
    macs, out = counted_macs(conv, torch.zeros(1, cin, h, w))
    assert s["output_shape"] == tuple(out.shape[1:])
    assert s["params"] == counted_params(conv)
    assert s["macs"] == macs and s["flops"] == 2 * macs


def test_groups_snap_to_the_largest_valid_divisor():
    assert widgets.valid_groups(5, 64, 64) == 4
    assert widgets.valid_groups(64, 64, 32) == 32
    assert widgets.valid_groups(0, 7, 7) == 1
    assert widgets.nearest_odd(4) == 3 and widgets.nearest_odd(100) == 7 and widgets.nearest_odd(-3) == 1


def test_separable_summary_ratio():
    s = widgets.separable_summary(out_channels=64, kernel_size=3)
    assert s["ratio"] == pytest.approx(1 / 64 + 1 / 9)
    assert s["separable_macs"] * 576 == s["standard_macs"] * 73
    assert "7.89x fewer" in widgets.describe_separable(s)


def test_conv_widget_re_renders_when_a_slider_moves(capsys):
    widget = widgets.conv_cost_widget()
    sliders = {c.description: c for box in widget.children[:2] for c in box.children}
    capsys.readouterr()
    sliders["C_out"].value = 128
    shown = capsys.readouterr().out
    expected = widgets.conv_layer_summary(56, 56, 64, 128, 3, 1, 1)
    assert f"MACs   {expected['macs']:,}" in shown
    sliders["groups"].value = 5  # not a divisor of 64 and 128: snaps to 4
    assert sliders["groups"].value == 4
    assert (
        f"MACs   {widgets.conv_layer_summary(56, 56, 64, 128, 3, 1, 4)['macs']:,}" in capsys.readouterr().out
    )


def test_separable_widget_re_renders_when_a_slider_moves(capsys):
    widget = widgets.separable_ratio_widget()
    sliders = {c.description: c for box in widget.children[:2] for c in box.children}
    capsys.readouterr()
    sliders["Dk (kernel)"].value = 5
    assert "1/64 + 1/25" in capsys.readouterr().out


@pytest.mark.parametrize(
    "make",
    [widgets.conv_cost_widget, widgets.separable_ratio_widget, widgets.width_resolution_widget],
    ids=["conv", "separable", "width_resolution"],
)
def test_in_a_kernel_each_render_sends_one_png_and_closes_its_figure(make, monkeypatch):
    """Under any backend (these tests run Agg, where plt.show() shows nothing) a kernel gets a PNG."""
    import IPython
    import IPython.display

    shown, held_by_pyplot = [], []

    def display(*objs):
        shown.extend(objs)
        held_by_pyplot.append(plt.get_fignums())

    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", display)
    widget = make()
    first = next(iter(widget.controls.values()))
    first.value = first.max
    assert len(shown) == 2 and plt.get_fignums() == []
    # drawn on figures of the widget's own: the inline backend's flush after a message on another
    # thread (it draws and closes all of pyplot's figures) cannot reach them mid-render
    assert held_by_pyplot == [[], []]
    for image in shown:
        assert isinstance(image, IPython.display.Image) and image.format == "png"
        assert image.data.startswith(b"\x89PNG") and len(image.data) > 1000


def test_renders_from_two_threads_take_turns_and_the_last_shows_the_last_setting():
    """A kernel may deliver slider moves on two threads at once (JupyterLab's subshells)."""
    state = {"inside": 0, "most": 0}
    drawn = []

    def render(a, b):
        state["inside"] += 1
        state["most"] = max(state["most"], state["inside"])
        time.sleep(0.002)  # long enough for the other thread to arrive while this one draws
        drawn.append((a, b))
        state["inside"] -= 1

    a, b = ipywidgets.IntSlider(value=0, max=50), ipywidgets.IntSlider(value=0, max=50)
    box = widgets.live({"a": a, "b": b}, render)
    movers = [
        threading.Thread(target=lambda s=slider: [setattr(s, "value", v) for v in range(1, 31)])
        for slider in (a, b)
    ]
    for mover in movers:
        mover.start()
    for mover in movers:
        mover.join()
    assert state["most"] == 1, "two renders ran at once"
    assert len(drawn) >= 31 and drawn[-1] == (30, 30) and box.controls == {"a": a, "b": b}


def test_a_real_widget_moved_from_two_threads_draws_every_time(monkeypatch):
    """Unserialised, two pyplot renders at once broke matplotlib's tick labels (a ValueError)."""
    failures = []
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(args.exc_value))
    widget = widgets.width_resolution_widget()
    alpha, resolution = widget.controls["width_multiplier"], widget.controls["resolution"]
    movers = [
        threading.Thread(target=lambda: [setattr(alpha, "value", v) for v in (0.3, 0.55, 0.8, 1.0)]),
        threading.Thread(target=lambda: [setattr(resolution, "value", v) for v in (96, 128, 192, 224)]),
    ]
    for mover in movers:
        mover.start()
    for mover in movers:
        mover.join()
    assert failures == [] and plt.get_fignums() == []


def test_own_figures_are_unknown_to_pyplot_and_only_inside_the_block():
    summary = widgets.conv_layer_summary()
    with plots.own_figures() as figures:
        ax = plots.conv_cost_bars(summary)
        assert figures == [ax.figure] and plt.get_fignums() == []
        assert plots.figures_in_hand() is figures
    assert plots.figures_in_hand() is None
    ax = plots.conv_cost_bars(summary)
    assert plt.get_fignums() == [ax.figure.number]


def test_outside_a_kernel_a_render_leaves_no_figure_open(capsys):
    widget = widgets.conv_cost_widget()
    widget.controls["out_channels"].value = 32
    assert "MACs" in capsys.readouterr().out and plt.get_fignums() == []


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 32), n=st.integers(1, 32), t=st.integers(0, 14), size=st.integers(1, 16))
def test_expansion_summary_matches_the_built_block(m, n, t, size):
    from lwcnn.blocks import InvertedResidual

    s = widgets.expansion_summary(m, n, t, size)
    assert 1 <= s["expand_ratio"] <= 12 and s["expanded_channels"] == m * s["expand_ratio"]
    block = InvertedResidual(m, n, s["expanded_channels"]).build()
    macs, out = counted_macs(block, torch.zeros(1, m, size, size))
    assert s["params"] == counted_params(block) and s["macs"] == macs
    assert s["expanded_bytes"] == 4 * s["expanded_channels"] * size * size
    assert s["residual"] == (m == n)


def test_expansion_widget_re_renders(capsys):
    widget = widgets.expansion_widget()
    sliders = {c.description: c for box in widget.children[:2] for c in box.children}
    capsys.readouterr()
    sliders["t (expansion)"].value = 3
    assert "-> 72 (t = 3)" in capsys.readouterr().out


@settings(max_examples=12, deadline=None)
@given(alpha=st.floats(0.0, 3.0, allow_nan=False), resolution=st.integers(-10, 600))
def test_width_resolution_summary_matches_the_built_network(alpha, resolution):
    """The numbers under the alpha/rho sliders are the params and MACs torch counts on the module
    built at the clamped setting; the alpha^2 rho^2 prediction uses the same clamped values."""
    s = widgets.width_resolution_summary(alpha, resolution)
    assert 0.1 <= s["width_multiplier"] <= 2.0 and 32 <= s["resolution"] <= 512
    assert s["width_multiplier"] == round(min(max(alpha, 0.1), 2.0), 2)
    model = models.build("mobilenet_v1", width_multiplier=s["width_multiplier"]).eval()
    assert s["params"] == counted_params(model)
    size = s["resolution"]
    if size <= 160:  # a forward pass at 512x512 is slow; params need none
        macs, _ = counted_macs(model, torch.zeros(1, 3, size, size))
        assert s["macs"] == macs
    rho = s["resolution"] / 224
    assert s["predicted_macs_ratio"] == pytest.approx(s["width_multiplier"] ** 2 * rho**2)
    assert s["macs_ratio"] == pytest.approx(s["macs"] / 568_740_352)


def test_width_resolution_summary_names_the_paper_row_only_on_the_grid():
    from lwcnn import papers

    for point in papers.MOBILENET_V1_WIDTH + papers.MOBILENET_V1_RESOLUTION:
        s = widgets.width_resolution_summary(point.width_multiplier, point.resolution)
        assert s["paper"] == point
        assert abs(s["macs"] / (point.macs_m * 1e6) - 1) <= 0.02
        assert f"{point.top1}% top-1" in widgets.describe_width_resolution(s)
    assert widgets.width_resolution_summary(0.6, 224)["paper"] is None
    assert "not one of the settings" in widgets.describe_width_resolution(
        widgets.width_resolution_summary(1.0, 200)
    )


def test_width_resolution_grid_is_the_papers_sixteen_models():
    grid = widgets.width_resolution_grid()
    assert len({(s["width_multiplier"], s["resolution"]) for s in grid}) == 16
    for alpha in (1.0, 0.75, 0.5, 0.25):  # params depend on width only
        assert len({s["params"] for s in grid if s["width_multiplier"] == alpha}) == 1


def test_width_resolution_widget_re_renders(capsys):
    widget = widgets.width_resolution_widget(width_multiplier=0.5, resolution=160)
    sliders = {c.description: c for box in widget.children[:2] for c in box.children}
    capsys.readouterr()
    sliders["alpha (width)"].value = 1.0
    sliders["resolution"].value = 224
    out = capsys.readouterr().out
    assert "568.7 M" in out and "70.6% top-1" in out
    sliders["resolution"].value = 128
    assert "186.4 M" in capsys.readouterr().out


def _conv_weights(model: nn.Module) -> int:
    return sum(p.numel() for m in model.modules() if isinstance(m, nn.Conv2d) for p in m.parameters())


@settings(max_examples=40, deadline=None)
@given(m=st.integers(-3, 40), n=st.integers(-3, 40), size=st.integers(-1, 12))
def test_kernel_choice_summary_matches_built_layers(m, n, size):
    from lwcnn.blocks import DepthwiseSeparable

    s = widgets.kernel_choice_summary(m, n, size)
    m, n, size = s["in_channels"], s["out_channels"], s["feature_size"]
    assert m >= 1 and n >= 1 and size >= 1
    x = torch.zeros(1, m, size, size)
    one = nn.Sequential(*(layer.build() for layer in DepthwiseSeparable(m, n, 5).layers()))
    two = nn.Sequential(
        *(layer.build() for layer in DepthwiseSeparable(m, n, 3).layers()),
        *(layer.build() for layer in DepthwiseSeparable(n, n, 3).layers()),
    )
    assert s["one_5x5_macs"] == counted_macs(one, x)[0]
    assert s["two_3x3_macs"] == counted_macs(two, x)[0]
    conv_params = _conv_weights
    assert (s["one_5x5_params"], s["two_3x3_params"]) == (conv_params(one), conv_params(two))
    assert s["receptive_field"] == (5, 5)
    one_macs, two_macs = s["one_5x5_macs"], s["two_3x3_macs"]
    expected = "one 5x5" if one_macs < two_macs else "two 3x3" if two_macs < one_macs else "equal"
    assert s["cheaper"] == expected  # "equal" when 16 M = N (9 + N), e.g. M = N = 7


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 3000))
def test_kernel_crossover_is_where_the_5x5_starts_to_win(m):
    n = widgets.kernel_crossover(m)
    one, two = widgets.cost.kernel5_vs_two_kernel3_macs(m, n, 1)
    assert one < two
    if n > 1:
        one, two = widgets.cost.kernel5_vs_two_kernel3_macs(m, n - 1, 1)
        assert one >= two


def test_kernel_crossover_with_equal_widths_is_eight():
    """The issue's checked fact: with M = N the 5x5 is cheaper exactly when N > 7."""
    for n in range(1, 300):
        one, two = widgets.cost.kernel5_vs_two_kernel3_macs(n, n, 7)
        assert (one < two) == (n > 7)
    assert widgets.kernel_crossover(8) == 8


@settings(max_examples=60, deadline=None)
@given(c=st.integers(-5, 300), r=st.floats(-1, 2, allow_nan=False), size=st.integers(0, 20))
def test_se_summary_matches_a_built_se_block(c, r, size):
    from lwcnn.blocks import SqueezeExcite

    s = widgets.se_summary(c, r, size)
    c, size = s["channels"], s["feature_size"]
    assert 0.01 <= s["ratio"] <= 1.0
    block = SqueezeExcite(c, s["squeeze_channels"]).build()
    macs, _ = counted_macs(block, torch.zeros(1, c, size, size))
    assert (s["params"], s["macs"]) == (counted_params(block), macs)
    assert s["macs"] == 2 * c * s["squeeze_channels"]
    assert s["squeeze_channels"] == max(1, int(c * s["ratio"] + 1e-9)) or s["squeeze_channels"] == max(
        1, int(c * s["ratio"])
    )
    v3 = SqueezeExcite(c, s["v3_squeeze_channels"]).build()
    assert s["v3_params"] == counted_params(v3) and s["v3_squeeze_channels"] % 8 == 0


def test_kernel_and_se_widgets_re_render(capsys):
    widget = widgets.kernel_choice_widget(in_channels=32, out_channels=32, feature_size=28)
    sliders = {c.description: c for box in widget.children[:2] for c in box.children}
    capsys.readouterr()
    sliders["N (out)"].value = 8
    sliders["M (in)"].value = 8
    assert "for M = 8 the 5x5 wins from N = 8" in capsys.readouterr().out
    widget = widgets.se_widget(channels=96, ratio=0.25)
    sliders = {c.description: c for box in widget.children[:2] for c in box.children}
    capsys.readouterr()
    sliders["C (channels)"].value = 960
    assert "squeeze to S = floor(C r) = 240" in capsys.readouterr().out


def _slimming_model() -> nn.Module:
    torch.manual_seed(0)
    spec = models.spec(
        "mobilenet_v3_small",
        small_input=True,
        num_classes=10,
        in_channels=1,
        width_multiplier=0.35,
        classifier_norm=True,
    )
    model = spec.build()
    with torch.no_grad():  # distinct gammas, so the ranking is not decided by ties
        for module in model.modules():
            if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                module.weight.uniform_(0, 1)
    return model.eval()


@settings(max_examples=15, deadline=None)
@given(rate=st.floats(-0.5, 1.5), normalize=st.sampled_from([None, "mean"]))
def test_slimming_summary_is_what_slim_builds_after_clamping(rate, normalize):
    model = _slimming_model()
    s = widgets.slimming_summary(model, rate, normalize)
    assert s["prune_rate"] == min(0.95, max(0.0, round(rate, 2)))
    result = prune.slim(model, s["prune_rate"], normalize=normalize)
    assert (s["params"], s["macs"]) == (
        counted_params(result.model),
        counted_macs(result.model, torch.randn(1, 1, 32, 32))[0],
    )
    assert s["full_params"] == counted_params(model)
    assert s["params_ratio"] == s["full_params"] / s["params"]
    assert [(name, kept) for name, kept, _ in s["kept"]] == list(result.cfg.widths)
    assert all(1 <= kept <= channels for _, kept, channels in s["kept"])
    assert s["accuracy"] is None


def test_slimming_summary_measures_accuracy_on_the_given_loader():
    model = _slimming_model()
    images = torch.randn(12, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(12) % 10
    s = widgets.slimming_summary(model, 0.0, None, [(images, labels)])
    with torch.no_grad():
        expected = (model(images).argmax(1) == labels).float().mean().item()
    assert s["accuracy"] == pytest.approx(expected)
    assert "test accuracy right after slimming" in widgets.describe_slimming(s)


def test_slimming_widget_re_renders_on_the_rate_slider_and_the_score_choice(capsys):
    model = _slimming_model()
    widget = widgets.slimming_widget(model, prune_rate=0.2)
    controls = {c.description: c for box in widget.children[:2] for c in box.children}
    capsys.readouterr()
    controls["prune rate"].value = 0.6
    out = capsys.readouterr().out
    assert widgets.describe_slimming(widgets.slimming_summary(model, 0.6, "mean")) in out
    controls["scores"].value = "raw"
    out = capsys.readouterr().out
    assert widgets.describe_slimming(widgets.slimming_summary(model, 0.6, None)) in out
    assert "raw |gamma|" in out


def _table_rows():
    from lwcnn import nas

    rng = torch.Generator().manual_seed(0)
    archs = nas.TABLE_SPACE.all_archs()[:40]
    accuracies = (0.9 + 0.09 * torch.rand(40, generator=rng)).tolist()
    latencies = (1.0 + 2.0 * torch.rand(40, generator=rng)).tolist()
    return [
        nas.TableRow(arch, 1000, 10_000, acc, lat)
        for arch, acc, lat in zip(archs, accuracies, latencies, strict=True)
    ]


@settings(max_examples=30, deadline=None)
@given(target=st.floats(-5, 10), exponent=st.floats(-3, 1), hard=st.booleans())
def test_reward_summary_ranks_the_table_by_mnasnets_reward(target, exponent, hard):
    rows = _table_rows()
    s = widgets.reward_summary(rows, target, exponent, hard)
    lows = [row.latency_ms for row in rows]
    assert min(lows) <= s["target_ms"] <= max(lows)
    assert -1.0 <= s["exponent"] <= 0.0
    for row, reward in zip(rows, s["rewards"], strict=True):
        t = s["target_ms"]
        if hard:
            expected = row.accuracy if row.latency_ms <= t else row.accuracy * t / row.latency_ms
        else:
            expected = row.accuracy * (row.latency_ms / t) ** s["exponent"]
        assert reward == pytest.approx(expected, rel=1e-12)
    assert s["rewards"][s["best"]] == max(s["rewards"])
    assert s["top"][0] == s["best"] and len(s["top"]) == 5
    assert s["within_target"] == sum(row.latency_ms <= s["target_ms"] for row in rows) / len(rows)


def test_reward_widget_re_renders_on_its_sliders(capsys):
    rows = _table_rows()
    widget = widgets.reward_widget(rows, target_ms=2.0)
    controls = {c.description: c for box in widget.children[:2] for c in box.children}
    capsys.readouterr()
    controls["w"].value = -0.5
    out = capsys.readouterr().out
    assert widgets.describe_reward(rows, widgets.reward_summary(rows, 2.0, -0.5)) in out
    controls["hard constraint"].value = True
    assert "hard (alpha = 0, beta = -1)" in capsys.readouterr().out


# --- compound scaling and TinyNet (lesson 11) ------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(phi=st.floats(-6, 6), alpha=st.floats(0, 3), beta=st.floats(0.5, 2.5), gamma=st.floats(1, 1.5))
def test_compound_summary_is_lwcnn_scaling_after_clamping(phi, alpha, beta, gamma):
    from lwcnn import scaling

    base = scaling.digits_base()
    s = widgets.compound_summary(phi, alpha, beta, gamma, base=base)
    assert -3 <= s["phi"] <= 3 and all(1 <= s[k] <= 2 for k in ("alpha", "beta", "gamma"))
    m = scaling.compound_multipliers(s["phi"], s["alpha"], s["beta"], s["gamma"])
    assert s["multipliers"] == m
    spec = scaling.scaled_spec(base, m)
    cost = models.cost(spec)
    assert (s["resolution"], s["params"], s["macs"]) == (spec.resolution, cost.params, cost.macs)
    assert s["macs_ratio"] == cost.macs / models.cost(base).macs
    assert s["nominal_ratio"] == pytest.approx(m.depth * m.width**2 * m.resolution**2)
    assert s["two_to_phi"] == 2 ** s["phi"]


def test_compound_summary_of_b0_by_hand_and_torch():
    from lwcnn import scaling

    s = widgets.compound_summary(0.0)
    assert (s["params"], s["macs"], s["resolution"]) == (5_288_548, 385_814_752, 224)  # the brief's B0
    s = widgets.compound_summary(1.0)
    assert s["resolution"] == 258  # 224 * 1.15 = 257.6
    assert s["blocks"] == [2, 3, 3, 4, 4, 5, 2]  # ceil(1.2 n) for n = 1, 2, 2, 3, 3, 4, 1
    small = widgets.compound_summary(1.5, base=scaling.digits_base())
    model = scaling.scaled_spec(scaling.digits_base(), small["multipliers"]).build()
    macs, _ = counted_macs(model, torch.zeros(1, 1, small["resolution"], small["resolution"]))
    assert (small["macs"], small["params"]) == (macs, counted_params(model))


def test_compound_widget_re_renders_on_phi(capsys):
    from lwcnn import scaling

    base = scaling.digits_base()
    widget = widgets.compound_widget(base=base, phi=0.0)
    controls = {c.description: c for box in widget.children[:2] for c in box.children}
    capsys.readouterr()
    controls["phi"].value = 2.0
    assert widgets.describe_compound(widgets.compound_summary(2.0, base=base)) in capsys.readouterr().out
    controls["alpha (depth)"].value = 1.5
    assert "alpha = 1.5" in capsys.readouterr().out


def _synthetic_gp():
    import numpy as np

    from lwcnn import scaling

    c = np.repeat([0.25, 0.5, 0.75], 4)
    rng = np.random.default_rng(0)
    return scaling.fit_tinynet_gp(c, 0.5 + 0.4 * c + rng.normal(0, 0.02, c.shape), 0.6 + 0.5 * c)


@pytest.mark.parametrize("budget", [-1.0, 0.05, 0.3, 0.5, 0.85, 2.0])
def test_tinynet_summary_is_the_gp_and_inverse_compound_scaling(budget):
    from lwcnn import scaling

    gp, base = _synthetic_gp(), scaling.digits_base()
    s = widgets.tinynet_summary(gp, budget)
    c = s["budget"]
    assert c == min(1.0, max(0.1, budget))
    assert s["tinynet"]["multipliers"] == gp.recommend(c)
    d, w, r = s["tinynet_real"]["multipliers"]
    assert (d, r) == (s["tinynet"]["multipliers"].depth, s["tinynet"]["multipliers"].resolution)
    assert w == scaling.real_budget_width(base, c, d, r)
    assert s["inverse"]["multipliers"] == scaling.inverse_compound_multipliers(c)
    assert s["inverse_real"]["multipliers"] == scaling.compound_multipliers(scaling.real_budget_phi(base, c))
    for key in ("tinynet", "tinynet_real", "inverse", "inverse_real"):
        net = s[key]
        cost = models.cost(scaling.scaled_spec(base, net["multipliers"]))
        assert (net["macs"], net["params"]) == (cost.macs, cost.params)
        assert net["macs_ratio"] == cost.macs / s["base_macs"]
    # on the real network both land near the budget; nominally both are exactly on it
    assert abs(s["tinynet_real"]["macs_ratio"] - c) <= abs(s["tinynet"]["macs_ratio"] - c) + 1e-12
    assert scaling.flops_factor(*s["inverse"]["multipliers"]) == pytest.approx(c)


def test_tinynet_widget_re_renders_on_the_budget(capsys):
    gp = _synthetic_gp()
    widget = widgets.tinynet_widget(gp, budget=0.5)
    (slider,) = widget.children[0].children
    capsys.readouterr()
    slider.value = 0.3
    assert widgets.describe_tinynet(widgets.tinynet_summary(gp, 0.3)) in capsys.readouterr().out
    slider.value = 0.05  # below the slider's minimum: ipywidgets clamps it to 0.1
    assert slider.value == 0.1


@settings(max_examples=20, deadline=None)
@given(temperature=st.floats(-1, 20))
def test_gumbel_summary_draws_nas_gumbel_softmax_at_the_clamped_temperature(temperature):
    s = widgets.gumbel_summary(temperature, draws=500, seed=3)
    assert 0.05 <= s["temperature"] <= 10
    expected = nas.gumbel_softmax(
        torch.tensor(widgets.GUMBEL_TOY_LOGITS, dtype=torch.float64).expand(500, -1),
        s["temperature"],
        torch.Generator().manual_seed(3),
    )
    assert s["samples"] == expected[:3].tolist()
    assert s["mean_max_weight"] == pytest.approx(float(expected.max(dim=-1).values.mean()))
    assert sum(s["argmax_share"]) == pytest.approx(1.0)
    assert s["probabilities"] == pytest.approx(torch.softmax(torch.tensor([1.0, 0.5, 0.0, -1.0]), 0).tolist())


def test_gumbel_weights_sharpen_as_the_temperature_falls():
    maxima = [widgets.gumbel_summary(t)["mean_max_weight"] for t in (10.0, 1.0, 0.1)]
    assert maxima[0] < maxima[1] < maxima[2] and maxima[2] > 0.9 and maxima[0] < 0.35


def test_gumbel_widget_re_renders_on_its_slider(capsys):
    widget = widgets.gumbel_widget(temperature=2.0)
    (slider,) = widget.children[0].children
    capsys.readouterr()
    slider.value = 0.5
    assert widgets.describe_gumbel(widgets.gumbel_summary(0.5)) in capsys.readouterr().out


def test_groups_that_snap_render_once(capsys):
    """A groups value that divides neither width snaps to one that does, and the numbers are
    shown once, for the snapped value (not once for the move and once for the snap)."""
    widget = widgets.conv_cost_widget(in_channels=64, out_channels=128)
    capsys.readouterr()
    widget.controls["groups"].value = 5
    shown = capsys.readouterr().out
    assert widget.controls["groups"].value == 4 and shown.count("MACs") == 1
    assert f"MACs   {widgets.conv_layer_summary(56, 56, 64, 128, 3, 1, 4)['macs']:,}" in shown


def test_format_lines_fills_each_template_from_the_summary_and_the_derived_values():
    text = widgets.format_lines(
        {"macs": 1234567, "ratio": 0.5}, "MACs {macs:,}", "r = {ratio:g}, Dk^2 = {dk2}", dk2=9
    )
    assert text == "MACs 1,234,567\nr = 0.5, Dk^2 = 9"


def test_a_slider_declared_with_a_float_is_a_float_slider():
    assert isinstance(widgets.Slider("n", 1, 9).build(3), ipywidgets.IntSlider)
    ratio = widgets.Slider("r", 0.05, 1.0, step=0.05).build(0.25)
    assert isinstance(ratio, ipywidgets.FloatSlider) and not ratio.continuous_update
    assert (ratio.description, ratio.value, ratio.min, ratio.max, ratio.step) == ("r", 0.25, 0.05, 1.0, 0.05)


def test_summary_widget_starts_at_the_clamped_start_and_snaps_a_value_the_summary_corrects(capsys):
    def summarize(n=4, even=2):
        return {"n": min(n, 9), "even": even - even % 2}

    def describe(summary):
        return f"n = {summary['n']}, even = {summary['even']}"

    def draw(summary):
        plt.plot([summary["n"]])

    sliders = {"n": widgets.Slider("n", 1, 9), "even": widgets.Slider("even", 0, 10)}
    widget = widgets.summary_widget(summarize, {"n": 20}, sliders, describe, draw, snap=("even",))
    assert widget.controls["n"].value == 9 and "n = 9, even = 2" in capsys.readouterr().out
    widget.controls["even"].value = 5
    shown = capsys.readouterr().out
    assert widget.controls["even"].value == 4 and shown.count("even = 4") == 1 and "even = 5" not in shown
    assert plt.get_fignums() == []


@pytest.mark.parametrize(
    ("make", "summarize", "describe", "start", "move"),
    [
        (widgets.separable_ratio_widget, widgets.separable_summary, widgets.describe_separable,
         {"in_channels": 32, "feature_size": 14}, ("out_channels", 128)),
        (widgets.expansion_widget, widgets.expansion_summary, widgets.describe_expansion,
         {"kernel_size": 5}, ("expand_ratio", 4)),
        (widgets.fire_widget, widgets.fire_summary, widgets.describe_fire,
         {"in_channels": 16, "expand_channels": 64}, ("feature_size", 28)),
    ],
    ids=["lesson02", "lesson05", "lesson13"],
)  # fmt: skip
def test_a_start_argument_without_a_slider_holds_for_every_move(
    capsys, make, summarize, describe, start, move
):
    """A widget started on another layer (`in_channels=32` where no slider sets it) shows that
    layer after a slider moves, not the summary's default one."""
    widget = make(**start)
    name, value = move
    capsys.readouterr()
    widget.controls[name].value = value
    shown = capsys.readouterr().out
    values = {slider: control.value for slider, control in widget.controls.items()}
    assert summarize(**start, **values) != summarize(**values)  # the start argument matters
    assert describe(summarize(**start, **values)) in shown


def test_in_a_kernel_the_numbers_go_out_before_the_figure_is_drawn(monkeypatch):
    """A render sends its text first (`say` flushes), so the learner reads it while the figure draws."""
    import IPython
    import IPython.display

    written, events = [], []

    class Stdout:
        def write(self, text):
            written.append(text)

        def flush(self):
            events.append(("sent", "".join(written)))

    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda *objs: events.append(("figure", "")))
    widget = widgets.separable_ratio_widget()
    monkeypatch.setattr("sys.stdout", Stdout())
    events.clear()  # the first render's figure
    widget.controls["kernel_size"].value = 5
    figure = events.index(("figure", ""))
    assert any("1/64 + 1/25" in text for kind, text in events[:figure] if kind == "sent")


def test_slimming_widget_says_it_is_evaluating_and_remembers_settings(monkeypatch):
    from lwcnn.widgets import lesson08

    model = _slimming_model()
    images = torch.randn(8, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    loader = [(images, torch.arange(8) % 10)]
    evaluated, status_during = [], []
    measure = lesson08._accuracy

    def accuracy(slimmed, test_loader):
        status_during.append(widget.status.value if evaluated else None)
        evaluated.append(1)
        return measure(slimmed, test_loader)

    monkeypatch.setattr(lesson08, "_accuracy", accuracy)
    widget = widgets.slimming_widget(model, loader, prune_rate=0.2)
    rate = widget.controls["prune_rate"]
    rate.value = 0.6
    assert status_during[-1] == widgets.BUSY_TEXT and widget.status.value == ""
    rate.value = 0.2
    rate.value = 0.6
    assert len(evaluated) == 2  # the first render (0.2) and 0.6; going back and forth evaluates nothing
    assert widgets.slimming_widget(model, prune_rate=0.2).status is None  # no loader: nothing to wait for


def test_slimming_accuracy_is_the_same_in_larger_batches():
    from torch.utils.data import DataLoader, TensorDataset

    from lwcnn.train import evaluate
    from lwcnn.widgets.lesson08 import EVALUATION_BATCH, _accuracy

    torch.manual_seed(0)
    model = _slimming_model().eval()
    images, labels = torch.randn(300, 1, 32, 32), torch.randint(0, 10, (300,))
    small = DataLoader(TensorDataset(images, labels), batch_size=7)
    assert EVALUATION_BATCH > 7
    assert _accuracy(model, small) == evaluate(model, small)[1]


# --- the quantization grid (lesson 12) -------------------------------------------------------------


def _quant_network() -> nn.Module:
    from oracles import spread_batchnorms

    from lwcnn import quant

    torch.manual_seed(0)
    model = models.build(
        models.spec("mobilenet_v2", width_multiplier=0.25, small_input=True, in_channels=1, num_classes=10)
    )
    return quant.fold_network(spread_batchnorms(model, mean=None, var=(0.001, 4.0), gamma=(0.1, 2.0)))


@settings(max_examples=20, deadline=None)
@given(bits=st.integers(-3, 12), per_channel=st.booleans(), symmetric=st.booleans(), which=st.integers(0, 3))
def test_quant_grid_summary_is_torchs_fake_quantization_of_the_layer(bits, per_channel, symmetric, which):
    folded = _quant_network()
    layer = list(widgets.layer_choices(folded).values())[which]
    s = widgets.quant_grid_summary(folded, layer, bits, per_channel, symmetric)
    b = min(8, max(2, bits))
    weight = dict(folded.named_modules())[layer].weight.detach()
    low, high = -(2 ** (b - 1)), 2 ** (b - 1) - 1
    if per_channel:
        observer = torch.ao.quantization.PerChannelMinMaxObserver(
            ch_axis=0,
            dtype=torch.qint8,
            qscheme=torch.per_channel_symmetric if symmetric else torch.per_channel_affine,
            quant_min=low,
            quant_max=high,
        )
    else:
        observer = torch.ao.quantization.MinMaxObserver(
            dtype=torch.qint8,
            qscheme=torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine,
            quant_min=low,
            quant_max=high,
        )
    observer(weight)
    scale, zero_point = observer.calculate_qparams()
    if per_channel:
        expected = torch.fake_quantize_per_channel_affine(weight, scale, zero_point.int(), 0, low, high)
    else:
        expected = torch.fake_quantize_per_tensor_affine(weight, float(scale), int(zero_point), low, high)
    assert s["bits"] == b and s["per_channel"] == per_channel and s["symmetric"] == symmetric
    assert s["zero_share"] == float((expected == 0).float().mean())
    noise = ((weight.double() - expected.double()) ** 2).sum()
    assert s["sqnr_db"] == pytest.approx(10 * torch.log10((weight.double() ** 2).sum() / noise).item())
    largest = weight.reshape(weight.shape[0], -1).abs().amax(dim=1)
    assert s["narrowest_channel"] == int(largest.argmin())
    assert s["range_ratio"] == pytest.approx(float(largest.max() / largest.min()), rel=1e-6)
    assert s["narrowest_levels_used"] == int(torch.unique(expected[s["narrowest_channel"]]).numel())
    assert len(s["grid_narrowest"]) == 2**b


def test_layer_choices_find_the_widest_depthwise_layer_and_the_classifier():
    folded = _quant_network()
    choices = widgets.layer_choices(folded)
    modules = dict(folded.named_modules())
    depthwise = [p for p, m in modules.items() if isinstance(m, nn.Conv2d) and m.groups == m.out_channels > 1]

    def spread(path):
        largest = modules[path].weight.detach().reshape(modules[path].out_channels, -1).abs().amax(dim=1)
        return float(largest.max() / largest.min())

    labels = list(choices)
    assert labels[0].startswith("depthwise") and choices[labels[0]] == max(depthwise, key=spread)
    assert labels[-1].startswith("classifier") and isinstance(modules[choices[labels[-1]]], nn.Linear)
    with pytest.raises(ValueError, match="layer"):
        widgets.quant_grid_summary(folded, "features", 8)
    with pytest.raises(ValueError, match="no Conv2d or Linear"):
        widgets.layer_choices(nn.Sequential(nn.ReLU()))


def test_quant_grid_summary_reads_the_recorded_accuracy_of_its_scheme():
    from lwcnn import quant
    from lwcnn.paths import QUANTIZATION_CHECKPOINT
    from lwcnn.quant import recorded

    folded = quant.fold_network(prune.load_pruned(QUANTIZATION_CHECKPOINT).model.eval())
    layer = next(iter(widgets.layer_choices(folded).values()))
    for row in recorded.load("weight_bits"):
        s = widgets.quant_grid_summary(folded, layer, row["bits"], row["per_channel"], row["symmetric"])
        assert s["accuracy"] == row["test_accuracy"]


def test_quant_grid_widget_re_renders_on_every_control(capsys):
    model = _quant_network()
    widget = widgets.quant_grid_widget(model, bits=4)
    controls = {c.description: c for box in widget.children[:2] for c in box.children}
    layer = controls["layer"].value
    capsys.readouterr()
    for name, value, expected in (
        ("bits", 6, (6, True, True)),
        ("per channel", False, (6, False, True)),
        ("symmetric", False, (6, False, False)),
    ):
        controls[name].value = value
        out = capsys.readouterr().out
        assert widgets.describe_quant_grid(widgets.quant_grid_summary(model, layer, *expected)) in out


# --- lesson 13: the Fire module -------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    in_channels=st.integers(-4, 200),
    expand=st.integers(-4, 160),
    ratio=st.floats(-1.0, 3.0),
    share=st.floats(-1.0, 2.0),
    size=st.integers(-3, 40),
)
def test_fire_summary_matches_a_built_fire_module_after_clamping(in_channels, expand, ratio, share, size):
    from lwcnn.blocks import Fire

    s = widgets.fire_summary(in_channels, expand, ratio, share, size)
    assert (
        1 <= s["in_channels"] <= 1024 and 2 <= s["expand_channels"] <= 1024 and 1 <= s["feature_size"] <= 224
    )
    assert 0.125 <= s["squeeze_ratio"] <= 1.0
    assert s["expand1x1_channels"] >= 1 and s["expand3x3_channels"] >= 1
    assert s["expand1x1_channels"] + s["expand3x3_channels"] == s["expand_channels"]
    assert s["squeeze_channels"] == max(1, round(s["squeeze_ratio"] * s["expand_channels"]))
    c, n = s["in_channels"], s["feature_size"]
    module = Fire(c, s["squeeze_channels"], s["expand1x1_channels"], s["expand3x3_channels"]).build()
    macs, out = counted_macs(module, torch.zeros(1, c, n, n))
    assert (s["params"], s["macs"]) == (counted_params(module), macs)
    assert out.shape[1] == s["expand_channels"]
    conv = nn.Conv2d(c, s["expand_channels"], 3, padding=1)
    assert (s["conv3x3_params"], s["conv3x3_macs"]) == (
        counted_params(conv),
        counted_macs(conv, torch.zeros(1, c, n, n))[0],
    )


def test_fire_summary_at_squeezenets_fire2():
    # SqueezeNet 1.0's fire2 (Table 1): 96 -> s1x1 16, e1x1 64, e3x3 64 at 55x55; SR 0.125, pct3x3 0.5
    s = widgets.fire_summary(96, 128, 0.125, 0.5, 55)
    assert (s["squeeze_channels"], s["expand1x1_channels"], s["expand3x3_channels"]) == (16, 64, 64)
    assert s["params"] == (96 * 16 + 16) + (16 * 64 + 64) + (16 * 9 * 64 + 64) == 11_920
    assert s["no_squeeze_params"] == (96 * 64 + 64) + (96 * 9 * 64 + 64)
    assert s["macs"] == 55 * 55 * (96 * 16 + 16 * 64 + 16 * 9 * 64)
    assert "9.3x the Fire module's params" in widgets.describe_fire(s)


def test_fire_widget_re_renders_on_every_slider(capsys):
    widget = widgets.fire_widget(squeeze_ratio=0.125, share_3x3=0.5, feature_size=55)
    sliders = {c.description: c for box in widget.children[:2] for c in box.children}
    capsys.readouterr()
    for label, value, expected in (
        ("SR (squeeze ratio)", 0.25, dict(squeeze_ratio=0.25, share_3x3=0.5, feature_size=55)),
        ("pct3x3 (share of 3x3)", 0.75, dict(squeeze_ratio=0.25, share_3x3=0.75, feature_size=55)),
        ("map size", 13, dict(squeeze_ratio=0.25, share_3x3=0.75, feature_size=13)),
    ):
        sliders[label].value = value
        assert widgets.describe_fire(widgets.fire_summary(**expected)) in capsys.readouterr().out


# --- lesson 14: the accuracy predictor ---------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(share=st.floats(-1.0, 2.0), seed=st.integers(0, 5))
def test_predictor_summary_ranks_the_held_out_networks_after_clamping(share, seed):
    rows = nas.load_table()
    s = widgets.predictor_summary(rows, share, seed)
    assert 0.05 <= s["train_share"] <= 0.9
    assert s["train_size"] + s["test_size"] == len(rows) and s["train_size"] >= 1 and s["test_size"] >= 1
    assert len(s["recorded"]) == len(s["predicted"]) == s["test_size"]
    assert s["tau"] == pytest.approx(nas.kendall_tau(s["predicted"], s["recorded"]))
    tau, *_ = nas.predictor_rank_correlation(rows, nas.TABLE_SPACE, s["train_share"], seed=seed)
    assert s["tau"] == pytest.approx(tau)


def test_predictor_summary_at_half_the_table_ranks_well():
    s = widgets.predictor_summary(nas.load_table(), 0.5, 0)
    assert s["train_size"] == 108 and s["tau"] > 0.5
    assert (
        "ridge fitted on 108 networks (50% of the table), ranking the other 108"
        in widgets.describe_predictor(s)
    )


def test_predictor_widget_refits_on_every_move(capsys):
    """Each move shows the refitted predictor (how fast it answers is the browser suite's figure)."""
    rows = nas.load_table()
    widget = widgets.predictor_widget(rows, train_share=0.5)
    share = widget.controls["train_share"]
    capsys.readouterr()
    for value in (0.1, 0.25, 0.9):
        share.value = value
        expected = widgets.describe_predictor(widgets.predictor_summary(rows, value))
        assert expected in capsys.readouterr().out
    plt.close("all")


def test_predictor_widget_in_a_kernel_sends_one_png_and_closes_its_figure(monkeypatch):
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda *objs: shown.extend(objs))
    widget = widgets.predictor_widget(nas.load_table(), train_share=0.5)
    widget.controls["train_share"].value = 0.3
    images = [o for o in shown if isinstance(o, IPython.display.Image)]
    assert len(images) == 2 and plt.get_fignums() == []


NUMERIC_SUMMARIES = [
    widgets.conv_layer_summary,
    widgets.separable_summary,
    widgets.width_resolution_summary,
    widgets.kernel_choice_summary,
    widgets.expansion_summary,
    widgets.se_summary,
    widgets.gumbel_summary,
    widgets.compound_summary,
    widgets.fire_summary,
]


@pytest.mark.parametrize("summarize", NUMERIC_SUMMARIES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 1e12, -1e12, 2.7, 0])
def test_every_number_a_summary_takes_gives_a_valid_setting(summarize, value):
    """A typed argument may be anything a float can be; the summary clamps it (NaN to the low
    end) and answers, with the settings it echoes valid: given back, they change nothing."""
    numbers = [
        name
        for name, parameter in inspect.signature(summarize).parameters.items()
        if type(parameter.default) in (int, float)
    ]
    for name in numbers:
        summary = summarize(**{name: value})
        settings_ = {key: summary[key] for key in numbers if type(summary.get(key)) in (int, float)}
        assert summarize(**{name: value, **settings_}) == summary, (name, settings_)
