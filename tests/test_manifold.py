"""The MobileNetV2 linear-bottleneck experiment: ReLU loses the spiral in few dimensions only."""

import statistics

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lwcnn.manifold import relu_round_trip, spiral


@settings(max_examples=30, deadline=None)
@given(dims=st.integers(2, 40), seed=st.integers(0, 1000))
def test_without_relu_the_round_trip_is_exact(dims, seed):
    points = spiral(200)
    assert relu_round_trip(points, dims, seed, relu=False).relative_error < 1e-9


def mean_error(dims: int) -> float:
    points = spiral()
    return statistics.mean(relu_round_trip(points, dims, seed).relative_error for seed in range(10))


def test_relu_loses_much_in_few_dimensions_and_little_in_many():
    errors = {dims: mean_error(dims) for dims in (2, 3, 5, 15, 30)}
    assert errors[2] > 0.3 and errors[3] > 0.2
    assert errors[15] < 0.05 and errors[30] < 0.02
    assert errors[2] > errors[5] > errors[15]


def test_spiral_shape_and_errors():
    points = spiral(100)
    assert points.shape == (100, 2) and points.dtype == torch.float64
    assert (
        torch.allclose(points[0], torch.zeros(2, dtype=torch.float64))
        and points.norm(dim=1).max() <= 1 + 1e-12
    )
    with pytest.raises(ValueError, match="dims"):
        relu_round_trip(points, 1)
    with pytest.raises(ValueError, match="points"):
        spiral(0)
