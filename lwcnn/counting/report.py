"""A model's cost under one convention (CountReport), and the conventions side by side.

`count_model` and `compare_conventions` record one forward pass (recording.py) and give each
convention's counts (thop.py, fvcore.py, ptflops.py, flop_counter.py) the same shape: a
CountReport with one row per module, split by kind of operation, so `difference` can say which
kinds two counters disagree on. `run_tool` runs the real tool, for comparison.

>>> from torch import nn
>>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
>>> reports = compare_conventions(net, (1, 3, 8, 8), conventions=("thop", "paper"))
>>> reports["thop"].macs, reports["paper"].macs, difference(reports["thop"], reports["paper"])["norm"]
(8928, 7776, 1152)
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from lwcnn.checks import check_shape
from lwcnn.counting.flop_counter import torch_counts
from lwcnn.counting.fvcore import fvcore_counts
from lwcnn.counting.ptflops import ptflops_counts
from lwcnn.counting.recording import Recording, example_input, record
from lwcnn.counting.rules import CATEGORIES, FUNCTION_CATEGORY, Shape, all_params, numel, own_params
from lwcnn.counting.thop import thop_counts

CONVENTIONS = ("paper", "thop", "fvcore", "ptflops", "torch")


def count_model(
    model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224), convention: str = "paper"
) -> CountReport:
    """Count `model` on an input of `input_size` the way `convention`'s tool would.

    One forward pass in eval mode under no_grad (training flags are restored afterwards) on a
    seeded random input; see the module docstring for what each convention counts.

    >>> import torchvision
    >>> report = count_model(torchvision.models.mobilenet_v3_large(), convention="fvcore")
    >>> report.macs, report.by_category()["norm"] > 0
    (226033824, True)
    """
    return compare_conventions(model, input_size, conventions=(convention,))[convention]


def compare_conventions(
    model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224), conventions: Sequence[str] = CONVENTIONS
) -> dict[str, CountReport]:
    """`count_model` for several conventions from a single forward pass: convention -> report."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(conventions, str):
        conventions = (conventions,)
    conventions = tuple(_check_convention(convention) for convention in conventions)
    recording = record(model, check_shape("input_size", input_size))
    return {convention: _report(recording, convention) for convention in conventions}


def difference(report_a: CountReport, report_b: CountReport) -> dict[str, int | float]:
    """Category -> MACs that `report_a` counts beyond `report_b`; sums to `a.macs - b.macs`.

    >>> import torchvision
    >>> reports = compare_conventions(torchvision.models.mobilenet_v2(), conventions=("thop", "paper"))
    >>> difference(reports["thop"], reports["paper"])["norm"]  # thop: 4 per BatchNorm element
    26712448
    """
    if report_a.input_size != report_b.input_size:
        raise ValueError(
            f"the reports count different inputs: {report_a.input_size} vs {report_b.input_size}; "
            "compare reports of the same model and input_size"
        )
    a, b = report_a.by_category(), report_b.by_category()
    return {category: a[category] - b[category] for category in CATEGORIES}


# --- the report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerRow:
    """One module's share of a count: the MACs of the ops that ran directly in it, by category.

    A container's row holds only its own ops (say the residual add), never its children's, so the
    rows add up to the report's total.
    """

    name: str
    module_type: str
    output_shape: Shape | None
    params: int
    conv: int | float = 0
    linear: int | float = 0
    norm: int | float = 0
    activation: int | float = 0
    pooling: int | float = 0
    elementwise: int | float = 0
    other: int | float = 0

    @property
    def total(self) -> int | float:
        return sum(getattr(self, category) for category in CATEGORIES)


@dataclass(frozen=True)
class CountReport:
    """A model's cost under one counter's convention.

    `macs` is the tool's own number for thop, fvcore, ptflops and paper (all count one
    multiply-add as one), and `flops = 2 * macs`. For "torch", `flops` is FlopCounterMode's
    total (2 per multiply-add) and `macs = flops // 2`. `params` is the parameter count the tool
    reports (thop drops modules it has no rule for; ptflops counts trainable ones; the others
    count all). `output_elements` is convention-free: the elements each kind of op produced in
    the forward pass, including the functional ops that some counters never see.
    """

    convention: str
    input_size: Shape
    model_type: str
    params: int
    macs: int
    flops: int
    layers: tuple[LayerRow, ...]
    output_elements: dict[str, int] = field(default_factory=dict)

    def by_category(self) -> dict[str, int | float]:
        """MACs per category (all of CATEGORIES, zeros included), summed over the layers."""
        return {category: sum(getattr(row, category) for row in self.layers) for category in CATEGORIES}

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per layer (name, type, output shape, params, MACs per category, total)."""
        return [
            {
                "layer": row.name,
                "type": row.module_type,
                "output_shape": row.output_shape,
                "params": row.params,
                **{category: getattr(row, category) for category in CATEGORIES},
                "total": row.total,
            }
            for row in self.layers
        ]

    def summary(self) -> str:
        size = "x".join(str(size) for size in self.input_size)
        return (
            f"{self.model_type} at {size}, convention={self.convention}: "
            f"{self.macs:,} MACs ({self.flops:,} FLOPs), {self.params:,} params"
        )

    def table(self, max_rows: int | None = None) -> str:
        """A fixed-width table of the layers (the first `max_rows` of them) and the totals."""
        if max_rows is not None and (
            isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 0
        ):
            raise ValueError(f"max_rows must be None or an int >= 0, got {max_rows!r}")
        header = ["layer", "type", "output", "params", *CATEGORIES, "total"]
        shown = self.layers if max_rows is None else self.layers[:max_rows]
        lines = [[*_row_cells(row)] for row in shown]
        if len(shown) < len(self.layers):
            lines.append(
                [f"... {len(self.layers) - len(shown)} more layers", "", "", "", *[""] * len(CATEGORIES), ""]
            )
        by_category = self.by_category()
        totals = [_fmt(by_category[category]) for category in CATEGORIES]
        lines.append(["total", "", "", f"{self.params:,}", *totals, f"{self.macs:,}"])
        widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]

        def render(cells: list[str]) -> str:
            text = [
                cell.ljust(width) if i < 3 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
            ]
            return "  ".join(text).rstrip()

        rule = "-" * len(render(header))
        body = [render(cells) for cells in lines]
        return "\n".join([self.summary(), render(header), rule, *body[:-1], rule, body[-1]])

    def _repr_html_(self) -> str:
        header = ["layer", "type", "output", "params", *CATEGORIES, "total"]
        head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in _row_cells(row)) + "</tr>"
            for row in self.layers
        )
        return f"<p>{html.escape(self.summary())}</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        return (
            f"CountReport(convention={self.convention!r}, model_type={self.model_type!r}, "
            f"input_size={self.input_size}, params={self.params}, macs={self.macs}, flops={self.flops}, "
            f"layers=<{len(self.layers)} rows>)"
        )


def _fmt(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def _row_cells(row: LayerRow) -> list[str]:
    shape = "x".join(str(size) for size in row.output_shape) if row.output_shape else "-"
    return [
        row.name,
        row.module_type,
        shape,
        f"{row.params:,}",
        *[_fmt(getattr(row, c)) for c in CATEGORIES],
        _fmt(row.total),
    ]


def _output_elements(recording: Recording) -> dict[str, int]:
    elements = dict.fromkeys(CATEGORIES, 0)
    for call in recording.function_calls:
        category = FUNCTION_CATEGORY.get(call.name)
        if category is not None and call.output_shape is not None:
            elements[category] += numel(call.output_shape)
    return elements


def _report(recording: Recording, convention: str) -> CountReport:
    thop_params_by_module: dict[int, int] = {}
    if convention in ("paper", "torch"):
        counts, params = torch_counts(recording)
    elif convention == "thop":
        counts, params, thop_params_by_module = thop_counts(recording)
    elif convention == "fvcore":
        counts, params = fvcore_counts(recording)
    else:
        counts, params = ptflops_counts(recording)

    per_module: dict[str, dict[str, int | float]] = defaultdict(lambda: dict.fromkeys(CATEGORIES, 0))
    for module_name, category, ops in counts:
        per_module[module_name][category] += ops
    if convention in ("paper", "torch"):
        flops = sum(ops for _, _, ops in counts)
        for module_ops in per_module.values():  # rows in MACs: every FlopCounterMode formula is even
            module_ops.update({category: ops // 2 for category, ops in module_ops.items()})
        macs = flops // 2
        flops = 2 * macs if convention == "paper" else flops
    else:
        macs = int(sum(ops for _, _, ops in counts))  # the tools truncate their float totals with int()
        flops = 2 * macs

    modules = dict(recording.model.named_modules())
    output_shapes: dict[str, Shape | None] = {}
    for call in reversed(recording.module_calls):  # keep the first call's output
        output_shapes[call.name] = call.output_shape
    rows = []
    for name in sorted(recording.first_call_order, key=recording.first_call_order.get):
        module = modules[name]
        module_ops = per_module.get(name, dict.fromkeys(CATEGORIES, 0))
        if convention == "thop":
            row_params = thop_params_by_module.get(id(module), 0)
        else:
            row_params = own_params(module, trainable_only=convention == "ptflops")
        is_leaf = next(module.children(), None) is None
        if is_leaf or row_params or any(module_ops.values()):
            rows.append(
                LayerRow(
                    name or "(model)",
                    type(module).__name__,
                    output_shapes.get(name),
                    row_params,
                    **module_ops,
                )
            )
    return CountReport(
        convention=convention,
        input_size=recording.input_size,
        model_type=type(recording.model).__name__,
        params=params,
        macs=macs,
        flops=flops,
        layers=tuple(rows),
        output_elements=_output_elements(recording),
    )


def _check_convention(convention: Any) -> str:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(map(repr, CONVENTIONS))}; got {convention!r}")
    return convention


# --- the real tools, for comparison --------------------------------------------------------------


@dataclass(frozen=True)
class ToolCount:
    """What the real tool reports, in CountReport's units (macs, flops, params)."""

    convention: str
    params: int
    macs: int
    flops: int


def run_tool(model: nn.Module, convention: str, input_size: Sequence[int] = (1, 3, 224, 224)) -> ToolCount:
    """Run the real counter behind `convention` (thop, fvcore, ptflops, FlopCounterMode) quietly.

    The tool runs on a deep copy in eval mode, so its hooks and buffers never touch `model`.
    thop, fvcore and ptflops are imported here: install them to use this.
    """
    import contextlib
    import copy
    import io
    import logging
    import warnings

    _check_convention(convention)
    input_size = check_shape("input_size", input_size)
    model = copy.deepcopy(model).eval()
    x = example_input(model, input_size)
    quiet = contextlib.ExitStack()
    with quiet:
        quiet.enter_context(contextlib.redirect_stdout(io.StringIO()))
        quiet.enter_context(contextlib.redirect_stderr(io.StringIO()))
        quiet.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        quiet.callback(logging.disable, logging.NOTSET)
        if convention in ("paper", "torch"):
            from torch.utils.flop_counter import FlopCounterMode

            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(x)
            flops = counter.get_total_flops()
            macs = flops // 2
            return ToolCount(
                convention, all_params(model), macs, flops if convention == "torch" else 2 * macs
            )
        if convention == "thop":
            import thop

            macs, params = thop.profile(model, inputs=(x,), verbose=False)
        elif convention == "fvcore":
            from fvcore.nn import FlopCountAnalysis, parameter_count

            analysis = (
                FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            )
            macs, params = analysis.total(), parameter_count(model)[""]
        else:
            import ptflops

            macs, params = ptflops.get_model_complexity_info(
                model,
                tuple(input_size[1:]),
                as_strings=False,
                print_per_layer_stat=False,
                backend="pytorch",
                input_constructor=(lambda _: x) if input_size[0] != 1 else None,
            )
    return ToolCount(convention, int(params), int(macs), 2 * int(macs))
