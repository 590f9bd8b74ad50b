"""Tests of lwcnn.data: digits split and loaders, CIFAR-10 through torchvision's real loader."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lwcnn import data
from lwcnn.data import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR10_URL,
    DatasetNotFoundError,
    cifar10_loaders,
    cifar10_missing_files,
    digits_loaders,
    digits_tensors,
)

DIGITS_COUNT = 1797


def one_epoch(loader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(loader)


# --- digits: determinism ------------------------------------------------------------------------


def test_same_seed_gives_the_same_split():
    first, second = digits_tensors(image_size=None, seed=3), digits_tensors(image_size=None, seed=3)
    for a, b in zip(first, second, strict=True):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b)
        else:
            assert a == b


def test_different_seeds_give_different_splits():
    first, second = digits_tensors(image_size=None, seed=0), digits_tensors(image_size=None, seed=1)
    assert not torch.equal(first.test_labels, second.test_labels)


def test_same_seed_gives_the_same_batches_in_the_same_order():
    batches_a = one_epoch(digits_loaders(batch_size=100, image_size=None, seed=5)[0])
    batches_b = one_epoch(digits_loaders(batch_size=100, image_size=None, seed=5)[0])
    for (images_a, labels_a), (images_b, labels_b) in zip(batches_a, batches_b, strict=True):
        assert torch.equal(images_a, images_b)
        assert torch.equal(labels_a, labels_b)


def test_train_loader_reshuffles_each_epoch_and_test_loader_does_not():
    train_loader, test_loader = digits_loaders(batch_size=100, image_size=None)
    first, second = one_epoch(train_loader), one_epoch(train_loader)
    assert not torch.equal(first[0][1], second[0][1])
    test_labels = digits_tensors(image_size=None).test_labels
    assert torch.equal(torch.cat([labels for _, labels in test_loader]), test_labels)


def test_different_seeds_give_different_batches():
    labels_a = next(iter(digits_loaders(batch_size=100, image_size=None, seed=0)[0]))[1]
    labels_b = next(iter(digits_loaders(batch_size=100, image_size=None, seed=1)[0]))[1]
    assert not torch.equal(labels_a, labels_b)


# --- digits: shapes and values ------------------------------------------------------------------


@pytest.mark.parametrize("image_size", [32, None, 16])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_dtypes(image_size, channels):
    split = digits_tensors(image_size=image_size, channels=channels)
    side = 8 if image_size is None else image_size
    assert split.train_images.shape == (1437, channels, side, side)
    assert split.test_images.shape == (360, channels, side, side)
    assert split.train_images.dtype == torch.float32 and split.train_labels.dtype == torch.int64
    assert len(split.train_labels) + len(split.test_labels) == DIGITS_COUNT

    images, labels = next(iter(digits_loaders(batch_size=50, image_size=image_size, channels=channels)[0]))
    assert images.shape == (50, channels, side, side) and labels.shape == (50,)


def test_three_channels_replicate_the_grey_image():
    grey = digits_tensors(channels=1).train_images
    colour = digits_tensors(channels=3).train_images
    for channel in range(3):
        assert torch.equal(colour[:, channel], grey[:, 0])


def test_normalised_with_training_statistics():
    split = digits_tensors(image_size=32)
    assert split.train_images.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert split.train_images.std().item() == pytest.approx(1.0, abs=1e-5)
    # The test set is normalised with the *training* statistics, so it is close but not exact.
    assert abs(split.test_images.mean().item()) < 0.1
    assert split.test_images.std().item() == pytest.approx(1.0, abs=0.1)


def test_unnormalised_pixels_are_in_unit_range_and_invertible():
    raw = digits_tensors(image_size=None, normalize=False)
    assert raw.mean == 0.0 and raw.std == 1.0
    assert raw.train_images.min().item() == 0.0 and raw.train_images.max().item() == 1.0
    # 8x8 pixels are the original 0..16 values divided by 16.
    assert torch.equal(raw.train_images * 16, (raw.train_images * 16).round())

    normalised = digits_tensors(image_size=None)
    assert torch.allclose(
        normalised.train_images * normalised.std + normalised.mean, raw.train_images, atol=1e-6
    )


def test_resized_pixels_stay_in_unit_range():
    resized = digits_tensors(image_size=32, normalize=False)
    assert resized.train_images.min().item() >= 0.0 and resized.train_images.max().item() <= 1.0


# --- digits: stratification -------------------------------------------------------------------


def test_every_class_is_balanced_in_train_and_test():
    split = digits_tensors(image_size=None)
    all_counts = np.bincount(np.concatenate([split.train_labels.numpy(), split.test_labels.numpy()]))
    for labels, fraction in ((split.train_labels, 0.8), (split.test_labels, 0.2)):
        counts = np.bincount(labels.numpy(), minlength=10)
        assert np.all(np.abs(counts - fraction * all_counts) <= 1)


@settings(max_examples=25, deadline=None)
@given(test_fraction=st.floats(min_value=0.05, max_value=0.95), seed=st.integers(0, 2**31 - 1))
def test_split_is_a_stratified_partition(test_fraction, seed):
    labels = data._load_digits_arrays()[1]
    train_indices, test_indices = data._stratified_split(labels, test_fraction, seed)
    assert len(test_indices) == math.ceil(test_fraction * DIGITS_COUNT)  # scikit-learn rounds up
    assert np.array_equal(np.sort(np.concatenate([train_indices, test_indices])), np.arange(DIGITS_COUNT))
    # Stratified: each class's share of the test set matches its share of the data, to one image.
    class_sizes = np.bincount(labels)
    test_counts = np.bincount(labels[test_indices], minlength=10)
    expected = class_sizes * len(test_indices) / DIGITS_COUNT
    assert np.all(np.abs(test_counts - expected) <= 1)


# --- argument validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": -4}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"test_fraction": 0.0}, "test_fraction"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"test_fraction": 1.5}, "test_fraction"),
        ({"channels": 2}, r"channels must be one of \(1, 3\)"),
        ({"image_size": 0}, "image_size"),
        ({"seed": -1}, "seed"),
    ],
)
def test_digits_loaders_reject_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        digits_loaders(**arguments)


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match="colour"):
        digits_loaders(colour=True)


def test_cifar10_loaders_reject_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="batch_size"):
        cifar10_loaders(tmp_path, batch_size=0)
    with pytest.raises(ValueError, match="num_workers"):
        cifar10_loaders(tmp_path, num_workers=-1)


# --- CIFAR-10 -----------------------------------------------------------------------------------

IMAGES_PER_BATCH = 4  # fake files: 5 x 4 training images, 4 test images


def write_fake_cifar10(root) -> None:
    """A tiny folder in CIFAR-10's format: pickled dicts of uint8 (N, 3072) rows and labels.

    The real files are Python 2 pickles whose str keys load as str with encoding="latin1",
    which is what torchvision indexes ("data", "labels"), so the fake uses str keys too.
    Every image is one constant colour: image i of a file has channels (i, 2i, 3i) + offset.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for file_index, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        pixels = np.zeros((IMAGES_PER_BATCH, 3, 32 * 32), dtype=np.uint8)
        for image in range(IMAGES_PER_BATCH):
            for channel in range(3):
                pixels[image, channel] = 10 * file_index + image * (channel + 1)
        labels = [(file_index + image) % 10 for image in range(IMAGES_PER_BATCH)]
        with open(folder / name, "wb") as file:
            pickle.dump({"data": pixels.reshape(IMAGES_PER_BATCH, 3072), "labels": labels}, file)
    with open(folder / "batches.meta", "wb") as file:
        pickle.dump({"label_names": list(data.CIFAR10_CLASSES)}, file)


@pytest.fixture
def fake_cifar10(tmp_path, monkeypatch):
    """The fake folder, with torchvision's md5 checks switched off (md5=None means "exists")."""
    from torchvision.datasets import CIFAR10

    write_fake_cifar10(tmp_path)
    monkeypatch.setattr(CIFAR10, "train_list", [[name, None] for name, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, "test_list", [[name, None] for name, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": None})
    return tmp_path


def test_cifar10_reads_the_files_through_torchvision(fake_cifar10):
    train_loader, test_loader = cifar10_loaders(fake_cifar10, batch_size=3)
    assert len(train_loader.dataset) == 5 * IMAGES_PER_BATCH
    assert len(test_loader.dataset) == IMAGES_PER_BATCH
    images, labels = next(iter(train_loader))
    assert images.shape == (3, 3, 32, 32) and images.dtype == torch.float32
    assert labels.shape == (3,) and labels.dtype == torch.int64

    # The test loader keeps the file's order: image i has pixels (i, 2i, 3i) + 50, label (5+i)%10.
    test_images = torch.cat([images for images, _ in test_loader])
    test_labels = torch.cat([labels for _, labels in test_loader])
    assert test_labels.tolist() == [(5 + image) % 10 for image in range(IMAGES_PER_BATCH)]
    mean, std = torch.tensor(CIFAR10_MEAN), torch.tensor(CIFAR10_STD)
    for image in range(IMAGES_PER_BATCH):
        raw = torch.tensor([50 + image * (channel + 1) for channel in range(3)]) / 255
        expected = ((raw - mean) / std).view(3, 1, 1).expand(3, 32, 32)
        assert torch.allclose(test_images[image], expected, atol=1e-6)


def test_cifar10_resize_augment_and_seeded_shuffle(fake_cifar10):
    train_loader, test_loader = cifar10_loaders(fake_cifar10, batch_size=20, image_size=40, augment=True)
    assert next(iter(train_loader))[0].shape == (20, 3, 40, 40)
    assert next(iter(test_loader))[0].shape == (4, 3, 40, 40)

    def first_labels(seed):
        return next(iter(cifar10_loaders(fake_cifar10, batch_size=20, seed=seed)[0]))[1]

    assert torch.equal(first_labels(0), first_labels(0))
    assert not torch.equal(first_labels(0), first_labels(1))


def test_missing_cifar10_raises_a_clear_error(tmp_path):
    with pytest.raises(DatasetNotFoundError) as raised:
        cifar10_loaders(tmp_path)
    assert isinstance(raised.value, FileNotFoundError)
    message = str(raised.value)
    assert CIFAR10_URL in message
    assert f"{tmp_path}/cifar-10-batches-py/" in message
    assert "download=True" in message
    assert "data_batch_1" in message and "test_batch" in message
    assert len(cifar10_missing_files(tmp_path)) == 7


def test_partial_cifar10_names_the_missing_file(fake_cifar10):
    (fake_cifar10 / "cifar-10-batches-py" / "data_batch_3").unlink()
    assert cifar10_missing_files(fake_cifar10) == ["data_batch_3"]
    with pytest.raises(FileNotFoundError, match=r"lacks data_batch_3\."):
        cifar10_loaders(fake_cifar10)


def test_corrupted_cifar10_fails_the_checksum(tmp_path):
    write_fake_cifar10(tmp_path)  # real md5 sums are checked here, and the fake files fail them
    with pytest.raises(RuntimeError, match="corrupted"):
        cifar10_loaders(tmp_path)


# --- distorted digits: the harder task ----------------------------------------------------------


def test_distorted_digits_shapes_counts_and_balance():
    split = data.distorted_digits_tensors(normalize=False)
    copies, per_class = data.DISTORTED_TRAIN_COPIES, data.DISTORTED_TRAIN_PER_CLASS
    assert split.train_images.shape == (10 * per_class * copies, 1, 32, 32)
    assert torch.bincount(split.train_labels).tolist() == [per_class * copies] * 10
    # the test images are every test digit of digits' own split, DISTORTED_TEST_COPIES times each
    digits_test = digits_tensors(image_size=None).test_labels
    expected = (torch.bincount(digits_test) * data.DISTORTED_TEST_COPIES).tolist()
    assert torch.bincount(split.test_labels).tolist() == expected
    assert len(split.test_labels) >= 2000  # one test image weighs at most 0.05 points
    for images in (split.train_images, split.test_images):
        assert images.min() >= 0 and images.max() <= 1
        assert torch.equal(torch.round(images * 255), images * 255)  # 8-bit pixels, exactly


def test_distorted_digits_are_the_same_for_a_seed_and_differ_across_seeds():
    first, again = data.distorted_digits_tensors(seed=3), data.distorted_digits_tensors(seed=3)
    assert torch.equal(first.train_images, again.train_images)
    assert torch.equal(first.test_images, again.test_images)
    other = data.distorted_digits_tensors(seed=4)
    assert not torch.equal(first.test_images, other.test_images)


@pytest.mark.parametrize(
    "make", [data.digits_tensors, data.distorted_digits_tensors], ids=lambda f: f.__name__
)
def test_changing_a_split_leaves_the_next_call_as_made(make):
    """A label-noise experiment writes into its split: the next call for the seed is untouched."""
    first = make(seed=0)
    labels, images = first.train_labels.clone(), first.train_images.clone()
    first.train_labels[:] = 0
    first.test_labels[:] = 0
    first.train_images[:] = 0
    again = make(seed=0)
    assert torch.equal(again.train_labels, labels) and torch.equal(again.train_images, images)
    assert bool(again.test_labels.any())


def test_distorted_copies_of_one_digit_differ_and_the_test_digits_are_never_trained_on():
    split = data.distorted_digits_tensors(normalize=False)
    copies = data.DISTORTED_TEST_COPIES
    first_digit = split.test_images[:copies]
    assert all(not torch.equal(first_digit[0], image) for image in first_digit[1:])
    assert len(set(split.test_labels[:copies].tolist())) == 1
    # the train and test digits come from digits' disjoint split (test_split_is_a_stratified_partition)
    pixels, labels = data._load_digits_arrays()
    train_indices, test_indices = data._stratified_split(labels, 0.2, 0)
    assert not set(train_indices) & set(test_indices)


def test_an_undistorted_digit_comes_back_as_the_upscaled_digit():
    """With every distortion off, the affine sampling is the plain 4x bilinear upscale."""
    pixels, _ = data._load_digits_arrays()
    off = {**data.DISTORTION, "rotation_degrees": 0.0, "scale": (1.0, 1.0), "shear": 0.0}
    off |= {"shift_pixels": 0.0, "noise": 0.0, "erase_probability": 0.0}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(data, "DISTORTION", off)
        made = data._distort(pixels[:5], 1, np.random.default_rng(0)).astype(np.float64) / 255
    upscaled = data._to_images(pixels[:5], 32)[:, 0].numpy()
    # torch's bilinear resize clamps at the border where we fade to zero: compare the inside
    assert np.abs(made[:, 2:-2, 2:-2] - upscaled[:, 2:-2, 2:-2]).max() <= 1 / 255


def test_distorted_digits_are_harder_but_learnable():
    """A nearest-centroid classifier: well above chance on the distorted test images, and far
    below what it reaches on plain digits."""

    def centroid_accuracy(split):
        flat_train, flat_test = split.train_images.flatten(1), split.test_images.flatten(1)
        centroids = torch.stack([flat_train[split.train_labels == c].mean(0) for c in range(10)])
        predicted = torch.cdist(flat_test, centroids).argmin(1)
        return (predicted == split.test_labels).float().mean().item()

    distorted = centroid_accuracy(data.distorted_digits_tensors())
    plain = centroid_accuracy(digits_tensors(image_size=32))
    assert 0.2 < distorted < plain - 0.2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: data.distorted_digits_tensors(seed=-1), "seed"),
        (lambda: data.distorted_digits_tensors(channels=2), r"channels must be one of \(1, 3\)"),
        (lambda: data.distorted_digits_loaders(batch_size=0), "batch_size"),
        (
            lambda: data.dataset_loaders("mnist"),
            r"dataset must be one of \('digits', 'distorted'\), got 'mnist'",
        ),
    ],
)
def test_distorted_digits_reject_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_dataset_loaders_give_both_tasks_at_32x32():
    for name in data.DATASETS:
        train_loader, test_loader = data.dataset_loaders(name, batch_size=16)
        images, _ = next(iter(train_loader))
        assert images.shape == (16, 1, 32, 32)
        assert len(test_loader.dataset) >= 360


@pytest.mark.parametrize("image_size", [12, 24, 36])
def test_distorted_digits_resize_to_any_side_and_keep_the_pictures(image_size):
    native = data.distorted_digits_tensors(normalize=False)
    resized = data.distorted_digits_tensors(normalize=False, image_size=image_size)
    assert resized.train_images.shape == (2400, 1, image_size, image_size)
    assert torch.equal(resized.test_labels, native.test_labels)
    assert 0.0 <= resized.train_images.min() and resized.train_images.max() <= 1.0
    # the same pictures: each one's mean brightness is kept to within a few percent of the range
    assert (resized.test_images.mean((1, 2, 3)) - native.test_images.mean((1, 2, 3))).abs().max() < 0.03
    assert torch.equal(
        data.distorted_digits_tensors(normalize=False, image_size=32).test_images, native.test_images
    )
    with pytest.raises(ValueError, match="image_size"):
        data.distorted_digits_tensors(image_size=0)
