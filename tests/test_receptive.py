"""lwcnn.receptive: the gradient receptive field against the receptive-field formula and brute force.

Oracles: `lwcnn.cost.receptive_field` (the formula of lesson 04) for the field's extent, and the
set of offsets a stack of dilated 3x3 convs can reach, enumerated by hand, for its holes.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lwcnn import cost, receptive


def _reachable(dilations: list[int]) -> set[int]:
    """Offsets along one axis that a stack of 3x3 convs with these dilations reaches: sums of -d, 0, d."""
    return {sum(steps) for steps in itertools.product(*[(-d, 0, d) for d in dilations])}


@settings(max_examples=30, deadline=None)
@given(dilations=st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_a_dilated_stack_sees_exactly_the_reachable_offsets(dilations):
    size = 2 * sum(dilations) + 7
    field = receptive.gradient_receptive_field(receptive.dilated_stack(dilations), 1, size)
    extent = cost.receptive_field([(3, 1, d) for d in dilations])
    assert receptive.receptive_extent(field) == extent
    centre, offsets = size // 2, sorted(_reachable(dilations))
    expected = torch.zeros(size, size, dtype=torch.bool)
    for dy, dx in itertools.product(offsets, repeat=2):
        expected[centre + dy, centre + dx] = True
    assert torch.equal(field > 0, expected)
    assert receptive.coverage(field) == pytest.approx(len(offsets) ** 2 / extent**2)


def test_uniform_weights_count_paths_and_leave_the_module_alone():
    stack = receptive.dilated_stack([1, 1], channels=2)
    before = [p.detach().clone() for p in stack.parameters()]
    field = receptive.gradient_receptive_field(stack, 2, 7)
    # two 3x3 convs of ones, 2 channels each: offset 0 is reached in 3 ways per axis (-1+1, 0+0,
    # 1-1), a corner in 1, through each of 2 middle channels into each of 2 output channels,
    # summed over the 2 input channels
    assert field[3, 3] == 9 * 2 * 2 * 2 and field[1, 1] == 1 * 2 * 2 * 2
    assert all(torch.equal(a, b) for a, b in zip(before, stack.parameters(), strict=True))


def test_strides_and_chosen_channels():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.Conv2d(2, 2, 3, padding=1))
    field = receptive.gradient_receptive_field(net, 1, 13)  # 13 -> 7: centres align
    assert receptive.receptive_extent(field) == cost.receptive_field([(3, 2), 3]) == 7
    one = receptive.gradient_receptive_field(net, 1, 13, out_channels=[0])
    assert torch.equal(one * 2, field)


def test_bad_arguments():
    with pytest.raises(ValueError, match="odd"):
        receptive.gradient_receptive_field(receptive.dilated_stack([1]), 1, 8)
    with pytest.raises(ValueError, match="map"):
        receptive.gradient_receptive_field(nn.Sequential(nn.Flatten()), 1, 5)
    assert receptive.coverage(torch.zeros(5, 5)) == 0.0
