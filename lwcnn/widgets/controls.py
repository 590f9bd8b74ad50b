"""What every lesson's widget shares: clamping slider values, sliders, and the live re-render.

A widget is controls over an output area; `live` redraws the area whenever a control moves by
calling the widget's `render(**values)`. The widgets of lessons 01 to 06 are sliders over one
summary function, declared with `summary_widget`: its render prints the summary's text (written
with `format_lines`) and draws its figure. A render says its numbers first (`say`: printed and
sent at once) and draws its figure after (`show_figure`), so the learner reads the new numbers
while the figure is still being drawn. A render that evaluates a network shows that it is
working on the widget's status label (`working`).

    >>> box = live({"n": slider("n", 3, 1, 9)}, lambda n: say(f"n = {n}"))  # doctest: +SKIP
    >>> box.controls["n"].value = 4  # in a notebook the area now says n = 4: # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import ipywidgets as W
import matplotlib.pyplot as plt

from lwcnn import plots


def clamp(value: int, low: int, high: int) -> int:
    """`value` limited to [low, high], a float rounded to the nearest int (inf to an end, NaN to
    `low`): whatever a slider or a typed argument sends, a valid setting comes back."""
    if isinstance(value, float):
        if math.isnan(value):
            return low
        value = value if math.isinf(value) else round(value)
    return max(low, min(high, value if isinstance(value, float) else int(value)))


def nearest_odd(value: int, low: int = 1, high: int = 7) -> int:
    """The odd kernel size nearest below `value`, within [low, high] ("same" padding needs odd)."""
    value = clamp(value, low, high)
    return value if value % 2 else max(low, value - 1)


def clamp_float(value: float, low: float, high: float, digits: int = 2) -> float:
    """`value` limited to [low, high] and rounded to `digits` decimals (a slider's float); NaN
    gives `low`, as `clamp`."""
    value = float(value)
    return round(low if math.isnan(value) else max(low, min(high, value)), digits)


def slider(description: str, value, low, high, step=1, kind: type = W.IntSlider) -> W.Widget:
    """A slider that sends its value when let go (a drag does not queue a render per step)."""
    return kind(
        value=value,
        min=low,
        max=high,
        step=step,
        description=description,
        continuous_update=False,
        style={"description_width": "initial"},
    )


def float_slider(description: str, value: float, low: float, high: float, step: float) -> W.FloatSlider:
    """`slider` over floats."""
    return slider(description, value, low, high, step, W.FloatSlider)


@dataclass(frozen=True)
class Slider:
    """A slider's label, range and step, declared before its starting value is known.

    Floats anywhere among `low`, `high` and `step` make a float slider.
    """

    label: str
    low: float
    high: float
    step: float = 1

    def build(self, value) -> W.Widget:
        """The slider (`slider`), starting at `value`."""
        floats = any(isinstance(number, float) for number in (self.low, self.high, self.step))
        return slider(
            self.label, value, self.low, self.high, self.step, W.FloatSlider if floats else W.IntSlider
        )


def format_lines(summary: dict, *templates: str, **derived) -> str:
    """The `templates`, one a line, filled in from the summary's values and the `derived` ones.

    A template is a `str.format` string over their names, so a describe text reads as the
    learner sees it:

        >>> format_lines({"params": 36864, "macs": 115605504}, "params {params:,}", "MACs   {macs:,}")
        'params 36,864\\nMACs   115,605,504'
    """
    values = summary | derived
    return "\n".join(template.format_map(values) for template in templates)


# After a render's numbers are sent, a kernel pauses this long before drawing the figure.
SETTLE_S = 0.08


def say(text: str) -> None:
    """Print `text` under the controls now, not when the render ends (a kernel sends what is
    printed every 0.2 s or at the end of a message: the figure would hold the numbers back).

    In a kernel it then pauses `SETTLE_S`. Otherwise the figure's drawing takes the CPU at
    once, and on a laptop with two cores the Jupyter server and the browser wait for it before
    they show the numbers. The browser suite, when it still timed moves from Python (Playwright's
    round trips included), measured lesson 04's numbers 0.07-0.1 s sooner with the pause
    (0.35/0.21/0.21 s -> 0.27/0.14/0.10 s); its page-clock timing has not re-measured it.
    """
    print(text)
    sys.stdout.flush()
    from IPython import get_ipython

    if get_ipython() is not None:
        time.sleep(SETTLE_S)


BUSY_TEXT = "evaluating the network..."


@contextlib.contextmanager
def working(status: W.Label | None, text: str = BUSY_TEXT) -> Iterator[None]:
    """Within the block, the widget's `status` label says `text` (the learner sees it working)."""
    if status is None:
        yield
        return
    status.value = text
    try:
        yield
    finally:
        status.value = ""


def show_figure() -> None:
    """Show the render's figure under the widget's numbers, whatever matplotlib backend is active.

    In a kernel, `live` has the render draw on figures of its own (`plots.own_figures`): each
    goes out as a PNG (`plt.show()` would show nothing under a non-inline backend such as
    `MPLBACKEND=Agg`). In a plain Python process, pyplot's current figure is shown and closed,
    so moving a slider a hundred times does not keep a hundred figures open.
    """
    from IPython.display import Image, display

    figures = plots.figures_in_hand()
    if figures is None:
        figure = plt.gcf()
        plt.show()
        plt.close(figure)
        return
    for figure in figures:
        png = io.BytesIO()
        figure.savefig(png, format="png", bbox_inches="tight")
        display(Image(png.getvalue()))
    figures.clear()


# One render at a time, across all widgets. JupyterLab (4.4 and later, with ipykernel 7) hands
# some widget messages to a kernel subshell, a thread of its own, so renders can run on two threads
# at once, and matplotlib's mathtext parser, shared by all figures, is not thread-safe (seen in the
# browser tests: log-axis tick labels failing to parse, "Expected end of text", and no figure).
RENDER_LOCK = threading.RLock()


def live(controls: dict[str, W.Widget], render: Callable[..., None], status: W.Label | None = None) -> W.VBox:
    """Sliders above an output area that `render(**values)` redraws whenever a slider moves.

    Renders take turns, and each draws the controls' values as they are when its turn comes, so
    whatever order moves arrive in from the kernel's threads, the last drawing shows the last
    setting. An error in a render is shown in the output area (as `interactive_output` does).
    `status`, a label the render sets while it evaluates a network (`working`), goes between
    the controls and the output.
    """
    out = W.Output()

    def redraw(_change=None) -> None:
        from IPython import get_ipython

        in_a_kernel = get_ipython() is not None
        with RENDER_LOCK, out, plots.own_figures() if in_a_kernel else contextlib.nullcontext():
            out.clear_output(wait=True)
            render(**{name: control.value for name, control in controls.items()})

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    rows = [W.HBox(list(controls.values())[:4]), W.HBox(list(controls.values())[4:])]
    box = W.VBox(rows + ([status] if status is not None else []) + [out])
    box.controls = controls  # render's argument name -> its control (the browser tests drive them)
    box.status = status
    return box


def summary_widget(
    summarize: Callable[..., dict],
    start: dict,
    sliders: dict[str, Slider],
    describe: Callable[[dict], str],
    draw: Callable[[dict], None],
    snap: tuple[str, ...] = (),
) -> W.VBox:
    """Sliders over `summarize`: each move prints `describe(summary)` and draws `draw(summary)`.

    `sliders` maps `summarize`'s argument names to sliders; each starts at its value in
    `summarize(**start)` (the start, clamped). The start's other arguments hold for every move.
    A slider named in `snap` whose value the summary
    replaces by a valid one (groups that divide neither width) is moved there, and that move
    draws, so the numbers are shown once, for the valid value.
    """
    first = summarize(**start)
    controls = {name: spec.build(first[name]) for name, spec in sliders.items()}
    fixed = {name: value for name, value in start.items() if name not in sliders}

    def render(**values) -> None:
        summary = summarize(**fixed, **values)
        for name in snap:
            if summary[name] != values[name]:
                controls[name].value = summary[name]  # this move renders, with the valid value
                return
        say(describe(summary))
        draw(summary)
        show_figure()

    return live(controls, render)
