"""Quantization, from the formula up: how a float tensor becomes 2- to 8-bit integer codes.

- `affine`: uniform affine quantization (scale and zero point from a range, symmetric or
  asymmetric, per tensor or per channel; quantize, dequantize, fake-quantize; SQNR).
- `fold`: BatchNorm folded into the conv before it (`fold_batchnorm`, `fold_network`).
- `sharing`: Deep Compression's weight sharing (k-means codebooks, `share_weights`; a whole
  network, `share_network`; centroid fine-tuning, `tie_to_codebooks` / `untie`) and Huffman
  coding of the indices (`huffman_lengths`, `coded_bits`), sized by `shared_size`.
- `size`: a network's bytes with its weights at 32/16 bits or as 2-8 bit codes with their scales
  (`model_size`).
- `simulate`: a network's weights fake-quantized (`quantize_weights`, `weight_sqnr_db`).
- `qat`: weights *and* activations on a grid, simulated (`simulate_int`, `calibrate`: post-training
  quantization; train the result for quantization-aware training).
- `runtime`: real int8 inference on ONNX Runtime (`export_onnx`, `quantize_onnx`: static
  quantization with calibration; `OnnxModel` runs a file as a module; `int8_weights` reads its codes; `runtime_ops` lists the
  operators the runtime runs).
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
from lwcnn.quant.qat import calibrate, input_ranges, simulate_int
from lwcnn.quant.runtime import OnnxModel, export_onnx, int8_weights, quantize_onnx, runtime_ops
from lwcnn.quant.sharing import (
    MAX_ITERATIONS,
    Codebook,
    coded_bits,
    huffman_lengths,
    share_network,
    share_weights,
    shared_size,
    tie_to_codebooks,
    untie,
)
from lwcnn.quant.simulate import quantize_weights, weight_scheme, weight_sqnr_db
from lwcnn.quant.size import ModelSize, model_size

__all__ = [
    "BITS",
    "calibrate",
    "input_ranges",
    "simulate_int",
    "Codebook",
    "MAX_ITERATIONS",
    "coded_bits",
    "EPS",
    "OnnxModel",
    "export_onnx",
    "int8_weights",
    "quantize_onnx",
    "runtime_ops",
    "Scheme",
    "dequantize",
    "fake_quantize",
    "fold_batchnorm",
    "fold_network",
    "huffman_lengths",
    "ModelSize",
    "model_size",
    "qparams",
    "quantize_weights",
    "weight_scheme",
    "weight_sqnr_db",
    "qparams_from_range",
    "quantize",
    "share_network",
    "share_weights",
    "shared_size",
    "sqnr_db",
    "tensor_range",
    "tie_to_codebooks",
    "untie",
]
