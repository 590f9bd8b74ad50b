"""How many bytes a network's weights take: at 32 or 16 bits, or as 2- to 8-bit codes.

What a deployed file must hold, counted from the tensors themselves (a spec or a name is built
on PyTorch's "meta" device: shapes, no memory):

- **Weights**: every `Conv2d` and `Linear` weight, the tensors a quantizer turns into codes.
- **Others**, kept at 32 bits: biases (int32 in an int8 runtime, the same 32 bits), PReLU slopes,
  and the BatchNorms that are not folded. With `fold=True` (the default: what a deployed network
  runs, `lwcnn.quant.fold_network`) a BatchNorm after a conv vanishes into the conv's weight
  and a bias; without it each BatchNorm keeps gamma, beta and its two running statistics.
  BatchNorm's `num_batches_tracked` is training bookkeeping and not counted.
- **Tables**: what decodes the weights. Uniform `bits` <= 8: one float32 scale and one zero point
  per output channel (`per_channel`) or per tensor, the zero point stored at the codes' width
  even when symmetric, as ONNX's QuantizeLinear does. (Weight sharing's codebooks and Huffman
  tables: `lwcnn.quant.sharing.shared_size`.)

Codes narrower than 8 bits are counted packed (a 3-bit code is 3 bits), so the figures are what
the format needs; a runtime that stores each code in a byte uses more.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from lwcnn import checks
from lwcnn.quant.affine import BITS
from lwcnn.quant.fold import fold_network

FLOAT_BITS = (32, 16)  # widths stored as floats (float32, float16): no table
SCALE_BITS = 32  # a float32 scale per channel or tensor
OTHER_BITS = 32  # biases, PReLU slopes, BatchNorms not folded


@dataclass(frozen=True)
class ModelSize:
    """A network's size, split as the module docstring counts it: element counts and bits."""

    weights: int  # elements of the Conv2d and Linear weights
    others: int  # elements kept at 32 bits
    weight_bits: int  # the weights as stored: floats, codes, or (Huffman-coded) indices
    table_bits: int  # scales and zero points, or codebooks and Huffman code lengths
    other_bits: int  # others * 32

    @property
    def bits(self) -> int:
        return self.weight_bits + self.table_bits + self.other_bits

    @property
    def bytes(self) -> int:
        """The whole size in bytes, rounded up."""
        return -(-self.bits // 8)

    @property
    def megabytes(self) -> float:
        """In MB (10^6 bytes), as the papers quote model sizes."""
        return self.bytes / 1e6

    def ratio_to(self, other: ModelSize) -> float:
        """How many times smaller this is than `other` (`other.bits / self.bits`)."""
        if not isinstance(other, ModelSize):
            raise TypeError(f"other must be a ModelSize, got {type(other).__name__}")
        return other.bits / self.bits


def deployed_module(network, *, fold: bool = True) -> nn.Module:
    """`network` as a module of its own to count or change: a copy of an `nn.Module`, or a zoo
    name or any `lwcnn.models` spec (a pruned cfg too) built on the meta device; BatchNorms
    folded into the conv before them when `fold` (`fold_network`, itself a copy)."""
    if not isinstance(fold, bool):
        raise TypeError(f"fold must be True or False, got {fold!r}")
    if isinstance(network, nn.Module):
        return fold_network(network) if fold else copy.deepcopy(network)
    from lwcnn import models

    if not isinstance(network, str | models.NetworkSpec):
        raise TypeError(
            f"network must be an nn.Module, a zoo name or an lwcnn.models spec, got {type(network).__name__}"
        )
    with torch.device("meta"):
        module = models.build(network)
    return fold_network(module) if fold else module


def split_weights(module: nn.Module) -> tuple[dict[str, torch.Tensor], int]:
    """`module`'s Conv2d and Linear weights by path (what a quantizer codes), and how many other
    elements it stores (biases, slopes, BatchNorms; `num_batches_tracked` left out)."""
    weights, others = {}, 0
    for path, child in module.named_modules():
        prefix = f"{path}." if path else ""
        for name, tensor in [*child.named_parameters(recurse=False), *child.named_buffers(recurse=False)]:
            if tensor is None or name == "num_batches_tracked":
                continue
            if name == "weight" and isinstance(child, nn.Conv2d | nn.Linear):
                weights[prefix + name] = tensor
            else:
                others += tensor.numel()
    return weights, others


def model_size(network, bits: int = 32, *, per_channel: bool = True, fold: bool = True) -> ModelSize:
    """The size of `network` with its weights at `bits`: 32 or 16 (floats) or 2-8 (integer codes
    with a float32 scale and a zero point per output channel, or per tensor without
    `per_channel`). `network`: an `nn.Module`, a zoo name, or an `lwcnn.models` spec or pruned cfg.

    >>> size = model_size("mobilenet_v2")
    >>> size.weights, size.others              # conv and linear weights; biases once BN is folded
    (3469760, 18056)
    >>> round(model_size("mobilenet_v2", 8).ratio_to(size), 2)   # int8 codes, per-channel scales
    3.84
    """
    if type(bits) is not int or bits not in FLOAT_BITS:  # 32.0 is no more a width than 8.0 is
        try:
            checks.check_int_in("bits", bits, BITS)
        except ValueError:
            raise ValueError(
                f"bits must be 32 or 16 (floats) or an int from 2 to 8 (codes), got {bits!r}"
            ) from None
    if not isinstance(per_channel, bool):
        raise TypeError(f"per_channel must be True or False, got {per_channel!r}")
    weights, others = split_weights(deployed_module(network, fold=fold))
    count = sum(tensor.numel() for tensor in weights.values())
    table = 0
    if bits not in FLOAT_BITS:
        ranges = sum(tensor.shape[0] if per_channel else 1 for tensor in weights.values())
        table = ranges * (SCALE_BITS + bits)
    return ModelSize(count, others, count * bits, table, others * OTHER_BITS)
