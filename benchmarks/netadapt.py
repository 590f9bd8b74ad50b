"""NetAdapt against uniform width scaling on the distorted digits, at the same predicted latency.

    .venv/bin/python benchmarks/netadapt.py    # about 10 minutes on 2 shared cores (325 s of it on a CPU)

The network is lesson 11's: `lwcnn.scaling.digits_base()` (EfficientNet-style MBConv blocks with
squeeze-and-excite, MobileNetV2's inverted residuals) at width 1.25, on the distorted digits at
its 24x24 input side. For each seed of SEEDS (its split, its distortions, its weights), in
`--jobs` processes of one thread:

1. the start network is trained with lesson 11's recipe on the training digits; the last
   HOLDOUT_DIGITS digits of each class (all their distorted copies) are held out for NetAdapt to
   choose with, so the test digits never choose;
2. the budget: `uniform_scaling_at` finds the widest uniformly scaled network whose predicted
   latency is at most BUDGET of the start's (widths round to multiples of 8, so uniform scaling
   can only reach a few latencies; this one is 58% of the start's);
3. NetAdapt (`lwcnn.nas.netadapt.NetAdapt`) shrinks the start network until its predicted latency
   is at or below that budget: each iteration, every channel group's proposal (the fewest
   filters removed, by L2 norm, keeping multiples of 8) is fine-tuned for SHORT_STEPS batches and
   scored on the held-out digits; the result is fine-tuned for LONG_EPOCHS (the long-term
   fine-tune) and tested;
4. the uniform network of step 2 is trained from scratch on the same digits for as many epochs
   as NetAdapt's network was trained (the start's, the chosen proposals' short-term batches
   rounded up to epochs, the long-term fine-tune's), then tested.

Predicted latency: the analytical MACs (`lwcnn.models.cost`), not a measured `LatencyTable`.
At batch 1 on this machine these networks take about a millisecond, mostly per-layer overhead,
so a table measured here barely moves when channels go (MobileNetV2-0.5 at 32x32: 4.8 ms
predicted, at width 0.25 still 3.7 ms) and no pruning reaches 58%; and the 2 cores are shared,
so a table measured during the run would not repeat. The start and final networks are timed
side by side at the end (batch 1, one thread), for the record: `measured_ms`.

Writes data/netadapt.csv: a header of `#` lines (command, machine, date, run time, settings),
then rows per seed: `start`, every `proposal` of every iteration (`chosen` = 1 for the one
kept), `netadapt` (after the long-term fine-tune) and `uniform`. Last line:

    netadapt_acc_gain_points=<mean over seeds of NetAdapt minus uniform test accuracy, in points>
"""

from __future__ import annotations

import argparse
import csv
import datetime
import math
import multiprocessing
import platform
import statistics
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import torch
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from lwcnn import latency, models, paths, scaling
from lwcnn.data import DISTORTED_TRAIN_COPIES, distorted_digits_tensors
from lwcnn.nas.netadapt import NetAdapt, uniform_scaling_at
from lwcnn.train import evaluate, set_seed, train

OUT = paths.NETADAPT_RECORDING
SEEDS = (0, 1, 2)
WIDTH = 1.25  # of lesson 11's digits_base: 1.65M MACs, 88k parameters
IMAGE_SIZE = scaling.DIGITS_RESOLUTION  # 24
HOLDOUT_DIGITS = 5  # of the 30 training digits per class: 50 digits, 400 images
BATCH_SIZE = scaling.TRAINING_RECIPE["batch_size"]
START_EPOCHS, START_LR = scaling.TRAINING_RECIPE["epochs"], scaling.TRAINING_RECIPE["lr"]  # Adam, cosine
BUDGET = 0.6  # of the start network's predicted latency, rounded down to what uniform scaling reaches
DECREMENT, DECREMENT_DECAY = 0.05, 0.96  # the first decrement, a share of the start's latency; its decay
SHORT_STEPS = 10  # short-term fine-tune batches per proposal (the official code's default)
SHORT = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0}
CHANNEL_STEP = 8
LONG_EPOCHS, LONG_LR = 5, 0.003  # the long-term fine-tune: Adam, cosine decay
COLUMNS = (
    "seed", "kind", "iteration", "group", "channels", "kept", "predicted_macs", "target_macs",
    "holdout_accuracy", "chosen", "width_multiplier", "params", "epochs", "test_accuracy", "measured_ms",
)  # fmt: skip


def start_spec() -> models.NetworkSpec:
    return scaling.scaled_spec(scaling.digits_base(), (1.0, WIDTH, 1.0))


def uniform_at_budget():
    """The widest uniformly scaled start network at most BUDGET of its predicted latency."""
    spec = start_spec()
    return uniform_scaling_at(spec, predicted_macs, BUDGET * predicted_macs(spec))


def predicted_macs(spec: models.NetworkSpec) -> int:
    """The stand-in for a latency table: conv + linear multiply-adds at the spec's resolution."""
    return models.cost(spec).macs


def loaders(seed: int) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Train, holdout and test loaders of the distorted digits at IMAGE_SIZE for `seed`.

    The holdout is the last HOLDOUT_DIGITS training digits of each class with all their
    distorted copies (a digit's copies are consecutive), so no held-out digit is trained on.
    """
    split = distorted_digits_tensors(seed=seed, image_size=IMAGE_SIZE)
    digit = torch.arange(len(split.train_labels)) // DISTORTED_TRAIN_COPIES
    assert all(len(split.train_labels[digit == d].unique()) == 1 for d in digit.unique()[:20])
    held = torch.zeros(len(digit), dtype=torch.bool)
    for label in range(10):
        digits = digit[split.train_labels == label].unique()
        held |= torch.isin(digit, digits[-HOLDOUT_DIGITS:])
    generator = torch.Generator().manual_seed(seed)
    train_set = TensorDataset(split.train_images[~held], split.train_labels[~held])
    holdout_set = TensorDataset(split.train_images[held], split.train_labels[held])
    return (
        DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True, generator=generator),
        DataLoader(holdout_set, batch_size=256),
        DataLoader(TensorDataset(split.test_images, split.test_labels), batch_size=256),
    )


def row(seed: int, kind: str, **values) -> list:
    return [seed, kind, *(values.get(name, "") for name in COLUMNS[2:])]


def run_netadapt(seed: int) -> dict:
    """Train the start network, adapt it, fine-tune it: the rows, the final cfg and its epochs."""
    torch.set_num_threads(1)
    begin, cpu_begin = time.perf_counter(), time.process_time()
    train_loader, holdout_loader, test_loader = loaders(seed)
    spec = start_spec()
    set_seed(seed)
    model = spec.build()
    train(model, (train_loader, holdout_loader), START_EPOCHS, lr=START_LR, seed=seed, progress=False)
    start_macs = predicted_macs(spec)
    rows = [
        row(seed, "start", iteration=0, predicted_macs=start_macs, params=models.cost(spec).params,
            epochs=START_EPOCHS, test_accuracy=f"{evaluate(model, test_loader)[1]:.6f}",
            holdout_accuracy=f"{evaluate(model, holdout_loader)[1]:.6f}")
    ]  # fmt: skip
    adapt = NetAdapt(
        model, predicted_macs, train_loader, holdout_loader,
        budget=uniform_at_budget().latency, decrement=DECREMENT * start_macs, decrement_decay=DECREMENT_DECAY,
        short_term_steps=SHORT_STEPS, channel_step=CHANNEL_STEP, seed=seed, progress=False, **SHORT,
    )  # fmt: skip
    for step in adapt.run():
        for proposal in step.proposals:
            if not proposal.skipped:
                rows.append(
                    row(seed, "proposal", iteration=step.iteration, group=proposal.group,
                        channels=proposal.channels, kept=proposal.kept, predicted_macs=int(proposal.latency),
                        target_macs=f"{step.target:.0f}", holdout_accuracy=f"{proposal.accuracy:.6f}",
                        chosen=int(proposal.group == step.group))
                )  # fmt: skip
    short_epochs = math.ceil(len(adapt.history) * SHORT_STEPS / len(train_loader))
    history = train(
        adapt.model, (train_loader, holdout_loader), LONG_EPOCHS, lr=LONG_LR, seed=seed, progress=False
    )
    epochs = START_EPOCHS + short_epochs + LONG_EPOCHS
    rows.append(
        row(seed, "netadapt", iteration=len(adapt.history), predicted_macs=int(adapt.latency),
            params=models.cost(adapt.cfg).params, epochs=epochs,
            holdout_accuracy=f"{history.final_test_accuracy:.6f}",
            test_accuracy=f"{evaluate(adapt.model, test_loader)[1]:.6f}")
    )  # fmt: skip
    return {"rows": rows, "cfg": adapt.cfg, "epochs": epochs, "seconds": time.perf_counter() - begin,
            "cpu_seconds": time.process_time() - cpu_begin}  # fmt: skip


def run_uniform(seed: int, epochs: int) -> dict:
    """The uniformly scaled network at the budget, trained from scratch for `epochs`."""
    torch.set_num_threads(1)
    begin, cpu_begin = time.perf_counter(), time.process_time()
    train_loader, holdout_loader, test_loader = loaders(seed)
    found = uniform_at_budget()
    set_seed(seed)
    model = found.spec.build()
    history = train(model, (train_loader, holdout_loader), epochs, lr=START_LR, seed=seed, progress=False)
    rows = [
        row(seed, "uniform", predicted_macs=int(found.latency), width_multiplier=f"{found.width_multiplier:.4f}",
            params=models.cost(found.spec).params, epochs=epochs,
            holdout_accuracy=f"{history.final_test_accuracy:.6f}",
            test_accuracy=f"{evaluate(model, test_loader)[1]:.6f}")
    ]  # fmt: skip
    return {"rows": rows, "spec": found.spec, "seconds": time.perf_counter() - begin,
            "cpu_seconds": time.process_time() - cpu_begin}  # fmt: skip


def measure_networks(networks: dict[str, models.NetworkSpec]) -> dict[str, float]:
    """Median ms per image (batch 1, one thread) of each network, timed side by side."""
    modules = {name: spec.build().eval() for name, spec in networks.items()}
    return latency.compare(modules, (1, 1, IMAGE_SIZE, IMAGE_SIZE), rounds=15, calls=10, threads=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2), one thread each")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    begin = time.perf_counter()
    results: dict[tuple[str, int], dict] = {}
    context = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(args.jobs, mp_context=context) as pool,
        tqdm(total=2 * len(SEEDS), desc="trainings", disable=args.no_progress) as bar,
    ):
        pending = {pool.submit(run_netadapt, seed): ("netadapt", seed) for seed in SEEDS}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                kind, seed = pending.pop(future)
                results[(kind, seed)] = result = future.result()
                bar.update()
                if kind == "netadapt":  # trained as long as NetAdapt's network
                    job = pool.submit(run_uniform, seed, result["epochs"])
                    pending[job] = ("uniform", seed)

    networks = {"start": start_spec()}
    for seed in SEEDS:
        networks[f"netadapt{seed}"] = results[("netadapt", seed)]["cfg"]
        networks[f"uniform{seed}"] = results[("uniform", seed)]["spec"]
    measured = measure_networks(networks)
    gains, rows = [], []
    for seed in SEEDS:
        seed_rows = results[("netadapt", seed)]["rows"] + results[("uniform", seed)]["rows"]
        for line in seed_rows:
            kind = line[1]
            name = (
                "start" if kind == "start" else f"{kind}{seed}" if kind in ("netadapt", "uniform") else None
            )
            if name:
                line[-1] = f"{measured[name]:.4f}"
        accuracy = {
            line[1]: float(line[COLUMNS.index("test_accuracy")])
            for line in seed_rows
            if line[1] != "proposal"
        }
        gains.append(100 * (accuracy["netadapt"] - accuracy["uniform"]))
        rows += seed_rows
    start, uniform = models.cost(start_spec()), uniform_at_budget()
    seconds = time.perf_counter() - begin
    worker_seconds = sum(result["seconds"] for result in results.values())
    cpu_seconds = sum(result["cpu_seconds"] for result in results.values())

    with open(OUT, "w", newline="") as handle:
        handle.write(
            "# lwcnn NetAdapt vs uniform width scaling on distorted digits at the same predicted latency\n"
            "# command: .venv/bin/python benchmarks/netadapt.py\n"
            f"# machine: {latency.device_name()}; torch {torch.__version__}; Python {platform.python_version()}; "
            f"{args.jobs} processes of one thread\n"
            f"# date: {datetime.date.today().isoformat()}; run time {seconds:.0f} s; the processes ran "
            f"{worker_seconds:.0f} s, {cpu_seconds:.0f} s of it on a CPU (the cores are shared)\n"
            f"# network: lwcnn.scaling.digits_base() at width {WIDTH} ({start.macs} MACs, {start.params} "
            f"parameters), distorted digits at {IMAGE_SIZE}x{IMAGE_SIZE}; seeds {SEEDS}; holdout: "
            f"{HOLDOUT_DIGITS} training digits per class (all their copies)\n"
            "# predicted latency: the analytical MACs (lwcnn.models.cost), not a measured LatencyTable; "
            "measured_ms: batch 1, one thread, side by side, after the run\n"
            f"# start: {START_EPOCHS} epochs Adam lr {START_LR} cosine, batch {BATCH_SIZE}; budget: the uniform "
            f"network at most {BUDGET} x the start's predicted latency (width {uniform.width_multiplier:.4f}, "
            f"{uniform.latency / start.macs:.3f} x start); NetAdapt: decrement {DECREMENT} x start x "
            f"{DECREMENT_DECAY}^(i-1), channel step {CHANNEL_STEP}, short-term {SHORT_STEPS} batches {SHORT}; long-term {LONG_EPOCHS} epochs Adam lr "
            f"{LONG_LR} cosine; uniform: trained from scratch, Adam lr {START_LR}, as many epochs as NetAdapt's\n"
            f"# result: NetAdapt minus uniform test accuracy per seed (points): "
            f"{', '.join(f'{gain:+.2f}' for gain in gains)}; mean {statistics.fmean(gains):+.2f}\n"
        )
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    print(f"wrote {OUT.relative_to(paths.DATA_DIR.parent)}: {len(rows)} rows, {seconds:.0f} s")
    for seed, gain in zip(SEEDS, gains, strict=True):
        print(f"seed {seed}: NetAdapt minus uniform {gain:+.2f} points")
    print(f"netadapt_acc_gain_points={statistics.fmean(gains):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
