"""A small, seeded training loop for image classifiers, CPU first.

    from lwcnn.data import digits_loaders
    from lwcnn.models import small_mobilenet

    set_seed(0)                          # before building the model, so the weights repeat
    model = small_mobilenet()            # any nn.Module mapping images to logits
    history = train(model, digits_loaders(batch_size=32), epochs=4)   # ~2-4 s on a laptop CPU
    history.final_test_accuracy          # a fraction in [0, 1]: about 0.99 here
    plt.plot(history.as_dict()["test_accuracy"])

The loss is cross-entropy plus an optional `extra_loss(model)` term, which later lessons use for
regularisers such as network slimming's L1 penalty on batch-norm scales
(`lambda * sum(|gamma|)`, Liu et al. 2017, eq. 1).
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("cosine", "onecycle", "constant")
DEVICES = ("cpu", "cuda", "cuda:<index>", "mps")


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) random generators."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def resolve_device(device: str | torch.device) -> torch.device:
    """Check `device` and return it as a `torch.device`; fail clearly if it is not available."""
    allowed = f"allowed: {', '.join(repr(name) for name in DEVICES)}"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be a device name, got {device!r}; {allowed}") from error
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be a known device, got {device!r}; {allowed}")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device={device!r} asked for CUDA, but this PyTorch sees no CUDA GPU "
            f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); use device='cpu'."
        )
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise RuntimeError(
            f"device={device!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)."
        )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(
            f"device={device!r} asked for Apple's MPS, which is not available here; use 'cpu'."
        )
    return resolved


@dataclass(frozen=True)
class EpochRecord:
    """One row of a `History`: losses are per-sample means, accuracies fractions in [0, 1].

    `train_loss` and `train_accuracy` are running values over the epoch's batches (the model
    changes while they are measured); `extra_loss` is the mean `extra_loss(model)` per step
    (0 without one) and is *not* part of `train_loss`.
    """

    epoch: int
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
    extra_loss: float
    seconds: float


@dataclass
class History:
    """Per-epoch records of one `train` call."""

    rows: list[EpochRecord] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def final_test_accuracy(self) -> float:
        return self._last().test_accuracy

    @property
    def best_test_accuracy(self) -> float:
        return max(row.test_accuracy for row in self._nonempty_rows())

    @property
    def final_test_loss(self) -> float:
        return self._last().test_loss

    @property
    def total_seconds(self) -> float:
        return sum(row.seconds for row in self.rows)

    def as_dict(self) -> dict[str, list[float]]:
        """Column view for plotting: `{"epoch": [1, 2, ...], "test_accuracy": [...], ...}`."""
        names = EpochRecord.__dataclass_fields__
        return {name: [getattr(row, name) for row in self.rows] for name in names}

    def as_records(self) -> list[dict[str, float]]:
        """Row view, e.g. for `pandas.DataFrame(history.as_records())`."""
        return [asdict(row) for row in self.rows]

    def _nonempty_rows(self) -> list[EpochRecord]:
        if not self.rows:
            raise ValueError("this History is empty: train for at least one epoch")
        return self.rows

    def _last(self) -> EpochRecord:
        return self._nonempty_rows()[-1]


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, device: str | torch.device = "cpu") -> tuple[float, float]:
    """Mean cross-entropy and accuracy (fraction in [0, 1]) of `model` over `loader`, in eval mode.

    The model's train/eval mode is restored afterwards.
    """
    device = resolve_device(device)
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    try:
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            logits = model(images)
            total_loss += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += (logits.argmax(dim=1) == labels).sum().item()
            count += labels.numel()
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate got an empty loader")
    return total_loss / count, correct / count


def inference_copy(model: nn.Module) -> nn.Module:
    """A copy of `model` in eval mode that evaluates sooner: the same function, to float rounding.

    Every BatchNorm that follows a conv is folded into it, as a deployed network does
    (`lwcnn.quant.fold_network`), and the weights are stored channels-last, the layout oneDNN's
    CPU kernels run fastest in. `model` is unchanged.

    On 2 cores with one thread, lesson 08's slimmed networks read their 2160 test images in a
    median 1.2 s instead of 1.9 s (10 fresh settings); the logits differ from `model`'s in the
    last float bits only.
    """
    from lwcnn.quant import fold_network

    return fold_network(model).to(memory_format=torch.channels_last)


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module, loader: Iterable, device: str | torch.device = "cpu"
) -> nn.Module:
    """Re-estimate every BatchNorm's running mean and variance on `loader`'s images, weights kept.

    Running statistics gathered while the model was trained inside something larger (a supernet
    mixing candidate blocks, a network before pruning) describe inputs the model alone never
    sees. One pass in train mode with a cumulative average (`momentum=None`) replaces them by the
    statistics of this model's own activations. Returns `model` in eval mode, momenta restored.
    """
    device = resolve_device(device)
    batches = iter(loader)
    first = next(batches, None)
    if first is None:  # before anything changes: the model keeps the statistics it has
        raise ValueError("recalibrate_batchnorm got an empty loader")
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the batches
    model.train()
    for images, *_ in itertools.chain([first], batches):
        model(images.to(device))
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    return model.eval()


def _check_optimizer(name: str) -> None:
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def make_optimizer(
    name: str, parameters: Iterable[nn.Parameter], lr: float, weight_decay: float, momentum: float
) -> torch.optim.Optimizer:
    """The optimizer `train` uses for `name` (one of `OPTIMIZERS`); SGD with Nesterov momentum."""
    _check_optimizer(name)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(
        parameters, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=momentum > 0
    )


def _make_scheduler(
    name: str, optimizer: torch.optim.Optimizer, lr: float, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    # Stepped once per batch, not per epoch, so short runs still get a smooth schedule.
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps)
    return None


def _check_train_arguments(
    epochs: int, lr: float, optimizer: str, scheduler: str, weight_decay: float
) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    _check_optimizer(optimizer)
    if scheduler not in SCHEDULERS:
        raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {scheduler!r}")


def train(
    model: nn.Module,
    loaders: tuple[DataLoader, DataLoader],
    epochs: int,
    lr: float = 1e-2,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    scheduler: str = "cosine",
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: bool = True,
    extra_loss: Callable[[nn.Module], torch.Tensor] | None = None,
) -> History:
    """Train `model` in place on `loaders = (train_loader, test_loader)`; return its `History`.

    Each step minimises `cross_entropy + extra_loss(model)`. The learning rate follows
    `scheduler` per batch: "cosine" decays `lr` to 0, "onecycle" warms up to `lr` then decays,
    "constant" keeps it. `momentum` is used by "sgd" only. The test set is evaluated after every
    epoch.

    Seeding: `seed` seeds all generators (`set_seed`) and re-seeds the train loader's own
    shuffling generator when it has one, so the same call on the same starting weights gives the
    same history on the same machine and number of CPU threads (`torch.get_num_threads()`
    changes the order of floating-point sums). The weights are drawn when the model is built:
    call `set_seed` before that.

    Speed on a laptop: small models run about as fast on one thread as on several, and much
    faster than several when other programs keep the cores busy; `torch.set_num_threads(1)`.
    """
    _check_train_arguments(epochs, lr, optimizer, scheduler, weight_decay)
    device = resolve_device(device)
    train_loader, test_loader = loaders
    if len(train_loader) == 0:
        raise ValueError("the train loader is empty: it yields no batches")
    set_seed(seed)
    shuffle_generator = getattr(train_loader, "generator", None)
    if shuffle_generator is not None:
        shuffle_generator.manual_seed(seed)

    model.to(device)
    optim = make_optimizer(optimizer, model.parameters(), lr, weight_decay, momentum)
    schedule = _make_scheduler(scheduler, optim, lr, total_steps=epochs * len(train_loader))
    history = History()

    epoch_bar = tqdm(range(1, epochs + 1), desc="epochs", unit="epoch", disable=not progress)
    for epoch in epoch_bar:
        start = time.perf_counter()
        model.train()
        # Sums stay as tensors on the device: calling .item() every batch would sync a GPU.
        loss_sum = torch.zeros((), device=device)
        extra_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        count, steps = 0, 0
        batch_bar = tqdm(train_loader, desc=f"epoch {epoch}", leave=False, disable=not progress)
        for images, labels in batch_bar:
            images, labels = images.to(device), labels.to(device)
            logits = model(images)
            data_loss = F.cross_entropy(logits, labels)
            loss = data_loss
            if extra_loss is not None:
                penalty = extra_loss(model)
                loss = loss + penalty
                extra_sum += penalty.detach()
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            if schedule is not None:
                schedule.step()
            loss_sum += data_loss.detach() * labels.numel()
            correct += (logits.argmax(dim=1) == labels).sum()
            count += labels.numel()
            steps += 1
        test_loss, test_accuracy = evaluate(model, test_loader, device)
        row = EpochRecord(
            epoch=epoch,
            train_loss=loss_sum.item() / count,
            train_accuracy=correct.item() / count,
            test_loss=test_loss,
            test_accuracy=test_accuracy,
            extra_loss=extra_sum.item() / steps,
            seconds=time.perf_counter() - start,
        )
        history.rows.append(row)
        epoch_bar.set_postfix(loss=f"{row.train_loss:.3f}", test_acc=f"{row.test_accuracy:.3f}")
    return history
