"""lwcnn.quant.qat: the simulated integer network against PyTorch's own observers and
fake-quantize kernels, forward and backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import spread_batchnorms
from torch import nn
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

from lwcnn import models
from lwcnn.quant import Scheme, fake_quantize, fold_network, qparams
from lwcnn.quant.qat import MOMENTUM, QuantizedLayer, calibrate, input_ranges, simulate_int, straight_through


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 8),
    st.booleans(),
    st.sampled_from([None, 0, 1, -1]),
    st.floats(0.01, 100.0),
    st.floats(-3.0, 3.0),
    st.integers(0, 10_000),
)
def test_straight_through_is_fake_quantize_forward_and_torchs_gradient(
    bits, symmetric, axis, spread, shift, seed
):
    generator = torch.Generator().manual_seed(seed)
    x = (torch.randn(3, 4, 5, generator=generator) * spread + shift * spread).requires_grad_()
    scheme = Scheme(bits, symmetric, axis=axis)
    # a range narrower than x's, so that some values are clipped and their gradient must be 0
    low, high = x.detach().min() * 0.7, x.detach().max() * 0.7
    if axis is None:
        from lwcnn.quant import qparams_from_range

        scale, zero_point = qparams_from_range(low, high, scheme)
    else:
        scale, zero_point = qparams(x.detach() * 0.7, scheme)
    ours = straight_through(x, scheme, scale, zero_point)
    assert torch.equal(ours.detach(), fake_quantize(x.detach(), scheme, scale, zero_point))
    (gradient,) = torch.autograd.grad(ours.sum(), x)
    reference = x.detach().clone().requires_grad_()
    if axis is None:
        theirs = torch.fake_quantize_per_tensor_affine(
            reference, scale.float(), zero_point.int(), scheme.quant_min, scheme.quant_max
        )
    else:
        theirs = torch.fake_quantize_per_channel_affine(
            reference, scale.float(), zero_point.int(), axis % 3, scheme.quant_min, scheme.quant_max
        )
    (expected,) = torch.autograd.grad(theirs.sum(), reference)
    assert torch.equal(ours.detach(), theirs.detach())
    assert torch.equal(gradient, expected)


def _network(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = models.build(
        models.spec("mobilenet_v2", width_multiplier=0.25, small_input=True, in_channels=1, num_classes=10)
    )
    return spread_batchnorms(model, mean=(-0.5, 0.5), var=(0.01, 4.0), gamma=(0.1, 2.0))


@settings(max_examples=6, deadline=None)
@given(st.integers(2, 8), st.integers(2, 8), st.booleans(), st.integers(0, 3))
def test_every_layer_computes_on_torchs_grids(weight_bits, activation_bits, per_channel, seed):
    """Each quantized layer's input range is MinMaxObserver's over the calibration batches, and
    its output is the float conv of torch's fake-quantized input and weight."""
    model = _network(seed)
    simulated = simulate_int(model, weight_bits, activation_bits, per_channel=per_channel)
    folded = dict(fold_network(model).named_modules())
    batches = [torch.randn(4, 1, 32, 32, generator=torch.Generator().manual_seed(seed + i)) for i in range(2)]
    inputs: dict[str, list[torch.Tensor]] = {}
    hooks = [
        layer.register_forward_pre_hook(
            lambda m, args, path=path: inputs.setdefault(path, []).append(args[0])
        )
        for path, layer in simulated.named_modules()
        if isinstance(layer, QuantizedLayer)
    ]
    calibrate(simulated, batches)
    observers = {}
    for path, seen in inputs.items():
        observers[path] = MinMaxObserver(dtype=torch.quint8, quant_min=0, quant_max=2**activation_bits - 1)
        for tensor in seen:
            observers[path](tensor)
        assert input_ranges(simulated)[path] == (
            float(observers[path].min_val),
            float(observers[path].max_val),
        )
    inputs.clear()
    with torch.no_grad():
        simulated(batches[0])
    for hook in hooks:
        hook.remove()
    low, high = -(2 ** (weight_bits - 1)), 2 ** (weight_bits - 1) - 1
    for path, (x,) in inputs.items():
        layer = dict(simulated.named_modules())[path]
        scale, zero_point = observers[path].calculate_qparams()
        x_grid = torch.fake_quantize_per_tensor_affine(
            x, float(scale), int(zero_point), 0, 2**activation_bits - 1
        )
        weight = folded[path].weight.detach()
        if per_channel:
            w_observer = PerChannelMinMaxObserver(
                ch_axis=0,
                dtype=torch.qint8,
                qscheme=torch.per_channel_symmetric,
                quant_min=low,
                quant_max=high,
            )
            w_observer(weight)
            w_scale, w_zero = w_observer.calculate_qparams()
            w_grid = torch.fake_quantize_per_channel_affine(weight, w_scale, w_zero.int(), 0, low, high)
        else:
            w_observer = MinMaxObserver(
                dtype=torch.qint8, qscheme=torch.per_tensor_symmetric, quant_min=low, quant_max=high
            )
            w_observer(weight)
            w_scale, w_zero = w_observer.calculate_qparams()
            w_grid = torch.fake_quantize_per_tensor_affine(weight, float(w_scale), int(w_zero), low, high)
        with torch.no_grad():
            if isinstance(layer.layer, nn.Linear):
                expected = F.linear(x_grid, w_grid, layer.layer.bias)
            else:
                expected = layer.layer._conv_forward(x_grid, w_grid, layer.layer.bias)
            assert torch.equal(layer(x), expected), path


def test_calibration_computes_in_float_and_leaves_the_model_as_it_was():
    model = _network(0)
    simulated = simulate_int(model, 4, 4)
    simulated.train()
    x = torch.randn(2, 1, 32, 32)
    for layer in simulated.modules():
        if isinstance(layer, QuantizedLayer):
            layer.observing = True
    with torch.no_grad():
        simulated.eval()
        assert torch.equal(simulated(x), fold_network(model)(x))
        simulated.train()
    calibrate(simulated, [x])
    assert simulated.training
    assert not any(layer.observing for layer in simulated.modules() if isinstance(layer, QuantizedLayer))


def test_training_moves_weights_and_ranges_by_the_moving_average():
    model = _network(1)
    simulated = simulate_int(model, 4, 4)
    x = torch.randn(8, 1, 32, 32)
    calibrate(simulated, [x])
    (first_path, first), *_ = [(p, m) for p, m in simulated.named_modules() if isinstance(m, QuantizedLayer)]
    before_range, before_weight = first.input_range.clone(), first.layer.weight.detach().clone()
    batch = torch.randn(8, 1, 32, 32) * 2
    simulated.train()
    loss = F.cross_entropy(simulated(batch), torch.arange(8) % 10)
    loss.backward()
    torch.optim.SGD(simulated.parameters(), lr=0.1).step()
    expected = before_range + MOMENTUM * (torch.stack([batch.min(), batch.max()]) - before_range)
    assert torch.allclose(first.input_range, expected), first_path
    assert first.layer.weight.grad is not None and bool(first.layer.weight.grad.abs().sum() > 0)
    assert not torch.equal(first.layer.weight.detach(), before_weight)


def test_evaluation_reuses_the_weight_grid_until_the_weight_changes():
    simulated = simulate_int(_network(2), 3, 8)
    calibrate(simulated.eval(), [torch.randn(2, 1, 32, 32)])
    layer = next(m for m in simulated.modules() if isinstance(m, QuantizedLayer))
    first = layer.quantized_weight()
    assert layer.quantized_weight() is first
    with torch.no_grad():
        layer.layer.weight.mul_(2)
    assert torch.equal(layer.quantized_weight(), 2 * first)


def test_evaluation_recomputes_the_grid_for_a_new_weight_or_a_new_dtype():
    """A new Parameter starts at version 0 again and `.double()` keeps the version: neither may
    reuse the grid of the weight that was there before."""
    simulated = simulate_int(_network(2), 8, 8)
    x = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    calibrate(simulated.eval(), [x])
    layer = next(m for m in simulated.modules() if isinstance(m, QuantizedLayer))
    first = layer.quantized_weight()
    layer.layer.weight = nn.Parameter(torch.zeros_like(layer.layer.weight))
    assert torch.equal(layer.quantized_weight(), torch.zeros_like(first))
    simulated(x)
    simulated.double()
    assert layer.quantized_weight().dtype == torch.float64
    assert simulated(x.double()).dtype == torch.float64


def test_bad_use_raises_clear_errors():
    model = _network(0)
    with pytest.raises(ValueError, match="weight_bits"):
        simulate_int(model, 9, 8)
    with pytest.raises(ValueError, match="activation_bits"):
        simulate_int(model, 8, 1)
    with pytest.raises(TypeError, match="model"):
        simulate_int("mobilenet_v2")
    simulated = simulate_int(model)
    with pytest.raises(RuntimeError, match="calibrate"):
        simulated.eval()(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="batches is empty"):
        calibrate(simulated, [])
    with pytest.raises(ValueError, match="simulate_int"):
        calibrate(model, [torch.randn(1, 1, 32, 32)])
    with pytest.raises(TypeError, match="layer"):
        QuantizedLayer(nn.ReLU(), Scheme(8, True), Scheme(8))
