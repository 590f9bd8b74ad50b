"""Datasets of the course, as ready-to-train PyTorch loaders. Nothing here downloads, ever.

- **digits** (default): scikit-learn's handwritten digits, 1797 grey 8x8 images of 10 classes.
  They ship inside scikit-learn, so every lesson runs offline in seconds on a laptop CPU.
- **CIFAR-10**: 60000 colour 32x32 images of 10 classes, read by torchvision from files you
  fetched once (see `cifar10_loaders` for where to get them).

Every shuffle is driven by a seeded `torch.Generator`: two runs with the same seed see the same
split and the same batches in the same order.

    >>> train_loader, test_loader = digits_loaders(batch_size=64, image_size=32)
    >>> images, labels = next(iter(train_loader))
    >>> images.shape, labels.shape
    (torch.Size([64, 1, 32, 32]), torch.Size([64]))
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

DIGITS_CLASSES = tuple(str(digit) for digit in range(10))
ALLOWED_CHANNELS = (1, 3)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
# Per-channel statistics of the 50000 CIFAR-10 training images, the values most code uses.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not on disk; the message says how to get them."""


class DigitsSplit(NamedTuple):
    """The digits train/test split as tensors: images are (N, C, H, W) float32, labels (N,) int64.

    `mean` and `std` are the normalisation that was applied (0 and 1 when `normalize=False`), so
    `images * std + mean` gives back pixel values in [0, 1] for plotting.
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    mean: float
    std: float


# --- argument checks -------------------------------------------------------------------------


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def _check_image_size(image_size: int | None) -> None:
    if image_size is not None:
        _check_positive_int("image_size", image_size)


def _check_test_fraction(test_fraction: float) -> None:
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)):
        raise ValueError(f"test_fraction must be a number strictly between 0 and 1, got {test_fraction!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}")


def _check_channels(channels: int) -> None:
    if channels not in ALLOWED_CHANNELS or isinstance(channels, bool):
        raise ValueError(f"channels must be one of {ALLOWED_CHANNELS}, got {channels!r}")


# --- digits ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as (N, 8, 8) pixel values 0..16 and (N,) labels; read once per process."""
    from sklearn.datasets import load_digits  # imported here: sklearn is slow to import

    digits = load_digits()
    return digits.images.astype(np.float32), digits.target.astype(np.int64)


def _stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices with each class in (almost exactly) the same proportion in both."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    train_indices, test_indices = train_test_split(
        indices, test_size=test_fraction, stratify=labels, random_state=seed
    )
    return train_indices, test_indices


def _to_images(pixels: np.ndarray, image_size: int | None) -> torch.Tensor:
    """(N, 8, 8) pixels 0..16 -> (N, 1, S, S) float32 in [0, 1], bilinear-resized to S."""
    images = torch.from_numpy(pixels / np.float32(16.0)).unsqueeze(1)
    if image_size is not None and image_size != images.shape[-1]:
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
        # Bilinear interpolation of values in [0, 1] stays in [0, 1] up to rounding; clamp that away.
        images = images.clamp_(0.0, 1.0)
    return images


def _replicate_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    # expand is a view, so copy: each channel gets its own storage for in-place transforms later.
    return images.expand(-1, channels, -1, -1).contiguous() if channels > 1 else images


def digits_tensors(
    image_size: int | None = 32,
    test_fraction: float = 0.2,
    seed: int = 0,
    channels: int = 1,
    normalize: bool = True,
) -> DigitsSplit:
    """The digits dataset as a stratified train/test split of tensors (for plots and notebooks).

    Pixels are scaled to [0, 1], optionally resized to `image_size` x `image_size` (bilinear;
    `None` keeps 8x8), replicated to `channels` (3 for ImageNet-style stems) and, with
    `normalize`, standardised as `(x - mean) / std` with the mean and std of the *training*
    images, so no test statistic leaks into training.

        >>> split = digits_tensors(image_size=None)
        >>> split.train_images.shape, split.test_images.shape
        (torch.Size([1437, 1, 8, 8]), torch.Size([360, 1, 8, 8]))
    """
    _check_seed(seed)
    _check_image_size(image_size)
    _check_test_fraction(test_fraction)
    _check_channels(channels)

    pixels, labels = _load_digits_arrays()
    train_indices, test_indices = _stratified_split(labels, test_fraction, seed)
    train_images = _to_images(pixels[train_indices], image_size)
    test_images = _to_images(pixels[test_indices], image_size)

    return _split(
        train_images,
        torch.from_numpy(labels[train_indices]),
        test_images,
        torch.from_numpy(labels[test_indices]),
        channels,
        normalize,
    )


def _split(
    train_images, train_labels, test_images, test_labels, channels: int, normalize: bool
) -> DigitsSplit:
    """A `DigitsSplit`, standardised with the *training* images' mean and std (`normalize`), then
    replicated to `channels`, so 3 channels are exactly 3 copies of the grey image."""
    mean, std = 0.0, 1.0
    if normalize:
        mean, std = train_images.mean().item(), train_images.std().item()
        train_images = (train_images - mean) / std
        test_images = (test_images - mean) / std
    return DigitsSplit(
        train_images=_replicate_channels(train_images, channels),
        train_labels=train_labels,
        test_images=_replicate_channels(test_images, channels),
        test_labels=test_labels,
        mean=mean,
        std=std,
    )


def _seeded_generator(seed: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def digits_loaders(
    batch_size: int = 64,
    image_size: int | None = 32,
    test_fraction: float = 0.2,
    seed: int = 0,
    channels: int = 1,
    normalize: bool = True,
) -> tuple[DataLoader, DataLoader]:
    """Train and test loaders over the digits split of `digits_tensors` (same arguments).

    The train loader reshuffles every epoch from a `torch.Generator` seeded with `seed`, so two
    runs see the same batches; the test loader keeps a fixed order.
    """
    _check_positive_int("batch_size", batch_size)
    return _split_loaders(
        digits_tensors(image_size, test_fraction, seed, channels, normalize), batch_size, seed
    )


def _split_loaders(split: DigitsSplit, batch_size: int, seed: int) -> tuple[DataLoader, DataLoader]:
    """A train loader reshuffled every epoch by a generator seeded with `seed`, a test loader in order."""
    train_loader = DataLoader(
        TensorDataset(split.train_images, split.train_labels),
        batch_size=batch_size,
        shuffle=True,
        generator=_seeded_generator(seed),
    )
    test_loader = DataLoader(
        TensorDataset(split.test_images, split.test_labels), batch_size=batch_size, shuffle=False
    )
    return train_loader, test_loader


# --- distorted digits: the harder task --------------------------------------------------------

# How each distorted copy of a digit is drawn (uniform ranges; all at 32x32, pixels in [0, 1]).
DISTORTION = {
    "rotation_degrees": 30.0,  # turned by up to this much either way
    "scale": (0.75, 1.2),  # zoomed by a factor in this range
    "shear": 0.3,  # slanted by up to this much either way
    "shift_pixels": 4.0,  # moved by up to this many pixels (of 32) along each axis
    "noise": 0.2,  # then Gaussian noise of this standard deviation
    "erase_probability": 0.4,  # and, this often, a square of 8 to 12 pixels wiped out
    "erase_pixels": (8, 12),
}
DISTORTED_SIZE = 32
DISTORTED_TRAIN_PER_CLASS = 30  # training digits per class (of the about 144 the split holds)
DISTORTED_TRAIN_COPIES = 8  # distorted copies of each training digit
DISTORTED_TEST_COPIES = 6  # distorted copies of each of the 360 test digits: 2160 test images


def _distort(pixels: np.ndarray, copies: int, rng: np.random.Generator) -> np.ndarray:
    """`copies` distorted 32x32 versions of each 8x8 digit, as uint8 (N * copies, 32, 32).

    Each copy is one random affine map (rotation, zoom, shear, shift) sampled bilinearly from
    the 8x8 image straight onto the 32x32 grid, then noise and, sometimes, a wiped-out square.
    All in float64 numpy and rounded to 8 bits at the end, so every machine makes the same images.
    """
    d, size = DISTORTION, DISTORTED_SIZE
    count = len(pixels) * copies
    source = np.repeat(pixels.astype(np.float64) / 16.0, copies, axis=0)
    angle = np.deg2rad(rng.uniform(-d["rotation_degrees"], d["rotation_degrees"], count))
    scale = rng.uniform(*d["scale"], count)
    shear = rng.uniform(-d["shear"], d["shear"], count)
    shift = rng.uniform(-d["shift_pixels"], d["shift_pixels"], (count, 2)) * 8 / size
    # the inverse map, from an output pixel to the point of the 8x8 image it shows (centred coordinates)
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    inverse = np.stack([np.stack([cos, sin + shear * cos], -1), np.stack([-sin, cos - shear * sin], -1)], -2)
    grid = (np.arange(size) + 0.5) * 8 / size - 4  # output pixel centres in 8x8 units, centred
    ys, xs = np.meshgrid(grid, grid, indexing="ij")
    points = np.stack([ys, xs], -1).reshape(1, -1, 2) - shift[:, None, :]
    src = points @ inverse.transpose(0, 2, 1) + 4 - 0.5  # to 8x8 pixel indices
    images = _bilinear(source, src[..., 0], src[..., 1]).reshape(count, size, size)
    images += rng.normal(0.0, d["noise"], images.shape)
    erase = rng.random(count) < d["erase_probability"]
    sides = rng.integers(d["erase_pixels"][0], d["erase_pixels"][1] + 1, count)
    corners = rng.integers(0, size - sides[:, None] + 1, (count, 2))
    for index in np.flatnonzero(erase):
        (top, left), side = corners[index], sides[index]
        images[index, top : top + side, left : left + side] = 0.0
    return np.rint(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)


def _bilinear(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Each image sampled at its (rows, cols) points, bilinearly; zero outside the image."""
    count, height, width = images.shape
    r0, c0 = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
    fr, fc = rows - r0, cols - c0
    padded = np.zeros((count, height + 2, width + 2))
    padded[:, 1:-1, 1:-1] = images
    r0, c0 = np.clip(r0 + 1, 0, height), np.clip(c0 + 1, 0, width)  # into the padded frame
    inside = (rows > -1) & (rows < height) & (cols > -1) & (cols < width)
    index = np.arange(count)[:, None]
    top = padded[index, r0, c0] * (1 - fc) + padded[index, r0, c0 + 1] * fc
    bottom = padded[index, r0 + 1, c0] * (1 - fc) + padded[index, r0 + 1, c0 + 1] * fc
    return np.where(inside, top * (1 - fr) + bottom * fr, 0.0)


@functools.lru_cache(maxsize=4)
def _distorted_arrays(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train images and labels, test images and labels of the distorted digits (uint8 32x32)."""
    pixels, labels = _load_digits_arrays()
    train_indices, test_indices = _stratified_split(labels, 0.2, seed)
    kept = np.concatenate(
        [train_indices[labels[train_indices] == digit][:DISTORTED_TRAIN_PER_CLASS] for digit in range(10)]
    )
    rng = np.random.default_rng(seed)
    train_images = _distort(pixels[kept], DISTORTED_TRAIN_COPIES, rng)
    test_images = _distort(pixels[test_indices], DISTORTED_TEST_COPIES, rng)
    return (
        train_images,
        np.repeat(labels[kept], DISTORTED_TRAIN_COPIES),
        test_images,
        np.repeat(labels[test_indices], DISTORTED_TEST_COPIES),
    )


def _resized(images: torch.Tensor, image_size: int | None) -> torch.Tensor:
    """(N, 1, 32, 32) images in [0, 1] bilinear-resized to `image_size` (antialiased when shrinking),
    in float64 so that the float32 result is the same on every machine."""
    if image_size is None or image_size == images.shape[-1]:
        return images
    shrink = image_size < images.shape[-1]
    resized = F.interpolate(
        images.double(), size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=shrink
    )
    return resized.clamp_(0.0, 1.0).float()


def distorted_digits_tensors(
    seed: int = 0, channels: int = 1, normalize: bool = True, image_size: int | None = None
) -> DigitsSplit:
    """The harder task: digits at 32x32, turned, zoomed, slanted, moved, noisy, sometimes half
    wiped out (`DISTORTION`), with few training digits.

    The digits are split as `digits_tensors` splits them (stratified, 80/20, by `seed`); the
    training images are `DISTORTED_TRAIN_COPIES` copies of `DISTORTED_TRAIN_PER_CLASS` training
    digits per class, the test images `DISTORTED_TEST_COPIES` copies of every test digit, so no
    test digit is ever trained on and one test image weighs under 0.05 points. Made in about a
    second from scikit-learn's digits, the same on every machine for a seed. `image_size` resizes
    the 32x32 images (bilinear, antialiased when shrinking): the same pictures at another
    resolution, for lesson 11's resolution scaling.

        >>> split = distorted_digits_tensors()
        >>> split.train_images.shape, split.test_images.shape
        (torch.Size([2400, 1, 32, 32]), torch.Size([2160, 1, 32, 32]))
        >>> distorted_digits_tensors(image_size=24).test_images.shape
        torch.Size([2160, 1, 24, 24])
    """
    _check_seed(seed)
    _check_channels(channels)
    _check_image_size(image_size)
    train_pixels, train_labels, test_pixels, test_labels = _distorted_arrays(seed)
    train_images = _resized(torch.from_numpy(train_pixels).unsqueeze(1).double() / 255, image_size)
    test_images = _resized(torch.from_numpy(test_pixels).unsqueeze(1).double() / 255, image_size)
    train_images, test_images = train_images.float(), test_images.float()
    return _split(  # the labels copied: the cached arrays stay as made for the next call
        train_images,
        torch.from_numpy(train_labels.copy()),
        test_images,
        torch.from_numpy(test_labels.copy()),
        channels,
        normalize,
    )


def distorted_digits_loaders(
    batch_size: int = 64,
    seed: int = 0,
    channels: int = 1,
    normalize: bool = True,
    image_size: int | None = None,
) -> tuple[DataLoader, DataLoader]:
    """Train and test loaders over `distorted_digits_tensors` (same arguments), shuffled and
    ordered as `digits_loaders` does."""
    _check_positive_int("batch_size", batch_size)
    return _split_loaders(distorted_digits_tensors(seed, channels, normalize, image_size), batch_size, seed)


DATASETS = ("digits", "distorted")  # the offline tasks `dataset_loaders` makes


def dataset_loaders(dataset: str, batch_size: int = 64, seed: int = 0) -> tuple[DataLoader, DataLoader]:
    """Train and test loaders of one of `DATASETS` at 32x32, one channel, normalised, split by `seed`."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if dataset == "distorted":
        return distorted_digits_loaders(batch_size=batch_size, seed=seed)
    return digits_loaders(batch_size=batch_size, image_size=32, seed=seed)


# --- CIFAR-10 --------------------------------------------------------------------------------


def cifar10_missing_files(root: str | os.PathLike = "data") -> list[str]:
    """The CIFAR-10 files absent from `<root>/cifar-10-batches-py/` (empty when all are there)."""
    folder = Path(root) / CIFAR10_FOLDER
    return [name for name in CIFAR10_FILES if not (folder / name).is_file()]


def _cifar10_not_found_message(root: str | os.PathLike, missing: list[str]) -> str:
    folder = Path(root) / CIFAR10_FOLDER
    if len(missing) == len(CIFAR10_FILES):
        problem = f"there is no {folder}/ (looked in {folder.resolve()}/)"
    else:
        problem = f"{folder}/ lacks {', '.join(missing)}"
    return (
        f"CIFAR-10 not found: {problem}. lwcnn never downloads at run time. To get the files:\n"
        f"  1. download {CIFAR10_URL} (about 170 MB) and extract it into {root}/, e.g.\n"
        f"       tar -xzf cifar-10-python.tar.gz -C {root}\n"
        f"     so that {folder}/ exists with data_batch_1..5, test_batch and batches.meta; or\n"
        f"  2. on a machine with a network, run once\n"
        f'       python -c "import torchvision; torchvision.datasets.CIFAR10({str(root)!r}, download=True)"\n'
        f"     and copy the {CIFAR10_FOLDER}/ folder it creates into {root}/ on this machine."
    )


def cifar10_loaders(
    root: str | os.PathLike = "data",
    batch_size: int = 128,
    image_size: int | None = None,
    augment: bool = False,
    seed: int = 0,
    num_workers: int = 0,
) -> tuple[DataLoader, DataLoader]:
    """Train (50000 images) and test (10000) loaders of CIFAR-10 from `<root>/cifar-10-batches-py/`.

    Images are (3, 32, 32) tensors normalised per channel with `CIFAR10_MEAN` / `CIFAR10_STD`,
    resized to `image_size` when given. `augment` adds the usual random crop (padding 4) and
    horizontal flip to the training images. The files are never downloaded here: when they are
    missing this raises `DatasetNotFoundError` (a `FileNotFoundError`) saying how to get them.
    """
    from torchvision import datasets, transforms  # imported here: torchvision is slow to import

    _check_positive_int("batch_size", batch_size)
    _check_seed(seed)
    _check_image_size(image_size)
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be a non-negative integer, got {num_workers!r}")

    missing = cifar10_missing_files(root)
    if missing:
        raise DatasetNotFoundError(_cifar10_not_found_message(root, missing))

    resize = [transforms.Resize(image_size, antialias=True)] if image_size not in (None, 32) else []
    to_normalized_tensor = [transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)]
    augmentation = (
        [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()] if augment else []
    )
    train_transform = transforms.Compose(augmentation + resize + to_normalized_tensor)
    test_transform = transforms.Compose(resize + to_normalized_tensor)

    try:
        train_set = datasets.CIFAR10(root, train=True, download=False, transform=train_transform)
        test_set = datasets.CIFAR10(root, train=False, download=False, transform=test_transform)
    except RuntimeError as error:  # torchvision's "not found or corrupted": the md5 sums differ
        raise RuntimeError(
            f"CIFAR-10 files in {Path(root) / CIFAR10_FOLDER}/ are corrupted or incomplete "
            f"(checksum mismatch). Delete that folder and extract {CIFAR10_URL} again."
        ) from error

    train_loader = DataLoader(
        train_set,
        batch_size=batch_size,
        shuffle=True,
        generator=_seeded_generator(seed),
        num_workers=num_workers,
    )
    test_loader = DataLoader(test_set, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    return train_loader, test_loader
