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

from lwcnn import checks
from lwcnn.quant.affine import BITS

MAX_ITERATIONS = 300  # Lloyd's iterations before k-means stops, if assignments still move


@dataclass(frozen=True)
class Codebook:
    """A layer's shared weights: `centroids` (k float32 values) and `indices` (for each weight,
    the index of its centroid, in the weights' shape), from `share_weights`."""

    centroids: torch.Tensor
    indices: torch.Tensor
    iterations: int  # Lloyd's iterations run until no assignment changed (or MAX_ITERATIONS)

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
