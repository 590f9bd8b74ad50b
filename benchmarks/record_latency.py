"""Record the latency tables lessons 04, 06, 07, 12 and 13 show, for this machine's devices.

For the CPU (one thread, batch 1) and, when torch sees one, the CUDA GPU (batch 1, and batch 64
for the convolution tables), one CSV per device: `data/latency/<device-slug>.csv`, with `#`
lines on top saying the device, torch version, threads, date and command. The lessons read
every recorded device with `lwcnn.lut.recorded_tables()` and show them side by side.

Tables (the `table` column):

* `separable`: standard 3x3 conv vs depthwise-separable 3x3 (C -> C, plain convs as in lesson 02)
  at 56x56x64, 28x28x128, 14x14x256, 7x7x512.
* `kernel`: a depthwise-separable block (BN + ReLU) with a 3x3 kernel, with 5x5, and two stacked
  3x3 blocks (the same 5x5 receptive field; MnasNet's comparison), C -> C at the same shapes.
* `activation`: ReLU, ReLU6, sigmoid, SiLU (swish), Hardswish, Hardsigmoid (torch's fused
  modules, which lwcnn's blocks build) and lwcnn's `HSwish`/`HSigmoid` (the formulas written out
  as separate torch ops) on four tensor sizes.
* `se`: MobileNetV3-Large inverted residuals with and without their squeeze-and-excite.
* `zoo`: every named model of `lwcnn.models` (not the generic 'mnasnet', 'ghostnet',
  'efficientnet'), at 224x224 for all, with params and MACs from `lwcnn.models.cost`.
* `guidelines`: ShuffleNetV2's four guideline experiments (`lwcnn.guidelines`: G1 channel ratios,
  G2 groups, G3 fragments, G4 element-wise ops), each a set of networks of about equal MACs.
* `precision` (CPU only): lesson 12's trained networks (MobileNetV2 x0.5 and lesson 08's
  MobileNetV3-Small x0.5, 32x32) as float and int8 ONNX files run by ONNX Runtime
  (`lwcnn.quant.export_onnx`, `quantize_onnx`, calibrated as `benchmarks/quantization.py` does),
  at batch 1 and 32; MACs from `lwcnn.models.cost`, the same for both precisions.
* `fused` (lesson 13): EfficientNetV2's Fused-MBConv against an MBConv of the same widths
  (expansion 4, 3x3, SiLU, no SE) at early and late stage shapes of EfficientNetV2-S (56x56x48
  to 7x7x256), and MobileNetV3-Large's original and efficient last stage
  (`lwcnn.models.mobilenet_v3.last_stage`, on its 7x7x160 input).

Each item is timed one call at a time for about `--round-ms` per round, in `--rounds` rounds
with the items shuffled each round; median and IQR over all calls. About 1-2 minutes on a
2-core CPU.

    .venv/bin/python benchmarks/record_latency.py
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from lwcnn import cost as C
from lwcnn import guidelines, lut, models
from lwcnn.blocks import ConvBNAct, DepthwiseSeparable, FusedMBConv, HSigmoid, HSwish, InvertedResidual
from lwcnn.counting import count_model
from lwcnn.models.mobilenet_v3 import LAST_STAGE_KINDS, build_last_stage, last_stage_cost

TABLES = ("separable", "kernel", "activation", "se", "zoo", "guidelines", "precision", "fused")
THREADS = 1
ROUNDS = 7
ROUND_MS = 100.0
CONV_SHAPES = ((56, 64), (28, 128), (14, 256), (7, 512))  # (size, channels), MobileNetV1's layers
ACTIVATION_SHAPES = ((16, 112, 112), (64, 56, 56), (240, 14, 14), (960, 7, 7))
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "sigmoid": nn.Sigmoid,
    "silu (swish)": nn.SiLU,
    "hardswish": nn.Hardswish,
    "hardsigmoid": nn.Hardsigmoid,
    "hswish (lwcnn composed)": HSwish,
    "hsigmoid (lwcnn composed)": HSigmoid,
}
SE_BLOCKS = (
    # (in, out, expanded, kernel, stride, activation, input size): MobileNetV3-Large rows with SE
    (24, 40, 72, 5, 2, "relu", 56),
    (40, 40, 120, 5, 1, "relu", 28),
    (80, 112, 480, 3, 1, "hswish", 14),
    (160, 160, 960, 5, 1, "hswish", 7),
)
ZOO_RESOLUTION = 224
GENERIC_NAMES = ("mnasnet", "ghostnet", "efficientnet")


@dataclass
class Item:
    """One thing to time: which table and row it is, how to build it, its input, its cost."""

    table: str
    item: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    params: int
    macs: int


def conv_items(batch: int) -> list[Item]:
    items = []
    for size, c in CONV_SHAPES:
        standard = ConvBNAct(c, c, 3, norm=False, activation=None)
        depthwise = ConvBNAct(c, c, 3, groups=c, norm=False, activation=None)
        pointwise = ConvBNAct(c, c, 1, norm=False, activation=None)
        shape = (batch, c, size, size)
        items.append(Item("separable", "standard 3x3", standard.build, shape, *_cost(standard, size, batch)))
        separable_cost = [
            a + b for a, b in zip(_cost(depthwise, size, batch), _cost(pointwise, size, batch), strict=True)
        ]
        items.append(
            Item(
                "separable",
                "separable 3x3",
                lambda d=depthwise, p=pointwise: nn.Sequential(d.build(), p.build()),
                shape,
                *separable_cost,
            )
        )
        three, five = DepthwiseSeparable(c, c, 3), DepthwiseSeparable(c, c, 5)
        items.append(Item("kernel", "separable 3x3", three.build, shape, *_cost(three, size, batch)))
        items.append(Item("kernel", "separable 5x5", five.build, shape, *_cost(five, size, batch)))
        stacked_cost = [2 * v for v in _cost(three, size, batch)]
        items.append(
            Item(
                "kernel",
                "two separable 3x3",
                lambda t=three: nn.Sequential(t.build(), t.build()),
                shape,
                *stacked_cost,
            )
        )
    return items


def activation_items(batch: int) -> list[Item]:
    return [
        Item("activation", name, make, (batch, *shape), 0, 0)
        for shape in ACTIVATION_SHAPES
        for name, make in ACTIVATIONS.items()
    ]


def se_items(batch: int) -> list[Item]:
    items = []
    for m, n, e, k, s, activation, size in SE_BLOCKS:
        for label, squeeze in (("without SE", 0), ("with SE", C.make_divisible(e // 4, 8))):
            block = InvertedResidual(m, n, e, k, s, squeeze, activation=activation)
            items.append(
                Item("se", f"IR {label}", block.build, (batch, m, size, size), *_cost(block, size, batch))
            )
    return items


def zoo_items(batch: int) -> list[Item]:
    items = []
    for name in models.MODEL_NAMES:
        if name in GENERIC_NAMES:
            continue
        network = models.spec(name)
        counted = models.cost(network, ZOO_RESOLUTION)
        shape = (batch, network.in_channels, ZOO_RESOLUTION, ZOO_RESOLUTION)
        items.append(Item("zoo", name, network.build, shape, counted.params, counted.macs * batch))
    return items


def guideline_items(batch: int) -> list[Item]:
    items = []
    for label, build, shape in guidelines.items():
        shape = (batch, *shape[1:])
        counted = count_model(build(), shape)
        items.append(Item("guidelines", label, build, shape, counted.params, counted.macs))
    return items


# (size, channels) of EfficientNetV2-S's stages at 224: early (large map, few channels) to late
FUSED_SHAPES = ((56, 48), (28, 64), (14, 160), (7, 256))
FUSED_EXPANSION = 4


def fused_items(batch: int) -> list[Item]:
    """Lesson 13: an MBConv and a Fused-MBConv of the same widths (expansion 4, 3x3, SiLU, no SE)
    at early and late stage shapes; and MobileNetV3-Large's original and efficient last stage."""
    items = []
    for size, c in FUSED_SHAPES:
        e = FUSED_EXPANSION * c
        for label, block in (
            (f"MBConv e{FUSED_EXPANSION}", InvertedResidual(c, c, e, 3, 1, 0, activation="silu")),
            (f"Fused-MBConv e{FUSED_EXPANSION}", FusedMBConv(c, c, e, 3, 1)),
        ):
            items.append(
                Item("fused", label, block.build, (batch, c, size, size), *_cost(block, size, batch))
            )
    for kind in LAST_STAGE_KINDS:
        params, macs = last_stage_cost(kind)
        items.append(
            Item(
                "fused",
                f"MobileNetV3 last stage, {kind}",
                lambda kind=kind: build_last_stage(kind),
                (batch, 160, 7, 7),
                params,
                macs * batch,
            )
        )
    return items


PRECISION_BATCHES = (1, 32)


def precision_items(folder) -> list[Item]:
    """Lesson 12's networks as fp32 and int8 ONNX files (made in `folder`), at each batch."""
    from pathlib import Path

    from quantization import calibration_batches

    from lwcnn import prune, quant
    from lwcnn.data import dataset_loaders
    from lwcnn.paths import PRUNING_CHECKPOINT, QUANTIZATION_CHECKPOINT

    calibration = calibration_batches(dataset_loaders("distorted", batch_size=32, seed=0)[0])
    items = []
    for name, path in (
        ("MobileNetV2 x0.5", QUANTIZATION_CHECKPOINT),
        ("MobileNetV3-Small x0.5 (lesson 08)", PRUNING_CHECKPOINT),
    ):
        checkpoint = prune.load_pruned(path)
        stem = Path(folder) / lut.slugify(name)
        fp32 = quant.export_onnx(checkpoint.model.eval(), stem.with_suffix(".onnx"), calibration[0])
        files = {"fp32": fp32, "int8": quant.quantize_onnx(fp32, stem.with_suffix(".int8.onnx"), calibration)}
        for batch in PRECISION_BATCHES:
            params, macs = _cost(checkpoint.cfg, 32, batch)
            for precision, file in files.items():
                items.append(
                    Item(
                        "precision",
                        f"{name} {precision}",
                        lambda file=file: quant.OnnxModel(file),
                        (batch, 1, 32, 32),
                        params,
                        macs,
                    )
                )
    return items


def _cost(spec, size: int, batch: int) -> tuple[int, int]:
    result = spec.cost(size)
    return result.params, result.macs * batch


def record(items: list[Item], device: str, rounds: int, round_ms: float, seed: int = 0) -> list[dict]:
    """Time every item in `rounds` shuffled rounds; one row per item with median and IQR (ms)."""
    torch.manual_seed(0)
    prepared = []
    with torch.no_grad():
        for item in items:
            module = item.build().eval().to(device)
            x = torch.randn(*item.input_shape, device=device)
            warm = min(lut.time_calls(module, x, 3, device))
            prepared.append((item, module, x, max(3, min(200, int(round_ms / 1e3 / max(warm, 1e-6))))))
        samples: list[list[float]] = [[] for _ in prepared]
        rng = random.Random(seed)
        for round_index in range(rounds):
            start = time.perf_counter()
            for index in rng.sample(range(len(prepared)), len(prepared)):
                _, module, x, calls = prepared[index]
                samples[index] += lut.time_calls(module, x, calls, device)
            print(
                f"  {device} round {round_index + 1}/{rounds}: {time.perf_counter() - start:.1f} s",
                flush=True,
            )
    rows = []
    for (item, *_), times in zip(prepared, samples, strict=True):
        quartiles = statistics.quantiles(times, n=4)
        rows.append(
            {
                "table": item.table,
                "item": item.item,
                "input_shape": "x".join(map(str, item.input_shape[1:])),
                "batch": item.input_shape[0],
                "threads": torch.get_num_threads(),
                "params": item.params,
                "macs": item.macs,
                "median_ms": f"{statistics.median(times) * 1e3:.4f}",
                "iqr_ms": f"{(quartiles[2] - quartiles[0]) * 1e3:.4f}",
                "runs": len(times),
            }
        )
    return rows


def write(rows: list[dict], device: str, command: str, started: float, tables: tuple[str, ...] = ()) -> None:
    """The device's recording; with `tables`, only those tables' rows are replaced (added where
    the file had none) and the rest of the file is kept, with a header line saying so."""
    path = lut.DATA_DIR / f"{lut.device_slug(device)}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    if tables and path.exists():
        lines = path.read_text().splitlines()
        kept_header = [line for line in lines if line.startswith("#")]
        body = [line for line in lines if line and not line.startswith("#")]
        kept = [line for line in body[1:] if line.split(",", 1)[0] not in tables]
        note = (
            f"# {'+'.join(tables)}: re-recorded {time.strftime('%Y-%m-%d')} by {command} "
            f"({time.perf_counter() - started:.0f} s, torch {torch.__version__}, "
            f"CPU capability {torch.backends.cpu.get_cpu_capability()})"
        )
        kept_header = [line for line in kept_header if not line.startswith(f"# {'+'.join(tables)}:")]
        new = [",".join(_csv_cell(row[column]) for column in lut.RECORDED_COLUMNS) for row in rows]
        path.write_text("\n".join([*kept_header, note, body[0], *kept, *new]) + "\n")
        print(f"updated {path}: {len(new)} rows of {', '.join(tables)}, {len(kept)} others kept")
        return
    header = {
        "device": lut.device_label(device),
        "kind": device,
        "torch": torch.__version__,
        "threads": str(THREADS),
        "date": time.strftime("%Y-%m-%d"),
        "command": command,
        "method": "median and IQR of single calls; items shuffled in rounds; eval mode and no_grad",
        "seconds": f"{time.perf_counter() - started:.0f}",
    }
    lines = [f"# {key}: {value}" for key, value in header.items()]
    lines.append(",".join(lut.RECORDED_COLUMNS))
    for row in rows:
        lines.append(",".join(_csv_cell(row[column]) for column in lut.RECORDED_COLUMNS))
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path} ({len(rows)} rows, {path.stat().st_size / 1024:.1f} KiB)")


def _csv_cell(value) -> str:
    text = str(value)
    return f'"{text}"' if "," in text or '"' in text else text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--round-ms", type=float, default=ROUND_MS)
    parser.add_argument("--device", choices=("all", *lut.DEVICES), default="all")
    parser.add_argument(
        "--tables",
        default="",
        help=f"comma-separated tables to re-record, keeping the rest of the file (of: {', '.join(TABLES)})",
    )
    args = parser.parse_args(argv)
    tables = tuple(t for t in args.tables.split(",") if t)
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        parser.error(f"--tables: unknown {', '.join(unknown)}; allowed: {', '.join(TABLES)}")
    command = "python benchmarks/record_latency.py" + ("" if not argv else " " + " ".join(argv))
    devices = [
        d for d in lut.DEVICES if args.device in ("all", d) and (d == "cpu" or torch.cuda.is_available())
    ]
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        for device in devices:
            started = time.perf_counter()
            with tempfile.TemporaryDirectory() as folder:
                items = conv_items(1) + activation_items(1) + se_items(1) + zoo_items(1) + guideline_items(1)
                items += fused_items(1)
                if device == "cuda":  # the GPU's story changes with the batch (course brief: batch 1 vs 64)
                    items += conv_items(64)
                elif not tables or "precision" in tables:  # ONNX Runtime's files run on the CPU
                    items += precision_items(folder)
                if tables:
                    items = [item for item in items if item.table in tables]
                print(f"{lut.device_label(device)}: {len(items)} items", flush=True)
                rows = record(items, device, args.rounds, args.round_ms)
            write(rows, device, command, started, tables)
    finally:
        torch.set_num_threads(previous_threads)


if __name__ == "__main__":
    main(sys.argv[1:])
