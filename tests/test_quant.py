"""lwcnn.quant against PyTorch's own quantization, bit for bit: the MinMax and per-channel
MinMax observers' scales and zero points, `quantize_per_tensor` / `quantize_per_channel` codes
and their dequantized values, and the `fake_quantize_per_*_affine` kernels; plus the ~6 dB per
bit of a signal that fills the grid, and the errors a bad argument raises."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lwcnn import quant
from lwcnn.quant import Scheme

# torch 2.14 warns that its quantized tensors are deprecated; they are the reference here
pytestmark = pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions:UserWarning")


@st.composite
def tensors(draw, min_dims: int = 1, max_dims: int = 4):
    """A float32 tensor with a random shape, spread and offset (all-positive and all-negative too)."""
    shape = draw(st.lists(st.integers(1, 6), min_size=min_dims, max_size=max_dims))
    seed = draw(st.integers(0, 2**31 - 1))
    spread = draw(st.sampled_from([1e-3, 0.05, 1.0, 30.0]))
    offset = draw(st.sampled_from([0.0, 0.5, -0.5, 3.0, -3.0]))
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator) * spread + offset * spread


schemes = st.builds(
    Scheme,
    bits=st.integers(2, 8),
    symmetric=st.booleans(),
    signed=st.none(),
)


def _torch_dtype(scheme: Scheme) -> torch.dtype:
    return torch.qint8 if scheme.signed else torch.quint8


def _torch_qscheme(scheme: Scheme) -> torch.qscheme:
    if scheme.axis is None:
        return torch.per_tensor_symmetric if scheme.symmetric else torch.per_tensor_affine
    return torch.per_channel_symmetric if scheme.symmetric else torch.per_channel_affine


def _observer(scheme: Scheme):
    from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

    options = {
        "dtype": _torch_dtype(scheme),
        "qscheme": _torch_qscheme(scheme),
        "quant_min": scheme.quant_min,
        "quant_max": scheme.quant_max,
    }
    if scheme.axis is None:
        return MinMaxObserver(**options)
    return PerChannelMinMaxObserver(ch_axis=scheme.axis, **options)


@settings(max_examples=150, deadline=None)
@given(x=tensors(), scheme=schemes)
def test_per_tensor_qparams_are_the_minmax_observers(x, scheme):
    observer = _observer(scheme)
    observer(x)
    torch_scale, torch_zero_point = observer.calculate_qparams()
    scale, zero_point = quant.qparams(x, scheme)
    assert scale.dtype == torch.float32
    assert float(scale) == float(torch_scale)  # bit for bit
    assert int(zero_point) == int(torch_zero_point)


@settings(max_examples=150, deadline=None)
@given(x=tensors(min_dims=2), scheme=schemes, axis_seed=st.integers(0, 100))
def test_per_channel_qparams_are_the_per_channel_observers(x, scheme, axis_seed):
    axis = axis_seed % x.dim()
    scheme = Scheme(scheme.bits, scheme.symmetric, axis)
    observer = _observer(scheme)
    observer(x)
    torch_scale, torch_zero_point = observer.calculate_qparams()
    scale, zero_point = quant.qparams(x, scheme)
    assert scale.tolist() == torch_scale.tolist()
    assert zero_point.tolist() == torch_zero_point.tolist()


@settings(max_examples=150, deadline=None)
@given(x=tensors(), symmetric=st.booleans())
def test_8_bit_codes_and_values_are_torch_quantize_per_tensor(x, symmetric):
    scheme = Scheme(8, symmetric)
    scale, zero_point = quant.qparams(x, scheme)
    theirs = torch.quantize_per_tensor(x, float(scale), int(zero_point), _torch_dtype(scheme))
    codes = quant.quantize(x, scale, zero_point, scheme)
    assert torch.equal(codes, theirs.int_repr().to(torch.int64))
    assert torch.equal(quant.dequantize(codes, scale, zero_point, scheme), theirs.dequantize())


@settings(max_examples=150, deadline=None)
@given(x=tensors(min_dims=2), symmetric=st.booleans(), axis_seed=st.integers(0, 100))
def test_8_bit_codes_and_values_are_torch_quantize_per_channel(x, symmetric, axis_seed):
    scheme = Scheme(8, symmetric, axis_seed % x.dim())
    scale, zero_point = quant.qparams(x, scheme)
    theirs = torch.quantize_per_channel(x, scale.double(), zero_point, scheme.axis, _torch_dtype(scheme))
    codes = quant.quantize(x, scale, zero_point, scheme)
    assert torch.equal(codes, theirs.int_repr().to(torch.int64))
    assert torch.equal(quant.dequantize(codes, scale, zero_point, scheme), theirs.dequantize())


@settings(max_examples=200, deadline=None)
@given(x=tensors(), scheme=schemes, shift=st.sampled_from([1.0, 0.5, 2.0]))
def test_fake_quantize_per_tensor_is_torchs_at_every_width(x, scheme, shift):
    scale, zero_point = quant.qparams(x, scheme)
    scale = scale * shift  # also a grid narrower or wider than the range: codes clamp
    theirs = torch.fake_quantize_per_tensor_affine(
        x, float(scale), int(zero_point), scheme.quant_min, scheme.quant_max
    )
    assert torch.equal(quant.fake_quantize(x, scheme, scale, zero_point), theirs)


@settings(max_examples=200, deadline=None)
@given(x=tensors(min_dims=2), scheme=schemes, axis_seed=st.integers(0, 100))
def test_fake_quantize_per_channel_is_torchs_at_every_width(x, scheme, axis_seed):
    scheme = Scheme(scheme.bits, scheme.symmetric, axis_seed % x.dim())
    scale, zero_point = quant.qparams(x, scheme)
    theirs = torch.fake_quantize_per_channel_affine(
        x, scale, zero_point.to(torch.int32), scheme.axis, scheme.quant_min, scheme.quant_max
    )
    assert torch.equal(quant.fake_quantize(x, scheme), theirs)


@pytest.mark.parametrize("scheme", [Scheme(8, False), Scheme(8, True), Scheme(4, False)], ids=str)
def test_values_past_the_int64_range_clamp_to_the_end_codes_as_torchs(scheme):
    """A scale far below the data (or an inf) must give the highest and lowest codes, as torch's
    kernels do: cast to int64 first, 1e30 and inf become an arbitrary integer."""
    x = torch.tensor([1e30, float("inf"), 1e19, 3e9, -1e30, float("-inf"), -3e9, 0.0])
    zero_point = (scheme.quant_min + scheme.quant_max + 1) // 2
    theirs = torch.fake_quantize_per_tensor_affine(x, 1.0, zero_point, scheme.quant_min, scheme.quant_max)
    codes = quant.quantize(x, 1.0, zero_point, scheme)
    assert codes.tolist() == [scheme.quant_max] * 4 + [scheme.quant_min] * 3 + [zero_point]
    assert torch.equal(quant.fake_quantize(x, scheme, torch.tensor(1.0), torch.tensor(zero_point)), theirs)


def test_a_negative_axis_counts_from_the_end():
    x = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(quant.qparams(x, Scheme(axis=-1))[0], quant.qparams(x, Scheme(axis=2))[0])


@pytest.mark.parametrize("bits", list(quant.BITS))
def test_a_signal_filling_the_grid_gains_about_6_db_per_bit(bits):
    # x uniform on [-1, 1] (variance 1/3), a symmetric grid of step 2 / (2^b - 1): the rounding
    # error is uniform over a step (variance step^2 / 12), so SQNR = 20 log10(2^b - 1) ~ 6.02 b dB
    x = torch.rand(200_000, generator=torch.Generator().manual_seed(bits)) * 2 - 1
    got = quant.sqnr_db(x, quant.fake_quantize(x, Scheme(bits, symmetric=True)))
    assert got == pytest.approx(20 * math.log10(2**bits - 1), abs=0.3)


def test_the_docstring_example_codes_by_hand():
    x = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    scale, zero_point = quant.qparams(x, Scheme(8))
    assert float(scale) == pytest.approx(3 / 255) and int(zero_point) == round(1 / (3 / 255))
    assert quant.quantize(x, scale, zero_point, Scheme(8)).tolist() == [0, 85, 127, 255]
    assert quant.sqnr_db(x, x) == math.inf


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: Scheme(bits=1), ValueError, "bits must be an int from 2 to 8"),
        (lambda: Scheme(bits=9), ValueError, "bits must be an int from 2 to 8"),
        (lambda: Scheme(bits=8.0), ValueError, "bits"),
        (lambda: Scheme(symmetric=True, signed=False), ValueError, "symmetric scheme is signed"),
        (lambda: Scheme(axis="0"), TypeError, "axis"),
        (lambda: quant.qparams(torch.ones(2, 3), Scheme(axis=2)), ValueError, "axis=2 does not exist"),
        (lambda: quant.qparams(torch.ones(0), Scheme()), ValueError, "empty"),
        (lambda: quant.qparams([1.0, 2.0], Scheme()), TypeError, "torch.Tensor"),
        (lambda: quant.quantize(torch.ones(3), 0.0, 0, Scheme()), ValueError, "scale must be positive"),
        (lambda: quant.quantize(torch.ones(3), 0.1, 300, Scheme()), ValueError, "zero_point must lie in"),
        (lambda: quant.quantize(torch.ones(2, 3), [0.1, 0.1], 0, Scheme(axis=1)), ValueError, "3 indices"),
        (lambda: quant.fake_quantize(torch.ones(3), Scheme(), scale=0.1), ValueError, "both scale"),
        (lambda: quant.qparams_from_range(1.0, -1.0, Scheme()), ValueError, "min_val <= max_val"),
        (lambda: quant.sqnr_db(torch.ones(3), torch.ones(2)), ValueError, "one shape"),
    ],
)
def test_bad_arguments_say_what_is_allowed(make, error, words):
    with pytest.raises(error, match=words):
        make()


# --- BatchNorm folding ---------------------------------------------------------------------------


@st.composite
def conv_norm_pairs(draw):
    """A conv (any groups, depthwise included) and a BatchNorm with statistics far from the defaults."""
    groups = draw(st.integers(1, 4))
    in_channels = groups * draw(st.integers(1, 3))
    out_channels = groups * draw(st.integers(1, 3))
    if draw(st.booleans()):  # depthwise
        groups = in_channels = out_channels = draw(st.integers(1, 8))
    conv = nn.Conv2d(
        in_channels,
        out_channels,
        draw(st.sampled_from([1, 3, 5])),
        stride=draw(st.sampled_from([1, 2])),
        padding=draw(st.integers(0, 2)),
        groups=groups,
        bias=draw(st.booleans()),
    )
    norm = nn.BatchNorm2d(out_channels, eps=draw(st.sampled_from([1e-5, 1e-3])), affine=draw(st.booleans()))
    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in conv.parameters():
            tensor.copy_(torch.randn(tensor.shape, generator=generator))
        norm.running_mean.copy_(torch.randn(out_channels, generator=generator))
        norm.running_var.copy_(torch.rand(out_channels, generator=generator) * 3 + 0.01)
        if norm.affine:
            norm.weight.copy_(torch.randn(out_channels, generator=generator))
            norm.bias.copy_(torch.randn(out_channels, generator=generator))
    images = torch.randn(2, in_channels, 9, 9, generator=generator)
    return conv.eval(), norm.eval(), images


@settings(max_examples=100, deadline=None)
@given(pair=conv_norm_pairs())
def test_a_folded_conv_computes_the_conv_then_the_batchnorm(pair):
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    conv, norm, images = pair
    folded = quant.fold_batchnorm(conv, norm)
    with torch.no_grad():
        expected = norm(conv(images))
        assert torch.allclose(folded(images), expected, rtol=1e-5, atol=1e-4)
        theirs = fuse_conv_bn_eval(conv, norm)  # torch's own fold, in float32
        assert torch.allclose(folded.weight, theirs.weight, rtol=1e-5, atol=1e-6)
        assert torch.allclose(folded.bias, theirs.bias, rtol=1e-5, atol=1e-5)
    assert folded.groups == conv.groups and folded.stride == conv.stride and folded.padding == conv.padding


def test_fold_network_folds_each_pair_in_a_sequential_and_nothing_else():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1)
    ).eval()
    with torch.no_grad():
        for norm in (model[1], model[3]):
            norm.running_mean.uniform_(-1, 1)
            norm.running_var.uniform_(0.5, 2)
    folded = quant.fold_network(model)
    assert [type(m).__name__ for m in folded] == ["Conv2d", "Identity", "ReLU", "BatchNorm2d", "Conv2d"]
    assert isinstance(model[1], nn.BatchNorm2d)  # the original keeps its BatchNorm
    images = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(folded(images), model(images), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: quant.fold_batchnorm(nn.Linear(2, 2), nn.BatchNorm2d(2)), TypeError, "nn.Conv2d"),
        (lambda: quant.fold_batchnorm(nn.Conv2d(2, 2, 1), nn.BatchNorm1d(2)), TypeError, "nn.BatchNorm2d"),
        (lambda: quant.fold_batchnorm(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(2)), ValueError, "not a pair"),
        (
            lambda: quant.fold_batchnorm(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2, track_running_stats=False)),
            ValueError,
            "running statistics",
        ),
        (lambda: quant.fold_network("model"), TypeError, "nn.Module"),
    ],
)
def test_folding_bad_arguments_say_what_is_allowed(make, error, words):
    with pytest.raises(error, match=words):
        make()


# --- Deep Compression: weight sharing and Huffman coding -----------------------------------------


@pytest.mark.parametrize(
    ("distribution", "bits"), [("uniform", 2), ("uniform", 3), ("uniform", 5), ("normal", 2), ("normal", 3)]
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weight_sharing_is_scikit_learns_kmeans_from_the_same_linear_start(distribution, bits, seed):
    from sklearn.cluster import KMeans

    generator = torch.Generator().manual_seed(seed)
    draw = torch.rand if distribution == "uniform" else torch.randn
    weights = draw(64, 4, 4, generator=generator) * 0.1
    book = quant.share_weights(weights, bits)
    # scikit-learn moves a centroid left with no weights elsewhere; here it keeps its place, so
    # the two are compared where no cluster ever empties (spread data, few clusters)
    assert bool((torch.bincount(book.indices.reshape(-1), minlength=2**bits) > 0).all())
    values = weights.reshape(-1, 1).double().numpy()
    start = torch.linspace(float(weights.min()), float(weights.max()), 2**bits, dtype=torch.float64)
    theirs = KMeans(2**bits, init=start.reshape(-1, 1).numpy(), n_init=1, tol=0.0, max_iter=300).fit(values)
    assert book.indices.reshape(-1).tolist() == theirs.labels_.tolist()
    assert torch.allclose(book.centroids.double(), torch.from_numpy(theirs.cluster_centers_[:, 0]), atol=1e-7)


@settings(max_examples=60, deadline=None)
@given(x=tensors(), bits=st.integers(1, 6))
def test_weight_sharing_ends_at_a_fixed_point_no_worse_than_its_start(x, bits):
    book = quant.share_weights(x, bits)
    values, indices, centroids = x.reshape(-1).double(), book.indices.reshape(-1), book.centroids.double()
    assert book.indices.shape == x.shape and len(centroids) == 2**bits and book.bits == bits
    assert book.iterations < quant.MAX_ITERATIONS
    distances = (values[:, None] - centroids[None, :]).abs()
    slack = 1e-6 * (1 + values.abs())  # the centroids are stored in float32
    assert bool((distances.gather(1, indices[:, None])[:, 0] <= distances.min(dim=1).values + slack).all())
    for index in indices.unique():  # each used centroid is the mean of its weights
        mean = float(values[indices == index].mean())
        assert float(centroids[index]) == pytest.approx(mean, rel=1e-6, abs=1e-9)
    start = torch.linspace(float(values.min()), float(values.max()), 2**bits, dtype=torch.float64)
    start_error = float((values[:, None] - start[None, :]).abs().min(dim=1).values.pow(2).sum())
    assert (
        float((book.weights().double().reshape(-1) - values).pow(2).sum()) <= start_error * (1 + 1e-6) + 1e-9
    )
    assert book.size_bits() == x.numel() * bits + 2**bits * 32


def _reference_huffman_bits(counts: list[int]) -> int:
    """An optimal prefix code's size, built another way: the sum of every merged pair's weight,
    merging from a sorted list (no heap) until one tree is left."""
    trees = sorted(count for count in counts if count > 0)
    if len(trees) == 1:
        return trees[0]
    total = 0
    while len(trees) > 1:
        merged = trees.pop(0) + trees.pop(0)
        total += merged
        position = next((i for i, tree in enumerate(trees) if tree > merged), len(trees))
        trees.insert(position, merged)
    return total


@settings(max_examples=200, deadline=None)
@given(counts=st.lists(st.integers(0, 1000), min_size=1, max_size=40).filter(any))
def test_huffman_coding_is_optimal_and_within_a_bit_of_the_entropy(counts):
    symbols = {f"s{i}": count for i, count in enumerate(counts)}
    lengths = quant.huffman_lengths(symbols)
    assert set(lengths) == {symbol for symbol, count in symbols.items() if count}
    total = sum(symbols[symbol] * length for symbol, length in lengths.items())
    assert total == _reference_huffman_bits(counts)
    n = sum(counts)
    entropy = -sum(c / n * math.log2(c / n) for c in counts if c)
    assert entropy * n - 1e-9 <= total <= (entropy + 1) * n
    if len(lengths) > 1:  # a complete prefix code: Kraft's sum is exactly 1
        assert sum(2.0**-length for length in lengths.values()) == 1.0
    stream = [symbol for symbol, count in symbols.items() for _ in range(count)]
    assert quant.coded_bits(stream) == total


def test_huffman_codes_a_codebooks_indices_in_fewer_bits_than_fixed_width():
    weights = torch.randn(4096, generator=torch.Generator().manual_seed(0))  # bell-shaped: skewed use
    book = quant.share_weights(weights, bits=5)
    assert quant.coded_bits(book.indices) < book.indices.numel() * book.bits
    assert quant.coded_bits(torch.zeros(10, dtype=torch.int64)) == 10  # one symbol: a bit each


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: quant.share_weights(torch.ones(3), 0), ValueError, "bits must be an int from 1 to 8"),
        (lambda: quant.share_weights(torch.ones(0), 2), ValueError, "empty"),
        (lambda: quant.share_weights([1.0], 2), TypeError, "torch.Tensor"),
        (lambda: quant.share_weights(torch.tensor([1.0, math.nan]), 2), ValueError, "finite"),
        (lambda: quant.huffman_lengths({"a": -1}), ValueError, "non-negative int"),
        (lambda: quant.huffman_lengths({"a": 0}), ValueError, "nothing to code"),
        (lambda: quant.huffman_lengths([1, 2]), TypeError, "mapping"),
    ],
)
def test_sharing_bad_arguments_say_what_is_allowed(make, error, words):
    with pytest.raises(error, match=words):
        make()
