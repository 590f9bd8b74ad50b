"""lwcnn.nas: the search space builds what it costs, the reward is the paper's, the strategies search.

Oracles: torch's parameter count and FlopCounterMode for the searched networks, brute force for
the Pareto front and the space's size, autograd for the REINFORCE update.
"""

from __future__ import annotations

import math
import random
import statistics

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
        (lambda: nas.RegularizedEvolution(SPACE, population_size=3, sample_size=5), "sample_size"),
        (lambda: nas.Reinforce(SPACE, lr=0), "lr must be > 0"),
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


def test_reinforce_update_is_the_policy_gradient():
    """Each logit moves by lr * advantage * d log p(arch) / d logit (autograd as the oracle)."""
    strategy = nas.Reinforce(SPACE, seed=1, lr=0.3)
    for reward in (0.5, 0.9):  # the second tell has a non-zero advantage
        arch = strategy.ask()
        before = [torch.tensor(logits, requires_grad=True) for logits in strategy.logits]
        baseline = strategy.baseline if strategy.baseline is not None else reward
        strategy.tell(arch, reward)
        log_prob = sum(
            torch.log_softmax(logits, 0)[index]
            for logits, index in zip(before, SPACE.encode(arch), strict=True)
        )
        log_prob.backward()
        for old, new in zip(before, strategy.logits, strict=True):
            expected = old.detach() + 0.3 * (reward - baseline) * old.grad
            assert torch.allclose(torch.tensor(new, dtype=expected.dtype), expected, atol=1e-12)
    assert strategy.baseline == pytest.approx(0.9 * 0.5 + 0.1 * 0.9)


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
    for index, arch in enumerate(archs):
        code = "-".join(map(str, space.encode(arch)))
        lines.append(f"{code},x,3,{100 + index},{1000 + index},0.9{index},1.{index}")
    path.write_text("\n".join(lines) + "\n")
    rows = nas.load_table(path)
    assert [row.arch for row in rows] == archs
    assert [(row.params, row.macs, row.accuracy, row.latency_ms) for row in rows[1:2]] == [
        (101, 1001, 0.91, 1.1)
    ]
    with pytest.raises(FileNotFoundError, match="nasbench_build.py"):
        nas.load_table(tmp_path / "missing.csv")


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
    never = nas.evaluations_to_reach(nas.RandomSearch(small, seed=4), rewards, set(), limit=50)
    replay = nas.RandomSearch(small, seed=4)
    assert never == len({replay.ask() for _ in range(50)}) < 50  # repeats among 50 draws of 16


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
    assert (evolution.population_size, evolution.sample_size) == (10, 3)
    assert nas.table_strategy("reinforce", seed=1).normalize
    with pytest.raises(ValueError, match="allowed: random, reinforce, evolution"):
        nas.table_strategy("bayesian", seed=1)
    with pytest.raises(ValueError, match="share"):
        nas.top_share(rewards, 0)
