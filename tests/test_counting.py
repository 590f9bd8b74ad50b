"""lwcnn.counting against the real counters: thop, fvcore, ptflops and torch's FlopCounterMode.

The oracles here call the tools directly (not lwcnn's `run_tool`), each the way it is usually
run: on the model in eval mode, batch 1, quietly.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import functools
import io
import logging
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracles import BRIEF_REFERENCE
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lwcnn.counting import (
    CATEGORIES,
    CONVENTIONS,
    CountReport,
    compare_conventions,
    count_model,
    difference,
    run_tool,
)

TORCHVISION_MODELS = (
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "mnasnet1_0",
    "shufflenet_v2_x1_0",
    "efficientnet_b0",
    "squeezenet1_1",
    "resnet18",
)
IMAGENET = (1, 3, 224, 224)
REFERENCE_CSV = Path(__file__).resolve().parents[1] / "data" / "counter_reference.csv"


@contextlib.contextmanager
def quiet():
    """Silence the tools' prints, warnings (TracerWarning, deprecations) and fvcore's log."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


def real_tool_total(model: nn.Module, convention: str, input_size: tuple[int, ...]) -> tuple[int, int]:
    """(total, params) as the tool itself reports them; the total is FLOPs for "torch", else MACs."""
    model = copy.deepcopy(model).eval()  # thop and ptflops leave buffers, attributes and hooks behind
    x = torch.randn(input_size)
    with quiet():
        if convention in ("paper", "torch"):
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(x)
            flops = counter.get_total_flops()
            params = sum(p.numel() for p in model.parameters())
            return (flops // 2 if convention == "paper" else flops), params
        if convention == "thop":
            import thop

            macs, params = thop.profile(model, inputs=(x,), verbose=False)
            assert macs == int(macs) and params == int(params)
            return int(macs), int(params)
        if convention == "fvcore":
            from fvcore.nn import FlopCountAnalysis, parameter_count

            return FlopCountAnalysis(model, x).total(), parameter_count(model)[""]
        import ptflops

        assert input_size[0] == 1, "ptflops adds the batch dimension itself"
        macs, params = ptflops.get_model_complexity_info(
            model, input_size[1:], as_strings=False, print_per_layer_stat=False, backend="pytorch"
        )
        return macs, params


def report_total(report: CountReport) -> int:
    return report.flops if report.convention == "torch" else report.macs


@functools.cache
def torchvision_model(name: str) -> nn.Module:
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None).eval()


@functools.cache
def torchvision_reports(name: str) -> dict[str, CountReport]:
    return compare_conventions(torchvision_model(name), IMAGENET)


# --- every convention reproduces its tool exactly ------------------------------------------------


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("name", TORCHVISION_MODELS)
def test_total_and_params_equal_the_real_tool_on_torchvision_models(name, convention):
    report = torchvision_reports(name)[convention]
    total, params = real_tool_total(torchvision_model(name), convention, IMAGENET)
    assert (report_total(report), report.params) == (total, params)


# COURSE_BRIEF "four popular counters disagree": thop, fvcore, ptflops, FlopCounterMode / 2.
BRIEF_COUNTER_TABLE = {
    "mobilenet_v2": (327_486_720, 314_193_216, 320_300_008, 300_774_272),
    "mobilenet_v3_large": (234_838_456, 226_033_824, 231_316_416, 216_589_760),
    "efficientnet_b0": (415_145_024, 401_659_392, 410_196_896, 385_814_752),
}


@pytest.mark.parametrize("name", sorted(BRIEF_COUNTER_TABLE))
def test_course_brief_counter_table(name):
    reports = torchvision_reports(name)
    counted = tuple(reports[c].macs for c in ("thop", "fvcore", "ptflops", "torch"))
    assert counted == BRIEF_COUNTER_TABLE[name]
    assert reports["torch"].flops == 2 * BRIEF_COUNTER_TABLE[name][3]


@pytest.mark.parametrize("name", sorted(BRIEF_REFERENCE))
def test_course_brief_paper_table(name):
    report = torchvision_reports(name)["paper"]
    assert (report.params, report.macs) == BRIEF_REFERENCE[name]
    assert report.by_category() == {**dict.fromkeys(CATEGORIES, 0), **_conv_linear(report)}


def _conv_linear(report: CountReport) -> dict[str, int]:
    by_category = report.by_category()
    return {"conv": by_category["conv"], "linear": by_category["linear"]}


def test_mobilenet_v2_differences_are_what_the_brief_says():
    """thop adds 4 per BatchNorm element; fvcore 2 plus the functional adaptive pool (1280 x 7 x 7)."""
    reports = torchvision_reports("mobilenet_v2")
    bn_elements = reports["paper"].output_elements["norm"]
    thop_extra = difference(reports["thop"], reports["paper"])
    assert thop_extra == {**dict.fromkeys(CATEGORIES, 0), "norm": 4 * bn_elements}
    fvcore_extra = difference(reports["fvcore"], reports["paper"])
    assert fvcore_extra == {**dict.fromkeys(CATEGORIES, 0), "norm": 2 * bn_elements, "pooling": 1280 * 7 * 7}
    ptflops_extra = difference(reports["ptflops"], reports["paper"])
    assert ptflops_extra["linear"] == 1000  # the classifier's bias
    assert sum(ptflops_extra.values()) == reports["ptflops"].macs - reports["paper"].macs


def test_run_tool_agrees_with_the_direct_calls():
    model = torchvision_model("squeezenet1_1")
    for convention in CONVENTIONS:
        tool = run_tool(model, convention, IMAGENET)
        total, params = real_tool_total(model, convention, IMAGENET)
        assert (tool.flops if convention == "torch" else tool.macs, tool.params) == (total, params)


# --- functional ops are seen ---------------------------------------------------------------------


class FunctionalBlock(nn.Module):
    """A block whose activation, SE scale and residual are functional: hooks never see them."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.hardswish(self.bn(self.conv(x)))
        scale = F.adaptive_avg_pool2d(y, 1)
        y = F.relu(y * scale)
        return y + x


def test_functional_ops_are_seen_and_counted_per_convention():
    n = 8 * 8 * 8  # elements of the (1, 8, 8, 8) activations
    conv = 8 * 8 * 9 * 8 * 8  # C_in * C_out * Dk^2 * Df^2
    reports = compare_conventions(FunctionalBlock(), (1, 8, 8, 8))
    # hardswish + relu; y * scale and the residual +; the SE's squeeze to 1x1
    assert reports["paper"].output_elements == {
        **dict.fromkeys(CATEGORIES, 0),
        "conv": n,
        "norm": n,
        "activation": 2 * n,
        "pooling": 8,
        "elementwise": 2 * n,
    }
    expected = {
        "paper": {"conv": conv},
        "torch": {"conv": conv},
        "thop": {"conv": conv, "norm": 4 * n},  # hooks only: no functional op at all
        "fvcore": {"conv": conv, "norm": 2 * n, "pooling": n},  # traced adaptive_avg_pool2d
        "ptflops": {"conv": conv, "norm": 2 * n, "pooling": n, "activation": n},  # patched F.relu, pool
    }
    for convention, categories in expected.items():
        assert reports[convention].by_category() == {**dict.fromkeys(CATEGORIES, 0), **categories}, convention
        assert (
            report_total(reports[convention])
            == real_tool_total(FunctionalBlock(), convention, (1, 8, 8, 8))[0]
        )
    block_row = reports["ptflops"].layers[0]
    assert (block_row.name, block_row.module_type, block_row.activation) == ("(model)", "FunctionalBlock", n)


class MethodsAndOperators(nn.Module):
    """`x * s` and `x.mul(s)` are the same op to torch, not to ptflops, which patches `Tensor.mul`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        by_operator = x * scale
        by_method = x.mul(scale)
        summed = torch.add(by_operator, by_method) + x
        flat = summed.flatten(1)
        return flat @ flat.T + flat.matmul(flat.T)


def test_ptflops_counts_method_calls_but_not_operators():
    size = (1, 3, 4, 4)
    n = 3 * 4 * 4
    reports = compare_conventions(MethodsAndOperators(), size)
    assert reports["ptflops"].by_category()["elementwise"] == 2 * n  # x.mul(s) and torch.add only
    assert reports["ptflops"].by_category()["linear"] == n  # flat.matmul(flat.T): numel(a) * b[-1]
    assert reports["fvcore"].by_category()["linear"] == 2 * n  # @ and .matmul alike
    # every mul and add whatever the syntax, the last one adding two 1x1 products
    assert reports["paper"].output_elements["elementwise"] == 4 * n + 1
    for convention in CONVENTIONS:
        assert (
            report_total(reports[convention]) == real_tool_total(MethodsAndOperators(), convention, size)[0]
        )


class SharedConv(nn.Module):
    """One conv reached through three parents: thop hooks it three times and counts it three times."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.first = nn.Sequential(self.conv, nn.ReLU())
        self.second = nn.Sequential(self.conv, nn.BatchNorm2d(3), nn.Upsample(scale_factor=2))
        self.gate = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.conv(x), scale_factor=2) * self.gate + self.second(self.first(x))


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_shared_modules_and_upsampling_match_the_real_tool(convention):
    report = count_model(SharedConv(), (1, 3, 6, 6), convention)
    assert (report_total(report), report.params) == real_tool_total(SharedConv(), convention, (1, 3, 6, 6))


# --- property: random small conv nets ------------------------------------------------------------


class Residual(nn.Module):
    """A container thop has no rule for, with a functional residual add."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU, nn.LeakyReLU, nn.Sigmoid, nn.Hardsigmoid, nn.PReLU)


@st.composite
def small_convnets(draw) -> tuple[nn.Module, tuple[int, ...]]:
    """A Sequential of conv/BN/activation/pool layers (some nested), maybe ending in a Linear."""
    batch, channels, size = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(3, 10))
    input_size = (batch, channels, size, size)

    def layers(depth: int) -> list[nn.Module]:
        nonlocal channels, size
        built: list[nn.Module] = []
        for _ in range(draw(st.integers(1, 4))):
            kind = draw(
                st.sampled_from(["conv", "bn", "act", "pool", "adaptive", "dropout", "nest", "residual"])
            )
            if kind == "conv":
                out = draw(st.integers(1, 6))
                groups = draw(st.sampled_from([g for g in range(1, 7) if channels % g == 0 and out % g == 0]))
                kernel = draw(st.sampled_from([1, 3]))
                stride = draw(st.sampled_from([1, 2]))
                bias = draw(st.booleans())
                built.append(nn.Conv2d(channels, out, kernel, stride, kernel // 2, groups=groups, bias=bias))
                channels, size = out, (size - 1) // stride + 1
            elif kind == "bn":
                built.append(nn.BatchNorm2d(channels, affine=draw(st.booleans())))
            elif kind == "act":
                built.append(draw(st.sampled_from(ACTIVATIONS))())
            elif kind == "pool" and size >= 2:
                built.append(draw(st.sampled_from([nn.MaxPool2d, nn.AvgPool2d]))(2))
                size //= 2
            elif kind == "adaptive":
                out_size = draw(st.integers(1, size))  # not dividing size exercises thop's float kernel
                built.append(draw(st.sampled_from([nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d]))(out_size))
                size = out_size
            elif kind == "dropout":
                built.append(nn.Dropout(0.5))
            elif kind == "nest" and depth < 2:
                built.append(nn.Sequential(*layers(depth + 1)))
            elif kind == "residual" and depth < 2:
                before = (channels, size)
                body = layers(depth + 1)
                if (channels, size) == before:
                    built.append(Residual(nn.Sequential(*body)))
                else:
                    built.extend(body)
        return built

    body = layers(0)
    if draw(st.booleans()):
        body += [
            nn.Flatten(),
            nn.Linear(channels * size * size, draw(st.integers(1, 5)), bias=draw(st.booleans())),
        ]
    return nn.Sequential(*body), input_size


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_convnets())
def test_paper_and_thop_match_the_tools_on_random_convnets(net_and_size):
    model, input_size = net_and_size
    reports = compare_conventions(model, input_size, conventions=("paper", "thop"))
    for convention in ("paper", "thop"):
        report = reports[convention]
        assert (report.macs, report.params) == real_tool_total(model, convention, input_size)
        assert sum(report.by_category().values()) == report.macs
        assert report.flops == 2 * report.macs


# --- the report ----------------------------------------------------------------------------------


def test_rows_add_up_to_the_totals():
    for convention, report in torchvision_reports("mobilenet_v3_small").items():
        assert sum(report.by_category().values()) == report.macs, convention
        assert sum(row.total for row in report.layers) == report.macs, convention
        assert len(report.to_rows()) == len(report.layers)
    thop = torchvision_reports("mobilenet_v3_small")["thop"]
    assert sum(row.params for row in thop.layers) == thop.params


def test_table_is_deterministic_and_truncates():
    report = torchvision_reports("mobilenet_v3_small")["fvcore"]
    table = report.table(max_rows=5)
    assert table == report.table(max_rows=5)
    lines = table.splitlines()
    assert lines[0] == report.summary()
    assert lines[1].split()[:4] == ["layer", "type", "output", "params"]
    assert lines[3].split()[:3] == ["features.0.0", "Conv2d", "1x16x112x112"]
    assert lines[-3].startswith(f"... {len(report.layers) - 5} more layers")
    assert lines[-1].split()[0] == "total" and lines[-1].endswith(f"{report.macs:,}")
    assert len(report.table().splitlines()) == len(report.layers) + 5
    assert "<table>" in report._repr_html_() and "features.0.0" in report._repr_html_()
    assert "layers=<" in repr(report)


def test_thop_drops_modules_without_a_rule():
    """Hardswish, Hardsigmoid and SiLU have no thop rule: rows with 0 MACs and 0 params."""
    report = torchvision_reports("mobilenet_v3_small")["thop"]
    hardswish_rows = [row for row in report.layers if row.module_type == "Hardswish"]
    assert hardswish_rows and all(row.total == 0 and row.params == 0 for row in hardswish_rows)


def test_counting_restores_training_flags_and_removes_hooks():
    model = FunctionalBlock().train()
    model.bn.eval()
    before = copy.deepcopy(model.state_dict())
    count_model(model, (1, 8, 8, 8), "fvcore")
    assert model.training and model.conv.training and not model.bn.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())


def test_reference_csv_matches_count_model():
    """data/counter_reference.csv (written by benchmarks/compare_counters.py) cannot rot."""
    with REFERENCE_CSV.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(row["model"], row["convention"]) for row in rows} == {
        (name, convention) for name in TORCHVISION_MODELS for convention in CONVENTIONS
    }
    for row in rows:
        report = torchvision_reports(row["model"])[row["convention"]]
        assert int(row["lwcnn_total"]) == report_total(report), row
        assert int(row["lwcnn_params"]) == report.params, row
        assert row["match"] == "yes", row


# --- errors ----------------------------------------------------------------------------------------


def test_unknown_convention_lists_the_allowed_ones():
    with pytest.raises(
        ValueError, match="convention must be one of 'paper', 'thop', 'fvcore', 'ptflops', 'torch'"
    ):
        count_model(nn.Conv2d(3, 3, 1), (1, 3, 4, 4), convention="flops")
    with pytest.raises(ValueError, match="convention"):
        run_tool(nn.Conv2d(3, 3, 1), "calflops", (1, 3, 4, 4))


@pytest.mark.parametrize(
    "input_size, error",
    [
        ((1, 3, 0, 4), ValueError),
        ((1, 3, -2, 4), ValueError),
        ((), ValueError),
        ((1, 3, 4.0, 4), TypeError),
        ((1, True, 4, 4), TypeError),
        ("1x3x4x4", TypeError),
        (224, TypeError),
    ],
)
def test_bad_input_size_names_the_argument(input_size, error):
    with pytest.raises(error, match="input_size"):
        count_model(nn.Conv2d(3, 3, 1), input_size)


def test_other_bad_arguments():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        count_model(lambda x: x, (1, 3, 4, 4))
    small, large = (
        compare_conventions(nn.Conv2d(3, 3, 1), (1, 3, s, s), ("paper",))["paper"] for s in (4, 8)
    )
    with pytest.raises(ValueError, match="different inputs"):
        difference(small, large)
    with pytest.raises(ValueError, match="max_rows"):
        small.table(max_rows=-1)
