"""lwcnn.quant.runtime: the exported float file computes the network; the int8 file's weights
are lwcnn's own quantization of the folded weights (codes, scales and zero points); its outputs
stay close to the float ones; its size is what `model_size` counts plus the format's graph."""

from __future__ import annotations

import os

import pytest
import torch
from oracles import spread_batchnorms
from torch import nn

from lwcnn import models, quant
from lwcnn.quant import Scheme
from lwcnn.quant.runtime import OnnxModel, export_onnx, int8_weights, quantize_onnx
from lwcnn.quant.size import model_size


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small MobileNetV2 with spread BatchNorm statistics, its float file, and int8 files
    quantized per channel (7-bit weights) and per tensor (full 8-bit weights)."""
    torch.manual_seed(0)
    spec = models.spec("mobilenet_v2", width_multiplier=0.35, small_input=True, num_classes=10, in_channels=1)
    model = spread_batchnorms(spec.build(), mean=(-0.2, 0.2), var=(0.5, 2.0), gamma=(0.3, 1.5))
    folder = tmp_path_factory.mktemp("onnx")
    calibration = [torch.rand(8, 1, 32, 32) for _ in range(4)]
    fp32 = export_onnx(model, folder / "fp32.onnx", calibration[0])
    files = {
        "per_channel": quantize_onnx(fp32, folder / "pc.onnx", calibration),
        "per_tensor": quantize_onnx(
            fp32, folder / "pt.onnx", [(x, None) for x in calibration], per_channel=False, reduce_range=False
        ),
    }
    return model, fp32, files, calibration


def test_the_float_file_computes_the_network_at_any_batch(exported):
    model, fp32, _, _ = exported
    runtime = OnnxModel(fp32)
    for batch in (1, 5):
        x = torch.rand(batch, 1, 32, 32)
        with torch.no_grad():
            expected = model(x)
        assert torch.allclose(runtime(x), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("kind", "scheme", "limit"), [("per_channel", 0, 64), ("per_tensor", None, 127)])
def test_the_int8_weights_are_lwcnns_quantization_of_the_folded_weights(exported, kind, scheme, limit):
    model, _, files, _ = exported
    folded = dict(quant.fold_network(model).state_dict())
    weights = int8_weights(files[kind])
    layers = [
        name for name, m in quant.fold_network(model).named_modules() if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    assert set(weights) == {f"{name}.weight" for name in layers}
    for name, (codes, scale, zero_point) in weights.items():
        weight = folded[name]
        dims = tuple(range(1, weight.dim())) if scheme == 0 else tuple(range(weight.dim()))
        absmax = weight.abs().amax(dim=dims).double()
        # symmetric: the range [-absmax, absmax] over `2 * limit` steps (ONNX Runtime's 7-bit
        # weights span [-64, 64], full ones [-127, 127])
        assert torch.equal(scale, (absmax / limit).float().reshape(scale.shape)), name
        assert not zero_point.any()
        assert int(codes.abs().max()) <= limit
        ours = quant.quantize(
            weight, scale, torch.zeros_like(scale, dtype=torch.int32), Scheme(8, True, axis=scheme)
        )
        differ = (ours.to(torch.int8) != codes).sum().item()
        assert differ <= max(1, codes.numel() // 10_000), (
            name,
            differ,
        )  # a tie rounded the other way at most


def test_the_int8_file_answers_close_to_the_float_one(exported):
    _, fp32, files, calibration = exported
    reference = OnnxModel(fp32)(torch.cat(calibration))
    for path in files.values():
        assert quant.sqnr_db(reference, OnnxModel(path)(torch.cat(calibration))) > 15


def test_file_sizes_are_the_counted_bytes_plus_the_graph(exported):
    model, fp32, files, _ = exported
    floats = model_size(model)
    assert floats.bytes <= os.path.getsize(fp32) <= floats.bytes * 1.05 + 32_000
    codes = model_size(model, 8)
    assert codes.bytes <= os.path.getsize(files["per_channel"]) <= codes.bytes * 1.5 + 64_000
    assert os.path.getsize(files["per_tensor"]) < os.path.getsize(files["per_channel"])


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda p: export_onnx("model", p / "a.onnx", torch.rand(1, 1, 8, 8)), TypeError, "model must be"),
        (lambda p: export_onnx(nn.Conv2d(1, 1, 1), p / "a.onnx", torch.rand(8)), ValueError, "batch"),
        (lambda p: export_onnx(nn.Conv2d(1, 1, 1), 3, torch.rand(1, 1, 8, 8)), TypeError, "path must be"),
        (
            lambda p: quantize_onnx(p / "a", p / "b", [], method="kl"),
            ValueError,
            "minmax, entropy, percentile",
        ),
        (lambda p: quantize_onnx(p / "a", p / "b", [], per_channel=1), TypeError, "per_channel"),
        (lambda p: OnnxModel(p / "a.onnx", threads=0), ValueError, "threads"),
    ],
)
def test_bad_arguments_say_what_is_allowed(tmp_path, call, error, words):
    with pytest.raises(error, match=words):
        call(tmp_path)


def test_the_shipped_mobilenet_v2_loads_safely_as_its_spec():
    from lwcnn import prune
    from lwcnn.paths import DATA_DIR

    checkpoint = prune.load_pruned(
        DATA_DIR / "quantization" / "mobilenet_v2_x0.5_distorted.pth"
    )  # weights_only
    expected = models.spec(
        "mobilenet_v2", width_multiplier=0.5, small_input=True, in_channels=1, num_classes=10
    )
    assert checkpoint.cfg == expected
    assert checkpoint.metadata["recipe"]["width_multiplier"] == 0.5
    assert model_size(checkpoint.model) == model_size(expected)
    assert 0.9 < checkpoint.metadata["test_accuracy"] <= 1.0


def test_runtime_ops_are_the_graph_onnx_runtime_runs(exported):
    """The float file runs float convs; the int8 file of a ReLU6 network runs every conv as one
    QLinearConv (dequantize, conv and quantize fused), leaving integer arithmetic only at a few
    places (the input, the global pool), each a quantize and a dequantize."""
    model, fp32, files, _ = exported
    convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    float_ops = quant.runtime_ops(fp32)
    assert "QLinearConv" not in float_ops and "QuantizeLinear" not in float_ops
    int8_ops = quant.runtime_ops(files["per_channel"])
    assert int8_ops.get("QLinearConv") == convs
    assert "Conv" not in int8_ops and int8_ops.get("QuantizeLinear") == int8_ops.get("DequantizeLinear") <= 2
    assert list(int8_ops.values()) == sorted(int8_ops.values(), reverse=True)
    with pytest.raises(ValueError, match="path"):
        quant.runtime_ops(fp32.parent / "absent.onnx")
