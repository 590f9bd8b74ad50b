"""lwcnn.nas: the search space builds what it costs, the reward is the paper's, the strategies search.

Oracles: torch's parameter count and FlopCounterMode for the searched networks, brute force for
the Pareto front and the space's size, autograd for the REINFORCE update.
"""

from __future__ import annotations

import csv
import json
import math
import random
import statistics

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import counted_macs, counted_params

from lwcnn import cost as C
from lwcnn import nas
from lwcnn.blocks import ResidualBlock

SPACE = nas.SearchSpace()


def _small_space(layers: tuple[int, ...]) -> nas.SearchSpace:
    """Two ops x two kernels x the given layer counts per block, nothing else searched."""
    return nas.SearchSpace(
        ops=("dwsep", "mbconv6"),
        kernels=(3, 5),
        se_ratios=(0.0,),
        skips=("identity",),
        widths=(1.0,),
        layers=layers,
    )


codes = st.tuples(*[st.integers(0, len(options) - 1) for _, _, options in SPACE.choices()])


@settings(max_examples=25, deadline=None)
@given(code=codes, resolution=st.sampled_from([32, 24, 40]), stem_stride=st.sampled_from([1, 2]))
def test_every_architecture_builds_what_cost_says(code, resolution, stem_stride):
    arch = SPACE.decode(list(code))
    spec = SPACE.spec(arch)
    spec = nas.SearchedNet(spec.blocks, spec.base_widths, spec.strides, stem_stride=stem_stride)
    model = spec.build().eval()
    x = torch.randn(2, 1, resolution, resolution)
    macs, logits = counted_macs(model, x[:1])
    result = spec.cost(resolution)
    assert (result.params, result.macs) == (counted_params(model), macs)
    assert tuple(model(x).shape) == (2, 10)
    # a shortcut on exactly the layers that keep their shape, when the block's skip is identity
    shortcuts = [m.use_residual for m in model.modules() if isinstance(m, ResidualBlock)]
    expected = []
    channels = 16
    for block, base, stride in zip(arch, SPACE.base_widths, SPACE.strides, strict=True):
        out = C.make_divisible(base * block.width, 8)
        for layer in range(block.layers):
            step = stride if layer == 0 else 1
            expected.append(block.skip == "identity" and step == 1 and channels == out)
            channels = out
    assert shortcuts == expected


@given(code=codes)
def test_encode_and_decode_are_inverse(code):
    arch = SPACE.decode(list(code))
    assert SPACE.encode(arch) == code
    assert SPACE.decode(np.array(code)) == arch  # NumPy's integers are indices too
    assert len(arch) == SPACE.blocks and all(isinstance(block, nas.BlockChoice) for block in arch)


def test_the_space_size_is_s_to_the_b():
    assert SPACE.block_size == 4 * 2 * 2 * 2 * 3 * 3
    assert SPACE.size == 288**4
    small = _small_space(layers=(1, 2))
    archs = small.all_archs()
    assert len(archs) == len(set(archs)) == small.size == (2 * 2 * 2) ** 4
    assert sorted(small.encode(arch) for arch in archs) == [small.encode(arch) for arch in archs]


def test_sampling_is_uniform_and_seeded():
    small = nas.SearchSpace(
        ops=("conv", "dwsep", "mbconv3"), kernels=(3,), se_ratios=(0.0,), skips=("none",), widths=(1.0,),
        layers=(1,), base_widths=(16, 24), strides=(1, 2),
    )  # fmt: skip
    rng = random.Random(0)
    draws = [small.sample(rng) for _ in range(9000)]
    counts = {arch: draws.count(arch) for arch in small.all_archs()}
    assert len(counts) == 9
    chi2 = sum((count - 1000) ** 2 / 1000 for count in counts.values())
    assert chi2 < 26.1  # 8 degrees of freedom, p = 0.001
    assert [small.sample(random.Random(5)) for _ in range(3)] == [
        small.sample(random.Random(5)) for _ in range(3)
    ]


@given(code=codes, seed=st.integers(0, 10_000))
def test_mutation_changes_exactly_one_decision(code, seed):
    arch = SPACE.decode(list(code))
    child = SPACE.mutate(arch, random.Random(seed))
    changed = [a != b for a, b in zip(SPACE.encode(arch), SPACE.encode(child), strict=True)]
    assert sum(changed) == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: SPACE.decode([0] * 5), "24 indices"),
        (lambda: SPACE.decode([9] * 24), r"block 0 op must be in \[0, 4\)"),
        (lambda: SPACE.spec([nas.BlockChoice(op="pool")] * 4), "op='pool' is not in this space"),
        (lambda: SPACE.spec([nas.BlockChoice()] * 3), "4 blocks"),
        (lambda: nas.SearchSpace(ops=("conv", "conv")), "each once"),
        (lambda: nas.SearchSpace(ops=("pool",)), "allowed: conv, dwsep, mbconv3, mbconv6"),
        (lambda: nas.SearchSpace().all_archs(), "enumerate a sub-space"),
        (lambda: nas.ConvBlock(8, 16, residual=True), "residual=True needs stride 1"),
        (lambda: nas.mnas_reward(0.9, 0, 5), "latency must be > 0"),
        (lambda: nas.mnas_reward(0.9, 5, -1), "target must be > 0"),
        (lambda: nas.mnas_reward(0.9, 5, math.inf), "latency and target must be finite"),
        (lambda: nas.RegularizedEvolution(SPACE, population_size=3, sample_size=5), "sample_size"),
        (lambda: nas.Reinforce(SPACE, lr=0), "lr must be > 0"),
        (lambda: nas.Reinforce(SPACE, entropy=-0.1), "entropy must be a finite number >= 0"),
        (lambda: nas.Reinforce(SPACE, entropy=math.inf), "entropy must be a finite number >= 0"),
        (lambda: nas.SearchedNet((nas.BlockChoice(),), (16,), (1,), stem_stride=0), "stem_stride"),
        (lambda: nas.SearchedNet((nas.BlockChoice(),), (0,), (1,)), "base_widths"),
    ],
)
def test_bad_arguments_are_refused_clearly(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_soft_reward_prices_double_latency_at_about_five_percent():
    """The brief: alpha = beta = -0.07 is chosen so that 1.05 * 2^beta = 1."""
    assert nas.mnas_reward(1.05, 2.0, 1.0) == pytest.approx(1.0, abs=3e-3)
    assert nas.mnas_reward(0.9, 1.0, 1.0) == 0.9


@given(
    accuracy=st.floats(0, 1),
    latency=st.floats(0.01, 100),
    target=st.floats(0.01, 100),
)
def test_hard_reward_ignores_latency_under_the_target_and_divides_above(accuracy, latency, target):
    reward = nas.mnas_reward(accuracy, latency, target, *nas.HARD)
    expected = accuracy if latency <= target else accuracy * target / latency
    assert reward == pytest.approx(expected, rel=1e-12, abs=1e-300)
    soft = nas.mnas_reward(accuracy, latency, target)
    assert soft == pytest.approx(accuracy * (latency / target) ** -0.07, rel=1e-12, abs=1e-300)


@given(points=st.lists(st.tuples(st.integers(1, 20), st.integers(0, 20)), max_size=30))
def test_pareto_front_is_what_brute_force_finds(points):
    front = nas.pareto_front(points)

    def dominated(i):
        return any(a <= points[i][0] and b >= points[i][1] and (a, b) != points[i] for a, b in points)

    undominated = {i for i in range(len(points)) if not dominated(i)}
    assert {points[i] for i in front} == {points[i] for i in undominated}
    assert len(front) == len({points[i] for i in undominated})  # one index per distinct point
    assert [points[i][0] for i in front] == sorted(points[i][0] for i in front)


@pytest.mark.parametrize("entropy", [0.0, 0.05, 0.7])
def test_reinforce_update_is_the_policy_gradient(entropy):
    """Each logit moves by lr * d/d logit [advantage * log p(arch) + entropy * H(policy)], with H
    the sum of the decisions' entropies (autograd as the oracle), tell after tell."""
    strategy = nas.Reinforce(SPACE, seed=1, lr=0.3, entropy=entropy)
    for reward in (0.5, 0.9, 0.2, 0.8, 0.85):  # all but the first tell have a non-zero advantage
        arch = strategy.ask()
        before = [torch.tensor(logits, dtype=torch.float64, requires_grad=True) for logits in strategy.logits]
        baseline = strategy.baseline if strategy.baseline is not None else reward
        strategy.tell(arch, reward)
        log_prob = sum(
            torch.log_softmax(logits, 0)[index]
            for logits, index in zip(before, SPACE.encode(arch), strict=True)
        )
        policy_entropy = sum(
            -(torch.softmax(logits, 0) * torch.log_softmax(logits, 0)).sum() for logits in before
        )
        ((reward - baseline) * log_prob + entropy * policy_entropy).backward()
        for old, new in zip(before, strategy.logits, strict=True):
            expected = old.detach() + 0.3 * old.grad
            assert torch.allclose(torch.tensor(new, dtype=expected.dtype), expected, atol=1e-12)
    assert strategy.baseline == pytest.approx(
        0.9 * (0.9 * (0.9 * (0.9 * 0.5 + 0.1 * 0.9) + 0.02) + 0.08) + 0.085
    )


def test_reinforce_entropy_bonus_keeps_a_fast_policy_exploring():
    """On a reward that favours one option per decision, a fast policy without the bonus
    concentrates on it; the larger the bonus, the more entropy the policy keeps after 300 tells.
    Alone (zero advantage) the bonus flattens a settled policy back towards uniform."""

    def entropies(strategy):
        return [-sum(p * math.log(p) for p in ps if p > 0) for ps in strategy.probabilities()]

    for seed in range(4):
        reward = _toy_reward(SPACE.sample(random.Random(seed)))
        kept = []
        for bonus in (0.0, 0.3, 1.0):
            strategy = nas.Reinforce(SPACE, seed=seed, lr=0.5, normalize=True, entropy=bonus)
            nas.search(strategy, reward, 300)
            kept.append(sum(entropies(strategy)))
        assert kept[0] < 1 < kept[1] < kept[2], (seed, kept)
    flat = nas.Reinforce(SPACE, seed=4, lr=1.0, entropy=1.0)
    flat.logits = [[3.0] + [0.0] * (len(logits) - 1) for logits in flat.logits]
    arch = flat.ask()
    start = entropies(flat)
    for _ in range(50):
        flat.tell(arch, 0.5)  # a constant reward: the advantage is 0 after the first tell
    assert all(after > before for before, after in zip(start, entropies(flat), strict=True))


def _toy_reward(target):
    """Reward = the share of decisions equal to `target`'s: one optimum, smooth around it."""
    goal = SPACE.encode(target)
    return lambda arch: sum(a == b for a, b in zip(SPACE.encode(arch), goal, strict=True)) / len(goal)


def test_strategies_are_seeded():
    for cls in nas.STRATEGIES.values():
        runs = []
        for _ in range(2):
            strategy = cls(SPACE, seed=3)
            nas.search(strategy, _toy_reward(SPACE.sample(random.Random(0))), 40)
            runs.append(strategy.history)
        assert runs[0] == runs[1], cls.__name__


def test_reinforce_and_evolution_beat_random_search_on_a_smooth_toy_reward():
    target = SPACE.sample(random.Random(42))
    reward = _toy_reward(target)
    finals = {name: [] for name in nas.STRATEGIES}
    for seed in range(5):
        for name, cls in nas.STRATEGIES.items():
            finals[name].append(nas.search(cls(SPACE, seed=seed), reward, 300)[-1])
    assert statistics.median(finals["evolution"]) > statistics.median(finals["random"]) + 0.1
    assert statistics.median(finals["reinforce"]) > statistics.median(finals["random"]) + 0.1


def test_evolution_keeps_a_population_of_the_youngest():
    strategy = nas.RegularizedEvolution(SPACE, seed=0, population_size=6, sample_size=2)
    nas.search(strategy, _toy_reward(SPACE.sample(random.Random(1))), 20)
    assert list(strategy.population) == strategy.history[-6:]
    assert strategy.best[1] == max(reward for _, reward in strategy.history)
    assert math.isfinite(strategy.best[1])


def test_the_tables_space_is_216_small_networks_at_32x32():
    space = nas.TABLE_SPACE
    archs = space.all_archs()
    assert len(archs) == space.size == 216
    spec = space.spec(archs[-1])
    assert spec.cost().stage("stem").out_size == (16, 16)  # stride-2 stem
    assert spec.cost().stages[-2].out_size == (4, 4)
    assert spec.cost().macs < 3_000_000


def test_load_table_reads_what_the_builder_writes(tmp_path):
    space = nas.TABLE_SPACE
    archs = space.all_archs()[:3]
    path = tmp_path / "table.csv"
    lines = ["# a header line", "code,op1,kernel1,params,macs,test_accuracy,latency_ms"]
    params = [space.spec(arch).cost().params for arch in archs]
    for index, arch in enumerate(archs):
        code = "-".join(map(str, space.encode(arch)))
        lines.append(f"{code},x,3,{params[index]},{1000 + index},0.9{index},1.{index}")
    path.write_text("\n".join(lines) + "\n")
    rows = nas.load_table(path)
    assert [row.arch for row in rows] == archs
    assert [(row.params, row.macs, row.accuracy, row.latency_ms) for row in rows[1:2]] == [
        (params[1], 1001, 0.91, 1.1)
    ]
    assert rows[0].seed_accuracies == ()
    with pytest.raises(FileNotFoundError, match="nasbench_build.py"):
        nas.load_table(tmp_path / "missing.csv")
    seeded = tmp_path / "seeded.csv"
    code = "-".join(map(str, space.encode(archs[0])))
    seeded.write_text(
        "code,params,macs,test_accuracy,accuracy_seed0,accuracy_seed1,latency_ms\n"
        f"{code},{params[0]},1000,0.5,0.25,0.75,1.5\n"
    )
    assert nas.load_table(seeded)[0] == nas.TableRow(archs[0], params[0], 1000, 0.5, 1.5, (0.25, 0.75))


def test_a_table_loads_in_its_own_space_or_says_it_is_of_another():
    """The two shipped tables have the same shape of code: decoded in the wrong space, every
    network would be labelled with the other space's SE and shortcut, silently."""
    assert nas.load_table(nas.HELDOUT_TABLE) == nas.load_table(nas.HELDOUT_TABLE, nas.HELDOUT_SPACE)
    with pytest.raises(ValueError, match="a table of another search space"):
        nas.load_table(nas.HELDOUT_TABLE, nas.TABLE_SPACE)
    with pytest.raises(ValueError, match="a table of another search space"):
        nas.load_table(nas.DEFAULT_TABLE, nas.HELDOUT_SPACE)
    held = nas.load_table(nas.HELDOUT_TABLE)
    strategy = nas.predictor_strategy(0, space=nas.HELDOUT_SPACE)
    assert strategy.target == nas.table_task(held)[0]
    assert strategy.latency(held[0].arch) == held[0].latency_ms


@pytest.mark.parametrize(
    ("path", "space", "seeds"),
    [(nas.DEFAULT_TABLE, nas.TABLE_SPACE, 3), (nas.HELDOUT_TABLE, nas.HELDOUT_SPACE, 1)],
    ids=["course", "heldout"],
)
def test_the_shipped_table_is_what_its_networks_and_seeds_give(path, space, seeds):
    """Every network once, params and MACs from its spec, accuracy the mean of its seeds' runs."""
    rows = nas.load_table(path, space)
    assert {len(row.seed_accuracies) for row in rows} == {seeds}
    assert sorted(space.encode(row.arch) for row in rows) == sorted(map(space.encode, space.all_archs()))
    for row in rows:
        cost = space.spec(row.arch).cost()
        assert (row.params, row.macs) == (cost.params, cost.macs)
        assert len(row.seed_accuracies) >= 1 and row.latency_ms > 0
        assert row.accuracy == pytest.approx(sum(row.seed_accuracies) / len(row.seed_accuracies), abs=2e-6)
        assert all(
            360 * accuracy == pytest.approx(round(360 * accuracy), abs=1e-3)
            for accuracy in row.seed_accuracies
        )


def test_the_heldout_space_asks_the_same_decisions_of_other_networks():
    table, heldout = nas.TABLE_SPACE, nas.HELDOUT_SPACE
    assert heldout.size == table.size
    assert [(b, name, options) for b, name, options in heldout.choices() if len(options) > 1] == [
        (b, name, options) for b, name, options in table.choices() if len(options) > 1
    ]
    assert not set(heldout.se_ratios) & set(table.se_ratios) and not set(heldout.skips) & set(table.skips)
    arch = heldout.all_archs()[0]
    assert heldout.spec(arch).cost().params != table.spec(table.decode(heldout.encode(arch))).cost().params


def _settings_rule(path) -> dict[str, dict]:
    """benchmarks/nas_settings.py's rule, written again: per strategy the lowest median, then mean."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    best = {}
    for row in sorted(rows, key=lambda r: (float(r["median"]), float(r["mean"]))):
        best.setdefault(row["strategy"], json.loads(row["settings"]))
    return best


def test_the_table_settings_are_the_ones_chosen_on_the_heldout_table():
    path = nas.DEFAULT_TABLE.parent / "nas_settings.csv"
    chosen = _settings_rule(path)
    assert set(chosen) == {"evolution", "reinforce"}
    assert {name: nas.TABLE_SETTINGS[name] for name in chosen} == chosen
    assert nas.TABLE_SETTINGS["random"] == {}
    with open(path) as handle:
        assert "nasbench_digits_heldout.csv" in handle.readline()


def test_normalized_reinforce_scales_the_advantage_by_the_reward_spread():
    plain, scaled = nas.Reinforce(SPACE, seed=2, lr=0.1), nas.Reinforce(SPACE, seed=2, lr=0.1, normalize=True)
    arch = plain.ask()
    assert scaled.ask() == arch
    for strategy in (plain, scaled):
        strategy.tell(arch, 0.90)  # sets the baseline: no update
        strategy.tell(arch, 0.92)  # advantage 0.02; normalized: 0.02 / 0.02 = 1
    chosen = SPACE.encode(arch)[0]
    step_plain = plain.logits[0][chosen]
    step_scaled = scaled.logits[0][chosen]
    assert step_scaled == pytest.approx(step_plain / 0.02, rel=1e-9)


def test_evaluations_to_reach_counts_distinct_networks_until_the_goal():
    small = _small_space(layers=(1,))
    archs = small.all_archs()
    rewards = {arch: index / len(archs) for index, arch in enumerate(archs)}
    goal = {archs[-1]}
    strategy = nas.RandomSearch(small, seed=4)
    count = nas.evaluations_to_reach(strategy, rewards, goal, limit=10_000)
    asked = [arch for arch, _ in strategy.history]
    assert asked[-1] in goal and all(arch not in goal for arch in asked[:-1])
    assert count == len(set(asked)) <= len(archs)
    assert nas.evaluations_to_reach(nas.RandomSearch(small, seed=4), rewards, set(), limit=50) == math.inf


class _Stuck(nas.Strategy):
    """Asks for the same network forever, as a collapsed REINFORCE policy does."""

    def ask(self):
        return self.space.all_archs()[0]


def test_a_search_that_settles_outside_the_goal_has_failed_not_succeeded_cheaply():
    small = _small_space(layers=(1,))
    archs = small.all_archs()
    rewards = {arch: index / len(archs) for index, arch in enumerate(archs)}
    assert nas.evaluations_to_reach(_Stuck(small), rewards, {archs[-1]}, limit=1000) == math.inf
    assert nas.evaluations_to_reach(_Stuck(small), rewards, {archs[0]}, limit=1000) == 1


def test_table_helpers_rank_by_the_reward_and_build_the_course_settings():
    archs = nas.TABLE_SPACE.all_archs()[:200]
    rows = [nas.TableRow(arch, 1, 1, 0.5 + i / 1000, 1.0 + (i % 7) / 10) for i, arch in enumerate(archs)]
    rewards = nas.table_rewards(rows, 1.2, *nas.HARD)
    assert list(rewards) == archs
    assert all(
        rewards[row.arch] == nas.mnas_reward(row.accuracy, row.latency_ms, 1.2, *nas.HARD) for row in rows
    )
    top = nas.top_share(rewards, 0.01)
    assert len(top) == 2 and min(rewards[a] for a in top) >= max(rewards[a] for a in archs if a not in top)
    assert len(nas.top_share(rewards, 1e-9)) == 1
    evolution = nas.table_strategy("evolution", seed=1)
    settings = nas.TABLE_SETTINGS["evolution"]
    assert (evolution.population_size, evolution.sample_size) == (
        settings["population_size"],
        settings["sample_size"],
    )
    reinforce = nas.table_strategy("reinforce", seed=1)
    settings = nas.TABLE_SETTINGS["reinforce"]
    assert (reinforce.lr, reinforce.normalize, reinforce.entropy) == (
        settings["lr"],
        settings.get("normalize", False),
        settings.get("entropy", 0.0),
    )
    with pytest.raises(ValueError, match="allowed: random, reinforce, evolution"):
        nas.table_strategy("bayesian", seed=1)
    with pytest.raises(ValueError, match="share"):
        nas.top_share(rewards, 0)


# --- FBNet: Gumbel-softmax, the loss, the supernet, the latency table, the search ---------------


def test_gumbel_argmax_samples_the_softmax_distribution():
    """The Gumbel-max trick: argmax(logits + g) is distributed as softmax(logits) (chi-square)."""
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0])
    draws = 20_000
    weights = nas.gumbel_softmax(logits.expand(draws, 4), 0.5, torch.Generator().manual_seed(0))
    counts = torch.bincount(weights.argmax(dim=-1), minlength=4).double()
    expected = torch.softmax(logits.double(), dim=0) * draws
    chi_square = float(((counts - expected) ** 2 / expected).sum())
    assert chi_square < 16.27  # 3 degrees of freedom, p = 0.001
    assert torch.allclose(weights.sum(dim=-1), torch.ones(draws))


def test_temperature_moves_gumbel_weights_between_one_hot_and_uniform():
    logits = torch.tensor([[0.5, 0.0, -0.5]]).expand(2000, 3)
    cold = nas.gumbel_softmax(logits, 0.01, torch.Generator().manual_seed(1))
    hot = nas.gumbel_softmax(logits, 100.0, torch.Generator().manual_seed(1))
    assert float(cold.max(dim=-1).values.mean()) > 0.99
    assert float((hot - 1 / 3).abs().max()) < 0.05
    # same generator state, same draw; torch's own gumbel_softmax cannot be seeded like this
    again = nas.gumbel_softmax(logits, 0.01, torch.Generator().manual_seed(1))
    assert torch.equal(cold, again)


def test_hard_gumbel_is_one_hot_forward_with_the_soft_gradient():
    logits = torch.tensor([0.3, -0.2, 0.9], requires_grad=True)
    soft = nas.gumbel_softmax(logits, 2.0, torch.Generator().manual_seed(2))
    hard = nas.gumbel_softmax(logits, 2.0, torch.Generator().manual_seed(2), hard=True)
    assert hard.tolist() == torch.nn.functional.one_hot(soft.argmax(), 3).float().tolist()
    cost = torch.tensor([1.0, 2.0, 3.0])
    (soft_grad,) = torch.autograd.grad((soft * cost).sum(), logits)
    (hard_grad,) = torch.autograd.grad((hard * cost).sum(), logits)
    assert torch.allclose(soft_grad, hard_grad)


def test_temperature_schedule_is_fbnets():
    assert nas.annealed_temperature(0) == 5.0
    assert nas.annealed_temperature(90) == pytest.approx(5.0 * math.exp(-0.045 * 90))
    assert nas.annealed_temperature(2.5, 4.0, 0.5) == pytest.approx(4.0 * 0.5**2.5)
    for kwargs, name in (({"initial": 0}, "initial"), ({"decay": 1.5}, "decay"), ({"epoch": -1}, "epoch")):
        with pytest.raises(ValueError, match=name):
            nas.annealed_temperature(**{"epoch": 1, **kwargs})


@given(
    ce=st.floats(0.01, 5),
    latency_ms=st.floats(0.2, 50),
    beta=st.floats(0, 2),
    unit_ms=st.sampled_from([1.0, 0.05, 1e-3]),
)
def test_fbnet_loss_is_eq_2_with_its_gradient(ce, latency_ms, beta, unit_ms):
    lat = latency_ms / unit_ms
    if lat <= 1:
        with pytest.raises(ValueError, match="unit_ms"):
            nas.fbnet_loss(torch.tensor(ce), latency_ms, 0.2, beta, unit_ms)
        return
    latency = torch.tensor(latency_ms, dtype=torch.float64, requires_grad=True)
    loss = nas.fbnet_loss(torch.tensor(ce, dtype=torch.float64), latency, 0.2, beta, unit_ms)
    assert loss.item() == pytest.approx(ce * 0.2 * math.log(lat) ** beta, rel=1e-9)
    (grad,) = torch.autograd.grad(loss, latency)
    by_hand = ce * 0.2 * beta * math.log(lat) ** (beta - 1) / lat / unit_ms if beta else 0.0
    assert float(grad) == pytest.approx(by_hand, rel=1e-6, abs=1e-12)


def test_fbnet_loss_refuses_sub_unit_latencies_and_bad_weights():
    with pytest.raises(ValueError, match="microseconds"):
        nas.fbnet_loss(torch.tensor(1.0), 0.8)  # a 0.8 ms network in ms: log < 0
    for kwargs, name in (({"alpha": 0}, "alpha"), ({"beta": -1}, "beta"), ({"unit_ms": 0}, "unit_ms")):
        with pytest.raises(ValueError, match=name):
            nas.fbnet_loss(torch.tensor(1.0), 5.0, **kwargs)


FBNET_SPACE = _small_space((1,))  # 4 candidates per block, 4 blocks


def test_supernet_candidates_are_every_block_of_the_space():
    supernet = nas.Supernet(nas.TABLE_SPACE)
    assert len(supernet.candidates) == 6 and supernet.theta.shape == (3, 6)
    assert {(c.op, c.kernel) for c in supernet.candidates} == {
        (op, k) for op in nas.TABLE_SPACE.ops for k in nas.TABLE_SPACE.kernels
    }
    with pytest.raises(ValueError, match="widths"):
        nas.Supernet(nas.SearchSpace(widths=(0.75, 1.0)))
    with pytest.raises(TypeError, match="space"):
        nas.Supernet("table")


@settings(max_examples=10, deadline=None)
@given(code=st.tuples(*[st.integers(0, len(options) - 1) for _, _, options in FBNET_SPACE.choices()]))
def test_one_hot_supernet_is_the_extracted_network(code):
    """With one-hot weights the supernet computes exactly the standalone network of that choice."""
    supernet = nas.Supernet(FBNET_SPACE, seed=3)
    with torch.no_grad():  # make BatchNorm statistics and theta non-trivial
        for module in supernet.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
        supernet.theta.normal_()
    arch = FBNET_SPACE.decode(code)
    x = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(4))
    supernet.eval()
    model = supernet.extract(arch).eval()
    assert counted_params(model) == FBNET_SPACE.spec(arch).cost().params
    assert torch.allclose(supernet(x, supernet.one_hot(arch)), model(x), atol=1e-5)
    derived = supernet.derive()
    assert torch.allclose(supernet.extract()(x), supernet.extract(derived)(x))
    assert supernet.derive() == tuple(supernet.candidates[i] for i in supernet.theta.argmax(dim=-1))


def test_supernet_mixes_candidate_outputs_linearly():
    supernet = nas.Supernet(FBNET_SPACE, seed=5).eval()
    x = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(6))
    first = FBNET_SPACE.decode([0] * len(FBNET_SPACE.choices()))
    with torch.no_grad():
        features = supernet.stem(x)
        block = supernet.blocks[0]
        mixed = 0.25 * block[0](features) + 0.75 * block[1](features)
    weights = supernet.one_hot(first)
    weights[0] = torch.tensor([0.25, 0.75, 0.0, 0.0])
    with torch.no_grad():
        rest = features.new_tensor(0)  # the remainder of the network on the mixed features
        out = mixed
        for index in range(1, FBNET_SPACE.blocks):
            out = supernet.blocks[index][0](out)
        rest = supernet.classifier(supernet.avgpool(supernet.head(out)))
        assert torch.allclose(supernet(x, weights), rest, atol=1e-6)
    with pytest.raises(ValueError, match="weights must have shape"):
        supernet(x, torch.ones(2, 2))


FBNET_TABLE = nas.DEFAULT_TABLE.parent / "fbnet_digits.lut.csv"


def test_supernet_latency_is_the_tables_prediction_for_every_network():
    """For one-hot weights, eq. 6 gives exactly what the table predicts for that whole network."""
    from lwcnn.lut import LatencyTable

    table = LatencyTable.load(FBNET_TABLE)
    costs = nas.SupernetLatency.from_table(nas.TABLE_SPACE, table)
    supernet = nas.Supernet(nas.TABLE_SPACE)
    for arch in nas.TABLE_SPACE.all_archs():
        expected = float(costs.expected_ms(supernet.one_hot(arch)))
        assert expected == pytest.approx(table.predict(nas.TABLE_SPACE.spec(arch)).latency_ms, rel=1e-6)
    uniform = torch.full((3, 6), 1 / 6)
    by_hand = costs.fixed_ms + sum(sum(row) / 6 for row in costs.block_ms)
    assert float(costs.expected_ms(uniform)) == pytest.approx(by_hand)
    assert set(nas.supernet_blocks(nas.TABLE_SPACE)) >= {
        pair
        for arch in nas.TABLE_SPACE.all_archs()[::37]
        for pair in table.missing(nas.TABLE_SPACE.spec(arch))
    }


def test_latency_term_pulls_theta_towards_cheaper_blocks():
    costs = nas.SupernetLatency(0.5, ((0.1, 0.4, 0.9), (0.3, 0.2, 0.6)))
    theta = torch.zeros(2, 3, requires_grad=True)
    loss = nas.fbnet_loss(
        torch.tensor(1.0), costs.expected_ms(torch.softmax(theta, dim=-1)), beta=0.6, unit_ms=0.01
    )
    (grad,) = torch.autograd.grad(loss, theta)
    for row, block in zip(grad, costs.block_ms, strict=True):
        assert row.argmin() == min(range(3), key=lambda i: block[i])  # gradient descent raises the cheapest
        assert row.argmax() == max(range(3), key=lambda i: block[i])


TINY_SPACE = nas.SearchSpace(  # 2 blocks of 2 candidates at 8 and 16 channels: a search in a second
    ops=("dwsep", "mbconv3"),
    kernels=(3,),
    se_ratios=(0.0,),
    skips=("identity",),
    widths=(1.0,),
    layers=(1,),
    base_widths=(8, 16),
    strides=(1, 2),
    network={"stem_stride": 2, "stem_channels": 8, "head_channels": 16},
)
TINY_COSTS = nas.SupernetLatency(0.5, ((0.2, 0.4), (0.3, 0.6)))


def test_fbnet_search_is_seeded_and_trains_theta_only_after_warm_up():
    settings_ = dict(epochs=2, warmup_epochs=1, image_size=8, batch_size=256, progress=False, unit_ms=0.01)
    first = nas.fbnet_search(TINY_SPACE, TINY_COSTS, seed=1, **settings_)
    second = nas.fbnet_search(TINY_SPACE, TINY_COSTS, seed=1, **settings_)
    assert [e.probabilities for e in first.history] == [e.probabilities for e in second.history]
    warm, searched = first.history
    assert all(p == pytest.approx(0.5) for row in warm.probabilities for p in row)
    assert math.isnan(warm.arch_loss) and not math.isnan(searched.arch_loss)
    assert any(abs(p - 0.5) > 1e-3 for row in searched.probabilities for p in row)
    assert searched.temperature == pytest.approx(nas.DIGITS_SEARCH.temperature_at(2))
    assert first.arch == first.supernet.derive()


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"warmup_epochs": 2, "epochs": 2}, "warmup_epochs"),
        ({"theta_fraction": 1.0}, "theta_fraction"),
        ({"theta_lr": 0}, "theta_lr"),
        ({"epochs": 0}, "epochs"),
        ({"unit_ms": 100.0}, "unit_ms"),
    ],
)
def test_fbnet_search_refuses_bad_settings(kwargs, name):
    with pytest.raises(ValueError, match=name):
        nas.fbnet_search(TINY_SPACE, TINY_COSTS, progress=False, **kwargs)


def test_search_settings_are_checked_and_changed_by_name():
    assert nas.DIGITS_SEARCH.replace(beta=1.0).beta == 1.0 and nas.DIGITS_SEARCH.beta == nas.FBNET_LOSS[1]
    with pytest.raises(TypeError, match="betta: not a search setting; the settings are epochs, warmup"):
        nas.DIGITS_SEARCH.replace(betta=1.0)
    bad = {"temperature": 0.0, "temperature_decay": 1.5, "alpha": 0, "beta": -1, "unit_ms": 0.0,
           "weight_lr": -1e-3, "batch_size": 2.5, "image_size": 0}  # fmt: skip
    for name, value in bad.items():
        with pytest.raises((ValueError, TypeError), match=name):
            nas.DIGITS_SEARCH.replace(**{name: value})
    for settings_ in (nas.DIGITS_SEARCH, nas.MASKED_SEARCH):  # both anneal tau from 5 to 0.5
        assert settings_.temperature_at(0) == 5.0
        assert settings_.temperature_at(settings_.epochs) == pytest.approx(0.5)


def test_the_recorded_searches_ran_with_the_course_settings():
    """data/fbnet_digits.csv's header names the settings it ran with: still DIGITS_SEARCH."""
    import dataclasses

    header = (nas.DEFAULT_TABLE.parent / "fbnet_digits.csv").read_text().splitlines()
    (line,) = [line for line in header if line.startswith("# settings: ")]
    recorded = json.loads(line.removeprefix("# settings: ").split("; ")[0])
    assert recorded == dataclasses.asdict(nas.DIGITS_SEARCH)


def test_the_stored_searches_agree_with_the_tables():
    """data/fbnet_digits.csv: each derived network's prediction, table row and code are consistent."""
    import csv

    from lwcnn.lut import LatencyTable

    table = LatencyTable.load(FBNET_TABLE)
    rows = {row.arch: row for row in nas.load_table()}
    path = nas.DEFAULT_TABLE.parent / "fbnet_digits.csv"
    with open(path, newline="") as handle:
        searches = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    assert len(searches) == 12
    for search in searches:
        arch = nas.TABLE_SPACE.decode([int(part) for part in search["code"].split("-")])
        assert float(search["predicted_ms"]) == pytest.approx(
            table.predict(nas.TABLE_SPACE.spec(arch)).latency_ms, abs=1e-4
        )
        assert float(search["table_accuracy"]) == pytest.approx(rows[arch].accuracy, abs=1e-6)
        assert search["ops"] == " ".join(f"{b.op}-k{b.kernel}" for b in arch)


def test_the_benchmarks_task_is_the_median_latency_reward_and_its_top_share():
    rows = nas.load_table()
    target, rewards, top = nas.table_task(rows)
    assert target == statistics.median(row.latency_ms for row in rows)
    assert rewards == nas.table_rewards(rows, target) and top == nas.top_share(rewards, 0.01)
    hits = nas.first_hits(lambda seed: nas.table_strategy("evolution", seed), rewards, top, range(5))
    assert hits == [
        nas.evaluations_to_reach(nas.table_strategy("evolution", seed), rewards, top, limit=20 * len(rows))
        for seed in range(5)
    ]


@pytest.mark.parametrize("name", ["lr", "baseline_decay", "entropy"])
@pytest.mark.parametrize("value", ["0.1", None, True])
def test_reinforce_refuses_settings_that_are_not_numbers(name, value):
    with pytest.raises(TypeError, match=f"{name} must be a number"):
        nas.Reinforce(SPACE, **{name: value})


def test_the_saved_comparison_is_of_the_current_settings():
    """Lesson 09 quotes data/nas_compare.csv: it must hold a run with nas.TABLE_SETTINGS (re-run
    `benchmarks/nas_compare.py --save` after changing them), for every strategy, over 1000 seeds."""
    import csv
    import json

    with open(nas.DEFAULT_TABLE.parent / "nas_compare.csv") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    current = [row for row in rows if json.loads(row["settings"]) == {**nas.TABLE_SETTINGS, "random": {}}]
    assert sorted(row["strategy"] for row in current) == sorted(nas.STRATEGIES)
    assert all(int(row["seeds"]) == 1000 for row in current)


@settings(max_examples=100, deadline=None)
@given(
    accuracy=st.one_of(st.just(0.0), st.floats(1e-3, 1.0)),  # no subnormals: their ratios round to 1
    step_time=st.floats(0.01, 100.0),
    params=st.floats(0.01, 100.0),
    factor=st.floats(1.01, 10.0),
)
def test_efficientnet_v2_reward_is_the_papers_weighted_product(accuracy, step_time, params, factor):
    w, v = nas.EFFICIENTNET_V2_EXPONENTS
    assert (w, v) == (-0.07, -0.05)  # EfficientNetV2, Sec. 3.3
    reward = nas.efficientnet_v2_reward(accuracy, step_time, params)
    assert reward == pytest.approx(accuracy * step_time**-0.07 * params**-0.05)
    # slower training or more parameters never raise the reward; both cost a fixed share per doubling
    slower = nas.efficientnet_v2_reward(accuracy, step_time * factor, params)
    larger = nas.efficientnet_v2_reward(accuracy, step_time, params * factor)
    assert slower <= reward and larger <= reward
    if accuracy > 0:
        assert slower / reward == pytest.approx(factor**-0.07)
        assert larger / reward == pytest.approx(factor**-0.05)
    # with v = 0 and S = LAT / T it is MnasNet's soft reward
    assert nas.efficientnet_v2_reward(accuracy, step_time, params, v=0.0) == pytest.approx(
        nas.mnas_reward(accuracy, step_time, 1.0)
    )


def test_efficientnet_v2_reward_rejects_bad_costs():
    with pytest.raises(ValueError, match="step_time"):
        nas.efficientnet_v2_reward(0.8, 0.0, 1.0)
    with pytest.raises(ValueError, match="params"):
        nas.efficientnet_v2_reward(0.8, 1.0, -1.0)
