"""Benchmark: train small_mobilenet on 32x32 digits with the course's recipe; time it.

    .venv/bin/python benchmarks/train_digits.py [--conv standard] [--threads 1]

The recipe (4 epochs, batch 32, Adam at 1e-2 with a cosine schedule) is the one
tests/test_train.py asserts reaches >= 95% test accuracy; this script adds the timing, which
the tests leave out. The last line is machine-readable:

    digits_test_accuracy=<fraction> train_seconds=<seconds of the train() call>

The first torch optimizer made in a process imports torch._dynamo (about 2 s, once per process,
paid by the first `train` in a notebook too); it is timed and printed separately so that
train_seconds measures the training.
"""

from __future__ import annotations

import argparse
import time

import torch

from lwcnn.data import digits_loaders
from lwcnn.models import SmallMobileNet
from lwcnn.train import set_seed, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conv", choices=("separable", "standard"), default="separable")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    args = parser.parse_args()

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    loaders = digits_loaders(batch_size=args.batch_size, image_size=32, seed=args.seed)
    set_seed(args.seed)
    spec = SmallMobileNet(conv=args.conv)
    model = spec.build()
    cost = spec.cost(32)
    print(f"small_mobilenet(conv={args.conv!r}): params={cost.params} macs={cost.macs}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")

    start = time.perf_counter()
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    print(f"one-time optimizer import: {time.perf_counter() - start:.2f} s")

    start = time.perf_counter()
    history = train(model, loaders, epochs=args.epochs, lr=args.lr, seed=args.seed, progress=False)
    train_seconds = time.perf_counter() - start

    for row in history.rows:
        print(
            f"epoch {row.epoch}: train_loss={row.train_loss:.4f} train_accuracy={row.train_accuracy:.4f} "
            f"test_loss={row.test_loss:.4f} test_accuracy={row.test_accuracy:.4f} seconds={row.seconds:.2f}"
        )
    print(f"digits_test_accuracy={history.final_test_accuracy:.4f} train_seconds={train_seconds:.2f}")


if __name__ == "__main__":
    main()
