"""A whole network in simulated integer arithmetic: weights *and* activations on a grid.

An integer conv or linear layer multiplies integer weights by integer inputs, so both must be on
a grid. `simulate_int` hands back a copy of a network (BatchNorms folded, as deployed) whose
every Conv2d and Linear is a `QuantizedLayer`: its weight fake-quantized per output channel (or
per tensor) from its own range, and its input fake-quantized per tensor on an unsigned affine
grid (as ONNX Runtime's and PyTorch's uint8 activations) whose range an observer sets.

- **Post-training quantization (PTQ)**: `calibrate(model, batches)` runs a few batches with
  quantization off and keeps each input's min and max; from then on the network computes on the
  grid. Nothing is trained.
- **Quantization-aware training (QAT)**: train the calibrated network as usual (`lwcnn.train.train`).
  The forward pass computes on the grid; the backward pass goes *straight through* the rounding
  (its gradient is 1 inside the grid's range and 0 where the value was clipped), so the float
  weights learn to sit well on the grid. In training mode the input ranges follow an exponential
  moving average of each batch's min and max (`momentum`), as PyTorch's QAT observers do.

    >>> import torch
    >>> from torch import nn
    >>> model = simulate_int(nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU(), nn.Conv2d(2, 2, 1)), 8, 8)
    >>> calibrate(model, [torch.linspace(-1.0, 3.0, 16).reshape(1, 1, 4, 4)])
    >>> [round(float(v), 3) for v in model[0].input_range]   # the first layer's input range
    [-1.0, 3.0]
    >>> model(torch.zeros(1, 1, 4, 4)).shape
    torch.Size([1, 2, 4, 4])
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from lwcnn import checks
from lwcnn.quant.affine import BITS, Scheme, qparams, qparams_from_range
from lwcnn.quant.simulate import weight_scheme
from lwcnn.quant.size import deployed_module

MOMENTUM = 0.01  # the share of each training batch's range in the moving average (PyTorch's QAT default)


def straight_through(x: torch.Tensor, scheme: Scheme, scale, zero_point) -> torch.Tensor:
    """`fake_quantize(x, scheme, scale, zero_point)` forward; backward, the gradient passes
    unchanged where `x`'s code lies inside the grid and is 0 where it was clipped (the
    straight-through estimator, as torch's `fake_quantize_per_*_affine`).

    The same float32 steps as `fake_quantize`, `(clamp(round(x * (1/scale)) + z) - z) * scale`,
    kept in float (the codes are whole numbers below 2^24, so nothing rounds differently) because
    that is several times faster than going through integer codes; tests/test_quant_qat.py
    holds the two, and torch's kernels, equal bit for bit.
    """
    shape = [1] * x.dim()
    if scheme.axis is not None:
        shape[scheme.axis] = -1
    scale = torch.as_tensor(scale, dtype=torch.float32).reshape(shape)
    zero = torch.as_tensor(zero_point, dtype=torch.float32).reshape(shape)
    with torch.no_grad():
        codes = (x.detach().float() * (1.0 / scale)).round_().add_(zero)
        inside = (codes >= scheme.quant_min) & (codes <= scheme.quant_max) if x.requires_grad else None
        grid = codes.clamp_(scheme.quant_min, scheme.quant_max).sub_(zero).mul_(scale).to(x.dtype)
    if inside is None:
        return grid
    return grid + (x - x.detach()) * inside


class QuantizedLayer(nn.Module):
    """A Conv2d or Linear computing on grids: its input per tensor with `activation_scheme`
    (range from `input_range`, set by calibration or, in training, a moving average), its weight
    with `weight_scheme` from the weight's own range. Bias stays float (a runtime keeps it in
    int32 at the product's scale, which loses nothing worth showing)."""

    def __init__(self, layer: nn.Conv2d | nn.Linear, weight_scheme: Scheme, activation_scheme: Scheme):
        super().__init__()
        if not isinstance(layer, nn.Conv2d | nn.Linear):
            raise TypeError(f"layer must be an nn.Conv2d or nn.Linear, got {type(layer).__name__}")
        self.layer, self.weight_scheme, self.activation_scheme = layer, weight_scheme, activation_scheme
        self.register_buffer("input_range", torch.tensor([float("inf"), float("-inf")]))
        self.observing = False  # calibration: record the range, compute in float
        self._frozen: tuple[tuple, torch.Tensor] | None = None  # (weight's key, its grid) in eval

    def _observe(self, x: torch.Tensor) -> None:
        low, high = x.detach().min().float(), x.detach().max().float()
        if self.observing or not torch.isfinite(self.input_range).all():
            self.input_range = torch.stack(
                [torch.minimum(self.input_range[0], low), torch.maximum(self.input_range[1], high)]
            )
        else:  # training: a moving average, as PyTorch's QAT observers
            self.input_range = self.input_range + MOMENTUM * (torch.stack([low, high]) - self.input_range)

    def quantized_weight(self) -> torch.Tensor:
        """The weight on its grid: recomputed in training mode, computed once and kept (without
        gradient) in eval mode until the weight changes."""
        weight = self.layer.weight
        # which tensor, which storage, which write: a new Parameter, `.double()` or `.to(device)`
        # (new storage, version unchanged) and an in-place update (version bumped) all recompute
        key = (id(weight), weight.data_ptr(), weight.dtype, weight.device, weight._version)
        if not self.training and self._frozen is not None and self._frozen[0] == key:
            return self._frozen[1]
        scale, zero_point = qparams(weight.detach(), self.weight_scheme)
        quantized = straight_through(weight, self.weight_scheme, scale, zero_point)
        if self.training:
            self._frozen = None
            return quantized
        self._frozen = (key, quantized.detach())
        return self._frozen[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observing or self.training:
            self._observe(x)
        if self.observing:
            return self.layer(x)
        if not torch.isfinite(self.input_range).all():
            raise RuntimeError("this layer has no input range yet: run calibrate(model, batches) first")
        scale, zero_point = qparams_from_range(
            self.input_range[0], self.input_range[1], self.activation_scheme
        )
        x = straight_through(x, self.activation_scheme, scale, zero_point)
        weight = self.quantized_weight()
        if isinstance(self.layer, nn.Linear):
            return F.linear(x, weight, self.layer.bias)
        return self.layer._conv_forward(x, weight, self.layer.bias)


def simulate_int(
    model: nn.Module,
    weight_bits: int = 8,
    activation_bits: int = 8,
    *,
    per_channel: bool = True,
    fold: bool = True,
) -> nn.Module:
    """A copy of `model` (BatchNorms folded when `fold`) whose every Conv2d and Linear is a
    `QuantizedLayer`: weights on a symmetric `weight_bits` grid (per output channel when
    `per_channel`), inputs on an unsigned affine `activation_bits` grid per tensor.
    Run `calibrate` before using it."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    checks.check_int_in("weight_bits", weight_bits, BITS)
    checks.check_int_in("activation_bits", activation_bits, BITS)
    weights = weight_scheme(weight_bits, per_channel=per_channel, symmetric=True)
    activations = Scheme(activation_bits, symmetric=False)
    simulated = deployed_module(model, fold=fold)
    for _, child in list(simulated.named_modules()):
        for attribute, layer in list(child.named_children()):
            if isinstance(layer, nn.Conv2d | nn.Linear):
                setattr(child, attribute, QuantizedLayer(layer, weights, activations))
    return simulated


def quantized_layers(model: nn.Module) -> dict[str, QuantizedLayer]:
    """The `QuantizedLayer`s of a `simulate_int` network, by path."""
    layers = {path: m for path, m in model.named_modules() if isinstance(m, QuantizedLayer)}
    if not layers:
        raise ValueError("model has no QuantizedLayer: make it with simulate_int(model) first")
    return layers


@torch.no_grad()
def calibrate(model: nn.Module, batches: Iterable[torch.Tensor]) -> None:
    """Post-training calibration: forget the input ranges, run `batches` through `model` in
    float (eval mode) and keep each quantized layer's input min and max."""
    layers = quantized_layers(model)
    for layer in layers.values():
        layer.input_range.fill_(float("inf"))
        layer.input_range[1] = float("-inf")
        layer.observing = True
    was_training = model.training
    model.eval()
    count = 0
    try:
        for images in batches:
            model(images)
            count += 1
    finally:
        for layer in layers.values():
            layer.observing = False
        model.train(was_training)
    if count == 0:
        raise ValueError("batches is empty: calibration needs at least one batch")


def input_ranges(model: nn.Module) -> dict[str, tuple[float, float]]:
    """Each quantized layer's input range `(min, max)`, by path (after `calibrate`)."""
    return {
        path: tuple(float(v) for v in layer.input_range) for path, layer in quantized_layers(model).items()
    }
