"""Why the bottleneck is linear: ReLU destroys information in few dimensions (MobileNetV2, Fig. 1).

The MobileNetV2 experiment: take a 2-D spiral, embed it in n dimensions with a random matrix
T (n x 2), apply ReLU, project back with the pseudo-inverse of T. In 2 or 3 dimensions ReLU
folds the spiral and much of it is lost; in 15 or 30 dimensions it comes back almost intact.
A narrow (bottleneck) layer should therefore stay linear, and ReLU belongs in the wide,
expanded layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lwcnn import checks


def spiral(points: int = 500, turns: float = 2.5) -> torch.Tensor:
    """A 2-D spiral of `points` points, radius growing from 0 to 1, centred at the origin."""
    checks.check_int("points", points)
    if not turns > 0:
        raise ValueError(f"turns must be positive, got {turns}")
    t = torch.linspace(0, 1, points, dtype=torch.float64)
    angle = 2 * torch.pi * turns * t
    return torch.stack((t * torch.cos(angle), t * torch.sin(angle)), dim=1)


@dataclass(frozen=True)
class RoundTrip:
    """The spiral after embedding in `dims` dimensions, ReLU (or not) and projection back."""

    dims: int
    recovered: torch.Tensor
    relative_error: float


def relu_round_trip(points: torch.Tensor, dims: int, seed: int = 0, relu: bool = True) -> RoundTrip:
    """Embed 2-D `points` with a seeded random matrix T (2 x n), apply ReLU, map back linearly.

    The way back is the best affine map from the n-D points to the 2-D ones (least squares),
    i.e. what a following linear layer could recover at most; the paper's plain T^-1 would also
    count the scale change of ReLU (ReLU(z) = z/2 + |z|/2) as a loss. `relative_error` = mean
    distance to the original points / mean distance of the points to the origin. Without ReLU
    the round trip is exact.
    """
    checks.check_int("dims", dims, minimum=2)
    generator = torch.Generator().manual_seed(seed)
    embed = torch.randn(2, dims, generator=generator, dtype=torch.float64)
    lifted = points @ embed
    if relu:
        lifted = torch.relu(lifted)
    with_bias = torch.cat((lifted, torch.ones(len(points), 1, dtype=lifted.dtype)), dim=1)
    recovered = with_bias @ torch.linalg.lstsq(with_bias, points, driver="gelsd").solution
    error = (recovered - points).norm(dim=1).mean() / points.norm(dim=1).mean()
    return RoundTrip(dims, recovered, float(error))
