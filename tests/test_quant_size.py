"""lwcnn.quant.size against independent counts: torchvision's modules for the element counts,
files written with torch.save for the bytes, eq. 1 of Deep Compression (`Codebook.size_bits`)
for weight sharing, and the entropy bound for its Huffman coding."""

from __future__ import annotations

import copy
import math
import os

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import spread_batchnorms
from torch import nn

from lwcnn import models, prune
from lwcnn.quant import fold_network
from lwcnn.quant.sharing import (
    CENTROID_BITS,
    HUFFMAN_LENGTH_BITS,
    share_network,
    shared_size,
    tie_to_codebooks,
    untie,
)
from lwcnn.quant.size import ModelSize, model_size

pytestmark = pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions:UserWarning")

SMALL_INPUT = ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large")
SCALED = ("mnasnet", "ghostnet")
FIXED = ("shufflenet_v2_x0_5", "squeezenet1_1", "efficientnet_b0")
SMALL_NETWORKS = st.one_of(
    st.builds(
        lambda name, width, classes: models.spec(
            name, width_multiplier=width, small_input=True, num_classes=classes
        ),
        st.sampled_from(SMALL_INPUT),
        st.sampled_from([0.25, 0.35, 0.5, 0.75]),
        st.integers(2, 20),
    ),
    st.builds(
        lambda name, width, classes: models.spec(name, width_multiplier=width, num_classes=classes),
        st.sampled_from(SCALED),
        st.sampled_from([0.25, 0.5]),
        st.integers(2, 20),
    ),
    st.builds(
        lambda name, classes: models.spec(name, num_classes=classes),
        st.sampled_from(FIXED),
        st.integers(2, 20),
    ),
)


def _state_elements(module: nn.Module) -> int:
    """Elements a state_dict holds, BatchNorm's step counter left out."""
    return sum(
        t.numel() for name, t in module.state_dict().items() if not name.endswith("num_batches_tracked")
    )


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_small", "mnasnet0_5", "efficientnet_b0"])
def test_a_specs_elements_are_those_of_torchvisions_module(name):
    tv = getattr(torchvision.models, name)()
    weights = sum(m.weight.numel() for m in tv.modules() if isinstance(m, nn.Conv2d | nn.Linear))
    plain = model_size(name, fold=False)
    assert (plain.weights, plain.weights + plain.others) == (weights, _state_elements(tv))
    assert plain.weight_bits == 32 * weights and plain.table_bits == 0
    folded = model_size(name)  # each conv -> BN pair: gamma, beta, mean, var become one bias
    tv_folded = fold_network(tv)
    assert (folded.weights, folded.weights + folded.others) == (weights, _state_elements(tv_folded))
    assert folded.others < plain.others


@settings(max_examples=12, deadline=None)
@given(SMALL_NETWORKS, st.sampled_from([32, 16, 8, 5, 2]), st.booleans(), st.booleans())
def test_a_spec_counts_as_its_built_module(spec, bits, per_channel, fold):
    torch.manual_seed(0)
    module = spec.build()
    assert model_size(spec, bits, per_channel=per_channel, fold=fold) == model_size(
        module, bits, per_channel=per_channel, fold=fold
    )


def test_a_pruned_cfg_counts_its_kept_channels():
    torch.manual_seed(0)
    model = models.build(
        models.spec("mobilenet_v3_small", small_input=True, num_classes=10, width_multiplier=0.5)
    )
    result = prune.slim(model, 0.4)
    pruned = model_size(result.cfg, fold=False)
    assert pruned == model_size(result.model, fold=False)
    assert pruned.weights + pruned.others == _state_elements(result.model)
    assert pruned.bytes < model_size(prune.spec_of(model), fold=False).bytes


@pytest.mark.parametrize("bits", [8, 4, 2])
@pytest.mark.parametrize("per_channel", [True, False])
def test_integer_codes_count_a_scale_and_a_zero_point_per_range(bits, per_channel):
    spec = models.spec("mobilenet_v2", width_multiplier=0.5, small_input=True, num_classes=10)
    floats, codes = model_size(spec), model_size(spec, bits, per_channel=per_channel)
    module = fold_network(spec.build())
    layers = [m for m in module.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    ranges = sum(m.weight.shape[0] for m in layers) if per_channel else len(layers)
    assert codes.weight_bits * 32 == floats.weight_bits * bits
    assert codes.table_bits == ranges * (32 + bits)
    assert codes.other_bits == floats.other_bits
    assert codes.bytes == math.ceil((codes.weight_bits + codes.table_bits + codes.other_bits) / 8)


def _saved_bytes(tensors: dict[str, torch.Tensor], path) -> int:
    torch.save(tensors, path)
    return os.path.getsize(path)


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_large"])
def test_the_counted_bytes_are_what_a_file_of_the_tensors_holds(name, tmp_path):
    """Write each size's tensors with torch.save, one storage per kind so that the format's own
    overhead is a few hundred bytes: int8 codes from torch's quantize_per_channel, float32
    scales, int8 zero points, float32 biases; and the float16 and float32 weights."""
    torch.manual_seed(0)
    module = fold_network(models.build(name))
    layers = [m for m in module.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    others = torch.cat(
        [
            t.reshape(-1)
            for m in module.modules()
            for n, t in [*m.named_parameters(recurse=False), *m.named_buffers(recurse=False)]
            if not (n == "weight" and m in layers) and n != "num_batches_tracked"
        ]
    )
    weights = [m.weight.detach() for m in layers]
    codes, scales, zero_points = [], [], []
    for weight in weights:
        low = weight.amin(dim=tuple(range(1, weight.dim()))).clamp(max=0)
        high = weight.amax(dim=tuple(range(1, weight.dim()))).clamp(min=0)
        scale = ((high - low) / 255).clamp(min=1e-8).double()
        zero_point = (-128 - torch.round(low / scale)).clamp(-128, 127).long()
        q = torch.quantize_per_channel(weight, scale, zero_point, 0, torch.qint8)
        codes.append(q.int_repr().reshape(-1))
        scales.append(q.q_per_channel_scales().float())
        zero_points.append(q.q_per_channel_zero_points().to(torch.int8))
    files = {
        8: {"codes": torch.cat(codes), "scales": torch.cat(scales), "zero_points": torch.cat(zero_points)},
        16: {"weights": torch.cat([w.reshape(-1) for w in weights]).half()},
        32: {"weights": torch.cat([w.reshape(-1) for w in weights])},
    }
    for bits, tensors in files.items():
        on_disk = _saved_bytes({**tensors, "others": others.detach().float()}, tmp_path / f"{bits}.pt")
        counted = model_size(name, bits).bytes
        assert counted <= on_disk <= counted + 4096, (bits, counted, on_disk)
    assert model_size(name, 8).ratio_to(model_size(name)) > 3.8


@pytest.fixture(scope="module")
def small_trained_like():
    """A small network with spread-out weights and BatchNorm statistics, as a trained one has."""
    torch.manual_seed(0)
    model = models.build(
        models.spec("mobilenet_v3_small", width_multiplier=0.5, small_input=True, num_classes=10)
    )
    return spread_batchnorms(model, mean=(-0.5, 0.5), var=(0.5, 2.0), gamma=(0.2, 1.5))


@pytest.mark.parametrize("bits", [8, 5, 3])
def test_shared_weights_cost_eq_1_and_huffman_codes_them_smaller(small_trained_like, bits):
    before = {n: t.clone() for n, t in small_trained_like.state_dict().items()}
    shared, books = share_network(small_trained_like, bits)
    layers = {n: m for n, m in shared.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)}
    assert set(books) == {f"{n}.weight" for n in layers}
    for path, book in books.items():
        weight = shared.get_submodule(path.rpartition(".")[0]).weight
        assert torch.equal(weight, book.weights())  # the copy holds the centroids
        assert weight.unique().numel() <= 2**bits
    fixed = shared_size(shared, books, huffman=False)
    assert fixed.weight_bits + fixed.table_bits == sum(book.size_bits() for book in books.values())
    coded = shared_size(shared, books)
    entropy_bits = 0.0
    for book in books.values():
        counts = torch.bincount(book.indices.reshape(-1)).double()
        p = counts[counts > 0] / counts.sum()
        entropy_bits += float(-(counts[counts > 0] * torch.log2(p)).sum())
    assert entropy_bits <= coded.weight_bits <= fixed.weight_bits
    assert coded.weight_bits < entropy_bits + sum(book.indices.numel() for book in books.values())
    tables = sum(len(book.centroids) for book in books.values())
    assert coded.table_bits == tables * (CENTROID_BITS + HUFFMAN_LENGTH_BITS)
    assert coded.others == model_size(small_trained_like).others
    assert all(torch.equal(t, before[n]) for n, t in small_trained_like.state_dict().items())  # untouched


def test_linear_layers_can_share_at_their_own_width(small_trained_like):
    shared, books = share_network(small_trained_like, 8, linear_bits=5, fold=False)
    for path, book in books.items():
        owner = shared.get_submodule(path.rpartition(".")[0])
        assert book.bits == (5 if isinstance(owner, nn.Linear) else 8)
    assert any(isinstance(m, nn.BatchNorm2d) for m in shared.modules())  # not folded
    partial = {path: book for path, book in books.items() if "classifier" in path}
    size = shared_size(shared, partial, huffman=False)
    rest = sum(shared.get_submodule(p.rpartition(".")[0]).weight.numel() for p in books if p not in partial)
    assert size.weight_bits == rest * 32 + sum(b.indices.numel() * b.bits for b in partial.values())


def test_tied_centroids_take_the_summed_gradient_of_their_weights_and_untie_keeps_the_indices(
    small_trained_like,
):
    shared, books = share_network(small_trained_like, 3)
    plain = copy.deepcopy(shared)
    tie_to_codebooks(shared, books)
    assert sum(p.numel() for p in shared.parameters() if p.dim() == 1 and p.numel() == 8) >= len(books)
    x = torch.rand(4, 3, 32, 32)
    shared.eval(), plain.eval()
    assert torch.equal(shared(x), plain(x))  # tying changes nothing until training
    shared(x).square().sum().backward()
    plain(x).square().sum().backward()
    for path, book in books.items():
        owner = path.rpartition(".")[0]
        centroids = shared.get_submodule(owner).parametrizations.weight.original
        expected = torch.zeros(8, dtype=torch.float64).index_add_(
            0, book.indices.reshape(-1), plain.get_submodule(owner).weight.grad.reshape(-1).double()
        )
        assert torch.allclose(centroids.grad.double(), expected, rtol=1e-4, atol=1e-6), path
    with torch.no_grad():
        for module in shared.modules():
            if hasattr(module, "parametrizations"):
                module.parametrizations.weight.original.add_(0.01)
    tuned = untie(shared)
    assert set(tuned) == set(books)
    assert not any(hasattr(m, "parametrizations") for m in shared.modules())
    for path, book in tuned.items():
        weight = shared.get_submodule(path.rpartition(".")[0]).weight
        assert torch.equal(book.indices, books[path].indices)
        assert torch.equal(weight, book.weights())
        assert torch.allclose(book.centroids, books[path].centroids + 0.01)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: model_size("mobilenet_v2", 12), ValueError, "bits must be 32 or 16"),
        (lambda: model_size("mobilenet_v2", 1), ValueError, "an int from 2 to 8"),
        (lambda: model_size("mobilenet_v2", True), ValueError, "bits"),
        (lambda: model_size("mobilenet_v2", "8"), ValueError, "bits"),
        (lambda: model_size("mobilenet_v2", 32.0), ValueError, "got 32.0"),
        (lambda: model_size("mobilenet_v2", 8, per_channel="yes"), TypeError, "per_channel"),
        (lambda: model_size("mobilenet_v2", fold=1), TypeError, "fold"),
        (lambda: model_size(3), TypeError, "network must be"),
        (lambda: model_size("resnet50"), ValueError, "resnet50"),
        (lambda: share_network("mobilenet_v2", 8), TypeError, "model must be an nn.Module"),
        (lambda: shared_size(nn.Linear(2, 2), {}, huffman=None), TypeError, "huffman"),
        (lambda: shared_size(nn.Linear(2, 2), {"nothere.weight": None}), ValueError, "nothere.weight"),
        (lambda: ModelSize(1, 0, 32, 0, 0).ratio_to(3), TypeError, "ModelSize"),
        (lambda: tie_to_codebooks("net", {}), TypeError, "model must be"),
        (lambda: tie_to_codebooks(nn.Linear(2, 2), {"other.weight": None}), ValueError, "other.weight"),
    ],
)
def test_bad_arguments_say_what_is_allowed(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_a_codebook_of_another_shape_is_refused():
    layer = nn.Sequential(nn.Linear(4, 3))
    _, books = share_network(nn.Sequential(nn.Linear(5, 3)), 2)
    with pytest.raises(ValueError, match="is not a Codebook of a"):
        shared_size(layer, books)
