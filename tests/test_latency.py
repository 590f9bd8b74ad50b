"""lwcnn.latency.measure: sane results, restored state, clear errors (no timing targets here)."""

import statistics

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from lwcnn import latency
from lwcnn.latency import Latency, measure, timing


def test_measure_returns_a_positive_median_and_restores_state():
    module = nn.Sequential(nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4)).train()
    threads = torch.get_num_threads()
    result = measure(module, (2, 4, 8, 8), threads=1, min_run_time_s=0.01)
    assert isinstance(result, Latency)
    assert result.median_ms > 0 and result.iqr_ms >= 0 and result.runs >= 1
    assert result.batch_size == 2 and result.threads == 1
    assert module.training  # measured in eval mode, then put back
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(device="tpu"), "device"),
        (dict(input_size=(0, 3)), "input_size"),
        (dict(input_size=()), "input_size"),
        (dict(threads=0), "threads"),
        (dict(warmup=-1), "warmup"),
        (dict(min_run_time_s=0), "min_run_time_s"),
    ],
)
def test_bad_arguments(kwargs, argument):
    arguments = {"module": nn.Identity(), "input_size": (1, 3)} | kwargs
    with pytest.raises(ValueError, match=argument):
        measure(**arguments)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(ValueError, match="cuda"):
        measure(nn.Identity(), (1, 3), device="cuda")


@pytest.mark.parametrize("timer", [latency.compare, latency.fastest, latency.lower_quartile])
def test_compare_times_each_module_side_by_side_and_restores_state(timer):
    fast, slow = nn.Conv2d(8, 8, 1), nn.Sequential(*(nn.Conv2d(8, 8, 3, padding=1) for _ in range(8)))
    slow.train()
    threads = torch.get_num_threads()
    times = timer({"fast": fast, "slow": slow}, (1, 8, 32, 32), rounds=5, calls=3)
    assert set(times) == {"fast", "slow"} and all(t > 0 for t in times.values())
    assert times["slow"] > times["fast"]  # 8 3x3 convs against one 1x1: 72x the MACs
    assert slow.training and torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="rounds"):
        timer({"fast": fast}, (1, 8, 8, 8), rounds=0)
    with pytest.raises(TypeError, match="warmup must be an int"):
        timer({"fast": fast}, (1, 8, 8, 8), warmup=1.5)
    if timer is not latency.compare:
        with pytest.raises(TypeError, match="takes no statistic"):
            timer({"fast": fast}, (1, 8, 8, 8), statistic="median")
    with pytest.raises(ValueError, match="modules is empty"):
        timer({}, (1, 8, 8, 8))


@given(times=st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=9))
def test_quartiles_lie_within_the_calls_however_few(times):
    """Two calls used to give a lower quartile below the fastest (the exclusive method
    extrapolates): a table entry measured with two passes could predict a negative time."""
    summary = timing.summarize_ms(times)
    low, high = min(times) * 1e3, max(times) * 1e3
    assert low - 1e-9 <= summary["p25"] <= summary["median"] <= high + 1e-9
    assert 0 <= summary["iqr"] <= high - low + 1e-9


def test_one_call_is_a_lower_quartile_too(monkeypatch):
    monkeypatch.setattr(timing, "time_side_by_side", lambda *args: {"a": [[0.002]]})
    assert latency.lower_quartile({"a": nn.Identity()}, (1, 3), rounds=1, calls=1) == {"a": 0.002}


def test_lower_quartile_is_the_p25_of_every_single_call(monkeypatch):
    calls = {"a": [[4.0, 1.0, 3.0], [2.0, 8.0, 5.0]]}
    monkeypatch.setattr(timing, "time_side_by_side", lambda *args: calls)
    expected = statistics.quantiles([4.0, 1.0, 3.0, 2.0, 8.0, 5.0], n=4)[0]  # lut.summarize_ms's p25
    assert latency.lower_quartile({"a": nn.Identity()}, (1, 3)) == {"a": expected}
    assert latency.fastest({"a": nn.Identity()}, (1, 3)) == {"a": 1.0}
    assert latency.compare({"a": nn.Identity()}, (1, 3)) == {"a": statistics.median([8 / 3, 5.0])}
    with pytest.raises(ValueError, match="statistic='mean' is unknown; allowed: 'median', 'min', 'p25'"):
        latency.compare({"a": nn.Identity()}, (1, 3), statistic="mean")
