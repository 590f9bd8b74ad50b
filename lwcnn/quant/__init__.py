"""Quantization, from the formula up: how a float tensor becomes 2- to 8-bit integer codes.

- `affine`: uniform affine quantization (scale and zero point from a range, symmetric or
  asymmetric, per tensor or per channel; quantize, dequantize, fake-quantize; SQNR).
- `fold`: BatchNorm folded into the conv before it (`fold_batchnorm`, `fold_network`).
- `sharing`: Deep Compression's weight sharing (k-means codebooks, `share_weights`) and Huffman
  coding of the indices (`huffman_lengths`, `coded_bits`).
"""

from lwcnn.quant.affine import (
    BITS,
    EPS,
    Scheme,
    dequantize,
    fake_quantize,
    qparams,
    qparams_from_range,
    quantize,
    sqnr_db,
    tensor_range,
)
from lwcnn.quant.fold import fold_batchnorm, fold_network
from lwcnn.quant.sharing import MAX_ITERATIONS, Codebook, coded_bits, huffman_lengths, share_weights

__all__ = [
    "BITS",
    "Codebook",
    "MAX_ITERATIONS",
    "coded_bits",
    "EPS",
    "Scheme",
    "dequantize",
    "fake_quantize",
    "fold_batchnorm",
    "fold_network",
    "huffman_lengths",
    "qparams",
    "qparams_from_range",
    "quantize",
    "share_weights",
    "sqnr_db",
    "tensor_range",
]
