"""The Gumbel-softmax widget of lesson 10: draws of a four-option toy distribution at temperature tau."""

from __future__ import annotations

import ipywidgets as W

from lwcnn import plots
from lwcnn.widgets.controls import clamp, clamp_float, float_slider, live, say, show_figure

GUMBEL_TOY_LOGITS = (1.0, 0.5, 0.0, -1.0)  # four candidate blocks; softmax 0.47 / 0.28 / 0.17 / 0.06


def gumbel_summary(
    temperature: float = 1.0, logits=GUMBEL_TOY_LOGITS, samples: int = 3, draws: int = 2000, seed: int = 0
) -> dict:
    """Gumbel-softmax draws (`lwcnn.nas.gumbel_softmax`) of `logits` at `temperature` (clamped
    to [0.05, 10]): the softmax, `samples` weight vectors, the mean weight vector and mean largest
    weight over `draws` draws (1: one-hot), and how often each option has the largest weight
    (the softmax at every temperature: the Gumbel-max trick). Seeded."""
    import torch

    from lwcnn import nas

    temperature = clamp_float(temperature, 0.05, 10.0)
    draws, samples, seed = clamp(draws, 1, 100_000), clamp(samples, 0, 100_000), clamp(seed, 0, 2**63 - 1)
    logits_t = torch.tensor(logits, dtype=torch.float64)
    weights = nas.gumbel_softmax(logits_t.expand(draws, -1), temperature, torch.Generator().manual_seed(seed))
    winners = torch.bincount(weights.argmax(dim=-1), minlength=len(logits)) / draws
    return {
        "temperature": temperature,
        "logits": tuple(logits),
        "probabilities": torch.softmax(logits_t, dim=0).tolist(),
        "samples": weights[:samples].tolist(),
        "mean_weights": weights.mean(dim=0).tolist(),
        "mean_max_weight": float(weights.max(dim=-1).values.mean()),
        "argmax_share": winners.tolist(),
    }


def describe_gumbel(summary: dict) -> str:
    """The lines a learner reads under the temperature slider."""
    s = summary

    def row(values):
        return " ".join(f"{value:5.2f}" for value in values)

    lines = [
        f"tau = {s['temperature']:.2f}: the largest weight of a draw is {s['mean_max_weight']:.2f} on average"
        " (1 = one-hot, 0.25 = uniform)",
        f"softmax(theta)        {row(s['probabilities'])}",
        f"largest-weight share  {row(s['argmax_share'])}   (Gumbel-max: the softmax at any tau)",
        f"mean weights          {row(s['mean_weights'])}",
    ]
    lines += [f"draw {i + 1}                {row(sample)}" for i, sample in enumerate(s["samples"])]
    return "\n".join(lines)


def gumbel_widget(**start) -> W.VBox:
    """A temperature slider redrawing Gumbel-softmax draws of a four-option toy distribution."""
    first = gumbel_summary(**start)
    controls = {"temperature": float_slider("temperature tau", first["temperature"], 0.05, 10.0, 0.05)}

    def render(temperature):
        summary = gumbel_summary(temperature, **{k: v for k, v in start.items() if k != "temperature"})
        say(describe_gumbel(summary))
        plots.gumbel_draws(summary)
        show_figure()

    return live(controls, render)
