"""lwcnn.guidelines: ShuffleNetV2's benchmark networks have the multiply-adds the guidelines hold fixed."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import counted_macs

from lwcnn import cost, guidelines


def _macs(label: str) -> int:
    build, shape = next((b, s) for name, b, s in guidelines.items() if name == label)
    macs, out = counted_macs(build(), torch.zeros(shape))
    assert out.shape[0] == 1
    return macs


@given(c1=st.integers(1, 24), c2=st.integers(1, 24), layers=st.integers(1, 6), size=st.integers(1, 9))
@settings(max_examples=25, deadline=None)
def test_stack_1x1_costs_layers_times_one_conv(c1, c2, layers, size):
    macs, out = counted_macs(guidelines.stack_1x1(c1, c2, layers=layers), torch.zeros(1, c1, size, size))
    per_layer = cost.pointwise_conv_macs(c1, c2, size)
    assert macs == layers * per_layer
    assert out.shape[1] == (c2 if layers % 2 else c1)


@pytest.mark.parametrize("guideline", ["G1", "G2", "G3", "G4"])
def test_each_guideline_compares_networks_of_about_equal_macs(guideline):
    macs = [_macs(label) for label, _, _ in guidelines.items() if label.startswith(guideline)]
    assert len(macs) == 4
    assert max(macs) / min(macs) < 1.06  # the paper's widths keep B within a few percent
    if guideline in ("G3", "G4"):
        assert len(set(macs)) == 1  # same convolutions, split or stripped of element-wise ops


def test_g1_and_g2_raise_the_memory_access_cost():
    g1 = [cost.pointwise_memory_access_cost(56, 56, c1, c2) for c1, c2 in guidelines.G1_WIDTHS]
    g2 = [cost.pointwise_memory_access_cost(56, 56, c, c, g) for g, c in guidelines.G2_GROUPS]
    assert g1 == sorted(g1) and g2 == sorted(g2)


def test_fragments_and_the_shortcut_free_block_compute_what_they_claim():
    torch.manual_seed(0)
    x = torch.randn(2, 128, 5, 5)
    split = guidelines.fragments(4).eval()
    whole = torch.cat([branch.weight for branch in split.branches], dim=0)
    assert torch.allclose(split(x), torch.nn.functional.conv2d(x, whole), atol=1e-5)
    block = guidelines.element_wise_variant("relu6", shortcut=True).eval()
    stripped = guidelines.WithoutShortcut(block).eval()
    y = torch.randn(2, 32, 5, 5)
    with torch.no_grad():
        assert torch.allclose(block(y), y + stripped(y))


@pytest.mark.parametrize("pieces", [0, 3, 256])
def test_fragments_rejects_a_split_that_does_not_divide(pieces):
    with pytest.raises(ValueError, match="pieces must be a positive divisor"):
        guidelines.fragments(pieces)


def test_every_network_is_placed_against_the_papers_tables():
    assert [label for label, _, _ in guidelines.items()] == list(guidelines.PAPER_COLUMNS)
    ones = dict.fromkeys(guidelines.PAPER_COLUMNS, 1.0)
    g1 = guidelines.relative_times("G1", ones)
    assert g1[0][1:] == (1.0, 1.0, 1.0)
    assert g1[-1][1] == pytest.approx(1480 / 748) and g1[-1][2] == pytest.approx(76.2 / 57.6)
    g3 = dict((label, rest) for label, *rest in guidelines.relative_times("G3", ones))
    assert g3["G3 16 pieces"][:2] == [None, None]  # the paper split into at most 4
    recorded = {**ones, "G2 g=8": 1.5}
    assert guidelines.relative_times("G2", recorded)[-1][3] == 1.5


def test_relative_times_names_what_is_missing():
    with pytest.raises(ValueError, match="guideline must be one of"):
        guidelines.relative_times("G5", {})
    with pytest.raises(ValueError, match="recorded_ms lacks"):
        guidelines.relative_times("G4", {"G4 relu6, with shortcut": 1.0})
