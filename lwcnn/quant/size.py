"""How many bytes a network's weights take: at 32 or 16 bits, as 2- to 8-bit codes, or shared.

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
  even when symmetric, as ONNX's QuantizeLinear does. Weight sharing: each layer's codebook
  (k float32 centroids) and, with Huffman coding, the code length of each of its k indices
  (`HUFFMAN_LENGTH_BITS` each: a canonical code is rebuilt from its lengths, as in DEFLATE).

Codes narrower than 8 bits are counted packed (a 3-bit code is 3 bits), so the figures are what
the format needs; a runtime that stores each code in a byte uses more.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from lwcnn import checks
from lwcnn.quant.affine import BITS
from lwcnn.quant.fold import fold_network
from lwcnn.quant.sharing import Codebook, coded_bits, share_weights

FLOAT_BITS = (32, 16)  # widths stored as floats (float32, float16): no table
SCALE_BITS = 32  # a float32 scale per channel or tensor
OTHER_BITS = 32  # biases, PReLU slopes, BatchNorms not folded
CENTROID_BITS = 32  # a codebook's centroids are float32
HUFFMAN_LENGTH_BITS = 8  # one code length per codebook entry


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
    """`network` as a module whose tensors are counted: an `nn.Module` as it is, a zoo name or
    any `lwcnn.models` spec (a pruned cfg too) built on the meta device; BatchNorms folded into
    the conv before them when `fold`."""
    if not isinstance(fold, bool):
        raise TypeError(f"fold must be True or False, got {fold!r}")
    if isinstance(network, nn.Module):
        module = network
    else:
        from lwcnn import models

        if not isinstance(network, str | models.NetworkSpec):
            raise TypeError(
                f"network must be an nn.Module, a zoo name or an lwcnn.models spec, got {type(network).__name__}"
            )
        with torch.device("meta"):
            module = models.build(network)
    return fold_network(module) if fold else module


def _tensors(module: nn.Module) -> tuple[dict[str, torch.Tensor], int]:
    """The weights by path, and the number of other elements."""
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
    if bits not in FLOAT_BITS or isinstance(bits, bool):
        try:
            checks.check_int_in("bits", bits, BITS)
        except ValueError:
            raise ValueError(
                f"bits must be 32 or 16 (floats) or an int from 2 to 8 (codes), got {bits!r}"
            ) from None
    if not isinstance(per_channel, bool):
        raise TypeError(f"per_channel must be True or False, got {per_channel!r}")
    weights, others = _tensors(deployed_module(network, fold=fold))
    count = sum(tensor.numel() for tensor in weights.values())
    table = 0
    if bits not in FLOAT_BITS:
        ranges = sum(tensor.shape[0] if per_channel else 1 for tensor in weights.values())
        table = ranges * (SCALE_BITS + bits)
    return ModelSize(count, others, count * bits, table, others * OTHER_BITS)


def share_network(
    model: nn.Module, bits: int, *, linear_bits: int | None = None, fold: bool = True
) -> tuple[nn.Module, dict[str, Codebook]]:
    """Deep Compression's weight sharing over a whole network: a copy of `model` (BatchNorms
    folded first when `fold`) whose every Conv2d and Linear weight is replaced by its k-means
    codebook's centroids (`share_weights`, k = 2^bits; `linear_bits` for the Linear layers,
    default `bits`: the paper used 8 bits for convs and 5 for fully-connected layers), and the
    codebooks by weight path, for `shared_size`."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    shared = deployed_module(model, fold=True) if fold else copy.deepcopy(model)
    codebooks = {}
    with torch.no_grad():
        for path, weight in _tensors(shared)[0].items():
            owner = shared.get_submodule(path.rpartition(".")[0])
            width = bits if linear_bits is None or not isinstance(owner, nn.Linear) else linear_bits
            codebooks[path] = share_weights(weight, width)
            weight.copy_(codebooks[path].weights().to(weight.dtype))
    return shared, codebooks


def shared_size(model: nn.Module, codebooks: Mapping[str, Codebook], *, huffman: bool = True) -> ModelSize:
    """The size of `model` (as `share_network` returned it) stored as its `codebooks`: per layer,
    n indices of log2(k) bits, or Huffman-coded with their own frequencies (`huffman`), plus k
    float32 centroids and, with Huffman, k code lengths. A weight without a codebook counts at
    32 bits."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(huffman, bool):
        raise TypeError(f"huffman must be True or False, got {huffman!r}")
    weights, others = _tensors(model)
    unknown = sorted(set(codebooks) - set(weights))
    if unknown:
        raise ValueError(f"codebooks name weights the model does not have: {', '.join(unknown[:3])}")
    weight_bits = table_bits = 0
    for path, tensor in weights.items():
        book = codebooks.get(path)
        if book is None:
            weight_bits += tensor.numel() * 32
            continue
        if not isinstance(book, Codebook) or book.indices.shape != tensor.shape:
            raise ValueError(f"codebooks[{path!r}] is not a Codebook of a {tuple(tensor.shape)} weight")
        k = len(book.centroids)
        weight_bits += coded_bits(book.indices) if huffman else book.indices.numel() * book.bits
        table_bits += k * CENTROID_BITS + (k * HUFFMAN_LENGTH_BITS if huffman else 0)
    count = sum(tensor.numel() for tensor in weights.values())
    return ModelSize(count, others, weight_bits, table_bits, others * OTHER_BITS)
