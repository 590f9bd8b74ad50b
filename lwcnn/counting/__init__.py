"""Count a model's cost the way each popular counter does, from one recorded forward pass.

The four popular counters disagree on the same model because they count different things
(COURSE_BRIEF, "four popular counters disagree"). `count_model` reproduces each one's total
exactly, and splits it by layer and by kind of operation so a notebook can show *why*:

    convention  reproduces                                         unit the tool reports
    "paper"     conv + linear multiply-adds (FlopCounterMode / 2)  MACs
    "thop"      thop.profile(model, inputs=(x,))                   MACs ("ops")
    "fvcore"    fvcore.nn.FlopCountAnalysis(model, x).total()      MACs ("flops", 1 per FMA)
    "ptflops"   ptflops.get_model_complexity_info(..., backend="pytorch")  MACs
    "torch"     torch.utils.flop_counter.FlopCounterMode           FLOPs (2 per MAC)

One file per concern, each read on its own:

    recording.py     one forward pass: module calls, torch-function calls, aten ops
    rules.py         what the rules share: kinds of operation, rule tables, parameter counts
    thop.py          how thop counts               fvcore.py    how fvcore counts
    ptflops.py       how ptflops counts            flop_counter.py  FlopCounterMode and "paper"
    report.py        CountReport, count_model, compare_conventions, difference, run_tool

Each convention is a set of rules over the recorded pass, written from the tools' sources
(thop 0.1.1.post2209072238, fvcore 0.1.5.post20221221, ptflops 0.7.4, torch 2.x) and checked
against the tools themselves in tests/test_counting.py. All conventions count the model in eval
mode, the way each tool is meant to be run (thop and ptflops switch to eval themselves).

Known limits: ops nested *inside* another torch function (e.g. the softmax inside
`F.multi_head_attention_forward`) are attributed to the outer call, so ptflops rules do not see
them (fvcore's do, for its matmul and conv handles); ptflops also misses functions imported by
name before it patches them. While a function mode is active PyTorch skips the fused eval
"fast path" of nn.MultiheadAttention and nn.TransformerEncoderLayer, so "paper" and "torch" count
their matmuls where FlopCounterMode under no_grad sees one fused kernel and counts 0.

>>> import torchvision
>>> count_model(torchvision.models.mobilenet_v2(), convention="thop").macs
327486720
"""

from lwcnn.counting.report import (
    CONVENTIONS,
    CountReport,
    LayerRow,
    ToolCount,
    compare_conventions,
    count_model,
    difference,
    run_tool,
)
from lwcnn.counting.rules import CATEGORIES, Counts, Shape

__all__ = [
    "CATEGORIES",
    "CONVENTIONS",
    "CountReport",
    "Counts",
    "LayerRow",
    "Shape",
    "ToolCount",
    "compare_conventions",
    "count_model",
    "difference",
    "run_tool",
]
