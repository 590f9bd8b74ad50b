"""Scaling a network's depth, width and resolution: EfficientNet's compound scaling up, TinyNet's
"Rubik's cube" down.

A network is scaled by three multipliers (`Multipliers(depth, width, resolution)`): `d` times the
blocks per stage, `w` times the channels, `r` times the input side. A conv layer's multiply-adds
grow with `w^2` (input and output channels) and `r^2` (the map's area), and there are `d` times as
many layers, so the FLOPs grow by (EfficientNet, Sec. 3.3)

    flops_factor(d, w, r) = d * w^2 * r^2

* **Compound scaling** (EfficientNet, eq. 3) ties the three to one coefficient phi:
  `d = alpha^phi, w = beta^phi, r = gamma^phi` with `alpha * beta^2 * gamma^2 ~= 2`, so the FLOPs
  grow by about `2^phi`. alpha, beta, gamma come from a small grid search at phi = 1
  (`compound_grid`); B0's are 1.2, 1.1, 1.15.
* **Inverse compound scaling** shrinks with the same rule: for a budget `c < 1` of the base FLOPs,
  `phi = log c / log(alpha beta^2 gamma^2)` (negative), the baseline of TinyNet.
* **TinyNet** (Han et al. 2020, Sec. 3): sample (r, d) and take `w = sqrt(c / (r^2 d))` so that
  `r^2 w^2 d = c`; train them; fit Gaussian-process regressions r(c) and d(c) on the best models
  per budget; a new budget's r and d come from the GPs and w from the budget again.

Real networks round: channels to multiples of 8 (`make_divisible`), blocks up (`ceil(n * d)`),
pixels to integers. `real_flops_factor` measures what the rounding does to `d w^2 r^2`.

    >>> compound_multipliers(1)
    Multipliers(depth=1.2, width=1.1, resolution=1.15)
    >>> round(flops_factor(*compound_multipliers(1)), 4)
    1.9203
    >>> round(inverse_compound_phi(0.5), 4)
    -1.0624

The course's digits network (`digits_base`) is a three-row EfficientNet for 24x24 inputs; the
scaled versions of it were trained on the distorted digits (`train_scaled`, three seeds each) in
`benchmarks/scaling_build.py`, whose table `load_table` reads.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lwcnn import checks, models, paths
from lwcnn.models import EfficientNet, MBRow

EFFICIENTNET_ALPHA, EFFICIENTNET_BETA, EFFICIENTNET_GAMMA = 1.2, 1.1, 1.15  # EfficientNet, Sec. 3.3
EFFICIENTNET_BASE_RESOLUTION = 224


class Multipliers(NamedTuple):
    """How much deeper (blocks), wider (channels) and larger (input side) than the base network."""

    depth: float
    width: float
    resolution: float


def _check_positive(name: str, value: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _check_at_least_one(name: str, value: float) -> float:
    value = _check_positive(name, value)
    if value < 1:
        raise ValueError(f"{name} must be >= 1 (compound scaling grows every dimension), got {value!r}")
    return value


def _coefficients(alpha: float, beta: float, gamma: float) -> tuple[float, float, float]:
    """EfficientNet's alpha, beta and gamma, each checked to be >= 1."""
    values = zip(("alpha", "beta", "gamma"), (alpha, beta, gamma), strict=True)
    return tuple(_check_at_least_one(name, value) for name, value in values)


def _check_phi(phi: float) -> float:
    if isinstance(phi, bool) or not isinstance(phi, (int, float)) or not math.isfinite(phi):
        raise ValueError(f"phi must be a finite number, got {phi!r}")
    return float(phi)


# --- the formulas ---------------------------------------------------------------------------------


def flops_factor(depth: float, width: float, resolution: float) -> float:
    """`d * w^2 * r^2`: how the FLOPs of a ConvNet grow when scaled (EfficientNet, Sec. 3.3).

    >>> flops_factor(2, 1, 1), flops_factor(1, 2, 1), flops_factor(1, 1, 2)
    (2.0, 4.0, 4.0)
    """
    d = _check_positive("depth", depth)
    w = _check_positive("width", width)
    r = _check_positive("resolution", resolution)
    return d * w * w * r * r


def compound_multipliers(
    phi: float,
    alpha: float = EFFICIENTNET_ALPHA,
    beta: float = EFFICIENTNET_BETA,
    gamma: float = EFFICIENTNET_GAMMA,
) -> Multipliers:
    """`d = alpha^phi, w = beta^phi, r = gamma^phi` (EfficientNet, eq. 3).

    FLOPs then grow by `(alpha beta^2 gamma^2)^phi`, about `2^phi`. A negative phi shrinks.

    >>> [round(m, 4) for m in compound_multipliers(2)]
    [1.44, 1.21, 1.3225]
    """
    phi = _check_phi(phi)
    try:
        return Multipliers(*(coefficient**phi for coefficient in _coefficients(alpha, beta, gamma)))
    except OverflowError:
        raise ValueError(f"phi={phi!r} scales past what a float holds; phi must be smaller") from None


def compound_grid(
    step: float = 0.1, tolerance: float = 0.1, target: float = 2.0, high: float = 2.0
) -> list[Multipliers]:
    """Every (alpha, beta, gamma) on the grid `1, 1 + step, ..., high` with
    `|alpha * beta^2 * gamma^2 - target| <= tolerance` (EfficientNet, Sec. 3.3, step 1: "a small
    grid search of alpha, beta, gamma" at phi = 1, under eq. 3's constraint).

    The triples are returned as `Multipliers(alpha, beta, gamma)`, which at phi = 1 are exactly the
    depth, width and resolution multipliers. Grid values are `round(1 + i * step, 10)`.

    >>> len(compound_grid()), Multipliers(1.2, 1.1, 1.2) in compound_grid()
    (21, True)
    """
    step = _check_positive("step", step)
    target = _check_positive("target", target)
    high = _check_at_least_one("high", high)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ValueError(f"tolerance must be a number >= 0, got {tolerance!r}")
    values = [round(1 + i * step, 10) for i in range(int((high - 1) / step + 1e-9) + 1)]
    return [
        Multipliers(a, b, g)
        for a, b, g in itertools.product(values, repeat=3)
        if abs(a * b * b * g * g - target) <= tolerance + 1e-12
    ]


def inverse_compound_phi(
    budget: float,
    alpha: float = EFFICIENTNET_ALPHA,
    beta: float = EFFICIENTNET_BETA,
    gamma: float = EFFICIENTNET_GAMMA,
) -> float:
    """The phi at which compound scaling costs `budget` times the base FLOPs:
    `phi = log c / log(alpha beta^2 gamma^2)` (TinyNet, Sec. 3: EfficientNet's rule run backwards).

    >>> round(inverse_compound_phi(2), 4)
    1.0624
    """
    budget = _check_positive("budget", budget)
    product = flops_factor(*_coefficients(alpha, beta, gamma))
    if product == 1:
        raise ValueError("alpha * beta^2 * gamma^2 must be > 1: with all three at 1 nothing scales")
    return math.log(budget) / math.log(product)


def inverse_compound_multipliers(
    budget: float,
    alpha: float = EFFICIENTNET_ALPHA,
    beta: float = EFFICIENTNET_BETA,
    gamma: float = EFFICIENTNET_GAMMA,
) -> Multipliers:
    """`compound_multipliers(inverse_compound_phi(c))`: d, w, r with `d w^2 r^2 = c` on EfficientNet's path.

    >>> [round(m, 3) for m in inverse_compound_multipliers(0.5)]
    [0.824, 0.904, 0.862]
    """
    return compound_multipliers(inverse_compound_phi(budget, alpha, beta, gamma), alpha, beta, gamma)


def tinynet_width(budget: float, depth: float, resolution: float) -> float:
    """`w = sqrt(c / (r^2 d))`: the width that spends the rest of budget c (TinyNet, Sec. 3).

    >>> tinynet_width(0.5, 0.5, 1.0)
    1.0
    """
    budget = _check_positive("budget", budget)
    return math.sqrt(budget / flops_factor(depth, 1.0, resolution))


def _check_range(name: str, bounds: Sequence[float]) -> tuple[float, float]:
    try:
        low, high = bounds
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (low, high) pair, got {bounds!r}") from None
    low, high = _check_positive(f"{name}[0]", low), _check_positive(f"{name}[1]", high)
    if low > high:
        raise ValueError(f"{name} must have low <= high, got {bounds!r}")
    return low, high


def tinynet_samples(
    budget: float,
    count: int,
    seed: int = 0,
    resolution_range: Sequence[float] = (0.5, 1.25),
    depth_range: Sequence[float] = (0.5, 1.5),
    width_range: Sequence[float] = (0.5, 1.5),
    accept: Callable[[Multipliers], bool] | None = None,
    max_draws: int = 100_000,
    width_rule: Callable[[float, float, float], float] | None = None,
) -> list[Multipliers]:
    """`count` random (d, w, r) with `r^2 w^2 d = budget` (TinyNet, Sec. 3: "randomly sample r and
    d, w is computed from the FLOPs constraint").

    r and d are drawn uniformly from their ranges with `numpy.random.default_rng(seed)`;
    `w = width_rule(budget, d, r)` (default `tinynet_width`; `real_budget_width` solves it on the
    rounded network instead); a draw is kept if w lies in `width_range` and
    `accept(multipliers)` (when given; e.g. "the rounded network's real FLOPs are within 10% of
    the budget") is true. Raises ValueError if `max_draws` draws do not give `count` samples.

    >>> [round(m, 3) for m in tinynet_samples(0.5, 1, seed=0)[0]]
    [0.77, 0.824, 0.978]
    """
    budget = _check_positive("budget", budget)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    r_low, r_high = _check_range("resolution_range", resolution_range)
    d_low, d_high = _check_range("depth_range", depth_range)
    w_low, w_high = _check_range("width_range", width_range)
    if isinstance(max_draws, bool) or not isinstance(max_draws, int) or max_draws < count:
        raise ValueError(f"max_draws must be an integer >= count={count}, got {max_draws!r}")
    width_rule = tinynet_width if width_rule is None else width_rule
    rng = np.random.default_rng(seed)
    samples: list[Multipliers] = []
    for _ in range(max_draws):
        r, d = float(rng.uniform(r_low, r_high)), float(rng.uniform(d_low, d_high))
        w = width_rule(budget, d, r)
        if w_low <= w <= w_high:
            sample = Multipliers(d, w, r)
            if accept is None or accept(sample):
                samples.append(sample)
                if len(samples) == count:
                    return samples
    raise ValueError(
        f"only {len(samples)} of count={count} samples met budget={budget} in max_draws={max_draws} draws; "
        "widen resolution_range, depth_range or width_range, or relax accept"
    )


# --- TinyNet's Gaussian processes ----------------------------------------------------------------


@dataclass(frozen=True)
class TinyNetGP:
    """Gaussian-process regressions r(c) and d(c) fitted on the best models per budget (TinyNet, Sec. 3.2).

    `predict(c)` gives their means and standard deviations; `recommend(c)` the multipliers
    `(d(c), w, r(c))` with `w = sqrt(c / (r^2 d))` from the budget.
    """

    resolution_gp: object
    depth_gp: object

    def predict(self, budgets: Iterable[float] | float) -> dict[str, np.ndarray]:
        """Means and standard deviations of r and d at each budget: keys `resolution`,
        `resolution_std`, `depth`, `depth_std` (arrays, one entry per budget)."""
        c = np.atleast_1d(np.asarray(budgets, dtype=float)).reshape(-1, 1)
        r, r_std = self.resolution_gp.predict(c, return_std=True)
        d, d_std = self.depth_gp.predict(c, return_std=True)
        return {"resolution": r, "resolution_std": r_std, "depth": d, "depth_std": d_std}

    def recommend(self, budget: float) -> Multipliers:
        """TinyNet's multipliers for budget c: r and d from the GPs, `w = sqrt(c / (r^2 d))`."""
        budget = _check_positive("budget", budget)
        p = self.predict(budget)
        r, d = float(p["resolution"][0]), float(p["depth"][0])
        return Multipliers(d, tinynet_width(budget, d, r), r)


def fit_tinynet_gp(
    budgets: Sequence[float], resolutions: Sequence[float], depths: Sequence[float], seed: int = 0
) -> TinyNetGP:
    """Fit scikit-learn `GaussianProcessRegressor`s for c -> r and c -> d (TinyNet, Sec. 3.2).

    Kernel: `ConstantKernel * RBF + WhiteKernel` (a smooth trend plus noise: two models trained at
    the same budget disagree), `normalize_y=True`, hyper-parameters by maximum likelihood with
    `random_state=seed` for the optimizer's restarts.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    c = np.asarray(budgets, dtype=float)
    if c.ndim != 1 or len(c) < 2:
        raise ValueError(f"budgets must be a flat sequence of at least 2 numbers, got {len(c.ravel())}")
    columns = {"resolutions": resolutions, "depths": depths}
    fitted = []
    for name, values in columns.items():
        y = np.asarray(values, dtype=float)
        if y.shape != c.shape:
            raise ValueError(f"{name} must have one value per budget ({len(c)}), got {len(y.ravel())}")
        if not (np.all(np.isfinite(c)) and np.all(np.isfinite(y))):
            raise ValueError(f"budgets and {name} must be finite numbers")
        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(0.3, (0.05, 10.0)) + WhiteKernel(1e-2, (1e-6, 1.0))
        gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=3, random_state=seed)
        with warnings.catch_warnings():
            # a hyper-parameter at its bound (e.g. the noise at 1e-6 for noise-free data) is an
            # answer, not a failure
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted.append(gp.fit(c.reshape(-1, 1), y))
    return TinyNetGP(*fitted)


def best_per_budget(rows: Iterable, top: int) -> list:
    """The `top` rows of highest `accuracy` at each `budget` (ties: the earlier row), in input order.

    TinyNet fits its GPs on the frontier of the sampled models; with a handful of budgets, the
    best few at each is that frontier.
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    rows = list(rows)
    keep = set()
    for budget in dict.fromkeys(row.budget for row in rows):
        ranked = sorted(
            (i for i, row in enumerate(rows) if row.budget == budget), key=lambda i: (-rows[i].accuracy, i)
        )
        keep.update(ranked[:top])
    return [row for i, row in enumerate(rows) if i in keep]


# --- the course's digits network and its scaled versions ------------------------------------------

DIGITS_TABLE: tuple[MBRow, ...] = (
    #     t, k, s,  c, n, SE    (EfficientNet-B0's first rows, slimmed: t = 4, 1, 2, 3 blocks)
    MBRow(1, 3, 1, 16, 1, 0.25),
    MBRow(4, 3, 2, 24, 2, 0.25),
    MBRow(4, 5, 2, 32, 3, 0.25),
)
DIGITS_RESOLUTION = 24  # digits are 8x8 images, upsampled; the maps: stem 12x12 -> 6x6 -> 3x3


def digits_base(resolution: int = DIGITS_RESOLUTION) -> EfficientNet:
    """The base network of the digits experiments: an EfficientNet (SiLU, SE, MBConv) with
    `DIGITS_TABLE`, 1 input channel, 10 classes, at `resolution`. 3 epochs of Adam on one
    CPU thread take about 12 s.

    >>> models.cost(digits_base()).macs
    959968
    """
    return EfficientNet(resolution=resolution, num_classes=10, in_channels=1, table=DIGITS_TABLE)


# How `benchmarks/scaling_build.py` trained every scaled network (cosine-decayed learning rate).
TRAINING_RECIPE = {"epochs": 5, "optimizer": "adam", "lr": 0.01, "batch_size": 64}


def train_scaled(multipliers: Multipliers | Sequence[float], seed: int = 0, progress: bool = True):
    """Train `scaled_spec(digits_base(), multipliers)` on the distorted digits at its input side
    (`lwcnn.data.distorted_digits_loaders(image_size=...)`) with `TRAINING_RECIPE` and `seed`, as
    the table's networks were trained; returns the `lwcnn.train.History`. On one CPU thread this
    gives the table's numbers for that seed (on other thread counts, nearby ones).
    """
    from lwcnn.data import distorted_digits_loaders  # imported here: only training needs them
    from lwcnn.train import set_seed, train

    spec = scaled_spec(digits_base(), multipliers)
    set_seed(seed)
    model = spec.build()
    recipe = TRAINING_RECIPE
    loaders = distorted_digits_loaders(batch_size=recipe["batch_size"], seed=seed, image_size=spec.resolution)
    return train(
        model, loaders, epochs=recipe["epochs"], lr=recipe["lr"], optimizer=recipe["optimizer"], seed=seed,
        progress=progress,
    )  # fmt: skip


def scaled_resolution(base_resolution: int, multiplier: float) -> int:
    """The input side `round(r * base)` (halves up), at least 1: pixels are whole."""
    checks.check_int("base_resolution", base_resolution)
    multiplier = _check_positive("resolution multiplier", multiplier)
    return max(1, math.floor(base_resolution * multiplier + 0.5))


def scaled_spec(base: EfficientNet, multipliers: Sequence[float]) -> EfficientNet:
    """`base` with depth, width and resolution multiplied by `multipliers` = (d, w, r).

    Widths become `make_divisible(c * w, 8)`, blocks `ceil(n * d)` (`models.EfficientNet`), the
    input side `scaled_resolution(base, r)`.

    >>> scaled_spec(digits_base(), compound_multipliers(1)).resolution
    28
    """
    if not isinstance(base, EfficientNet):
        raise ValueError(f"base must be a lwcnn.models.EfficientNet spec, got {type(base).__name__}")
    d, w, r = _multipliers(multipliers)
    return dataclasses.replace(
        base,
        depth_multiplier=base.depth_multiplier * d,
        width_multiplier=base.width_multiplier * w,
        resolution=scaled_resolution(base.input_resolution, r),
    )


def network_key(multipliers: Sequence[float], base: EfficientNet | None = None) -> str:
    """The network `multipliers` build from `base` (default `digits_base()`), as a key: the image
    size, then each stage's layer widths. Equal keys, equal networks: multipliers that round to
    the same depths, widths and size give the same key.

    >>> network_key((1.0, 1.0, 1.0)) == network_key((1.0, 1.02, 1.0))  # widths round to 8s
    True
    """
    spec = scaled_spec(digits_base() if base is None else base, multipliers)
    stages = "/".join("-".join(str(layer.out_channels) for layer in stage.layers) for stage in spec.stages())
    return f"{spec.resolution}:{stages}"


def _multipliers(multipliers: Sequence[float]) -> Multipliers:
    try:
        d, w, r = multipliers
    except (TypeError, ValueError):
        raise ValueError(f"multipliers must be (depth, width, resolution), got {multipliers!r}") from None
    return Multipliers(
        _check_positive("depth", d), _check_positive("width", w), _check_positive("resolution", r)
    )


def real_flops_factor(base: EfficientNet, multipliers: Sequence[float]) -> float:
    """MACs of the scaled network over the base's, both from `models.cost`: `d w^2 r^2` after rounding.

    >>> round(real_flops_factor(digits_base(), compound_multipliers(1)), 3)
    2.039
    """
    return models.cost(scaled_spec(base, multipliers)).macs / models.cost(base).macs


WIDTH_STEPS = tuple(round(0.25 + 0.01 * i, 2) for i in range(176))  # 0.25, 0.26, ..., 2.0
PHI_STEPS = tuple(round(-4 + 0.01 * i, 2) for i in range(401))  # -4.0, -3.99, ..., 0.0


def real_budget_width(
    base: EfficientNet, budget: float, depth: float, resolution: float, widths: Sequence[float] = WIDTH_STEPS
) -> float:
    """TinyNet's "w from the budget" on the rounded network: the w of `widths` whose real FLOPs
    factor (`real_flops_factor`) is nearest `budget` (ties: the one nearest `tinynet_width`).

    `sqrt(c / (r^2 d))` assumes every factor is exact; with channels in multiples of 8 and whole
    pixels the real network can miss c by a third, so the experiments solve for w on the real cost.
    """
    budget = _check_positive("budget", budget)
    nominal = tinynet_width(budget, depth, resolution)
    return min(
        widths,
        key=lambda w: (abs(real_flops_factor(base, (depth, w, resolution)) - budget), abs(w - nominal)),
    )


def real_budget_phi(
    base: EfficientNet,
    budget: float,
    alpha: float = EFFICIENTNET_ALPHA,
    beta: float = EFFICIENTNET_BETA,
    gamma: float = EFFICIENTNET_GAMMA,
    phis: Sequence[float] = PHI_STEPS,
) -> float:
    """Inverse compound scaling on the rounded network: the phi of `phis` whose
    `compound_multipliers(phi)` give a real FLOPs factor nearest `budget` (ties: nearest
    `inverse_compound_phi`). A budget whose phi lies outside `phis` (the default steps run from
    -4 to 0, budgets up to 1) is refused: the nearest end would only be the closest miss."""
    nominal = inverse_compound_phi(budget, alpha, beta, gamma)
    if not min(phis) <= nominal <= max(phis):
        raise ValueError(
            f"budget={budget!r} needs phi = {nominal:.3f}, outside phis [{min(phis)}, {max(phis)}]; "
            "pass phis that cover it"
        )
    return min(
        phis,
        key=lambda phi: (
            abs(real_flops_factor(base, compound_multipliers(phi, alpha, beta, gamma)) - budget),
            abs(phi - nominal),
        ),
    )


# --- EfficientNet-B0..B3 on ImageNet: published multipliers vs alpha^phi ------------------------


def imagenet_comparison(
    alpha: float = EFFICIENTNET_ALPHA, beta: float = EFFICIENTNET_BETA, gamma: float = EFFICIENTNET_GAMMA
) -> list[dict]:
    """For B0..B3 (phi = 0..3): the released multipliers (`models.EFFICIENTNET_SCALING`, width,
    depth and resolution / 224), `compound_multipliers(phi)`, both `flops_factor`s, the released
    models' real MACs over B0's (`models.cost`) and `2^phi`."""
    base_macs = models.cost("efficientnet_b0").macs
    rows = []
    for phi, (name, (width, depth, resolution, _)) in enumerate(models.EFFICIENTNET_SCALING.items()):
        released = Multipliers(depth, width, resolution / EFFICIENTNET_BASE_RESOLUTION)
        compound = compound_multipliers(phi, alpha, beta, gamma)
        rows.append(
            {
                "name": f"efficientnet_{name}",
                "phi": phi,
                "released": released,
                "compound": compound,
                "compound_resolution": scaled_resolution(EFFICIENTNET_BASE_RESOLUTION, compound.resolution),
                "released_factor": flops_factor(*released),
                "compound_factor": flops_factor(*compound),
                "released_macs_ratio": models.cost(f"efficientnet_{name}").macs / base_macs,
                "two_to_phi": 2.0**phi,
            }
        )
    return rows


# --- the trained table -----------------------------------------------------------------------------

EXPERIMENTS = ("base", "width", "depth", "resolution", "grid", "tinynet", "tinynet_gp", "inverse_compound")
DEFAULT_TABLE = paths.SCALING_TABLE


class ScalingRow(NamedTuple):
    """One trained scaled network of `data/scaling_distorted.csv`.

    `experiment`: "base", a single-dimension curve ("width", "depth", "resolution"), "grid"
    (phi = 1 with the triple as multipliers), "tinynet" (a sample at `budget`), "tinynet_gp"
    or "inverse_compound" (a held-out budget's recommendation). `budget` is the nominal
    `d w^2 r^2` asked for; `accuracies` the test accuracy of each training seed (empty cells,
    seeds a row was not trained with, are left out).
    """

    experiment: str
    budget: float
    multipliers: Multipliers
    image_size: int
    params: int
    macs: int
    accuracies: tuple[float, ...]

    @property
    def accuracy(self) -> float:
        """The mean test accuracy over the training seeds."""
        return sum(self.accuracies) / len(self.accuracies)

    @property
    def name(self) -> str:
        """What the lesson calls this network, e.g. "width x1.5", "grid 1.0, 1.0, 1.4" (alpha,
        beta, gamma), "TinyNet GP, c = 0.3", "inverse compound, c = 0.3".

        >>> ScalingRow("depth", 1.8, Multipliers(2.0, 1.0, 1.0), 24, 0, 0, (0.8,)).name
        'depth x2'
        """
        d, w, r = self.multipliers
        if self.experiment in ("width", "depth", "resolution"):
            return f"{self.experiment} x{getattr(self.multipliers, self.experiment):g}"
        if self.experiment == "grid":
            return f"grid {d:.1f}, {w:.1f}, {r:.1f}"
        if self.experiment == "tinynet":
            return f"TinyNet sample, c = {self.budget:g}, d {d:.2f} w {w:.2f} r {r:.2f}"
        if self.experiment == "tinynet_gp":
            return f"TinyNet GP, c = {self.budget:g}"
        if self.experiment == "inverse_compound":
            return f"inverse compound, c = {self.budget:g}"
        return self.experiment


def load_table(path: str | Path = DEFAULT_TABLE) -> list[ScalingRow]:
    """The rows written by `benchmarks/scaling_build.py` (`#` lines skipped)."""
    rows, seeds = paths.read_recorded_csv(path, "benchmarks/scaling_build.py", minutes=40)
    return [
        ScalingRow(
            row["experiment"],
            float(row["budget"]),
            Multipliers(float(row["depth"]), float(row["width"]), float(row["resolution"])),
            int(row["image_size"]),
            int(row["params"]),
            int(row["macs"]),
            tuple(float(row[name]) for name in seeds if row[name]),
        )
        for row in rows
    ]


def rows_of(rows: Iterable[ScalingRow], experiment: str) -> list[ScalingRow]:
    """The rows of one experiment (one of `EXPERIMENTS`), in table order."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment={experiment!r} is unknown; allowed: {', '.join(EXPERIMENTS)}")
    return [row for row in rows if row.experiment == experiment]
