"""Real int8 inference: a network exported to ONNX, quantized statically, run by ONNX Runtime.

The path a deployed lightweight network takes on a CPU:

1. `export_onnx`: BatchNorms folded into their convs (`fold_network`), then PyTorch's ONNX
   exporter (the torch.export-based one), with a free batch dimension.
2. `quantize_onnx`: ONNX Runtime's post-training static quantization. A few calibration
   batches run through the float model and each activation's min and max (MinMax calibration)
   fix its scale and zero point; weights get one symmetric int8 scale per output channel. The
   file stores QuantizeLinear / DequantizeLinear pairs (the QDQ format) and the runtime fuses
   them into integer kernels (QLinearConv) when it loads the file.
3. `OnnxModel`: the file as an `nn.Module` (`lwcnn.train.evaluate` and timings take it as they
   take any network), on `threads` CPU threads.

Why `reduce_range=True` by default: x86 CPUs without VNNI multiply uint8 activations by int8
weights with VPMADDUBSW, which adds two products into an int16 that saturates when both
factors are near full scale. Weights kept within [-64, 64] (7 bits) cannot saturate it
(`benchmarks/quantization.py` prints both on each network: on an AMD EPYC without VNNI,
full-range weights cost lesson 08's network about 19 points and 7-bit ones under 1). The same
file then holds the same codes for every CPU (ARM and VNNI CPUs included, which need no such care).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from lwcnn.quant.fold import fold_network

INPUT, OUTPUT = "images", "logits"  # the exported graph's input and output names
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


def _check_path(name: str, path) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(path).__name__}")
    return Path(path)


def export_onnx(
    model: nn.Module, path: str | os.PathLike, example: torch.Tensor, *, fold: bool = True
) -> Path:
    """Write `model` (in eval mode; BatchNorms folded first when `fold`) to the ONNX file `path`,
    traced on `example` (a batch of inputs; any batch size runs afterwards). Returns the path."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(example, torch.Tensor) or example.dim() < 2 or example.shape[0] < 1:
        raise ValueError("example must be a batch of inputs: a tensor whose first dimension is the batch")
    path = _check_path("path", path)
    exported = fold_network(model) if fold else model.eval()
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            exported,
            (example,),
            str(path),
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_shapes=({0: batch},),
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    _strip(path)
    return path


def _strip(path: Path) -> None:
    """Drop what the exporter writes for debugging (each node's source stack and names, the
    intermediate shapes): on a small network it was a sixth of the file, and no runtime reads it."""
    import onnx

    graph = onnx.load(str(path))
    for node in graph.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del graph.graph.value_info[:]
    graph.ClearField("metadata_props")
    onnx.save(graph, str(path))


class _Batches:
    """Calibration batches as ONNX Runtime's `CalibrationDataReader` reads them."""

    def __init__(self, batches: Iterable):
        self._batches = iter(batches)

    def get_next(self):
        batch = next(self._batches, None)
        if batch is None:
            return None
        images = batch[0] if isinstance(batch, tuple | list) else batch
        return {INPUT: images.detach().cpu().float().numpy()}


def quantize_onnx(
    fp32_path: str | os.PathLike,
    int8_path: str | os.PathLike,
    calibration: Iterable,
    *,
    per_channel: bool = True,
    reduce_range: bool = True,
    method: str = "minmax",
) -> Path:
    """ONNX Runtime's static quantization of the float file `fp32_path` into `int8_path`.

    `calibration`: batches of inputs (tensors, or (images, labels) pairs as a DataLoader gives)
    that fix the activations' ranges by `method` ("minmax", "entropy" or "percentile").
    Activations become uint8 with a zero point, weights int8 symmetric, per output channel
    (`per_channel`) or per tensor, in 7 bits with `reduce_range` (see the module docstring).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    fp32_path, int8_path = _check_path("fp32_path", fp32_path), _check_path("int8_path", int8_path)
    for name, flag in (("per_channel", per_channel), ("reduce_range", reduce_range)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"method must be one of {', '.join(CALIBRATION_METHODS)}, got {method!r}")
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_static advises its own pre-processing through the root logger
    try:
        quantize_static(
            str(fp32_path),
            str(int8_path),
            _Batches(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=methods[method],
        )
    finally:
        root.setLevel(level)
    return int8_path


class OnnxModel(nn.Module):
    """An ONNX file run by ONNX Runtime on `threads` CPU threads, as a module: tensors in,
    logits out (no gradients). Its `path` and `session` are kept."""

    def __init__(self, path: str | os.PathLike, threads: int = 1):
        super().__init__()
        import onnxruntime as ort

        from lwcnn import checks

        self.path = _check_path("path", path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = checks.check_int("threads", threads, minimum=1)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: the QDQ fusion notes are not for learners
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        (logits,) = self.session.run([OUTPUT], {INPUT: images.detach().cpu().float().contiguous().numpy()})
        return torch.from_numpy(logits)


def runtime_ops(path: str | os.PathLike) -> dict[str, int]:
    """How many of each operator ONNX Runtime runs for the file at `path`, after its graph
    optimizations (which fuse a QDQ file's DequantizeLinear -> Conv -> QuantizeLinear into one
    QLinearConv): `{op type: count}`, most frequent first. An op that kept its float name in an
    int8 file (HardSigmoid, Mul) runs in float between a DequantizeLinear and a QuantizeLinear.
    The fusions available depend on the CPU, so the counts can differ between machines."""
    import tempfile
    from collections import Counter

    import onnx
    import onnxruntime as ort

    path = _check_path("path", path)
    if not path.is_file():
        raise ValueError(f"path {path} is not a file: give an ONNX file (export_onnx, quantize_onnx)")
    with tempfile.TemporaryDirectory() as folder:
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(Path(folder) / "optimized.onnx")
        options.log_severity_level = 3
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath).graph
    return dict(Counter(node.op_type for node in graph.node).most_common())


def int8_weights(int8_path: str | os.PathLike) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The quantized weights a QDQ file holds: for each int8 weight, (codes, scale, zero point)
    by the name of its float weight, read from the file's DequantizeLinear nodes."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(_check_path("int8_path", int8_path))).graph
    constants = {
        tensor.name: torch.from_numpy(numpy_helper.to_array(tensor).copy()) for tensor in graph.initializer
    }
    weights = {}
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in constants:
            continue
        codes = constants[node.input[0]]
        if codes.dtype != torch.int8:  # uint8 activations and int32 biases are not weights
            continue
        name = node.input[0].removesuffix("_quantized")
        weights[name] = (codes, constants[node.input[1]], constants[node.input[2]])
    return weights
