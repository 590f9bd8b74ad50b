"""The lessons' nbval contract: what nbval checks must not depend on this machine's speed.

A cell marked `# NBVAL_IGNORE_OUTPUT` may print timings. A checked cell that prints something
computed from a timing fails whenever a busy CI machine turns the comparison (lesson 07's
"GhostNet is not twice as fast" did). This test follows every value derived from a timing call
through the lessons' code, statically, and fails on a checked cell that prints one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
IGNORE = "# NBVAL_IGNORE_OUTPUT"
# Calls whose result depends on how fast this machine is right now.
TIMING_CALLS = {
    "measure",
    "time_calls",
    "summarize_ms",
    "perf_counter",
    "perf_counter_ns",
    "monotonic",
    "process_time",
}
TIMING_ATTRIBUTES = {("LatencyTable", "build"), ("time", "time")}


def _bound_inside(node: ast.AST) -> set[str]:
    """Names an expression binds for itself (comprehension and lambda variables)."""
    names = set()
    for n in ast.walk(node):
        if isinstance(n, ast.comprehension):
            names |= {t.id for t in ast.walk(n.target) if isinstance(t, ast.Name)}
        elif isinstance(n, ast.Lambda):
            names |= {a.arg for a in n.args.args}
    return names


def _base_names(target: ast.AST) -> set[str]:
    """`x`, `x[k]`, `x.a`, `(x, y)` -> the variables an assignment to it changes."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, ast.Subscript | ast.Attribute | ast.Starred):
        return _base_names(target.value)
    if isinstance(target, ast.Tuple | ast.List):
        return set().union(*(_base_names(t) for t in target.elts))
    return set()


class TimingFlow:
    """Follows timing-derived values through a notebook's module-level code, in execution order.

    A name is tainted when a timing call or a tainted name flows into it, and untainted when it
    is rebound to something else; a function is a timing function when its body times or reads a
    tainted global. Containers filled in place (`d[k] = ...`, `xs.append(...)`) stay tainted.
    """

    def __init__(self) -> None:
        self.tainted: set[str] = set()
        self.functions: set[str] = set()

    def _call_times(self, node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        func = node.func
        if isinstance(func, ast.Name):
            return func.id in TIMING_CALLS or func.id in self.functions
        if isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else None
            return func.attr in TIMING_CALLS or (owner, func.attr) in TIMING_ATTRIBUTES
        return False

    def reads(self, node: ast.AST | None) -> set[str]:
        """The tainted names and timing calls an expression (or statement) uses."""
        if node is None:
            return set()
        local = _bound_inside(node)
        found = {
            n.id
            for n in ast.walk(node)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in self.tainted - local
        }
        return found | {ast.unparse(n.func) + "()" for n in ast.walk(node) if self._call_times(n)}

    def _assign(self, target: ast.AST, timed: bool) -> None:
        if isinstance(target, ast.Name | ast.Tuple | ast.List):
            for name in _base_names(target):
                (self.tainted.add if timed else self.tainted.discard)(name)
        elif timed:
            self.tainted |= _base_names(target)

    def run(self, statements: list[ast.stmt]) -> set[str]:
        """Execute statements abstractly; return the tainted names and timing calls they used."""
        used: set[str] = set()
        for node in statements:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
                assigned = {
                    n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
                }
                timed = self.reads(node) - arguments - assigned
                (self.functions.add if timed else self.functions.discard)(node.name)
            elif isinstance(node, ast.ClassDef):
                continue
            elif isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    self.tainted.discard((alias.asname or alias.name).split(".")[0])
            elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
                timed = self.reads(node.value)
                used |= timed
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    used |= self.reads(target)
                    if isinstance(node, ast.AugAssign):
                        timed = timed or self.reads(target)
                    self._assign(target, bool(timed))
            elif isinstance(node, ast.For | ast.AsyncFor):
                timed = self.reads(node.iter)
                used |= timed
                for _ in range(2):  # a second pass carries what one iteration taints into the next
                    self._assign(node.target, bool(timed))
                    used |= self.run(node.body)
                used |= self.run(node.orelse)
            elif isinstance(node, ast.While | ast.If):
                used |= self.reads(node.test)
                for _ in range(2 if isinstance(node, ast.While) else 1):
                    used |= self.run(node.body)
                used |= self.run(node.orelse)
            elif isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    timed = self.reads(item.context_expr)
                    used |= timed
                    if item.optional_vars is not None:
                        self._assign(item.optional_vars, bool(timed))
                used |= self.run(node.body)
            elif isinstance(node, ast.Try):
                for body in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                    used |= self.run(body)
            else:
                timed = self.reads(node)
                used |= timed
                call = node.value if isinstance(node, ast.Expr) else None
                if timed and isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
                    self.tainted |= _base_names(call.func.value)  # xs.append(measure(...)), d.update(...)
        return used


def _prints_text(cell) -> bool:
    """Does the stored output hold text nbval compares (anything but a figure and its repr)?"""
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream" and output["name"] == "stdout":
            return True
        if output["output_type"] in ("execute_result", "display_data"):
            data = output.get("data", {})
            if "image/png" in data or "application/vnd.jupyter.widget-view+json" in data:
                continue
            if not str(data.get("text/plain", "")).startswith("<Figure"):
                return True
    return False


def timing_dependent_checked_cells(notebook) -> list[tuple[int, list[str]]]:
    """(index, what it uses) for every checked cell whose text output may depend on a timing."""
    flow = TimingFlow()
    found = []
    for i, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or cell.source.lstrip().startswith(("%", "!")):
            continue
        used = flow.run(ast.parse(cell.source).body)
        if used and not cell.source.lstrip().startswith(IGNORE) and _prints_text(cell):
            found.append((i, sorted(used)))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_checked_cells_do_not_print_timings(path):
    notebook = nbformat.read(path, as_version=4)
    found = timing_dependent_checked_cells(notebook)
    assert not found, (
        f"{path.name}: checked cells print values derived from live timings, which a busy machine "
        f"can change; mark them {IGNORE!r} or compute the claim from a recorded table: {found}"
    )


def _notebook(*sources: str, outputs: str = "x\n"):
    notebook = nbformat.v4.new_notebook()
    for source in sources:
        cell = nbformat.v4.new_code_cell(source)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=outputs)]
        notebook.cells.append(cell)
    return notebook


@pytest.mark.parametrize(
    "sources",
    [
        # lesson 07's failure in CI: a timing dict filled in a loop, compared in a checked cell
        (
            "# NBVAL_IGNORE_OUTPUT\nzoo_ms = {}\nfor n in zoo:\n    zoo_ms[n] = measure(m, s).median_ms",
            "print(macs < 0.5 and zoo_ms['a'] > 0.5 * zoo_ms['b'])",
        ),
        # lesson 06: runs appended in a loop, reduced through a comprehension, then compared
        (
            "# NBVAL_IGNORE_OUTPUT\nruns = {0: [], 1: []}\nfor _ in range(3):\n    runs[0].append(measure(m, s).median_ms)",
            "best = {k: min(v) for k, v in runs.items()}",
            "print(best[1] > best[0])",
        ),
        # a helper function that times, called from a checked cell
        (
            "def speed(m):\n    return lwcnn.latency.measure(m, (1, 3)).median_ms",
            "print(speed(a) < speed(b))",
        ),
        # a timing loop in the checked cell itself
        ("start = time.perf_counter()\nf()\nprint(time.perf_counter() - start > 0)",),
    ],
)
def test_a_checked_cell_printing_a_timing_is_found(sources):
    assert timing_dependent_checked_cells(_notebook(*sources))


@pytest.mark.parametrize(
    "sources",
    [
        # the timing cell itself is ignored, and the checked cell prints exact numbers only
        (
            "# NBVAL_IGNORE_OUTPUT\nms = measure(m, s).median_ms\nprint(ms)",
            "print(cost.conv2d_macs(3, 8, 3, 32))",
        ),
        # a recorded (shipped) table is fixed data, not a timing
        ("rows = recorded['amd-epyc'].select('zoo')\nprint(rows[0]['median_ms'] > rows[1]['median_ms'])",),
    ],
)
def test_exact_and_recorded_numbers_pass(sources):
    assert timing_dependent_checked_cells(_notebook(*sources)) == []


def test_a_figure_drawn_from_timings_may_stay_checked():
    notebook = _notebook("# NBVAL_IGNORE_OUTPUT\nms = measure(m, s).median_ms", "ax.plot(ms)\nplt.show()")
    notebook.cells[1].outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": "", "text/plain": "<Figure size 640x480>"})
    ]
    assert timing_dependent_checked_cells(notebook) == []
