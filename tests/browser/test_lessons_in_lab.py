"""Every lesson's widgets, in a real JupyterLab and Chromium: run the lesson, move each control
with the keyboard, and check that what the learner sees is what `lwcnn` computes.

For each lesson the test builds the lesson's widget here too (`Lesson.make`, the same call as
the notebook's, checked below), moves the same control to the same new value, and captures what
its render prints: that text, from `lwcnn`'s summary and describe functions, is what the page
must show after the move. Numbers are compared to 1e-3 relative (a browser's float step can
differ from Python's in the last bits); everything else exactly.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

os.environ.setdefault("MPLBACKEND", "Agg")

import ipywidgets as W  # noqa: E402

from lwcnn import widgets  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

RUN_TIMEOUT_MS = 420_000  # one lesson, all cells (the slowest takes about a minute alone on 2 cores)
UPDATE_TIMEOUT_MS = 60_000  # one control moved -> its output redrawn
FOCUS_SETTLE_MS = 300  # from taking a slider's handle to pressing a key, as a learner would
BUSY_TEXT = "evaluating"  # what a network widget's status label says while it computes


def _slimming_widget() -> W.VBox:
    from lwcnn import prune
    from lwcnn.data import dataset_loaders
    from lwcnn.paths import PRUNING_CHECKPOINT

    checkpoint = prune.load_pruned(PRUNING_CHECKPOINT)
    model, recipe = checkpoint.model.eval(), checkpoint.metadata["recipe"]
    loaders = dataset_loaders(recipe["dataset"], batch_size=recipe["batch_size"], seed=recipe["seed"])
    return widgets.slimming_widget(model, loaders[1], prune_rate=0.4, normalize=recipe["normalize"])


def _quant_grid_widget() -> W.VBox:
    from lwcnn import prune
    from lwcnn.paths import QUANTIZATION_CHECKPOINT

    model = prune.load_pruned(QUANTIZATION_CHECKPOINT).model.eval()
    return widgets.quant_grid_widget(model, bits=4, per_channel=True, symmetric=True)


def _reward_widget() -> W.VBox:
    from lwcnn import nas

    return widgets.reward_widget(nas.load_table())


def _predictor_widget() -> W.VBox:
    from lwcnn import nas

    return widgets.predictor_widget(nas.load_table(), train_share=0.5)


def _tinynet_widget() -> W.VBox:
    from lwcnn import scaling

    samples = scaling.rows_of(scaling.load_table(), "tinynet")
    best = scaling.best_per_budget(samples, 4)
    gp = scaling.fit_tinynet_gp(
        [row.budget for row in best],
        [row.multipliers.resolution for row in best],
        [row.multipliers.depth for row in best],
    )
    return widgets.tinynet_widget(gp, samples, best, budget=0.5)


@dataclass(frozen=True)
class Lesson:
    notebook: str
    call: str  # the widget call as the notebook writes it
    make: Callable[[], W.VBox]
    # "network" when a control's callback evaluates a network (target: answers within 2 s and
    # shows that it is working), "cost" when it only recomputes costs (target: within 0.3 s)
    kind: str = "cost"


LESSONS = [
    Lesson(
        "01_convolution_cost.ipynb",
        "conv_cost_widget(height=56, width=56, in_channels=64, out_channels=64, kernel_size=3, stride=1, groups=1)",
        lambda: widgets.conv_cost_widget(
            height=56, width=56, in_channels=64, out_channels=64, kernel_size=3, stride=1, groups=1
        ),
    ),
    Lesson(
        "02_depthwise_separable.ipynb",
        "separable_ratio_widget(out_channels=64, kernel_size=3)",
        lambda: widgets.separable_ratio_widget(out_channels=64, kernel_size=3),
    ),
    Lesson(
        "03_width_and_resolution.ipynb",
        "width_resolution_widget(width_multiplier=0.5, resolution=160)",
        lambda: widgets.width_resolution_widget(width_multiplier=0.5, resolution=160),
    ),
    Lesson(
        "04_kernel_5x5_vs_3x3.ipynb",
        "kernel_choice_widget(in_channels=32, out_channels=32, feature_size=28)",
        lambda: widgets.kernel_choice_widget(in_channels=32, out_channels=32, feature_size=28),
    ),
    Lesson(
        "05_inverted_residuals.ipynb",
        "expansion_widget(in_channels=24, out_channels=24, expand_ratio=6, feature_size=56)",
        lambda: widgets.expansion_widget(in_channels=24, out_channels=24, expand_ratio=6, feature_size=56),
    ),
    Lesson(
        "06_se_and_hswish.ipynb",
        "se_widget(channels=96, ratio=0.25, feature_size=14)",
        lambda: widgets.se_widget(channels=96, ratio=0.25, feature_size=14),
    ),
    Lesson(
        "08_pruning.ipynb",
        'slimming_widget(model, loaders[1], prune_rate=rate, normalize=recipe["normalize"])',
        _slimming_widget,
        kind="network",  # each move slims the model and evaluates it on the test set
    ),
    Lesson("09_nas_mnasnet.ipynb", "reward_widget(rows)", _reward_widget),
    Lesson(
        "10_nas_fbnet.ipynb", "gumbel_widget(temperature=1.0)", lambda: widgets.gumbel_widget(temperature=1.0)
    ),
    Lesson("11_scaling.ipynb", "compound_widget(phi=1.0)", lambda: widgets.compound_widget(phi=1.0)),
    Lesson("11_scaling.ipynb", "tinynet_widget(gp, samples, best, budget=0.5)", _tinynet_widget),
    Lesson(
        "12_quantization.ipynb",
        "quant_grid_widget(model, bits=4, per_channel=True, symmetric=True)",
        _quant_grid_widget,
    ),
    Lesson(
        "13_other_families.ipynb",
        "fire_widget(in_channels=96, expand_channels=128, squeeze_ratio=0.125, share_3x3=0.5, feature_size=55)",
        lambda: widgets.fire_widget(
            in_channels=96, expand_channels=128, squeeze_ratio=0.125, share_3x3=0.5, feature_size=55
        ),
    ),
    Lesson("14_search_beyond_blocks.ipynb", "predictor_widget(rows, train_share=0.5)", _predictor_widget),
]


# --- what the learner should see ------------------------------------------------------------------


def _rendered(action: Callable[[], None]) -> str:
    """What a widget's render prints when `action` changes one of its controls (or builds it)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        action()
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]|\r", "", buffer.getvalue())  # clear_output's terminal codes


NUMBER = re.compile(r"[-+]?(?:\d+(?:,\d{3})*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def _same_display(shown: str, expected: str) -> bool:
    """Equal texts, numbers to 1e-3 relative (and 1e-9 absolute), whitespace runs as one space."""
    shown_words, expected_words = shown.split(), expected.split()
    if len(shown_words) != len(expected_words):
        return False
    for a, b in zip(shown_words, expected_words, strict=True):
        numbers_a, numbers_b = NUMBER.findall(a), NUMBER.findall(b)
        if NUMBER.sub("#", a) != NUMBER.sub("#", b) or len(numbers_a) != len(numbers_b):
            return False
        for x, y in zip(numbers_a, numbers_b, strict=True):
            x, y = float(x.replace(",", "")), float(y.replace(",", ""))
            if not math.isclose(x, y, rel_tol=1e-3, abs_tol=1e-9):
                return False
    return True


def _next_values(control: W.Widget) -> tuple[list, str]:
    """The values one key press may give, and the key: the toggle, the next option, or a slider
    step up (down at the top). A slider whose value is off its grid `min + k * step` (a start
    like a median latency) may move by one step, or snap to the grid point nearest that or next
    to where it was."""
    if isinstance(control, W.Checkbox):
        return [not control.value], " "
    if isinstance(control, W.Dropdown):
        values = [value for _, value in control._options_full]
        index = values.index(control.value)
        return [values[index + 1] if index + 1 < len(values) else values[index - 1]], "select"
    value, step, low = control.value, control.step, control.min
    going_up = value + step <= control.max + 1e-12
    key = "ArrowRight" if going_up else "ArrowLeft"
    position = (value - low) / step
    moved = value + step if going_up else value - step
    candidates = [moved, low + round((moved - low) / step) * step]  # noUiSlider snaps to its grid
    if going_up:
        candidates.append(low + (math.floor(position + 1e-9) + 1) * step)
    else:
        candidates.append(low + (math.ceil(position - 1e-9) - 1) * step)
    clamped = [min(max(v, control.min), control.max) for v in candidates]
    return list(dict.fromkeys(type(value)(v) for v in clamped)), key


# --- the page ------------------------------------------------------------------------------------


def _run_all(page, url: str, token: str, notebook: str) -> None:
    # a workspace of its own, reset: only this lesson's tab, no restored tabs or kernels
    page.goto(f"{url}/lab/workspaces/{Path(notebook).stem}/tree/{notebook}?token={token}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    select = page.locator(".jp-Dialog").get_by_role("button", name="Select", exact=True)
    try:  # JupyterLab may ask which kernel to start: the notebook's own (its metadata says python3)
        select.click(timeout=5_000)
    except PlaywrightTimeout:
        pass
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)  # the kernel is ready
    cells = page.locator(".jp-Notebook .jp-CodeCell").count()
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt")
    for _attempt in range(3):  # a click while the kernel connection settles can be lost: retry
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]"
                ".some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))",
                timeout=15_000,
            )
            break
        except PlaywrightTimeout:
            continue
    page.wait_for_function(
        """count => {
            const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
            const errors = document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
            const failed = [...errors].some(e => /Error|Traceback/.test(e.textContent));
            return failed || (prompts.length === count && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)));
        }""",
        arg=cells,
        timeout=RUN_TIMEOUT_MS,
        polling=500,
    )
    assert prompts.count() == cells
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=RUN_TIMEOUT_MS)


def _widget_box(page, description: str):
    label = page.locator(".widget-label", has_text=re.compile(f"^{re.escape(description)}$"))
    return page.locator(".widget-vbox").filter(has=label).last


def _shown_text(box) -> str:
    nodes = box.locator(".widget-output [data-mime-type='application/vnd.jupyter.stdout']")
    return "\n".join(nodes.all_inner_texts())


def _press(page, box, control: W.Widget, key: str, value_to_pick=None) -> None:
    """Move `control` with `key` (or pick `value_to_pick` from a drop-down), with the page
    recording the move (`_watch`) from the key press on."""
    item = box.locator(".widget-inline-hbox, .widget-slider, .widget-dropdown, .widget-checkbox").filter(
        has=page.locator(".widget-label", has_text=re.compile(f"^{re.escape(control.description)}$"))
    )
    if isinstance(control, W.Checkbox):
        target = box.locator(".widget-checkbox", has_text=control.description).locator("input")
    elif isinstance(control, W.Dropdown):
        target = item.first.locator("select")
    else:
        target = item.first.locator(".noUi-handle")
    if key == "select":  # a drop-down is chosen, not dragged: pick the option by its label
        label = next(text for text, value in control._options_full if value == value_to_pick)
        target.focus()
        page.wait_for_timeout(FOCUS_SETTLE_MS)
        _watch(page, box)
        target.select_option(label=label)
        return
    target.focus()
    # A learner takes the handle (which makes its cell JupyterLab's active cell, a re-render of
    # the notebook's toolbar and cell state) and then presses a key, a moment later: the timing
    # starts at the key press, not while the page still handles the focus.
    page.wait_for_timeout(FOCUS_SETTLE_MS)
    _watch(page, box)
    page.keyboard.press(key)
    if isinstance(control, (W.IntSlider, W.FloatSlider)):
        page.keyboard.press("Tab")  # leave the handle: continuous_update=False sliders send on change


# The widget's printed text, and whether its status label says BUSY_TEXT, read in the page.
_READ_BOX = """box => ({
    text: [...box.querySelectorAll(".widget-output [data-mime-type='application/vnd.jupyter.stdout']")]
        .map(node => node.innerText).join("\\n"),
    busy: [...box.querySelectorAll(".widget-label")].some(label => label.textContent.includes(BUSY)),
})""".replace("BUSY", json.dumps(BUSY_TEXT))


# The page's own record of a move, in its clock (`performance.now()`): when the learner's key
# press or choice happened (the event's timeStamp) and, every animation frame and every change of
# the widget's DOM, the widget's text whenever it changed, with the time (the page's clock), and
# whether the status label said BUSY_TEXT. The
# time a move took is read from it: Playwright's round trips between this process and the page
# (tens of milliseconds each on 2 cores) are the harness's, not the learner's, and stay out.
_WATCH = """box => {
    const read = READ_BOX;
    const watch = {pressed: null, log: [], busy: false};
    window.__lwcnnWatch = watch;
    for (const type of ["keydown", "input", "change"]) {
        document.addEventListener(type, event => {
            if (window.__lwcnnWatch === watch && watch.pressed === null) watch.pressed = event.timeStamp;
        }, {capture: true, once: true});
    }
    let last = read(box).text;
    const check = time => {
        const now = read(box);
        watch.busy = watch.busy || now.busy;
        if (now.text !== last) {
            watch.log.push([now.text, time]);
            last = now.text;
        }
    };
    const frame = time => {
        if (window.__lwcnnWatch !== watch) return;
        check(time);
        requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    // A busy headless page may skip animation frames; a change of the widget's DOM is seen anyway.
    const observer = new MutationObserver(() => {
        if (window.__lwcnnWatch !== watch) return observer.disconnect();
        check(performance.now());
    });
    observer.observe(box, {subtree: true, childList: true, characterData: true, attributes: true});
}""".replace("READ_BOX", _READ_BOX)


def _watch(page, box) -> None:
    """Start the page's record of the next move of `box`'s widget (`_WATCH`)."""
    page.evaluate(_WATCH, box.element_handle())


def _page_seconds(page, *expected: str) -> tuple[float, bool]:
    """From the page's record (`_WATCH`): seconds from the key press to the first frame showing
    one of `expected`, and whether the status label said BUSY_TEXT meanwhile."""
    watch = page.evaluate("() => window.__lwcnnWatch")
    assert watch["pressed"] is not None, "the page saw no key press or choice for this move"
    shown = [time for text, time in watch["log"] if any(_same_display(text, e) for e in expected)]
    assert shown, f"the page's record never shows the expected text; it saw: {[t for t, _ in watch['log']]}"
    return (shown[0] - watch["pressed"]) / 1000, watch["busy"]


def _wait_for_text(page, box, *expected: str) -> str:
    """The page's text once it shows one of `expected` (or after UPDATE_TIMEOUT_MS).

    The page itself watches for a change (every animation frame); how long the move took, and
    whether the status label said BUSY_TEXT meanwhile, are read from its record (`_page_seconds`).
    """
    element = box.element_handle()
    deadline = time.perf_counter() + UPDATE_TIMEOUT_MS / 1000
    seen = page.evaluate(f"box => ({_READ_BOX})(box).text", element)
    while not any(_same_display(seen, text) for text in expected):
        left_ms = (deadline - time.perf_counter()) * 1000
        if left_ms <= 0:
            break
        try:
            changed = page.wait_for_function(
                f"""([box, old]) => {{
                    const now = ({_READ_BOX})(box).text;
                    return now !== old && now;
                }}""",
                arg=[element, seen],
                polling="raf",
                timeout=left_ms,
            )
        except PlaywrightTimeout:
            break
        seen = changed.json_value()
    return seen


def _assert_figure_shown(box, what: str) -> None:
    """The widget's output holds its figure (a rendered PNG), or say what it holds instead."""
    try:
        box.locator(".widget-output img").first.wait_for(timeout=UPDATE_TIMEOUT_MS)
    except PlaywrightTimeout:
        outputs = box.locator(".widget-output .jp-OutputArea-output")
        kinds = [outputs.nth(i).get_attribute("data-mime-type") for i in range(outputs.count())]
        errors = box.locator(
            ".widget-output .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        ).all_inner_texts()
        tail = "".join(errors)[-3000:]
        raise AssertionError(
            f"{what}: the widget shows no figure; its outputs are {kinds}"
            + (f"; stderr:\n{tail}" if tail else "")
        ) from None


def _problems(page) -> list[str]:
    """Error outputs and widgets that never rendered, anywhere in the notebook."""
    problems = []
    for text in page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    ).all_inner_texts():
        if "Error" in text or "Traceback" in text:
            problems.append(f"error output: {text[:300]}")
    if page.get_by_text("Loading widget").count():
        problems.append("a widget shows 'Loading widget...'")
    if page.get_by_text("Error displaying widget").count():
        problems.append("a widget shows 'Error displaying widget'")
    return problems


# --- the tests ------------------------------------------------------------------------------------

NOTEBOOKS = sorted({lesson.notebook for lesson in LESSONS})


def _code(notebook: Path) -> str:
    source = json.loads(notebook.read_text())
    return "\n".join("".join(cell["source"]) for cell in source["cells"] if cell["cell_type"] == "code")


def test_every_lesson_with_a_widget_is_covered():
    """A lesson that shows a widget and is missing from LESSONS would go untested."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        calls = set(re.findall(r"widgets\.(\w+_widget)\(", _code(path)))
        covered = {lesson.call.split("(")[0] for lesson in LESSONS if lesson.notebook == path.name}
        assert calls <= covered, f"{path.name} shows {sorted(calls - covered)}: add it to LESSONS"


def _check_widget(page, lesson: Lesson, screenshots: Path, times: list[dict]) -> list[str]:
    """Move every control of the lesson's widget once, checking the page each time; say what moved.

    Each move's time, from the key press to the first frame showing the new text, as the page's
    own clock records it (`_page_seconds`), goes to `times`.
    """
    built = {}
    text = _rendered(lambda: built.setdefault("widget", lesson.make()))
    mirror = built["widget"]
    box = _widget_box(page, next(iter(mirror.controls.values())).description)
    box.scroll_into_view_if_needed()
    shown = _wait_for_text(page, box, text)
    assert _same_display(shown, text), f"before any move the page shows:\n{shown}\nlwcnn says:\n{text}"
    _assert_figure_shown(box, f"{lesson.notebook} after Run All")
    # Scrolling the widget into view makes JupyterLab render the cells around it (it draws only
    # the cells in view); a learner moves a slider after the page has settled, not during that.
    page.wait_for_timeout(1_000)
    moved = []
    for name, control in mirror.controls.items():
        before, value_before = _shown_text(box), control.value
        values, key = _next_values(control)
        expected = {
            value: _rendered(lambda control=control, value=value: setattr(control, "value", value))
            for value in values
        }
        _press(page, box, control, key, values[0])
        shown = _wait_for_text(page, box, *expected.values())
        matched = [value for value, text in expected.items() if _same_display(shown, text)]
        assert matched, (
            f"{lesson.notebook}: after {key} on {control.description!r} the page shows:\n{shown}\n"
            + "".join(f"lwcnn says for {name}={value!r}:\n{text}\n" for value, text in expected.items())
        )
        _rendered(lambda control=control, value=matched[0]: setattr(control, "value", value))
        if control.value == value_before:  # snapped back (groups to a divisor): nothing new to time
            _assert_figure_shown(box, f"{lesson.notebook} after {key} on {control.description!r}")
            page.wait_for_timeout(1_000)  # the snapped slider's redraw ends before the next move
            moved.append(f"{control.description!r} -> {control.value!r} (snapped back)")
            continue
        assert shown != before, f"{lesson.notebook}: {control.description!r} did not change the display"
        seconds, busy_seen = _page_seconds(page, expected[matched[0]])
        _assert_figure_shown(box, f"{lesson.notebook} after {key} on {control.description!r}")
        times.append(
            {
                "control": control.description,
                "widget": lesson.call.split("(")[0],
                "lesson": lesson.notebook[:2],
                "kind": lesson.kind,
                "seconds": round(seconds, 3),
                "busy_shown": busy_seen if lesson.kind == "network" else "",
            }
        )
        moved.append(f"{control.description!r} -> {control.value!r}")
    if lesson.notebook.startswith("03"):  # the README's picture: sliders, numbers and the figure
        page.wait_for_timeout(500)
        box.screenshot(path=str(screenshots / "width_resolution_widget.png"))
    return moved


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[name[:2] for name in NOTEBOOKS])
def test_lesson_widgets_follow_the_keyboard(notebook, lab, browser, screenshots, widget_times):
    lessons = [lesson for lesson in LESSONS if lesson.notebook == notebook]
    code = _code(ROOT / "notebooks" / notebook)
    for lesson in lessons:
        assert lesson.call in code, f"{notebook} no longer calls {lesson.call}: update LESSONS"
    url, token = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _run_all(page, url, token, f"notebooks/{notebook}")
        assert not _problems(page), _problems(page)
        for lesson in lessons:
            moved = _check_widget(page, lesson, screenshots, widget_times)
            print(f"{notebook}: {lesson.call.split('(')[0]}: {', '.join(moved)}")
        assert not _problems(page), _problems(page)
    finally:
        page.screenshot(path=str(screenshots / f"{Path(notebook).stem}.png"), full_page=False)
        page.close()
        _shut_down_kernels(url, token)


def _shut_down_kernels(url: str, token: str) -> None:
    """End every session of the lab, so the next lesson starts alone (and idle kernels free memory)."""
    headers = {"Authorization": f"token {token}"}
    with urllib.request.urlopen(urllib.request.Request(f"{url}/api/sessions", headers=headers)) as answer:
        sessions = json.load(answer)
    for session in sessions:
        request = urllib.request.Request(
            f"{url}/api/sessions/{session['id']}", headers=headers, method="DELETE"
        )
        urllib.request.urlopen(request).close()


# --- a student at work ---------------------------------------------------------------------------

STUDENT_LESSON = "student/01_convolution_cost.ipynb"
EXERCISE = "smallest_input"
SOLUTION = (
    "def smallest_input(out, k, s=1, p=0, d=1):\n    return max(1, (out - 1) * s + d * (k - 1) + 1 - 2 * p)\n"
)


def _check_output(page, name: str, *expected: str) -> str:
    """What `grader.check(name)` shows, once it shows one of `expected` (or after the timeout)."""
    cell = page.locator(".jp-Notebook .jp-CodeCell").filter(has_text=f'grader.check("{name}")')
    shown = ""
    for _ in range(UPDATE_TIMEOUT_MS // 250):
        shown = cell.locator(".jp-OutputArea").inner_text()
        if any(text in shown for text in expected):
            return shown
        page.wait_for_timeout(250)
    return shown


def test_a_student_sees_the_check_fail_then_pass(lab, browser, screenshots):
    """The student's lesson as handed out: Run All, the exercise's check names the first input
    the stub gets wrong; the student types a solution, runs it and the check, and it passes."""
    url, token = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _run_all(page, url, token, STUDENT_LESSON)
        assert not _problems(page), _problems(page)
        before = _check_output(page, EXERCISE, "Test case failed")
        assert "Test case failed" in before and "returned None; expected 223" in before, before
        stub = page.locator(".jp-Notebook .jp-CodeCell").filter(has_text=f"def {EXERCISE}(")
        stub.locator(".cm-content").click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(SOLUTION)
        page.keyboard.press("Shift+Enter")  # run the solution; the check cell is next
        page.keyboard.press("Shift+Enter")  # run the check
        passed = f"{EXERCISE} passed!"  # otter's HTML view; its plain text says "All test cases passed!"
        after = _check_output(page, EXERCISE, passed)
        assert (
            passed in after and "failed" not in after
        ), f"after typing the solution the check shows:\n{after}"
        print(f"{STUDENT_LESSON}: {EXERCISE} before: {before.strip()!r}; after: {after.strip()!r}")
        assert not _problems(page), _problems(page)
    finally:
        page.screenshot(path=str(screenshots / "student_exercise.png"), full_page=False)
        page.close()
        _shut_down_kernels(url, token)
