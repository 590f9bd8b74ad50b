"""lwcnn.quant.simulate: every weight of the quantized copy is what PyTorch's own observers and
fake-quantize kernels make of the folded weight; the rest of the network is the folded one."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import spread_batchnorms
from torch import nn
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

from lwcnn import models
from lwcnn.quant import fold_network, quantize_weights, weight_sqnr_db


def _network(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = models.build(
        models.spec("mobilenet_v3_small", width_multiplier=0.25, small_input=True, num_classes=10)
    )
    # folded ranges that differ by orders of magnitude
    return spread_batchnorms(model, mean=None, var=(0.01, 4.0), gamma=(0.1, 2.0))


def _torch_fake_quantized(
    weight: torch.Tensor, bits: int, per_channel: bool, symmetric: bool
) -> torch.Tensor:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    if per_channel:
        scheme = torch.per_channel_symmetric if symmetric else torch.per_channel_affine
        observer = PerChannelMinMaxObserver(
            ch_axis=0, dtype=torch.qint8, qscheme=scheme, quant_min=low, quant_max=high
        )
    else:
        scheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
        observer = MinMaxObserver(dtype=torch.qint8, qscheme=scheme, quant_min=low, quant_max=high)
    observer(weight)
    scale, zero_point = observer.calculate_qparams()
    if per_channel:
        return torch.fake_quantize_per_channel_affine(weight, scale, zero_point.int(), 0, low, high)
    return torch.fake_quantize_per_tensor_affine(weight, float(scale), int(zero_point), low, high)


@settings(max_examples=10, deadline=None)
@given(st.integers(2, 8), st.booleans(), st.booleans(), st.integers(0, 3))
def test_every_weight_is_torchs_fake_quantization_of_the_folded_weight(bits, per_channel, symmetric, seed):
    model = _network(seed)
    before = {name: t.clone() for name, t in model.state_dict().items()}
    folded = fold_network(model)
    quantized = quantize_weights(model, bits, per_channel=per_channel, symmetric=symmetric)
    reference = dict(folded.named_modules())
    for name, module in quantized.named_modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            expected = _torch_fake_quantized(reference[name].weight.detach(), bits, per_channel, symmetric)
            assert torch.equal(module.weight, expected), name
            if module.bias is not None:
                assert torch.equal(module.bias, reference[name].bias)
    assert all(torch.equal(t, before[name]) for name, t in model.state_dict().items())


def test_per_channel_weights_keep_more_signal_than_per_tensor_and_each_bit_adds_about_6_db():
    model = _network(0)
    folded = fold_network(model)

    def worst(bits, per_channel):
        return min(weight_sqnr_db(folded, quantize_weights(model, bits, per_channel=per_channel)).values())

    assert worst(8, True) > worst(8, False)
    assert 4 * 4 < worst(8, True) - worst(4, True) < 4 * 8


def test_unfolded_quantization_keeps_the_batchnorms():
    model = _network(1)
    quantized = quantize_weights(model, 8, fold=False)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in quantized.modules()) == sum(
        isinstance(m, nn.BatchNorm2d) for m in model.modules()
    )
    assert set(weight_sqnr_db(model, quantized)) == {
        f"{name}.weight" for name, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)
    }


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda m: quantize_weights(m, 9), ValueError, "bits must be an int from 2 to 8"),
        (lambda m: quantize_weights(m, 8, per_channel="yes"), TypeError, "per_channel"),
        (lambda m: quantize_weights(m, 8, symmetric=None), TypeError, "symmetric"),
        (lambda m: quantize_weights("net"), TypeError, "model must be"),
        (lambda m: weight_sqnr_db(m, nn.Sequential(nn.Linear(2, 2))), ValueError, "the same network"),
    ],
)
def test_bad_arguments_say_what_is_allowed(call, error, words):
    with pytest.raises(error, match=words):
        call(_network(0))
