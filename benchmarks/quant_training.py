"""Lesson 12's figures that need training: ReLU vs ReLU6 vs h-swish under int8, the calibration
set's size, and post-training quantization against quantization-aware training.

    .venv/bin/python benchmarks/quant_training.py          # about 25 minutes on one thread
    .venv/bin/python benchmarks/quant_training.py --save   # and write the tables into data/quantization/

1. **Activations.** MobileNetV2 x0.5 (lesson 12's shipped network, ReLU6) and the same network
   trained with the same recipe (`quantization.RECIPE`) after every ReLU6 was swapped for a ReLU
   or an h-swish (kept in `build/quantization/`, trained the first time: about 5 minutes each).
   For each: the float accuracy; every conv's and linear layer's input range after calibration
   (`lwcnn.quant.qat.calibrate`, the 256 images `quantization.calibration_batches` draws); the
   accuracy in simulated integer arithmetic (`simulate_int`: 8-bit per-channel weights,
   activations at `ACTIVATION_BITS`); and ONNX Runtime's real int8 file (`quantize_onnx`).
2. **Calibration.** The shipped network quantized by ONNX Runtime (int8) and simulated at 4-bit
   weights and activations, calibrated on `CALIBRATION_SIZES` images.
3. **PTQ vs QAT.** The shipped network at each of `QAT_BITS` (weight bits, activation bits):
   calibrated only (PTQ), then trained `QAT_EPOCHS` epochs on the grid (QAT: SGD, cosine from
   `QAT_LR`, the straight-through estimator).

The last line reads
`relu6_int8_drop_points=<x> relu_int8_drop_points=<x> hswish_int8_drop_points=<x> qat_gain_points_w3a3=<x>`.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import sys
import tempfile
import time
from pathlib import Path

import onnxruntime
import torch
from quantization import RECIPE, calibration_batches, fine_tune, train_v2
from torch import nn

from lwcnn import prune, quant
from lwcnn.data import dataset_loaders
from lwcnn.latency import device_name
from lwcnn.paths import DATA_DIR, QUANTIZATION_CHECKPOINT, QUANTIZATION_DIR
from lwcnn.quant import qat, recorded
from lwcnn.train import evaluate

ACTIVATION_MODULES = {"relu6": nn.ReLU6, "relu": nn.ReLU, "hswish": nn.Hardswish}
VARIANT_CHECKPOINTS = {
    "relu6": QUANTIZATION_CHECKPOINT,
    **{
        name: DATA_DIR.parent / "build" / "quantization" / f"mobilenet_v2_x0.5_{name}_distorted.pth"
        for name in ("relu", "hswish")
    },
}
ACTIVATION_BITS = (8, 6, 5, 4)  # with 8-bit per-channel weights
CALIBRATION_SIZES = (1, 4, 16, 64, 256, 1024)
QAT_BITS = ((8, 8), (4, 8), (8, 4), (4, 4), (3, 3))  # (weight bits, activation bits)
QAT_EPOCHS, QAT_LR = 2, 0.005
ACTIVATIONS_CSV = recorded.path("activations")
RANGES_CSV = recorded.path("activation_ranges")
CALIBRATION_CSV = recorded.path("calibration")
QAT_CSV = recorded.path("qat")


def with_activation(model: nn.Module, name: str) -> nn.Module:
    """`model` with every ReLU6 module replaced by `ACTIVATION_MODULES[name]` (in place)."""
    for parent in list(model.modules()):
        for attribute, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU6):
                setattr(parent, attribute, ACTIVATION_MODULES[name]())
    return model


def variant(name: str, loaders) -> nn.Module:
    """The trained MobileNetV2 x0.5 with activation `name`: loaded, or trained with `RECIPE`."""
    path = VARIANT_CHECKPOINTS[name]
    if path.exists():
        return with_activation(prune.load_pruned(path).model, name).eval()
    return train_v2(
        0.5,
        loaders,
        path,
        transform=lambda model: with_activation(model, name),
        recipe={"activation": name},
        made_by="benchmarks/quant_training.py",
    )


def simulated_accuracy(model, calibration, test_loader, weight_bits: int, activation_bits: int):
    simulated = qat.simulate_int(model, weight_bits, activation_bits)
    qat.calibrate(simulated, calibration)
    return simulated, evaluate(simulated, test_loader)[1]


def onnx_int8_accuracy(model, calibration, test_loader, folder: Path, name: str) -> float:
    fp32 = quant.export_onnx(model, folder / f"{name}.onnx", calibration[0])
    int8 = quant.quantize_onnx(fp32, folder / f"{name}.int8.onnx", calibration)
    return evaluate(quant.OnnxModel(int8), test_loader)[1]


def activations(loaders, folder: Path) -> tuple[list[dict], list[dict]]:
    train_loader, test_loader = loaders
    calibration = calibration_batches(train_loader)
    rows, ranges = [], []
    for name in ACTIVATION_MODULES:
        model = variant(name, loaders)
        row = {"activation": name, "fp32": evaluate(model, test_loader)[1]}
        for bits in ACTIVATION_BITS:
            simulated, row[f"a{bits}"] = simulated_accuracy(model, calibration, test_loader, 8, bits)
            if bits == 8:
                ranges += [
                    {"activation": name, "layer": layer, "min": low, "max": high}
                    for layer, (low, high) in qat.input_ranges(simulated).items()
                ]
        row["onnx_int8"] = onnx_int8_accuracy(model, calibration, test_loader, folder, name)
        rows.append(row)
        print(
            f"  {name:<7} fp32 {row['fp32']:.4f}  simulated W8 A8/6/5/4: "
            + " ".join(f"{row[f'a{b}']:.4f}" for b in ACTIVATION_BITS)
            + f"  ONNX Runtime int8 {row['onnx_int8']:.4f}",
            flush=True,
        )
    return rows, ranges


def calibration_sizes(model, loaders, folder: Path) -> list[dict]:
    train_loader, test_loader = loaders
    rows = []
    for size in CALIBRATION_SIZES:
        calibration = calibration_batches(train_loader, size)
        row = {
            "images": size,
            "onnx_int8": onnx_int8_accuracy(model, calibration, test_loader, folder, f"cal{size}"),
            "w4a4": simulated_accuracy(model, calibration, test_loader, 4, 4)[1],
        }
        rows.append(row)
        print(
            f"  {size:>5} images: ONNX Runtime int8 {row['onnx_int8']:.4f}, simulated W4A4 {row['w4a4']:.4f}",
            flush=True,
        )
    return rows


def ptq_and_qat(model, loaders) -> list[dict]:
    train_loader, test_loader = loaders
    calibration = calibration_batches(train_loader)
    rows = []
    for weight_bits, activation_bits in QAT_BITS:
        simulated, ptq = simulated_accuracy(model, calibration, test_loader, weight_bits, activation_bits)
        start = time.perf_counter()
        history = fine_tune(simulated, loaders, QAT_EPOCHS, QAT_LR)
        rows.append(
            {
                "weight_bits": weight_bits,
                "activation_bits": activation_bits,
                "ptq": ptq,
                "qat": history.final_test_accuracy,
            }
        )
        print(
            f"  W{weight_bits}A{activation_bits}: PTQ {ptq:.4f}, QAT {history.final_test_accuracy:.4f} "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    return rows


def write(path: Path, title: str, header: str, rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        handle.write(f"# {title}\n{header}")
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", action="store_true", help=f"write the tables into {QUANTIZATION_DIR}")
    args = parser.parse_args()
    torch.set_num_threads(1)
    loaders = dataset_loaders(RECIPE["dataset"], batch_size=RECIPE["batch_size"], seed=RECIPE["seed"])
    machine = f"{device_name()}; torch {torch.__version__}; ONNX Runtime {onnxruntime.__version__}"
    print(machine)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        print("ReLU vs ReLU6 vs h-swish (MobileNetV2 x0.5): test accuracy")
        activation_rows, ranges = activations(loaders, Path(folder))
        shipped = variant("relu6", loaders)
        print("calibration set size (MobileNetV2 x0.5, ReLU6): test accuracy")
        calibration_rows = calibration_sizes(shipped, loaders, Path(folder))
    print(f"PTQ vs QAT ({QAT_EPOCHS} epochs at lr {QAT_LR}): test accuracy")
    qat_rows = ptq_and_qat(shipped, loaders)
    if args.save:
        header = (
            f"# made by: .venv/bin/python benchmarks/quant_training.py --save "
            f"({(time.perf_counter() - began) / 60:.0f} minutes)\n"
            f"# machine: {machine}; {datetime.date.today().isoformat()}\n"
        )
        write(
            ACTIVATIONS_CSV,
            "MobileNetV2 x0.5 with ReLU6 / ReLU / h-swish: test accuracy in float, simulated "
            "(8-bit per-channel weights, activations at a<bits>) and ONNX Runtime int8",
            header,
            activation_rows,
        )
        write(
            RANGES_CSV,
            "each conv and linear layer's input range after calibration (256 images)",
            header,
            ranges,
        )
        write(
            CALIBRATION_CSV,
            "MobileNetV2 x0.5 calibrated on `images` training images: ONNX Runtime int8 and simulated W4A4",
            header,
            calibration_rows,
        )
        write(
            QAT_CSV,
            f"MobileNetV2 x0.5, simulated: PTQ (calibrated, 256 images) and QAT ({QAT_EPOCHS} epochs, lr {QAT_LR})",
            header,
            qat_rows,
        )
        print(f"wrote {ACTIVATIONS_CSV}, {RANGES_CSV}, {CALIBRATION_CSV} and {QAT_CSV}")
    drops = {row["activation"]: 100 * (row["fp32"] - row["onnx_int8"]) for row in activation_rows}
    (lowest,) = [row for row in qat_rows if (row["weight_bits"], row["activation_bits"]) == (3, 3)]
    print(
        " ".join(f"{name}_int8_drop_points={drop:.2f}" for name, drop in drops.items())
        + f" qat_gain_points_w3a3={100 * (lowest['qat'] - lowest['ptq']):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
