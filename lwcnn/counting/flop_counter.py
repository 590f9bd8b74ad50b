"""How torch's FlopCounterMode counts, and the "paper" convention read from it.

FlopCounterMode (torch.utils.flop_counter, torch 2.x) watches aten operators and counts only
those it has a formula for: convolutions and matrix products (and attention kernels), 2 FLOPs
per multiply-add. Normalisation, activations, pooling and element-wise ops cost nothing.

    convention  reproduces                                          unit
    "torch"     FlopCounterMode().get_total_flops()                 FLOPs (2 per MAC)
    "paper"     conv + linear multiply-adds (FlopCounterMode / 2)   MACs

The "paper" convention is what papers' tables mean by "MAdds" or "FLOPs" (MobileNetV2,
Table 3: 300M for MobileNetV2 1.0 at 224): only the multiply-adds of conv and linear layers.

The recorder (recording.py) runs `torch_flops` on every aten operator with a formula while the
model runs, because the formulas need the operator's real arguments; `torch_counts` then reads
those records.

>>> import torchvision
>>> from lwcnn.counting import count_model
>>> count_model(torchvision.models.mobilenet_v2(), convention="paper").macs
300774272
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.utils.flop_counter import flop_registry

from lwcnn.counting.rules import Counts, all_params, numel

if TYPE_CHECKING:  # recording.py imports this file
    from lwcnn.counting.recording import Recording

aten = torch.ops.aten

CONV_OPS = (
    aten.convolution,
    aten._convolution,
    aten.cudnn_convolution,
    aten._slow_conv2d_forward,
    aten.convolution_overrideable,
)


def has_formula(packet: Any) -> bool:
    """Whether FlopCounterMode counts this aten op (it decomposes the others and counts the pieces)."""
    return packet in flop_registry


def aten_category(packet: Any) -> str:
    """ "conv" for a convolution, else "linear": every other op with a formula is a matrix product."""
    return "conv" if packet in CONV_OPS else "linear"


def torch_flops(packet: Any, args: tuple, kwargs: dict, out: Any) -> int:
    """FLOPs FlopCounterMode gives one aten op: 2 per multiply-add of conv/matmul.

    torch.utils.flop_counter: mm `2*m*k*n`, bmm `2*b*m*k*n` (addmm/baddbmm ignore the added
    term), convolution `2 * N * prod(weight) * prod(spatial)`, where spatial is the output's, or
    the input's for a transposed conv. Other registered ops (attention kernels) use torch's own
    formula.
    """
    if packet is aten.convolution:
        x, w, transposed = args[0].shape, args[1].shape, args[6]
        spatial = x[2:] if transposed else out.shape[2:]
        return 2 * x[0] * numel(w) * numel(spatial)
    if packet in (aten.mm, aten.addmm, aten.bmm, aten.baddbmm):
        a, b = args[-2].shape, args[-1].shape
        return 2 * numel(a) * b[-1]
    return int(flop_registry[packet](*args, **kwargs, out_val=out))


def torch_counts(recording: Recording) -> tuple[Counts, int]:
    """FlopCounterMode: only aten convolution and matrix products, 2 FLOPs per multiply-add.

    Returns FLOPs; the "paper" convention halves them (conv + linear multiply-adds).
    """
    counts = [(call.module_name, call.category, call.flops) for call in recording.aten_calls]
    return counts, all_params(recording.model)
