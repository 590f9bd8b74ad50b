"""The lessons' sliders. Each widget is a thin view over a plain summary function.

The summary functions (`conv_layer_summary`, `separable_summary`, ...) take slider values, clamp
them to valid ones and return numbers from `lwcnn.cost` and `lwcnn.models`; they are what the
tests check. The `*_widget` functions only wire ipywidgets controls to a summary and its plot
(lessons 01 to 06 and 13 declare their sliders, text and figure for `summary_widget`).

Each lesson's widget lives beside its lesson (`lesson01` ... `lesson14`, as in
`lwcnn.exercises`); what they share (clamping, sliders, the live re-render, the describe
texts' `format_lines`) is in `controls`.
Every public name is here too:

    >>> from lwcnn.widgets import conv_layer_summary
    >>> conv_layer_summary(56, 56, 64, 64, 3)["macs"]
    115605504
"""

from lwcnn import cost
from lwcnn.widgets.controls import (
    BUSY_TEXT,
    RENDER_LOCK,
    Slider,
    clamp,
    clamp_float,
    float_slider,
    format_lines,
    live,
    nearest_odd,
    say,
    show_figure,
    slider,
    summary_widget,
    working,
)
from lwcnn.widgets.lesson01 import conv_cost_widget, conv_layer_summary, describe_conv, valid_groups
from lwcnn.widgets.lesson02 import describe_separable, separable_ratio_widget, separable_summary
from lwcnn.widgets.lesson03 import (
    V1_BASELINE_RESOLUTION,
    describe_width_resolution,
    width_resolution_grid,
    width_resolution_summary,
    width_resolution_widget,
)
from lwcnn.widgets.lesson04 import (
    describe_kernel_choice,
    kernel_choice_summary,
    kernel_choice_widget,
    kernel_crossover,
)
from lwcnn.widgets.lesson05 import describe_expansion, expansion_summary, expansion_widget
from lwcnn.widgets.lesson06 import describe_se, se_summary, se_widget
from lwcnn.widgets.lesson08 import SCORE_CHOICES, describe_slimming, slimming_summary, slimming_widget
from lwcnn.widgets.lesson09 import describe_reward, reward_summary, reward_widget
from lwcnn.widgets.lesson10 import GUMBEL_TOY_LOGITS, describe_gumbel, gumbel_summary, gumbel_widget
from lwcnn.widgets.lesson11 import (
    compound_summary,
    compound_widget,
    describe_compound,
    describe_tinynet,
    tinynet_summary,
    tinynet_widget,
)
from lwcnn.widgets.lesson12 import describe_quant_grid, layer_choices, quant_grid_summary, quant_grid_widget
from lwcnn.widgets.lesson13 import describe_fire, fire_summary, fire_widget
from lwcnn.widgets.lesson14 import describe_predictor, predictor_scatter, predictor_summary, predictor_widget

__all__ = [
    "describe_quant_grid",
    "layer_choices",
    "quant_grid_summary",
    "quant_grid_widget",
    "describe_fire",
    "fire_summary",
    "fire_widget",
    "describe_predictor",
    "predictor_scatter",
    "predictor_summary",
    "predictor_widget",
    "BUSY_TEXT",
    "GUMBEL_TOY_LOGITS",
    "RENDER_LOCK",
    "SCORE_CHOICES",
    "Slider",
    "V1_BASELINE_RESOLUTION",
    "clamp",
    "clamp_float",
    "compound_summary",
    "compound_widget",
    "conv_cost_widget",
    "conv_layer_summary",
    "cost",
    "describe_compound",
    "describe_conv",
    "describe_expansion",
    "describe_gumbel",
    "describe_kernel_choice",
    "describe_reward",
    "describe_se",
    "describe_separable",
    "describe_slimming",
    "describe_tinynet",
    "describe_width_resolution",
    "expansion_summary",
    "expansion_widget",
    "float_slider",
    "format_lines",
    "gumbel_summary",
    "gumbel_widget",
    "kernel_choice_summary",
    "kernel_choice_widget",
    "kernel_crossover",
    "live",
    "nearest_odd",
    "reward_summary",
    "reward_widget",
    "say",
    "se_summary",
    "se_widget",
    "separable_ratio_widget",
    "separable_summary",
    "show_figure",
    "slider",
    "slimming_summary",
    "slimming_widget",
    "summary_widget",
    "tinynet_summary",
    "tinynet_widget",
    "valid_groups",
    "width_resolution_grid",
    "width_resolution_summary",
    "width_resolution_widget",
    "working",
]
