"""Uniform affine quantization, from its formula (Jacob et al. 2018, eq. 1; Krishnamoorthi 2018):

    q = clamp(round(x / scale) + zero_point, q_min, q_max)        x ~ scale * (q - zero_point)

A `Scheme` says how many bits, whether the grid is symmetric around 0, and whether one scale
serves the whole tensor or each index along one axis (per channel). From a tensor's range:

    asymmetric:  scale = (max(x_max, 0) - min(x_min, 0)) / (q_max - q_min),
                 zero_point = clamp(q_min - round(min(x_min, 0) / scale), q_min, q_max)
    symmetric:   scale = max(|x_min|, |x_max|) / ((q_max - q_min) / 2),   zero_point = 0

The range always holds 0, so a zero (padding, a ReLU's output) is exactly representable. The
arithmetic runs in float32 in the order PyTorch's observers and quantize kernels use, so the
scales, zero points and codes are torch's to the bit (tests/test_quant.py):

    >>> x = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    >>> scale, zero_point = qparams(x, Scheme(bits=8))
    >>> round(float(scale), 6), int(zero_point)
    (0.011765, 85)
    >>> quantize(x, scale, zero_point, Scheme(bits=8)).tolist()
    [0, 85, 127, 255]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lwcnn import checks

BITS = range(2, 9)  # the widths a Scheme takes: 2 to 8 bits
EPS = torch.finfo(torch.float32).eps  # the smallest scale (torch's observers' `eps`)


@dataclass(frozen=True)
class Scheme:
    """How a tensor is quantized: `bits` (2-8), a `symmetric` grid or an affine one, and `axis`:
    None for one scale per tensor, an int for one scale per index along that dimension.

    Symmetric grids are signed (`[-2^(b-1), 2^(b-1) - 1]`, zero point 0: weights), affine ones
    unsigned (`[0, 2^b - 1]`: activations after a ReLU), unless `signed` says otherwise; a
    symmetric grid must be signed.
    """

    bits: int = 8
    symmetric: bool = False
    axis: int | None = None
    signed: bool | None = None  # None: signed exactly when symmetric

    def __post_init__(self) -> None:
        checks.check_int_in("bits", self.bits, BITS)
        if not isinstance(self.symmetric, bool):
            raise TypeError(f"symmetric must be True or False, got {self.symmetric!r}")
        if self.axis is not None and (isinstance(self.axis, bool) or not isinstance(self.axis, int)):
            raise TypeError(f"axis must be None (per tensor) or an int (per channel), got {self.axis!r}")
        signed = self.symmetric if self.signed is None else self.signed
        if not isinstance(signed, bool):
            raise TypeError(f"signed must be None, True or False, got {self.signed!r}")
        if self.symmetric and not signed:
            raise ValueError("a symmetric scheme is signed (zero point 0): use signed=True or None")
        object.__setattr__(self, "signed", signed)

    @property
    def quant_min(self) -> int:
        """The smallest code: `-2^(b-1)` signed, 0 unsigned."""
        return -(2 ** (self.bits - 1)) if self.signed else 0

    @property
    def quant_max(self) -> int:
        """The largest code: `2^(b-1) - 1` signed, `2^b - 1` unsigned."""
        return 2 ** (self.bits - 1) - 1 if self.signed else 2**self.bits - 1


def _check_tensor(name: str, x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty: there is no range to quantize")
    return x


def _axis(scheme: Scheme, x: torch.Tensor) -> int | None:
    """The scheme's axis as a non-negative dimension of `x` (None per tensor)."""
    if scheme.axis is None:
        return None
    if not -x.dim() <= scheme.axis < x.dim():
        raise ValueError(
            f"axis={scheme.axis} does not exist in a {x.dim()}-d tensor; allowed: {-x.dim()} to {x.dim() - 1}"
        )
    return scheme.axis % x.dim()


def tensor_range(x: torch.Tensor, scheme: Scheme) -> tuple[torch.Tensor, torch.Tensor]:
    """(min, max) of `x` in float32: scalars per tensor, one per index along the scheme's axis."""
    x = _check_tensor("x", x).detach().to(torch.float32)
    axis = _axis(scheme, x)
    if axis is None:
        return x.min(), x.max()
    rows = x.movedim(axis, 0).reshape(x.shape[axis], -1)
    return rows.min(dim=1).values, rows.max(dim=1).values


def qparams_from_range(min_val, max_val, scheme: Scheme) -> tuple[torch.Tensor, torch.Tensor]:
    """`(scale, zero_point)` for values in [min_val, max_val] (tensors of one shape, or floats):
    the module docstring's formulas, in float32, widened to hold 0; scale at least `EPS`."""
    low = torch.as_tensor(min_val, dtype=torch.float32)
    high = torch.as_tensor(max_val, dtype=torch.float32)
    if low.shape != high.shape:
        raise ValueError(
            f"min_val and max_val must have one shape, got {tuple(low.shape)} and {tuple(high.shape)}"
        )
    if not (torch.isfinite(low).all() and torch.isfinite(high).all()) or bool((low > high).any()):
        raise ValueError("the range must be finite with min_val <= max_val")
    low, high = torch.clamp(low, max=0.0), torch.clamp(high, min=0.0)  # the range holds 0
    q_min, q_max = scheme.quant_min, scheme.quant_max
    if scheme.symmetric:
        scale = torch.maximum(-low, high) / (float(q_max - q_min) / 2)
        scale = torch.clamp(scale, min=EPS)
        return scale, torch.zeros(scale.shape, dtype=torch.int64)
    scale = torch.clamp((high - low) / float(q_max - q_min), min=EPS)
    zero_point = q_min - torch.round(low / scale).to(torch.int64)
    return scale, torch.clamp(zero_point, q_min, q_max)


def qparams(x: torch.Tensor, scheme: Scheme) -> tuple[torch.Tensor, torch.Tensor]:
    """`(scale, zero_point)` for `x` from its min and max (`tensor_range`): what torch's MinMax and
    per-channel MinMax observers compute."""
    return qparams_from_range(*tensor_range(x, scheme), scheme)


def _per_index(values, x: torch.Tensor, axis: int | None, dtype: torch.dtype) -> torch.Tensor:
    """`values` (a scalar, or one per index along `axis`) shaped to broadcast against `x`."""
    values = torch.as_tensor(values, dtype=dtype)
    if axis is None:
        if values.numel() != 1:
            raise ValueError(f"a per-tensor scheme takes one scale and zero point, got {values.numel()}")
        return values.reshape(())
    if values.numel() != x.shape[axis]:
        raise ValueError(
            f"axis {axis} has {x.shape[axis]} indices but {values.numel()} scales or zero points came"
        )
    shape = [1] * x.dim()
    shape[axis] = -1
    return values.reshape(shape)


def _checked_params(x: torch.Tensor, scale, zero_point, scheme: Scheme) -> tuple[torch.Tensor, torch.Tensor]:
    axis = _axis(scheme, x)
    scale = _per_index(scale, x, axis, torch.float32)
    if not bool((scale > 0).all()) or not bool(torch.isfinite(scale).all()):
        raise ValueError("scale must be positive and finite (a scale of 0 maps everything to one code)")
    zero_point = _per_index(zero_point, x, axis, torch.int64)
    if bool((zero_point < scheme.quant_min).any() or (zero_point > scheme.quant_max).any()):
        raise ValueError(f"zero_point must lie in [{scheme.quant_min}, {scheme.quant_max}] for this scheme")
    return scale, zero_point


def quantize(x: torch.Tensor, scale, zero_point, scheme: Scheme) -> torch.Tensor:
    """The integer codes `clamp(round(x * (1 / scale)) + zero_point, q_min, q_max)` (int64).

    `round` is to nearest, ties to even, and `1 / scale` is taken in float32 first, as torch's
    kernels do: `x / scale` rounds differently for a few values in a million.
    """
    x = _check_tensor("x", x).detach().to(torch.float32)
    scale, zero_point = _checked_params(x, scale, zero_point, scheme)
    # clamp before the cast: a float past int64's range (or inf) casts to an arbitrary integer
    codes = torch.clamp(torch.round(x * (1.0 / scale)) + zero_point, scheme.quant_min, scheme.quant_max)
    return codes.to(torch.int64)


def dequantize(codes: torch.Tensor, scale, zero_point, scheme: Scheme) -> torch.Tensor:
    """The values the codes stand for: `scale * (q - zero_point)` (float32)."""
    codes = _check_tensor("codes", codes)
    scale, zero_point = _checked_params(codes, scale, zero_point, scheme)
    return (codes.to(torch.int64) - zero_point).to(torch.float32) * scale


def fake_quantize(x: torch.Tensor, scheme: Scheme, scale=None, zero_point=None) -> torch.Tensor:
    """`x` quantized and dequantized at once: the float tensor a quantized network computes with
    (quantization-aware training's forward). Scale and zero point default to `qparams(x, scheme)`."""
    if (scale is None) != (zero_point is None):
        raise ValueError("give both scale and zero_point, or neither (then they come from x's range)")
    if scale is None:
        scale, zero_point = qparams(x, scheme)
    return dequantize(quantize(x, scale, zero_point, scheme), scale, zero_point, scheme)


def sqnr_db(x: torch.Tensor, approximation: torch.Tensor) -> float:
    """Signal-to-quantization-noise ratio in dB: `10 log10(sum x^2 / sum (x - x_hat)^2)`.

    About 6 dB per bit for a signal that fills the grid evenly; `inf` when nothing was lost.
    """
    x = _check_tensor("x", x).detach().to(torch.float64)
    approximation = _check_tensor("approximation", approximation).detach().to(torch.float64)
    if x.shape != approximation.shape:
        raise ValueError(
            f"x and approximation must have one shape, got {tuple(x.shape)} and {tuple(approximation.shape)}"
        )
    noise = float(((x - approximation) ** 2).sum())
    signal = float((x**2).sum())
    if noise == 0:
        return math.inf
    if signal == 0:
        return -math.inf
    return 10 * math.log10(signal / noise)
