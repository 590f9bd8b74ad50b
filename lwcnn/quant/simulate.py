"""A whole network's weights quantized in simulation: what its accuracy owes to the weights' grid.

`quantize_weights` folds the BatchNorms (what a deployed network stores) and replaces every
Conv2d and Linear weight by `fake_quantize` of it: the float values its codes stand for. The
activations stay float, so the accuracy it gives isolates the weights' share of the loss; a
runtime that also quantizes activations (`lwcnn.quant.runtime`) loses a little more.

    >>> import torch
    >>> from torch import nn
    >>> layer = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False))
    >>> with torch.no_grad():
    ...     _ = layer[0].weight.copy_(torch.tensor([0.1, -1.0]).reshape(2, 1, 1, 1))
    >>> weights = quantize_weights(layer, 2, per_channel=False)[0].weight.flatten()
    >>> [round(w, 4) for w in weights.tolist()]   # 2-bit grid: codes -2..1 times 1 / 1.5
    [0.0, -1.3333]
"""

from __future__ import annotations

import torch
from torch import nn

from lwcnn.quant.affine import Scheme, fake_quantize, sqnr_db
from lwcnn.quant.size import deployed_module, split_weights


def weight_scheme(bits: int = 8, *, per_channel: bool = True, symmetric: bool = True) -> Scheme:
    """The scheme of a layer's weights: `bits`, one scale per output channel (dimension 0) or
    per tensor, a symmetric signed grid or an affine one over the weights' own min and max."""
    for name, flag in (("per_channel", per_channel), ("symmetric", symmetric)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    return Scheme(bits, symmetric, axis=0 if per_channel else None, signed=True)


def quantize_weights(
    model: nn.Module, bits: int = 8, *, per_channel: bool = True, symmetric: bool = True, fold: bool = True
) -> nn.Module:
    """A copy of `model` (BatchNorms folded first when `fold`) whose every Conv2d and Linear
    weight is fake-quantized with `weight_scheme(bits, per_channel=..., symmetric=...)`."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    scheme = weight_scheme(bits, per_channel=per_channel, symmetric=symmetric)
    quantized = deployed_module(model, fold=fold)
    with torch.no_grad():
        for weight in split_weights(quantized)[0].values():
            weight.copy_(fake_quantize(weight, scheme).to(weight.dtype))
    return quantized


def weight_sqnr_db(reference: nn.Module, quantized: nn.Module) -> dict[str, float]:
    """Each Conv2d and Linear weight's SQNR in dB, `reference`'s against `quantized`'s, by path
    (pass the folded network, `lwcnn.quant.fold_network(model)`, when `quantized` was folded)."""
    references, approximations = split_weights(reference)[0], split_weights(quantized)[0]
    if {p: t.shape for p, t in references.items()} != {p: t.shape for p, t in approximations.items()}:
        raise ValueError(
            "reference and quantized must be the same network: their weights differ in paths or shapes"
        )
    return {path: sqnr_db(references[path], approximations[path]) for path in approximations}
