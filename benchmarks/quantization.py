"""Lesson 12's figures: fp32 against int8 on ONNX Runtime, side by side in one run.

    .venv/bin/python benchmarks/quantization.py            # about 10 minutes (plus about 12 to
                                                            # train MobileNetV2 x1.0 the first time)
    .venv/bin/python benchmarks/quantization.py --retrain  # train both MobileNetV2s again
    .venv/bin/python benchmarks/quantization.py --pytorch  # PyTorch's own int8 in the same rounds

Networks, 32x32 inputs, trained on the distorted digits (`lwcnn.data`, the task of lessons 06,
08 and 11):

- MobileNetV2 x1.0 and x0.5 (ReLU6), trained with `RECIPE` (x1.0 is the headline; x0.5 ships in
  `data/quantization/`, x1.0 is kept in `build/quantization/`);
- lesson 08's MobileNetV3-Small x0.5 (h-swish, SE), its shipped sparsity-trained checkpoint.

Each is exported to ONNX with its BatchNorms folded (`lwcnn.quant.export_onnx`) and quantized
statically by ONNX Runtime (`quantize_onnx`: `CALIBRATION_BATCHES` batches of 32 training
images, a seeded draw, fix the activation ranges). Reported per network: test accuracy (2160 images), the file's bytes and
what `lwcnn.quant.model_size` counts for its tensors, and the latency at batch 1 and 32 on one
thread (`lwcnn.latency.compare`: every file timed in turn, round after round; medians), for
the float file and for int8 with per-channel 7-bit weights (the default). Accuracy is also given
for per-tensor weights and for full-range (8-bit) per-channel weights, whose loss on x86 CPUs
without VNNI is the reason for 7-bit ones.

MobileNetV2 x0.5 is also evaluated with only its weights quantized (`lwcnn.quant.quantize_weights`,
activations float) at 2-8 bits, per channel or per tensor, symmetric or affine: the accuracies
lesson 12's bits slider shows.

Deep Compression (Han, Mao and Dally 2016) on lesson 08's network: slimmed at `DC_RATE` and
fine-tuned, then each weight shared through a k-means codebook of 2^b centroids at each of
`DC_BITS`, the centroids fine-tuned, and the indices Huffman-coded; sizes from
`lwcnn.quant.shared_size`, against the unpruned float network.

Why ONNX Runtime and not PyTorch's x86 int8 backend: `--pytorch` adds PyTorch's best float path
(BatchNorms folded, channels-last: `lwcnn.train.inference_copy`) and its x86 int8 backend (FX
graph mode static quantization, calibrated on the same images) to the same timing rounds. On the
2-core AMD EPYC this was written on, ONNX Runtime ran the float networks faster than PyTorch ran
them, and its int8 files faster still; and PyTorch's eager and FX quantization
(`torch.ao.quantization`) is deprecated from 2.13 on.

The last line reads, for MobileNetV2 x1.0:
`int8_size_ratio=<x> int8_acc_drop_points=<x> int8_speedup_b32=<x> deep_compression_ratio=<x> dc_acc_drop_points=<x>`
where Deep Compression's figures are those of the smallest stage within 1 point of the unpruned
network's accuracy.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

import onnxruntime
import torch

from lwcnn import models, prune, quant
from lwcnn.data import dataset_loaders
from lwcnn.latency import compare, device_name
from lwcnn.paths import DATA_DIR, PRUNING_CHECKPOINT, QUANTIZATION_CHECKPOINT
from lwcnn.quant import recorded
from lwcnn.train import evaluate, inference_copy, set_seed, train

# the MobileNetV2s, by width: x0.5 ships (lesson 12 quantizes it live); x1.0, the headline, is
# trained into build/ when missing (about 12 minutes; its 9 MB file is not shipped)
V2_CHECKPOINTS = {
    1.0: DATA_DIR.parent / "build" / "quantization" / "mobilenet_v2_x1.0_distorted.pth",
    0.5: QUANTIZATION_CHECKPOINT,
}
HEADLINE = "MobileNetV2 x1.0"
LESSON_NETWORK = "MobileNetV2 x0.5"  # the one lesson 12 quantizes live
RUNTIME_CSV = recorded.path("int8_runtime")  # --save writes the tables here
DEEP_COMPRESSION_CSV = recorded.path("deep_compression")
RECIPE = {
    "model": "mobilenet_v2",
    "dataset": "distorted",
    "optimizer": "sgd",
    "scheduler": "onecycle",
    "epochs": 8,
    "lr": 0.1,
    "batch_size": 32,
    "seed": 0,
}
DC_RATE = 0.6  # Deep Compression's first stage: lesson 08's slimming at this rate, then its fine-tuning
DC_BITS = (8, 5, 4, 3)  # k-means weight sharing at these widths, every conv and linear layer alike
DC_EPOCHS, DC_LR = 3, 0.002  # centroid fine-tuning (SGD, cosine) after sharing
WEIGHT_BITS = tuple(range(2, 9))  # the weights-only grid of lesson 12's slider
WEIGHT_GRID_CSV = recorded.path("weight_bits")
CALIBRATION_BATCHES = 8  # batches of 32 training images: 256 images fix the activation ranges
ROUNDS = {1: (15, 40), 32: (9, 4)}  # batch -> (rounds, calls a round)


def course_spec(width: float, recipe: dict = RECIPE) -> models.NetworkSpec:
    return models.spec(
        recipe["model"], width_multiplier=width, small_input=True, in_channels=1, num_classes=10
    )


def train_v2(
    width: float,
    loaders,
    path: Path | None = None,
    *,
    transform=None,
    recipe: dict | None = None,
    made_by: str = "benchmarks/quantization.py --retrain",
) -> torch.nn.Module:
    """MobileNetV2 at `width` trained with `RECIPE` and saved to `path` (default its entry of
    `V2_CHECKPOINTS`); `transform` changes the built network first (another activation), and
    `recipe` adds to what the checkpoint's metadata says of it."""
    path = V2_CHECKPOINTS[width] if path is None else path
    set_seed(RECIPE["seed"])
    model = course_spec(width).build()
    model = model if transform is None else transform(model)
    start = time.perf_counter()
    history = train(
        model,
        loaders,
        epochs=RECIPE["epochs"],
        lr=RECIPE["lr"],
        optimizer=RECIPE["optimizer"],
        scheduler=RECIPE["scheduler"],
        seed=RECIPE["seed"],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    prune.save_pruned(
        path,
        model,
        epoch=RECIPE["epochs"],
        recipe={**RECIPE, "width_multiplier": width, **(recipe or {})},
        test_accuracy=history.final_test_accuracy,
        made_by=made_by,
        machine=f"{device_name()}, torch {torch.__version__}",
        seconds=round(time.perf_counter() - start),
    )
    return model.eval()


def fine_tune(model: torch.nn.Module, loaders, epochs: int, lr: float):
    """A short fine-tune of a trained (shared, or simulated-integer) network: SGD, cosine from
    `lr`, seed 0; returns its history."""
    return train(
        model, loaders, epochs=epochs, lr=lr, optimizer="sgd", scheduler="cosine", seed=0, progress=False
    )


def calibration_batches(train_loader, images: int = CALIBRATION_BATCHES * RECIPE["batch_size"]) -> list:
    """The first `images` of a seeded draw of training images, in batches of the recipe's size:
    not the shuffling loader's next batches (the dataset is stored class by class), so the
    calibration set is the same however many epochs the loader has run."""
    pool = train_loader.dataset.tensors[0]
    chosen = torch.randperm(len(pool), generator=torch.Generator().manual_seed(0))
    return list(pool[chosen[:images]].split(RECIPE["batch_size"]))


def pytorch_int8(model: torch.nn.Module, calibration: list[torch.Tensor]) -> torch.nn.Module:
    """`model` through PyTorch's x86 int8 backend (FX graph mode post-training static quantization,
    its default x86 settings), calibrated on the same batches: the runtime ONNX Runtime was chosen over."""
    import copy
    import warnings

    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = "x86"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated from torch 2.13 on
        mapping = get_default_qconfig_mapping("x86")
        prepared = prepare_fx(copy.deepcopy(model).eval(), mapping, example_inputs=(calibration[0],))
        with torch.no_grad():
            for images in calibration:
                prepared(images)
        return convert_fx(prepared)


def measure(name: str, model: torch.nn.Module, loaders, folder: Path, pytorch: bool = False) -> dict:
    """Accuracy, bytes and latency of `model`'s float and int8 files (and, with `pytorch`, of
    PyTorch's best float path and its x86 int8 backend, timed in the same rounds)."""
    train_loader, test_loader = loaders
    calibration = calibration_batches(train_loader)
    fp32 = quant.export_onnx(model, folder / f"{name}.onnx", calibration[0])
    files = {
        "fp32": fp32,
        "int8": quant.quantize_onnx(fp32, folder / f"{name}.int8.onnx", calibration),
        "int8 per-tensor": quant.quantize_onnx(
            fp32, folder / f"{name}.pt.onnx", calibration, per_channel=False, reduce_range=False
        ),
        "int8 8-bit weights": quant.quantize_onnx(
            fp32, folder / f"{name}.full.onnx", calibration, reduce_range=False
        ),
    }
    runtimes = {kind: quant.OnnxModel(path) for kind, path in files.items()}
    row = {
        "torch_accuracy": evaluate(model, test_loader)[1],
        "accuracy": {kind: evaluate(runtime, test_loader)[1] for kind, runtime in runtimes.items()},
        "bytes": {kind: os.path.getsize(path) for kind, path in files.items()},
        "counted": {"fp32": quant.model_size(model).bytes, "int8": quant.model_size(model, 8).bytes},
    }
    timed = {kind: runtimes[kind] for kind in ("fp32", "int8")}
    if pytorch:
        torch_runs = {
            "PyTorch fp32": inference_copy(model),
            "PyTorch x86 int8": pytorch_int8(model, calibration),
        }
        for index, (kind, module) in enumerate(torch_runs.items()):
            row["accuracy"][kind] = evaluate(module, test_loader)[1]
            path = folder / f"{name}.torch{index}.pt"
            torch.save(module.state_dict(), path)
            row["bytes"][kind] = os.path.getsize(path)
        timed.update(torch_runs)
    row["ms"] = {
        batch: compare(timed, (batch, 1, 32, 32), rounds=rounds, calls=calls)
        for batch, (rounds, calls) in ROUNDS.items()
    }
    return row


def deep_compression(loaders) -> tuple[float, list[dict]]:
    """Lesson 08's network through Deep Compression: slim at `DC_RATE` and fine-tune (lesson
    08's recipe), then at each of `DC_BITS` share every weight through k-means, fine-tune the
    centroids, Huffman-code the indices. Returns the unpruned accuracy and one row per stage,
    sized against the unpruned float network (BatchNorms folded on both sides)."""
    from pruning_sweep import slim_and_finetune

    model = prune.load_pruned(PRUNING_CHECKPOINT).model.eval()
    reference, accuracy = quant.model_size(model), evaluate(model, loaders[1])[1]
    result, _, after = slim_and_finetune(model, DC_RATE, loaders, progress=False)
    pruned = result.model.eval()
    rows = [
        {"stage": f"slimmed {DC_RATE:.0%}, fp32", "bytes": quant.model_size(pruned).bytes, "accuracy": after}
    ]
    for bits in DC_BITS:
        shared, books = quant.share_network(pruned, bits)
        quant.tie_to_codebooks(shared, books)
        fine_tune(shared, loaders, DC_EPOCHS, DC_LR)
        books = quant.untie(shared)
        accuracy_shared = evaluate(shared, loaders[1])[1]
        for huffman in (False, True):
            size = quant.shared_size(shared, books, huffman=huffman)
            stage = f"+ {bits}-bit sharing" + (" + Huffman" if huffman else "")
            rows.append({"stage": stage, "bytes": size.bytes, "accuracy": accuracy_shared})
    for row in rows:
        row["ratio"] = reference.bytes / row["bytes"]
    rows.insert(0, {"stage": "unpruned, fp32", "bytes": reference.bytes, "accuracy": accuracy, "ratio": 1.0})
    return accuracy, rows


def weight_grid(model: torch.nn.Module, test_loader) -> list[dict]:
    """The test accuracy of `model` with only its weights quantized (`lwcnn.quant.quantize_weights`,
    activations float) at every scheme lesson 12's slider offers."""
    rows = []
    for bits in WEIGHT_BITS:
        for per_channel in (True, False):
            for symmetric in (True, False):
                quantized = quant.quantize_weights(model, bits, per_channel=per_channel, symmetric=symmetric)
                accuracy = evaluate(inference_copy(quantized), test_loader)[1]
                rows.append(
                    {"bits": bits, "per_channel": per_channel, "symmetric": symmetric, "accuracy": accuracy}
                )
    return rows


def report(name: str, row: dict) -> None:
    acc, size, ms = row["accuracy"], row["bytes"], row["ms"]
    print(f"\n{name}: test accuracy in PyTorch {row['torch_accuracy']:.4f}")
    print(f"  {'file':<20}{'accuracy':>9}{'bytes':>11}{'counted':>10}{'ms b1':>8}{'ms b32':>8}")
    for kind in acc:
        counted = row["counted"].get(kind)
        timing = [ms[batch].get(kind) for batch in ROUNDS]
        cells = "".join(f"{t:8.2f}" if t is not None else f"{'':8}" for t in timing)
        print(
            f"  {kind:<20}{acc[kind]:9.4f}{size[kind]:11,}{'' if counted is None else f'{counted:,}':>10}{cells}"
        )
    print(
        f"  int8 against fp32: {size['fp32'] / size['int8']:.2f}x smaller on disk "
        f"({row['counted']['fp32'] / row['counted']['int8']:.2f}x counted), "
        f"accuracy {100 * (acc['fp32'] - acc['int8']):+.2f} points lost, "
        f"{ms[1]['fp32'] / ms[1]['int8']:.2f}x faster at batch 1, {ms[32]['fp32'] / ms[32]['int8']:.2f}x at batch 32"
    )


def save(rows: dict, stages: list[dict], grid: list[dict], machine: str, seconds: float) -> None:
    """The three tables as recordings lesson 12 reads, each with how and where it was made."""
    header = (
        f"# made by: .venv/bin/python benchmarks/quantization.py --save ({seconds / 60:.0f} minutes)\n"
        f"# machine: {machine}; {datetime.date.today().isoformat()}\n"
    )
    with open(RUNTIME_CSV, "w", newline="") as handle:
        handle.write(
            "# fp32 and int8 ONNX files of each network, run by ONNX Runtime on the CPU; latency medians in ms\n"
        )
        handle.write(header)
        writer = csv.writer(handle)
        writer.writerow(
            ["network", "file", "test_accuracy", "bytes", "counted_bytes", "ms_batch1", "ms_batch32"]
        )
        for name, row in rows.items():
            for kind, accuracy in row["accuracy"].items():
                timing = [row["ms"][batch].get(kind, "") for batch in ROUNDS]
                writer.writerow(
                    [name, kind, accuracy, row["bytes"][kind], row["counted"].get(kind, ""), *timing]
                )
    with open(DEEP_COMPRESSION_CSV, "w", newline="") as handle:
        handle.write(
            "# Deep Compression of lesson 08's network; bytes from lwcnn.quant sizes, ratio against the unpruned fp32\n"
        )
        handle.write(header)
        handle.write(f"# slim rate {DC_RATE}, centroid fine-tuning {DC_EPOCHS} epochs at lr {DC_LR}\n")
        writer = csv.writer(handle)
        writer.writerow(["stage", "bytes", "ratio", "test_accuracy"])
        for stage in stages:
            writer.writerow([stage["stage"], stage["bytes"], stage["ratio"], stage["accuracy"]])
    with open(WEIGHT_GRID_CSV, "w", newline="") as handle:
        handle.write(
            f"# {LESSON_NETWORK} with only its weights quantized (lwcnn.quant.quantize_weights), activations float\n"
        )
        handle.write(header)
        writer = csv.writer(handle)
        writer.writerow(["bits", "per_channel", "symmetric", "test_accuracy"])
        for row in grid:
            writer.writerow([row["bits"], row["per_channel"], row["symmetric"], row["accuracy"]])
    print(f"wrote {RUNTIME_CSV}, {DEEP_COMPRESSION_CSV} and {WEIGHT_GRID_CSV}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retrain", action="store_true", help="train the MobileNetV2s again")
    parser.add_argument(
        "--pytorch", action="store_true", help="also time PyTorch's float path and its x86 int8 backend"
    )
    parser.add_argument("--save", action="store_true", help=f"write the tables into {RUNTIME_CSV.parent}")
    args = parser.parse_args()
    torch.set_num_threads(1)
    loaders = dataset_loaders(RECIPE["dataset"], batch_size=RECIPE["batch_size"], seed=RECIPE["seed"])
    networks = {}
    for width, path in V2_CHECKPOINTS.items():
        trained = not args.retrain and path.exists()
        networks[f"MobileNetV2 x{width}"] = (
            prune.load_pruned(path).model.eval() if trained else train_v2(width, loaders)
        )
    networks["MobileNetV3-Small x0.5 (lesson 08)"] = prune.load_pruned(PRUNING_CHECKPOINT).model.eval()
    machine = f"{device_name()}; torch {torch.__version__}; ONNX Runtime {onnxruntime.__version__}"
    print(machine)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        rows = {
            name: measure(f"net{index}", model, loaders, Path(folder), pytorch=args.pytorch)
            for index, (name, model) in enumerate(networks.items())
        }
    for name, row in rows.items():
        report(name, row)
    grid = weight_grid(networks[LESSON_NETWORK], loaders[1])
    print(f"\n{LESSON_NETWORK}, weights only quantized (activations float): test accuracy")
    print(
        f"  {'bits':>4}  {'per-channel sym':>16}{'per-channel affine':>19}{'per-tensor sym':>15}{'per-tensor affine':>18}"
    )
    for bits in WEIGHT_BITS:
        cells = [r["accuracy"] for r in grid if r["bits"] == bits]
        print(f"  {bits:>4}  {cells[0]:16.4f}{cells[1]:19.4f}{cells[2]:15.4f}{cells[3]:18.4f}")
    start = time.perf_counter()
    unpruned, stages = deep_compression(loaders)
    print(f"\nDeep Compression of lesson 08's network ({time.perf_counter() - start:.0f} s):")
    print(f"  {'stage':<34}{'bytes':>10}{'smaller':>9}{'accuracy':>10}")
    for stage in stages:
        print(f"  {stage['stage']:<34}{stage['bytes']:10,}{stage['ratio']:8.1f}x{stage['accuracy']:10.4f}")
    within = [s for s in stages if 100 * (unpruned - s["accuracy"]) <= 1.0] or stages[:1]
    best = max(within, key=lambda s: s["ratio"])
    print(f"  the smallest within 1 point of the unpruned accuracy: {best['stage']}")
    if args.save:
        save(rows, stages, grid, machine, time.perf_counter() - began)
    head = rows[HEADLINE]
    print(
        f"int8_size_ratio={head['bytes']['fp32'] / head['bytes']['int8']:.2f} "
        f"int8_acc_drop_points={100 * (head['accuracy']['fp32'] - head['accuracy']['int8']):.2f} "
        f"int8_speedup_b32={head['ms'][32]['fp32'] / head['ms'][32]['int8']:.2f} "
        f"deep_compression_ratio={best['ratio']:.1f} dc_acc_drop_points={100 * (unpruned - best['accuracy']):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
