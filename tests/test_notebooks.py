"""The lessons' nbval contract: a checked output is the same on every machine.

nbval compares every cell's text output with the one stored in the notebook, except in cells
tagged `nbval-ignore-output`. Two kinds of value differ from machine to machine:

- timings, which depend on how fast (and how busy) the machine is: CI's busy machine once turned
  lesson 07's "GhostNet is not twice as fast";
- what is computed from a live training run, evaluation, fine-tune or a search that trains: the
  result depends on the rounding of the CPU's float kernels (AVX-512, AVX2, NEON, generic) and on
  the thread count, and a few ulps early in training are a different network at the end (lesson
  10's FBNet search derived another block on an AVX-512 CPU).

A lesson shows such values in an ignored cell and checks its claims on shipped data (`data/`)
instead. This test follows every value derived from a live call through the lessons' code,
statically and in execution order, and fails on a checked cell that prints one; it also keeps
the student's page clean (no test markers in the code, references and a summary in the prose).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IGNORE_TAG = "nbval-ignore-output"
# What makes a value live. Timers: the result depends on how fast this machine is right now.
TIMING_PRIMITIVES = {
    "perf_counter",
    "perf_counter_ns",
    "monotonic",
    "process_time",
    "blocked_autorange",
    "adaptive_autorange",
    "timeit",
}
# Float kernels: an optimizer (`torch.optim.*`, so training), evaluating a model, re-estimating
# BatchNorm statistics: the result depends on the rounding of this CPU's kernels and its threads.
# (A backward pass alone is not live: lesson 04 reads a receptive field off a gradient's zeros.)
OPTIMIZER = "torch.optim"
FLOAT_PRIMITIVES = {OPTIMIZER, "evaluate", "recalibrate_batchnorm"}
# Calls that change the model they are given (their first argument) in place.
MUTATING_CALLS = {"train", "recalibrate_batchnorm"}
# Methods (not module-level functions) of lwcnn's classes that time: (class, method).
LIVE_METHODS = {("LatencyTable", "build")}
# lwcnn's modules and subpackages (`lwcnn/latency/`), and the files the package's functions are in.
PACKAGE_MODULES = (
    {"lwcnn"}
    | {path.stem for path in (ROOT / "lwcnn").glob("*.py")}
    | {path.parent.name for path in (ROOT / "lwcnn").glob("*/__init__.py")} - {"exercises"}
)
PACKAGE_FILES = [path for path in (ROOT / "lwcnn").rglob("*.py") if "exercises" not in path.parts]


def _module_aliases(tree: ast.Module) -> set[str]:
    """Names a module of lwcnn binds to lwcnn's modules: `from lwcnn import cost as C` -> 'C'."""
    aliases = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "lwcnn":
            aliases |= {a.asname or a.name for a in node.names if a.name in PACKAGE_MODULES}
        elif isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name.split(".")[0] == "lwcnn"}
    return aliases


def _called_names(function: ast.FunctionDef, aliases: set[str]) -> set[str]:
    """The package functions and live primitives a function calls: `f()`, `latency.f()`,
    `timer.blocked_autorange()`, `torch.optim.Adam(...)`. A name the function binds itself (a parameter such as `evaluate` in
    `nas.search`) and a method of some object (`model.train()`) are not package functions."""
    local = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
    local |= {n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    names = set()
    for n in ast.walk(function):
        if not isinstance(n, ast.Call):
            continue
        if isinstance(n.func, ast.Name) and n.func.id not in local:
            names.add(n.func.id)
        elif isinstance(n.func, ast.Attribute):
            owner = _owner(n.func)
            if owner == "optim":
                names.add(OPTIMIZER)
            elif owner in aliases or n.func.attr in TIMING_PRIMITIVES | FLOAT_PRIMITIVES:
                names.add(n.func.attr)
    return names


def _owner(func: ast.Attribute) -> str | None:
    """The name an attribute is taken from: `a.f` -> 'a', `a.b.f` -> 'b'."""
    value = func.value
    return (
        value.id if isinstance(value, ast.Name) else value.attr if isinstance(value, ast.Attribute) else None
    )


def package_live_functions() -> set[str]:
    """lwcnn's module-level functions whose result is live, found by reading the package.

    A function is live when it calls a timer, makes an optimizer, evaluates a model, or calls
    another live function of the package. So a new helper that trains or times (a fine-tune, a
    search) is known here without anyone listing it.
    """
    functions = {}
    for path in PACKAGE_FILES:
        tree = ast.parse(path.read_text())
        aliases = _module_aliases(tree)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                functions[node.name] = _called_names(node, aliases)
    live = set(TIMING_PRIMITIVES | FLOAT_PRIMITIVES)
    while True:
        found = {name for name, calls in functions.items() if calls & live} - live
        if not found:
            return live
        live |= found


LIVE_CALLS = package_live_functions()


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
    if isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute):
        return _base_names(target.func.value)  # `net.parameters()` -> 'net'
    return set()


class LiveFlow:
    """Follows live values (timed, trained, evaluated) through a notebook's module-level code, in order.

    A name is tainted when a live call or a tainted name flows into it, and untainted when it is
    rebound to something else; a function is live when its body makes a live call or reads a
    tainted global. Containers filled in place (`d[k] = ...`, `xs.append(...)`) stay tainted, and
    so does a model trained in place (`train(model, ...)` taints `model`).
    """

    def __init__(self) -> None:
        self.tainted: set[str] = set()
        self.functions: set[str] = set()  # functions the notebook defined that are live
        self.defined: set[str] = set()  # every function the notebook defined

    def _callee(self, node: ast.Call) -> tuple[str | None, str | None]:
        """(owner, name) of a call: `f()` -> (None, 'f'), `a.b.f()` -> ('b', 'f')."""
        func = node.func
        if isinstance(func, ast.Name):
            return None, func.id
        if isinstance(func, ast.Attribute):
            return _owner(func), func.attr
        return None, None

    def _is_live(self, node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        owner, name = self._callee(node)
        if owner is None:  # a function the notebook defined hides the package's of that name
            return name in self.functions or (name in LIVE_CALLS and name not in self.defined)
        return (
            name in TIMING_PRIMITIVES
            or owner == "optim"
            or (owner, name) in LIVE_METHODS
            or (owner in PACKAGE_MODULES and name in LIVE_CALLS)
        )

    def _mutated(self, node: ast.AST) -> set[str]:
        """Variables a statement changes in place by a live call: `train(result.model)` -> {'result'}."""
        changed = set()
        for n in ast.walk(node):
            if not (isinstance(n, ast.Call) and n.args and self._is_live(n)):
                continue
            owner, name = self._callee(n)
            if name in MUTATING_CALLS or owner == "optim":  # an optimizer changes the model it is given
                changed |= _base_names(n.args[0])
        return changed

    def reads(self, node: ast.AST | None) -> set[str]:
        """The tainted names and live calls an expression (or statement) uses."""
        if node is None:
            return set()
        local = _bound_inside(node)
        found = {
            n.id
            for n in ast.walk(node)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in self.tainted - local
        }
        return found | {ast.unparse(n.func) + "()" for n in ast.walk(node) if self._is_live(n)}

    def _assign(self, target: ast.AST, live: bool) -> None:
        if isinstance(target, ast.Name | ast.Tuple | ast.List):
            for name in _base_names(target):
                (self.tainted.add if live else self.tainted.discard)(name)
        elif live:
            self.tainted |= _base_names(target)

    def run(self, statements: list[ast.stmt]) -> set[str]:
        """Execute statements abstractly; return the tainted names and live calls they used."""
        used: set[str] = set()
        for node in statements:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
                assigned = {
                    n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
                }
                live = self.reads(node) - arguments - assigned
                (self.functions.add if live else self.functions.discard)(node.name)
                self.defined.add(node.name)
            elif isinstance(node, ast.ClassDef):
                continue
            elif isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    self.tainted.discard((alias.asname or alias.name).split(".")[0])
            elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
                live = self.reads(node.value)
                used |= live
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    used |= self.reads(target)
                    if isinstance(node, ast.AugAssign):
                        live = live or self.reads(target)
                    self._assign(target, bool(live))
                if node.value is not None:
                    self.tainted |= self._mutated(node.value)
            elif isinstance(node, ast.For | ast.AsyncFor):
                live = self.reads(node.iter)
                used |= live
                for _ in range(2):  # a second pass carries what one iteration taints into the next
                    self._assign(node.target, bool(live))
                    used |= self.run(node.body)
                used |= self.run(node.orelse)
            elif isinstance(node, ast.While | ast.If):
                used |= self.reads(node.test)
                for _ in range(2 if isinstance(node, ast.While) else 1):
                    used |= self.run(node.body)
                used |= self.run(node.orelse)
            elif isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    live = self.reads(item.context_expr)
                    used |= live
                    if item.optional_vars is not None:
                        self._assign(item.optional_vars, bool(live))
                used |= self.run(node.body)
            elif isinstance(node, ast.Try):
                for body in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                    used |= self.run(body)
            else:
                live = self.reads(node)
                used |= live
                call = node.value if isinstance(node, ast.Expr) else None
                if live and isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
                    self.tainted |= _base_names(call.func.value)  # xs.append(measure(...)), d.update(...)
                self.tainted |= self._mutated(node)
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


def is_ignored(cell) -> bool:
    return IGNORE_TAG in cell.get("metadata", {}).get("tags", [])


def live_checked_cells(notebook) -> list[tuple[int, list[str]]]:
    """(index, what it uses) for every checked cell whose text output may depend on a live value."""
    flow = LiveFlow()
    found = []
    for i, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or cell.source.lstrip().startswith(("%", "!")):
            continue
        used = flow.run(ast.parse(cell.source).body)
        if used and not is_ignored(cell) and _prints_text(cell):
            found.append((i, sorted(used)))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_checked_cells_print_nothing_live(path):
    notebook = nbformat.read(path, as_version=4)
    found = live_checked_cells(notebook)
    assert not found, (
        f"{path.name}: checked cells print values derived from live timings or training, which "
        f"another machine (busier, other float kernels, other threads) changes; show them in a "
        f"cell tagged {IGNORE_TAG!r} and check the claim on shipped data: {found}"
    )


def _notebook(*cells: str | tuple[str, str], outputs: str = "x\n"):
    """A notebook of code cells with text output; ('ignored', source) makes a tagged cell."""
    notebook = nbformat.v4.new_notebook()
    for cell_spec in cells:
        tag, source = cell_spec if isinstance(cell_spec, tuple) else (None, cell_spec)
        cell = nbformat.v4.new_code_cell(source)
        if tag == "ignored":
            cell.metadata["tags"] = [IGNORE_TAG]
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=outputs)]
        notebook.cells.append(cell)
    return notebook


@pytest.mark.parametrize(
    "cells",
    [
        # lesson 07's failure in CI: a timing dict filled in a loop, compared in a checked cell
        (
            ("ignored", "zoo_ms = {}\nfor n in zoo:\n    zoo_ms[n] = measure(m, s).median_ms"),
            "print(macs < 0.5 and zoo_ms['a'] > 0.5 * zoo_ms['b'])",
        ),
        # lesson 06: runs appended in a loop, reduced through a comprehension, then compared
        (
            (
                "ignored",
                "runs = {0: [], 1: []}\nfor _ in range(3):\n    runs[0].append(measure(m, s).median_ms)",
            ),
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
        # latency.compare / lower_quartile through their module
        ("times = latency.compare({'a': m}, (1, 3))\nprint(times['a'] > 1)",),
        # lesson 10 on an AVX-512 CPU: a live search, its history printed in a checked cell
        (
            ("ignored", "result = nas.fbnet_search(nas.TABLE_SPACE, costs, seed=0)"),
            "for epoch in result.history:\n    print(epoch.arch)",
        ),
        # a live training run's accuracy compared with a threshold in a checked cell
        (
            (
                "ignored",
                "accuracy = {}\nfor a in widths:\n    accuracy[a] = train(build(a), loaders, epochs=4).final_test_accuracy",
            ),
            "print(accuracy[1.0] - accuracy[0.25] > 0.03)",
        ),
        # lesson 08: a model fine-tuned in place, evaluated in a later checked cell
        (
            ("ignored", "history = train(result.model, loaders, epochs=3)"),
            "print(sizes, result.model.num_parameters(), 1)",
        ),
        # evaluating a shipped checkpoint is live too: its argmax depends on the float kernels
        ("model = load(path)\nprint(f'{evaluate(model, test_loader)[1]:.4f}')",),
        # BatchNorm recalibrated in place, then evaluated through a module-qualified call
        (
            ("ignored", "recalibrate_batchnorm(inherited, train_loader)"),
            "print(lwcnn.train.evaluate(inherited, test_loader))",
        ),
        # a training loop written in the notebook: an optimizer makes it live
        (
            "opt = torch.optim.SGD(net.parameters(), lr=0.1)\nfor x, y in data:\n    loss(net(x), y).backward()\n    opt.step()",
            "print(net(x0).argmax())",
        ),
        # a helper that trains, called from a checked cell
        ("def fit(m):\n    return train(m, loaders, epochs=1)", "print(fit(net).final_test_accuracy)"),
    ],
)
def test_a_checked_cell_printing_a_live_value_is_found(cells):
    assert live_checked_cells(_notebook(*cells))


@pytest.mark.parametrize(
    "cells",
    [
        # the live cell itself is ignored, and the checked cell prints exact numbers only
        (("ignored", "ms = measure(m, s).median_ms\nprint(ms)"), "print(cost.conv2d_macs(3, 8, 3, 32))"),
        # a recorded (shipped) table is fixed data, not a timing
        ("rows = recorded['amd-epyc'].select('zoo')\nprint(rows[0]['median_ms'] > rows[1]['median_ms'])",),
        # shipped training results, read from a file
        ("runs = list(csv.DictReader(open('runs.csv')))\nprint(min(float(r['acc']) for r in runs) > 0.9)",),
        # switching a module to train mode is not training it
        ("model.train()\nprint(sum(p.numel() for p in model.parameters()))",),
        # a live value rebound to something exact before it is printed
        (("ignored", "history = train(model, loaders, epochs=1)"), "history = None\nprint(history)"),
        # a model trained in one variable leaves another untouched
        (("ignored", "train(model_a, loaders, epochs=1)"), "print(count_model(model_b, (1, 1, 8, 8)).macs)"),
        # lesson 07: the notebook's own `compare` reads the recording; it is not latency.compare
        ("def compare(a, b):\n    print(cpu[a]['median_ms'] / cpu[b]['median_ms'])", "compare('x', 'y')"),
        # lesson 04: a receptive field read off the zeros of a gradient is exact
        (
            "def field_of(model):\n    x = torch.zeros(1, 1, 9, 9, requires_grad=True)\n    model(x)[0, 0, 4, 4].backward()\n    return int((x.grad != 0).sum())",
            "print(field_of(one_5x5))",
        ),
        # counting, costing and slimming a shipped network are exact
        ("print(models.cost(spec).macs, prune.slim(model, 0.4).cfg, lwcnn.count_model(model, (1, 3)).macs)",),
    ],
)
def test_exact_and_recorded_numbers_pass(cells):
    assert live_checked_cells(_notebook(*cells)) == []


def test_the_package_live_functions_are_found_by_reading_it():
    expected = {"measure", "compare", "fastest", "lower_quartile", "time_calls", "train", "evaluate"}
    expected |= {"fbnet_search", "recalibrate_batchnorm", "slimming_summary"}
    assert expected <= LIVE_CALLS
    exact = {"count_model", "cost", "slim", "spec", "build", "load_table", "side_by_side", "se_channels"}
    assert not exact & LIVE_CALLS


def test_a_figure_drawn_from_timings_may_stay_checked():
    notebook = _notebook(("ignored", "ms = measure(m, s).median_ms"), "ax.plot(ms)\nplt.show()")
    notebook.cells[1].outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": "", "text/plain": "<Figure size 640x480>"})
    ]
    assert live_checked_cells(notebook) == []


# The student's page: lessons are read by students, so what only the test tools need stays out of
# sight (nbval's markers live in cell tags, not in the code), and every lesson ends the same way.
MAINTAINER_TALK = re.compile(
    r"nbval|NBVAL|\bCI\b|continuous integration|earlier version of this lesson|sanitize|not checked\b", re.I
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_students_page(path):
    notebook = nbformat.read(path, as_version=4)
    markers = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and "NBVAL" in c.source]
    assert not markers, f"{path.name}: cells {markers} carry nbval markers in their code; use the cell tag"
    prose = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    talk = sorted({m.group(0) for m in MAINTAINER_TALK.finditer(prose)})
    assert not talk, f"{path.name}: maintainer talk in the student's prose: {talk}"
    assert re.search(r"^#+\s*What to remember", prose, re.M), f"{path.name}: no 'What to remember' section"
    last = notebook.cells[-1]
    assert last.cell_type == "markdown" and re.match(
        r"#+\s*References", last.source
    ), f"{path.name}: the lesson does not end with its References"
    references = re.split(r"\n(?=[-*] )", last.source.split("\n", 1)[-1].strip())
    unlinked = [ref for ref in references if not re.search(r"https?://|no arXiv version", ref)]
    assert (
        references and not unlinked
    ), f"{path.name}: references without a link (arXiv where the paper is there): {unlinked}"
