"""Deep Compression's last two stages (Han, Mao and Dally 2016): weight sharing, then Huffman coding.

Weight sharing clusters a layer's weights into `k = 2^bits` values with k-means (Sec. 3.1):
each weight is then stored as a `bits`-bit index into the layer's codebook of k floats. The
centroids start linearly spaced between the layer's smallest and largest weight, the
initialisation the paper found best: it keeps the few large weights, which matter most, their
own centroids. Storing n weights of b bits this way takes `n * log2(k) + k * b` bits (eq. 1).

Huffman coding then stores each index in a number of bits that shrinks with how often it occurs
(Sec. 4): the most common indices get the shortest codes. `huffman_lengths` gives each symbol's
code length; `coded_bits` the exact size of a sequence so coded.

    >>> book = share_weights(torch.tensor([0.0, 0.1, 0.9, 1.0]), bits=1)
    >>> book.centroids.tolist(), book.indices.tolist()
    ([0.05000000074505806, 0.949999988079071], [0, 0, 1, 1])
    >>> huffman_lengths({"a": 5, "b": 2, "c": 1})
    {'a': 1, 'b': 2, 'c': 2}
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from lwcnn import checks
from lwcnn.quant.affine import BITS
from lwcnn.quant.size import OTHER_BITS, ModelSize, deployed_module, split_weights

MAX_ITERATIONS = 300  # Lloyd's iterations before k-means stops, if assignments still move
CENTROID_BITS = 32  # a codebook's centroids are float32
HUFFMAN_LENGTH_BITS = 8  # one code length per codebook entry: a canonical code is rebuilt from them


@dataclass(frozen=True)
class Codebook:
    """A layer's shared weights: `centroids` (k float32 values) and `indices` (for each weight,
    the index of its centroid, in the weights' shape), from `share_weights`."""

    centroids: torch.Tensor
    indices: torch.Tensor
    iterations: int  # Lloyd's iterations run until no assignment changed (or MAX_ITERATIONS); 0 from `untie`

    @property
    def bits(self) -> int:
        """Bits per index: `log2(k)`."""
        return (len(self.centroids) - 1).bit_length()

    def weights(self) -> torch.Tensor:
        """The shared weights: each weight replaced by its centroid."""
        return self.centroids[self.indices]

    def size_bits(self, weight_bits: int = 32) -> int:
        """`n * log2(k) + k * b`: the indices plus the codebook of `weight_bits`-bit floats (eq. 1)."""
        return self.indices.numel() * self.bits + len(self.centroids) * weight_bits


def share_weights(weights: torch.Tensor, bits: int) -> Codebook:
    """k-means with `k = 2^bits` clusters over `weights` (any shape), from linearly spaced centroids.

    Lloyd's algorithm in float64: assign each weight to its nearest centroid (a weight halfway
    between two goes to the lower), move each centroid to the mean of its weights (a centroid with none stays put), until
    no assignment changes. Deterministic: no random start.
    """
    if not isinstance(weights, torch.Tensor):
        raise TypeError(f"weights must be a torch.Tensor, got {type(weights).__name__}")
    if weights.numel() == 0:
        raise ValueError("weights is empty: there is nothing to cluster")
    checks.check_int_in("bits", bits, range(1, BITS.stop))
    values = weights.detach().reshape(-1).to(torch.float64)
    if not bool(torch.isfinite(values).all()):
        raise ValueError("weights must be finite")
    centroids = torch.linspace(float(values.min()), float(values.max()), 2**bits, dtype=torch.float64)
    assigned, iterations = None, 0
    while iterations < MAX_ITERATIONS:
        iterations += 1
        # in one dimension the centroids stay in order, so the nearest one is found between the
        # midpoints: O(n log k) time and O(n + k) memory, where a distance table would be n * k
        nearest = torch.searchsorted((centroids[1:] + centroids[:-1]) / 2, values)
        if assigned is not None and torch.equal(nearest, assigned):
            break
        assigned = nearest
        sums = torch.zeros_like(centroids).index_add_(0, assigned, values)
        counts = torch.bincount(assigned, minlength=len(centroids)).to(torch.float64)
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
    return Codebook(centroids.to(torch.float32), assigned.reshape(weights.shape), iterations)


def huffman_lengths(counts: Mapping[Hashable, int]) -> dict[Hashable, int]:
    """Each symbol's Huffman code length in bits, from how often it occurs (`{symbol: count}`).

    Repeatedly merge the two least frequent subtrees (ties by first appearance); a symbol's
    length is its depth. A lone symbol still takes 1 bit. Symbols with count 0 are left out.
    """
    if not isinstance(counts, Mapping):
        raise TypeError(f"counts must be a mapping of symbol -> count, got {type(counts).__name__}")
    for symbol, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"the count of {symbol!r} must be a non-negative int, got {count!r}")
    present = [(count, symbol) for symbol, count in counts.items() if count > 0]
    if not present:
        raise ValueError("counts holds no symbol that occurs: there is nothing to code")
    if len(present) == 1:
        return {present[0][1]: 1}
    order = itertools.count()  # ties between equal counts go to the earlier subtree
    heap = [(count, next(order), [symbol]) for count, symbol in present]
    heapq.heapify(heap)
    lengths = dict.fromkeys((symbol for _, symbol in present), 0)
    while len(heap) > 1:
        count_a, _, symbols_a = heapq.heappop(heap)
        count_b, _, symbols_b = heapq.heappop(heap)
        for symbol in symbols_a + symbols_b:  # one level deeper under the new node
            lengths[symbol] += 1
        heapq.heappush(heap, (count_a + count_b, next(order), symbols_a + symbols_b))
    return lengths


def coded_bits(symbols: Iterable[Hashable] | torch.Tensor) -> int:
    """The exact size in bits of `symbols` Huffman-coded with their own frequencies (the code
    table itself not counted): `sum over symbols of count * length`."""
    if isinstance(symbols, torch.Tensor):
        symbols = symbols.reshape(-1).tolist()
    counts = Counter(symbols)
    lengths = huffman_lengths(counts)
    return sum(counts[symbol] * length for symbol, length in lengths.items())


# --- a whole network ----------------------------------------------------------------------------


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
    shared = deployed_module(model, fold=fold)
    codebooks = {}
    with torch.no_grad():
        for path, weight in split_weights(shared)[0].items():
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
    weights, others = split_weights(model)
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


class _TiedToCodebook(nn.Module):
    """The parametrization `weight = centroids[indices]`: the layer's trainable tensor is its k
    centroids, and each weight reads the centroid its fixed index names."""

    def __init__(self, book: Codebook):
        super().__init__()
        self.register_buffer("indices", book.indices.clone())
        self._centroids = book.centroids.clone()  # what `right_inverse` gives when tying

    def forward(self, centroids: torch.Tensor) -> torch.Tensor:
        return centroids[self.indices]

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        return self._centroids.to(weight.device, weight.dtype)


def tie_to_codebooks(model: nn.Module, codebooks: Mapping[str, Codebook]) -> nn.Module:
    """Tie, in place, each weight of `model` that `codebooks` names to its codebook, for Deep
    Compression's centroid fine-tuning (Sec. 3.3): the weight becomes `centroids[indices]` of a
    trainable `centroids` tensor, so any training loop (`lwcnn.train.train`) moves each centroid
    by the sum of its weights' gradients while the indices stay. `untie` ends it. Returns `model`."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    weights = split_weights(model)[0]
    for path, book in codebooks.items():
        if path not in weights:
            raise ValueError(f"codebooks name a weight the model does not have: {path}")
        if not isinstance(book, Codebook) or book.indices.shape != weights[path].shape:
            raise ValueError(
                f"codebooks[{path!r}] is not a Codebook of a {tuple(weights[path].shape)} weight"
            )
    for path, book in codebooks.items():
        owner, _, name = path.rpartition(".")
        parametrize.register_parametrization(
            model.get_submodule(owner), name, _TiedToCodebook(book), unsafe=True
        )
    return model


def untie(model: nn.Module) -> dict[str, Codebook]:
    """End `tie_to_codebooks`, in place: each tied weight becomes a plain weight holding its
    centroids again. Returns the codebooks with their (fine-tuned) centroids, by weight path."""
    books = {}
    for path, module in list(model.named_modules()):
        if not parametrize.is_parametrized(module, "weight"):
            continue
        tied = module.parametrizations.weight
        if not isinstance(tied[0], _TiedToCodebook):
            continue
        centroids = tied.original.detach().to(torch.float32).clone()
        books[f"{path}.weight" if path else "weight"] = Codebook(centroids, tied[0].indices.clone(), 0)
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return books
