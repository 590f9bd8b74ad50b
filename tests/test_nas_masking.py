"""FBNetV2's channel masking (`lwcnn.nas.masking`): masks, the masked supernet against the narrow
networks it stands for, the width latency table, and the seeded search."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import counted_params

from lwcnn.models import SmallMobileNet
from lwcnn.nas import fbnet_loss
from lwcnn.nas.masking import (
    MACS_PER_MS,
    MASKED_WIDTHS,
    ChannelMask,
    MaskedSupernet,
    WidthLatency,
    macs_latency_table,
    masked_blocks,
    masked_search,
    table_from_lut,
)

ALL_WIDTHS = list(itertools.product(*MASKED_WIDTHS))  # the 64 networks of the default supernet


def spread_statistics(supernet: MaskedSupernet, seed: int) -> MaskedSupernet:
    """BatchNorm statistics and affine terms away from their defaults (a zero BN shift would hide
    a mask put before BN), theta away from zero."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in supernet.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                for tensor, low, high in (
                    (module.running_mean, -0.5, 0.5),
                    (module.running_var, 0.5, 2.0),
                    (module.weight, 0.5, 1.5),
                    (module.bias, -0.5, 0.5),
                ):
                    tensor.copy_(low + (high - low) * torch.rand(tensor.shape, generator=generator))
        for logits in supernet.theta:
            logits.copy_(torch.randn(logits.shape, generator=generator))
    return supernet


# --- masks -----------------------------------------------------------------------------------------


def test_each_mask_keeps_the_first_channels_of_its_width():
    mask = ChannelMask((2, 3, 5), channels=6)
    assert mask.masks.shape == (3, 6)
    assert mask.masks.tolist() == [[1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]]
    weights = torch.tensor([0.5, 0.3, 0.2])
    assert torch.allclose(mask.mask(weights), torch.tensor([1.0, 1.0, 0.5, 0.2, 0.2, 0.0]))
    x = torch.randn(2, 6, 3, 3)
    assert torch.equal(mask.masked(x, weights), x * mask.mask(weights).view(1, 6, 1, 1))
    assert ChannelMask((4, 8)).channels == 8  # the widest option by default


# --- the supernet is every narrow network ------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(choice=st.sampled_from(ALL_WIDTHS), seed=st.integers(0, 2**16))
def test_one_hot_supernet_is_the_extracted_network(choice, seed):
    """In eval mode, the supernet with one-hot weights computes exactly the narrow network."""
    supernet = spread_statistics(MaskedSupernet(seed=seed), seed).eval()
    x = torch.randn(3, 1, 32, 32, generator=torch.Generator().manual_seed(seed + 1))
    model = supernet.extract(choice).eval()
    assert torch.allclose(model(x), supernet(x, supernet.one_hot(choice)), atol=1e-5)
    assert counted_params(model) == supernet.spec(choice).cost(32).params
    assert [conv.out_channels for conv in model.modules() if isinstance(conv, torch.nn.Conv2d)][1:] == list(
        choice
    )
    assert supernet.derive() == tuple(
        options[int(logits.argmax())] for options, logits in zip(MASKED_WIDTHS, supernet.theta, strict=True)
    )
    assert torch.equal(supernet.extract()(x), supernet.extract(supernet.derive())(x))


def test_the_base_network_gives_the_stem_input_and_classes_of_every_width_choice():
    base = SmallMobileNet(num_classes=5, in_channels=3, stem_channels=8, stem_stride=1, conv="standard")
    supernet = spread_statistics(MaskedSupernet(SMALL_WIDTHS, strides=(2, 1, 2), base=base, seed=4), 4).eval()
    choice = (4, 16, 8)
    assert supernet.spec(choice) == dataclasses.replace(base, stages=((4, 2), (16, 1), (8, 2)))
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    model = supernet.extract(choice).eval()
    assert model(x).shape == (2, 5)
    assert torch.allclose(model(x), supernet(x, supernet.one_hot(choice)), atol=1e-5)


def test_the_switched_off_channels_are_exactly_zero_going_into_the_next_layer():
    supernet = spread_statistics(MaskedSupernet(seed=1), 1).eval()
    choice = (8, 32, 16)
    inputs = []  # of layers 2 and 3 and of the pooling: the masked outputs of layers 1, 2 and 3
    readers = [*supernet.network.features[2:], supernet.network.pool]
    hooks = [
        reader.register_forward_hook(lambda module, args, out: inputs.append(args[0])) for reader in readers
    ]
    supernet(torch.randn(2, 1, 32, 32), supernet.one_hot(choice))
    for hook in hooks:
        hook.remove()
    for x, width, options in zip(inputs, choice, MASKED_WIDTHS, strict=True):
        assert x.shape[1] == options[-1]
        assert torch.count_nonzero(x[:, width:]) == 0 and torch.count_nonzero(x[:, :width]) > 0


def test_gradient_reaches_every_layers_logits_through_both_terms():
    supernet = MaskedSupernet(seed=2)
    table = macs_latency_table(supernet)
    images, labels = torch.randn(8, 1, 16, 16), torch.arange(8)
    weights = supernet.sample_weights(1.0, torch.Generator().manual_seed(0))
    cross_entropy = torch.nn.functional.cross_entropy(supernet(images, weights), labels)
    from_ce = torch.autograd.grad(cross_entropy, list(supernet.theta), retain_graph=True)
    assert all(bool(grad.abs().sum() > 0) for grad in from_ce)
    from_latency = torch.autograd.grad(
        table.expected_latency(weights), list(supernet.theta), retain_graph=True
    )
    assert all(bool(grad.abs().sum() > 0) for grad in from_latency)
    loss = fbnet_loss(cross_entropy, table.expected_latency(weights), beta=0.6, unit_ms=0.1)
    assert all(bool(grad.abs().sum() > 0) for grad in torch.autograd.grad(loss, list(supernet.theta)))
    # under softmax(theta = 0) the latency gradient raises the narrowest width and lowers the widest
    uniform = [torch.softmax(logits, dim=-1) for logits in supernet.theta]
    for grad in torch.autograd.grad(table.expected_latency(uniform), list(supernet.theta)):
        assert int(grad.argmin()) == 0 and int(grad.argmax()) == len(grad) - 1


# --- the latency table ---------------------------------------------------------------------------


def test_expected_latency_is_the_table_entry_for_one_hot_weights_and_the_macs_for_macs():
    supernet = MaskedSupernet()
    table = macs_latency_table(supernet)
    for choice in ALL_WIDTHS:
        assert float(table.expected_latency(supernet.one_hot(choice))) == pytest.approx(
            table.latency_ms(choice), rel=1e-6
        )
        assert table.latency_ms(choice) == pytest.approx(supernet.spec(choice).cost(32).macs / MACS_PER_MS)


def test_latency_grows_with_every_layers_width():
    table = macs_latency_table(MaskedSupernet())
    for choice in ALL_WIDTHS:
        for layer, options in enumerate(MASKED_WIDTHS):
            index = options.index(choice[layer])
            if index + 1 < len(options):
                wider = (*choice[:layer], options[index + 1], *choice[layer + 1 :])
                assert table.latency_ms(wider) > table.latency_ms(choice)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_expected_latency_is_the_expectation_over_independently_drawn_widths(seed):
    """sum_i g_{i-1}^T LAT_i g_i equals sum over all 64 networks of prod_i g_i[choice_i] * LAT(choice):
    coupling neighbours by pairs is exact, not an approximation."""
    supernet = MaskedSupernet()
    table = macs_latency_table(supernet)
    generator = torch.Generator().manual_seed(seed)
    weights = [
        torch.softmax(3 * torch.randn(4, generator=generator, dtype=torch.float64), 0) for _ in range(3)
    ]
    brute = sum(
        math.prod(
            float(row[options.index(w)])
            for row, options, w in zip(weights, MASKED_WIDTHS, choice, strict=True)
        )
        * table.latency_ms(choice)
        for choice in ALL_WIDTHS
    )
    assert float(table.expected_latency(weights)) == pytest.approx(brute, rel=1e-9)


def test_table_from_lut_gives_the_luts_prediction_of_every_network():
    from lwcnn.latency import Calibration, Entry, LatencyTable, entry_key

    supernet = MaskedSupernet(widths=((4, 8), (8, 16), (8, 12, 16)))
    generator = torch.Generator().manual_seed(0)
    entries = []
    for spec, shape in masked_blocks(supernet):  # made-up times: what matters is where each is read
        alone, context = (0.01 + torch.rand(2, generator=generator)).tolist()
        key = entry_key(spec, shape, "test-cpu", 1)
        entries.append(Entry(*key, alone, alone, 0.0, context, context, 0.0, runs=1, context_runs=1))
    lut = LatencyTable(entries, [("test-cpu", 1, Calibration(scale=1.3))])
    table = table_from_lut(lut, supernet)
    for choice in itertools.product(*supernet.widths):
        assert table.latency_ms(choice) == pytest.approx(
            lut.predict(supernet.spec(choice)).latency_ms, rel=1e-9
        )
    median = table_from_lut(lut, supernet, statistic="median")
    assert median.latency_ms((4, 8, 8)) != table.latency_ms((4, 8, 8))


# --- argument checks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: ChannelMask((16, 8)), ValueError, r"widths must be strictly increasing.*\(16, 8\)"),
        (lambda: ChannelMask((8, 8)), ValueError, "strictly increasing"),
        (lambda: ChannelMask((8, 40), channels=32), ValueError, r"at most channels=32"),
        (lambda: ChannelMask((8, 16.5)), TypeError, r"widths\[1\] must be an int"),
        (lambda: ChannelMask(()), TypeError, "widths must be a non-empty sequence"),
        (lambda: ChannelMask((0, 8)), ValueError, r"widths\[0\] must be a positive integer"),
        (lambda: ChannelMask((4, 8)).masked(torch.ones(1, 6, 2, 2), torch.ones(2)), ValueError, "8 channels"),
        (lambda: ChannelMask((4, 8)).mask(torch.ones(3)), ValueError, r"weights must have shape \(2,\)"),
        (lambda: MaskedSupernet(strides=(1, 2)), ValueError, "strides must have one entry per layer"),
        (lambda: MaskedSupernet(base=(16, 2)), TypeError, "base must be a SmallMobileNet"),
        (lambda: MaskedSupernet(base=SmallMobileNet()), ValueError, "base must have conv='standard'"),
        (
            lambda: MaskedSupernet(base=SmallMobileNet(conv="standard", width_multiplier=0.5)),
            ValueError,
            "width_multiplier=1.0",
        ),
        (lambda: masked_search(betta=1.0), TypeError, "betta: not a search setting"),
        (
            lambda: MaskedSupernet(widths=((8, 16), (32, 16), (8,))),
            ValueError,
            r"widths\[1\] must be strictly",
        ),
        (
            lambda: MaskedSupernet().one_hot((8, 17, 16)),
            ValueError,
            r"widths\[1\]=17.*allowed: \(16, 32, 48, 64\)",
        ),
        (lambda: MaskedSupernet().one_hot((8, 16)), ValueError, "widths must have 3 entries"),
        (lambda: MaskedSupernet().extract((8.0, 16, 16)), ValueError, r"widths\[0\]=8.0"),
        (
            lambda: MaskedSupernet()(torch.ones(1, 1, 8, 8), [torch.ones(4)] * 2),
            ValueError,
            "list of 3 vectors",
        ),
        (lambda: MaskedSupernet()(torch.ones(1, 1, 8, 8), [torch.ones(3)] * 3), ValueError, r"weights\[0\]"),
        (lambda: macs_latency_table(MaskedSupernet(), macs_per_ms=0), ValueError, "macs_per_ms"),
        (lambda: WidthLatency(((8, 16),), 0.0, (((1.0, 2.0),),)), ValueError, "2 tables"),
        (lambda: WidthLatency(((8, 16),), 0.0, (((1.0,),), ((1.0,), (2.0,)))), ValueError, r"layer_ms\[0\]"),
        (lambda: masked_search(epochs=0), ValueError, "epochs"),
        (lambda: masked_search(warmup_epochs=2, epochs=2), ValueError, "warmup_epochs"),
        (lambda: masked_search(theta_fraction=1.0), ValueError, "theta_fraction"),
        (lambda: masked_search(unit_ms=10.0), ValueError, "unit_ms"),
        (lambda: masked_search(latency=SMALL_TABLE), ValueError, "latency must be a WidthLatency of the"),
    ],
)
def test_bad_arguments_are_refused_naming_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


SMALL_WIDTHS = ((4, 8), (8, 16), (8, 16))
SMALL_TABLE = macs_latency_table(MaskedSupernet(SMALL_WIDTHS))
TINY = dict(epochs=3, warmup_epochs=1, image_size=8, batch_size=128)


# --- the search ----------------------------------------------------------------------------------


def test_search_is_seeded_and_trains_theta_only_after_warm_up():
    first = masked_search(SMALL_WIDTHS, seed=3, **TINY)
    second = masked_search(SMALL_WIDTHS, seed=3, **TINY)
    assert first.history == second.history and first.accuracy == second.accuracy
    warm, *searched = first.history
    assert all(p == pytest.approx(0.5) for row in warm.probabilities for p in row)
    assert math.isnan(warm.arch_loss) and not any(math.isnan(epoch.arch_loss) for epoch in searched)
    assert any(abs(p - 0.5) > 1e-3 for row in searched[-1].probabilities for p in row)
    assert first.widths == first.supernet.derive() and first.latency == SMALL_TABLE
    assert 0.0 <= first.accuracy <= 1.0
    uniform = first.latency.expected_latency([torch.full((2,), 0.5)] * 3)
    assert warm.expected_ms == pytest.approx(float(uniform), rel=1e-6)


def test_a_heavier_latency_weight_chooses_cheaper_widths():
    light = masked_search(SMALL_WIDTHS, beta=0.0, seed=0, **TINY)
    heavy = masked_search(SMALL_WIDTHS, beta=5.0, seed=0, **TINY)
    assert heavy.history[-1].expected_ms < light.history[-1].expected_ms
    assert SMALL_TABLE.latency_ms(heavy.widths) <= SMALL_TABLE.latency_ms(light.widths)
