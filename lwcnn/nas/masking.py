"""FBNetV2's channel search by masking (Wan et al. 2020, DMaskingNAS): every width of a layer is
the first channels of one conv of the largest width, so K widths cost one forward pass.

Each searched layer is one conv of the layer's widest option. Width option k keeps the first
`w_k` channels: its mask `m_k` has `w_k` ones, then zeros. With Gumbel-softmax weights `g` over
the K options, the layer's output is multiplied by `sum_k g_k * m_k` (FBNetV2 Fig. 2), so every
width shares one weight tensor. The mask sits after BatchNorm and ReLU: a channel a one-hot `g`
switches off is then exactly zero going into the next conv, and the supernet computes exactly
what the narrow network `extract(widths)` computes (`MaskedSupernet.extract`).

The latency term needs each layer's latency at its input and output widths, and the input of
layer i is layer i-1's choice. `WidthLatency` holds `LAT_i(a, b)` for every pair, and the
expected latency couples neighbouring layers:

    E[LAT] = fixed + sum_i sum_a sum_b g_{i-1,a} * g_{i,b} * LAT_i(a, b)

(the exact expectation when the widths are drawn independently with probabilities g; the
stem's width and the classes are fixed, one option of weight 1). Where `LAT_i(a, b)` is
proportional to `a * b` (a conv's MACs), this is the latency at the expected widths
`sum_k g_k w_k`; a measured table is not bilinear, and the pairs keep what it says. `macs_latency_table` fills it
from MACs, a stand-in that needs no timing; `table_from_lut` from an `lwcnn.latency` table.
`masked_search` runs FBNet's loss (`fbnet_loss`, `lwcnn.nas.fbnet`) over widths on digits.

    >>> supernet = MaskedSupernet(seed=0).eval()
    >>> supernet.widths
    ((8, 16, 24, 32), (16, 32, 48, 64), (16, 32, 48, 64))
    >>> x = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> narrow = supernet.extract((8, 48, 16)).eval()
    >>> torch.allclose(narrow(x), supernet(x, supernet.one_hot((8, 48, 16))), atol=1e-5)
    True
    >>> table = macs_latency_table(supernet)
    >>> round(table.latency_ms((8, 48, 16)), 4), round(table.latency_ms((32, 64, 64)), 4)  # MACs / 1e6
    (0.6637, 2.9866)
    >>> round(float(table.expected_latency(supernet.one_hot((8, 48, 16)))), 4)  # one-hot: that entry
    0.6637
    >>> masked_search(seed=0).widths  # 3-7 s on one thread  # doctest: +SKIP
    (24, 64, 64)
    >>> masked_search(beta=3.0, seed=0).widths  # latency weighs more: narrower  # doctest: +SKIP
    (8, 16, 64)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lwcnn import checks
from lwcnn.models import SmallMobileNet
from lwcnn.nas.fbnet import (
    DIGITS_SEARCH,
    SearchEpoch,
    SearchSettings,
    gumbel_softmax,
    search_epochs,
    search_loaders,
)

# Width options of the three searched layers: (8, 16, 24, 32) times a base of 1, 2, 2 channels.
MASKED_WIDTHS = tuple(tuple(base * width for width in (8, 16, 24, 32)) for base in (1, 2, 2))
MASKED_STRIDES = (1, 2, 2)  # lesson 10's supernet: a stride-2 stem, then 32 -> 16 -> 16 -> 8 -> 4
# What surrounds the searched layers: SmallMobileNet's default stem, input and classifier, with
# plain convs (MaskedSupernet says why)
MASKED_BASE = SmallMobileNet(conv="standard")

# The MACs stand-in for a latency table: 1 GMAC/s, a phone core's order of magnitude. Only the
# ratios between widths matter to the search (and the unit, `MASKED_SEARCH.unit_ms`).
MACS_PER_MS = 1_000_000

Weights = Sequence[torch.Tensor]  # one weight vector per searched layer, over its width options


def check_widths(name: str, widths: Any, channels: int | None = None) -> tuple[int, ...]:
    """`widths` as a tuple of positive ints, strictly increasing, each at most `channels`."""
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or not widths:
        raise TypeError(f"{name} must be a non-empty sequence of ints such as (8, 16, 24), got {widths!r}")
    values = tuple(checks.check_int(f"{name}[{index}]", width) for index, width in enumerate(widths))
    if any(later <= earlier for earlier, later in zip(values, values[1:], strict=False)):
        raise ValueError(
            f"{name} must be strictly increasing (each width once, narrowest first), got {values}"
        )
    if channels is not None and values[-1] > channels:
        raise ValueError(f"{name} must be at most channels={channels}, got {values}")
    return values


def check_width_choice(widths: Any, options: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """`widths` as a tuple, if it picks one of `options[i]` for every layer i; else an error
    naming the layer and its allowed widths."""
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise TypeError(f"widths must be a sequence of {len(options)} ints, got {widths!r}")
    if len(widths) != len(options):
        raise ValueError(f"widths must have {len(options)} entries (one per layer), got {len(widths)}")
    for index, (width, allowed) in enumerate(zip(widths, options, strict=True)):
        if isinstance(width, bool) or not isinstance(width, int) or width not in allowed:
            raise ValueError(
                f"widths[{index}]={width!r} is not an option of layer {index}; allowed: {allowed}"
            )
    return tuple(widths)


def check_weights(weights: Any, options: Sequence[Sequence[int]]) -> None:
    """`weights` must hold one vector per layer, one entry per width option."""
    if isinstance(weights, torch.Tensor) or len(weights) != len(options):
        count = "a tensor" if isinstance(weights, torch.Tensor) else len(weights)
        raise ValueError(f"weights must be a list of {len(options)} vectors (one per layer), got {count}")
    for index, (row, allowed) in enumerate(zip(weights, options, strict=True)):
        if tuple(row.shape) != (len(allowed),):
            raise ValueError(
                f"weights[{index}] must have shape ({len(allowed)},), one per width of {allowed}; "
                f"got {tuple(row.shape)}"
            )


class ChannelMask:
    """The masks of one layer's width options (FBNetV2 Fig. 2): `masks[k]` has ones on the first
    `widths[k]` of `channels` channels (default: the widest option), zeros on the rest.

        >>> mask = ChannelMask((1, 3), channels=4)
        >>> mask.masks.tolist()
        [[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]]
        >>> mask.mask(torch.tensor([0.25, 0.75])).tolist()
        [1.0, 0.75, 0.75, 0.0]
    """

    def __init__(self, widths: Sequence[int], channels: int | None = None) -> None:
        if channels is not None:
            checks.check_int("channels", channels)
        self.widths = check_widths("widths", widths, channels)
        self.channels = self.widths[-1] if channels is None else channels
        positions = torch.arange(self.channels)
        self.masks = (positions < torch.tensor(self.widths)[:, None]).float()  # (K, channels)

    def __repr__(self) -> str:
        return f"ChannelMask(widths={self.widths}, channels={self.channels})"

    def mask(self, weights: torch.Tensor) -> torch.Tensor:
        """`sum_k weights[k] * masks[k]`: channel c is kept with the summed weight of the widths wider than c."""
        if weights.shape != (len(self.widths),):
            raise ValueError(
                f"weights must have shape ({len(self.widths)},), one weight per width of {self.widths}; "
                f"got {tuple(weights.shape)}"
            )
        return weights @ self.masks.to(device=weights.device, dtype=weights.dtype)

    def masked(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """`x` (batch, channels, ...) with its channel dimension multiplied by `mask(weights)`."""
        if x.dim() < 2 or x.shape[1] != self.channels:
            raise ValueError(
                f"x must have {self.channels} channels (dimension 1), got shape {tuple(x.shape)}"
            )
        mask = self.mask(weights).to(x.dtype)
        return x * mask.view(1, -1, *([1] * (x.dim() - 2)))


class MaskedSupernet(nn.Module):
    """Every width choice of a small digits network in one network of the widest widths.

    `base`'s 3x3 stem conv, then one plain 3x3 conv -> BN -> ReLU per entry of `widths` (that
    layer's options, narrowest first) with the matching `strides`, then global average pooling
    and `base`'s linear classifier: `base` (a `SmallMobileNet(conv="standard")`) at the widest
    widths, built from the same spec as the narrow networks (`spec`). Each searched
    layer's output is masked after its ReLU (`ChannelMask`). `theta[i]` holds layer i's logits.

    Plain convs, not depthwise-separable: a masked (zero) input channel contributes nothing to a
    plain conv, so one mask per layer is exact. A depthwise conv would map the zero channel
    through BN's shift to a non-zero one, and need the previous layer's mask a second time.
    """

    def __init__(
        self,
        widths: Sequence[Sequence[int]] = MASKED_WIDTHS,
        strides: Sequence[int] = MASKED_STRIDES,
        base: SmallMobileNet = MASKED_BASE,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or not widths:
            raise TypeError(f"widths must be a sequence of width options per layer, got {widths!r}")
        self.widths = tuple(check_widths(f"widths[{i}]", options) for i, options in enumerate(widths))
        self.strides = tuple(checks.check_int(f"strides[{i}]", stride) for i, stride in enumerate(strides))
        if len(self.strides) != len(self.widths):
            raise ValueError(
                f"strides must have one entry per layer of widths ({len(self.widths)}), got {len(self.strides)}"
            )
        if not isinstance(base, SmallMobileNet):
            raise TypeError(f"base must be a SmallMobileNet (its stem, input and classes), got {base!r}")
        if base.conv != "standard" or base.width_multiplier != 1.0:
            raise ValueError(
                "base must have conv='standard' (a masked channel adds nothing to a plain conv only) and "
                f"width_multiplier=1.0 (the widths are the options'), got {base!r}"
            )
        self.base = base
        widest = self.spec(tuple(options[-1] for options in self.widths))  # checks the options
        with torch.random.fork_rng(devices=[]):  # seeded weights, the global generator untouched
            torch.manual_seed(seed)
            self.network = widest.build()
        self.masks = [ChannelMask(options) for options in self.widths]
        self.theta = nn.ParameterList(nn.Parameter(torch.zeros(len(options))) for options in self.widths)

    def spec(self, widths: Sequence[int]) -> SmallMobileNet:
        """The spec of the narrow network of `widths` (one per layer): build it, cost it."""
        widths = self.check_choice(widths)
        return dataclasses.replace(self.base, stages=tuple(zip(widths, self.strides, strict=True)))

    def check_choice(self, widths: Sequence[int]) -> tuple[int, ...]:
        """`widths` as a tuple, if it picks one of its options for every layer (`check_width_choice`)."""
        return check_width_choice(widths, self.widths)

    def weight_parameters(self) -> list[nn.Parameter]:
        """The network's weights (trained on one part of the data; theta on the other)."""
        return list(self.network.parameters())

    def sample_weights(
        self, temperature: float, generator: torch.Generator | None = None
    ) -> list[torch.Tensor]:
        """Gumbel-softmax weights over each layer's width options (`lwcnn.nas.gumbel_softmax`)."""
        return [gumbel_softmax(logits, temperature, generator) for logits in self.theta]

    def forward(self, x: torch.Tensor, weights: Weights | None = None) -> torch.Tensor:
        """The masked network; `weights=None` uses softmax(theta) (no noise)."""
        weights = [torch.softmax(logits, dim=-1) for logits in self.theta] if weights is None else weights
        check_weights(weights, self.widths)
        stem, *layers = self.network.features
        x = stem(x)
        for layer, mask, row in zip(layers, self.masks, weights, strict=True):
            x = mask.masked(layer(x), row)  # after BN and ReLU: switched-off channels are exactly 0
        return self.network.classifier(self.network.flatten(self.network.pool(x)))

    def probabilities(self) -> list[list[float]]:
        """softmax(theta) per layer: the distribution over widths the search has learned."""
        return [torch.softmax(logits.detach(), dim=-1).tolist() for logits in self.theta]

    def derive(self) -> tuple[int, ...]:
        """The most likely width of each layer."""
        return tuple(
            options[int(logits.argmax())] for options, logits in zip(self.widths, self.theta, strict=True)
        )

    def one_hot(self, widths: Sequence[int]) -> list[torch.Tensor]:
        """Weights that select `widths`: 1 on the chosen option of each layer."""
        widths = self.check_choice(widths)
        weights = [torch.zeros(len(options)) for options in self.widths]
        for row, options, width in zip(weights, self.widths, widths, strict=True):
            row[options.index(width)] = 1.0
        return weights

    def extract(self, widths: Sequence[int] | None = None) -> nn.Sequential:
        """The narrow network of `widths` (default `derive()`), `spec(widths).build()`, with the
        supernet's weights: every tensor keeps its leading block (a conv's first `w_out` filters on
        its first `w_in` input channels, a BatchNorm's first `w_out` entries, the classifier's
        first `w_last` inputs), the channels the masks keep. In eval mode it computes what the
        supernet computes with `one_hot(widths)`."""
        widths = self.derive() if widths is None else widths
        model = self.spec(widths).build()
        source = self.network.state_dict()
        narrow = {
            key: source[key][tuple(slice(0, size) for size in tensor.shape)].clone()
            for key, tensor in model.state_dict().items()
        }
        model.load_state_dict(narrow)
        return model


@dataclass(frozen=True)
class WidthLatency:
    """A latency table over widths: `fixed_ms` (the stem and what every choice shares) and, per
    layer, `layer_ms[i][a][b]`, the latency of layer i with input option a and output option b.

    `layer_ms` has one more entry than there are searched layers: entry 0 has one input option
    (the stem's width), the last entry is what follows the last searched layer (pooling and the
    classifier), with one output option (the classes). `widths` are the searched layers' options.
    """

    widths: tuple[tuple[int, ...], ...]
    fixed_ms: float
    layer_ms: tuple[tuple[tuple[float, ...], ...], ...]

    def __post_init__(self) -> None:
        widths = tuple(check_widths(f"widths[{i}]", row) for i, row in enumerate(self.widths))
        object.__setattr__(self, "widths", widths)
        options = [1, *(len(row) for row in widths), 1]
        if len(self.layer_ms) != len(options) - 1:
            raise ValueError(
                f"layer_ms must hold {len(options) - 1} tables (the layers and the classifier), "
                f"got {len(self.layer_ms)}"
            )
        for index, table in enumerate(self.layer_ms):
            shape = (len(table), *{len(row) for row in table})
            if shape != (options[index], options[index + 1]):
                raise ValueError(
                    f"layer_ms[{index}] must be {options[index]} x {options[index + 1]} (input x output "
                    f"options), got {' x '.join(map(str, shape))}"
                )

    def expected_latency(self, weights: Weights) -> torch.Tensor:
        """`fixed + sum_i g_{i-1}^T LAT_i g_i`: every pair of neighbouring widths, weighted by the
        product of their weights (differentiable in the weights)."""
        check_weights(weights, self.widths)
        like = {"dtype": weights[0].dtype, "device": weights[0].device}
        one = torch.ones(1, **like)
        rows = [one, *weights, one]
        total = torch.tensor(self.fixed_ms, **like)
        for index, table in enumerate(self.layer_ms):
            total = total + rows[index] @ torch.tensor(table, **like) @ rows[index + 1]
        return total

    def latency_ms(self, widths: Sequence[int]) -> float:
        """The table's latency of one choice of widths (the expected latency of its one-hot weights)."""
        widths = check_width_choice(widths, self.widths)
        picks = [0, *(options.index(width) for width, options in zip(widths, self.widths, strict=True)), 0]
        return self.fixed_ms + sum(table[picks[i]][picks[i + 1]] for i, table in enumerate(self.layer_ms))


# --- filling a table: price each layer in the networks that vary each pair of neighbouring widths ---


def _probes(supernet: MaskedSupernet) -> list[tuple[int, int, int, tuple[int, ...]]]:
    """(table index, input option, output option, widths): for each entry of the table, a choice
    of widths whose layer `index` (the classifier for the last index) sees that pair of widths;
    the layers it does not touch take their narrowest option."""
    options = [(None,), *supernet.widths, (None,)]  # the stem's width, the classes: one option each
    probes = []
    for index in range(len(options) - 1):
        for a, width_in in enumerate(options[index]):
            for b, width_out in enumerate(options[index + 1]):
                widths = [row[0] for row in supernet.widths]
                if index > 0:
                    widths[index - 1] = width_in
                if index < len(supernet.widths):
                    widths[index] = width_out
                probes.append((index, a, b, tuple(widths)))
    return probes


def _fill_table(
    supernet: MaskedSupernet, layer_prices: Callable[[SmallMobileNet], tuple[float, list[float]]]
) -> WidthLatency:
    """The table from `layer_prices(spec) -> (shared_ms, ms of each layer of network_layers(spec))`:
    the stem and `shared_ms` are fixed, layer 1 + i is searched layer i, the rest the classifier."""
    count = len(supernet.widths)
    sizes = [1, *(len(options) for options in supernet.widths), 1]
    tables = [[[0.0] * sizes[i + 1] for _ in range(sizes[i])] for i in range(count + 1)]
    fixed = 0.0
    for index, a, b, widths in _probes(supernet):
        shared_ms, prices = layer_prices(supernet.spec(widths))
        fixed = shared_ms + prices[0]  # the same in every probe
        tables[index][a][b] = prices[1 + index] if index < count else sum(prices[1 + count :])
    return WidthLatency(supernet.widths, fixed, tuple(tuple(map(tuple, table)) for table in tables))


def macs_latency_table(
    supernet: MaskedSupernet, resolution: int = 32, macs_per_ms: float = MACS_PER_MS
) -> WidthLatency:
    """A stand-in latency table, no timing: each layer's conv+linear MACs (`spec.cost`) divided
    by `macs_per_ms`. Real latency is not proportional to MACs (lesson 09); this one only orders
    the widths as their arithmetic does, so a search runs offline in seconds."""
    from lwcnn.latency import network_layers

    checks.check_positive_number("macs_per_ms", macs_per_ms)

    def layer_prices(spec: SmallMobileNet) -> tuple[float, list[float]]:
        walk = network_layers(spec, resolution)
        sizes = [tuple(layer.input_shape[2:]) if len(layer.input_shape) == 4 else (1, 1) for layer in walk]
        return 0.0, [
            layer.spec.cost(size).macs / macs_per_ms for layer, size in zip(walk, sizes, strict=True)
        ]

    return _fill_table(supernet, layer_prices)


def masked_blocks(
    supernet: MaskedSupernet, resolution: int = 32, batch_size: int = 1
) -> list[tuple[Any, tuple]]:
    """The (block spec, input shape) pairs an `lwcnn.latency.LatencyTable` needs for
    `table_from_lut`: `table.measure_blocks(masked_blocks(supernet))`."""
    from lwcnn.latency import network_blocks

    pairs = []
    for *_, widths in _probes(supernet):
        pairs += network_blocks(supernet.spec(widths), resolution, batch_size)
    return list(dict.fromkeys(pairs))


def table_from_lut(
    lut: Any,
    supernet: MaskedSupernet,
    resolution: int = 32,
    statistic: str | None = None,
    device: str | None = None,
    threads: int | None = None,
) -> WidthLatency:
    """The table from an `lwcnn.latency.LatencyTable` holding `masked_blocks(supernet)`: each
    layer's part of the prediction as `lut.predict` prices it (`Prediction.layer_ms`), the
    `nn.Sequential` calls in `fixed_ms`. For every choice, `latency_ms(widths)` equals
    `lut.predict(supernet.spec(widths)).latency_ms`."""

    def layer_prices(spec: SmallMobileNet) -> tuple[float, list[float]]:
        prediction = lut.predict(spec, resolution, device=device, threads=threads, statistic=statistic)
        return prediction.containers_ms, [prediction.layer_ms(row) for row in prediction.layers]

    return _fill_table(supernet, layer_prices)


# --- the search --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskedSearchEpoch(SearchEpoch):
    """One epoch of `masked_search`, as `fbnet_search`'s: its `arch` is the most likely width of
    each layer (also `widths`)."""

    @property
    def widths(self) -> tuple[int, ...]:
        return self.arch


@dataclass
class MaskedSearchResult:
    """What `masked_search` returns: the trained supernet, its latency table, one record per epoch,
    the test accuracy of the extracted final widths (supernet weights, BatchNorm statistics
    re-estimated on the training images; not retrained) and the search's wall time."""

    supernet: MaskedSupernet
    latency: WidthLatency
    history: list[MaskedSearchEpoch]
    accuracy: float
    seconds: float

    @property
    def widths(self) -> tuple[int, ...]:
        return self.history[-1].widths


# FBNet's digits settings (`DIGITS_SEARCH`, lesson 10), except:
# - 10 epochs, not 5: one path per step instead of six candidates makes a step far cheaper,
#   and theta gets 45 steps instead of 20 (the whole search takes ~3 s on one thread);
# - LAT in units of 0.1 ms of the MACs stand-in: the networks then read 4.4-30, near the paper's
#   phone latencies in ms, where beta = 0.6 keeps its trade-off.
MASKED_SEARCH = DIGITS_SEARCH.replace(
    epochs=10,
    temperature_decay=0.1 ** (1 / 10),  # tau from 5 to 0.5 over the search, as in DIGITS_SEARCH
    unit_ms=0.1,
)


def masked_search(
    widths: Sequence[Sequence[int]] = MASKED_WIDTHS,
    latency: WidthLatency | None = None,
    settings: SearchSettings = MASKED_SEARCH,
    seed: int = 0,
    threads: int = 1,
    progress: bool = False,
    **changes: Any,
) -> MaskedSearchResult:
    """FBNetV2's channel search on digits, run as `fbnet_search` runs FBNet's: the weights (Adam,
    `weight_lr`) learn on `1 - theta_fraction` of the training images, theta (Adam, `theta_lr`)
    on the rest with `fbnet_loss(CE, E[LAT])`, after `warmup_epochs` of weights only; each step
    draws fresh Gumbel weights at the annealed temperature. `latency` defaults to
    `macs_latency_table` of the supernet (at 32x32; the search trains on `image_size` images).

    `settings` are the course's `MASKED_SEARCH` unless given; `changes` change some of them by
    name: `masked_search(beta=3.0)`.

    It runs on `threads` torch threads (restored after): one is fastest for convs this small,
    and on 2 shared cores two spin-wait for each other (10-50x slower). Seeded: the same call
    gives the same result on the same machine.
    """
    from lwcnn.train import evaluate, recalibrate_batchnorm

    settings = settings.replace(**changes)
    checks.check_positive_int("threads", threads)
    supernet = MaskedSupernet(widths, seed=seed)
    latency = macs_latency_table(supernet) if latency is None else latency
    if not isinstance(latency, WidthLatency) or latency.widths != supernet.widths:
        raise ValueError(
            f"latency must be a WidthLatency of the supernet's widths {supernet.widths}, got "
            f"{getattr(latency, 'widths', type(latency).__name__)}"
        )
    settings.check_latency(latency.latency_ms(tuple(options[0] for options in supernet.widths)))

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        start = time.perf_counter()
        split, loaders = search_loaders(settings, seed)
        history = search_epochs(
            supernet, latency.expected_latency, loaders, settings, seed, progress, record=MaskedSearchEpoch
        )
        model = supernet.extract(history[-1].widths)
        images = torch.utils.data.TensorDataset(split.train_images)
        recalibrate_batchnorm(model, torch.utils.data.DataLoader(images, batch_size=256))
        test = torch.utils.data.TensorDataset(split.test_images, split.test_labels)
        _, accuracy = evaluate(model, torch.utils.data.DataLoader(test, batch_size=256))
    finally:
        torch.set_num_threads(previous_threads)
    return MaskedSearchResult(supernet, latency, history, accuracy, time.perf_counter() - start)
