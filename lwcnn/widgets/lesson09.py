"""The reward widget of lesson 09: MnasNet's reward over the tabular benchmark at target T."""

from __future__ import annotations

import ipywidgets as W

from lwcnn import plots
from lwcnn.widgets.controls import clamp_float, float_slider, live, say, show_figure


def reward_summary(rows, target_ms: float, exponent: float = -0.07, hard: bool = False) -> dict:
    """MnasNet's reward of every table row (`lwcnn.nas.load_table`) at target latency T.

    `hard=False`: the soft constraint with alpha = beta = `exponent` (clamped to [-1, 0]);
    `hard=True`: alpha = 0, beta = -1. T is clamped to the table's latency range. Returns the
    settings, the rewards (row order), the best row's index, the five best, the Pareto front
    (`lwcnn.nas.pareto_front`) and the share of networks within T.
    """
    from lwcnn import nas

    latencies = [row.latency_ms for row in rows]
    target = min(max(float(target_ms), min(latencies)), max(latencies))  # unrounded: T may be any latency
    exponent = clamp_float(exponent, -1.0, 0.0, digits=3)
    alpha, beta = nas.HARD if hard else (exponent, exponent)
    rewards = list(nas.table_rewards(rows, target, alpha, beta).values())
    ranked = sorted(range(len(rows)), key=lambda i: rewards[i], reverse=True)
    return {
        "target_ms": target,
        "exponent": exponent,
        "hard": hard,
        "alpha": alpha,
        "beta": beta,
        "rewards": rewards,
        "best": ranked[0],
        "top": ranked[:5],
        "pareto": nas.pareto_front([(row.latency_ms, row.accuracy) for row in rows]),
        "within_target": sum(latency <= target for latency in latencies) / len(rows),
    }


def describe_reward(rows, summary: dict) -> str:
    """The lines a learner reads under the T and w sliders."""
    s = summary
    kind = "hard (alpha = 0, beta = -1)" if s["hard"] else f"soft (alpha = beta = w = {s['exponent']:g})"
    lines = [
        f"T = {s['target_ms']:.3f} ms, {kind}; {s['within_target']:.0%} of the networks are within T",
        "best:",
    ]
    for i in s["top"]:
        row = rows[i]
        ops = ", ".join(f"{block.op} k{block.kernel}" for block in row.arch)
        pareto = "  (on the Pareto front)" if i in s["pareto"] else ""
        lines.append(
            f"  {s['rewards'][i]:.4f}  acc {row.accuracy:.4f}  {row.latency_ms:.3f} ms  {ops}{pareto}"
        )
    return "\n".join(lines)


def reward_widget(rows, target_ms: float | None = None, exponent: float = -0.07) -> W.VBox:
    """Sliders over T and w (and a hard-constraint switch) redrawing the reward over the table."""
    latencies = sorted(row.latency_ms for row in rows)
    start = reward_summary(rows, latencies[len(latencies) // 2] if target_ms is None else target_ms, exponent)
    low, high = latencies[0], latencies[-1]
    controls = {
        "target_ms": float_slider(
            "T (ms)", start["target_ms"], low, high, round((high - low) / 50, 3) or 0.001
        ),
        "exponent": float_slider("w", start["exponent"], -1.0, 0.0, 0.01),
        "hard": W.Checkbox(value=False, description="hard constraint"),
    }

    def render(target_ms, exponent, hard):
        summary = reward_summary(rows, target_ms, exponent, hard)
        say(describe_reward(rows, summary))
        plots.reward_landscape(rows, summary)
        show_figure()

    return live(controls, render)
