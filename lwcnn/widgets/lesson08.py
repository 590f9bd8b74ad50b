"""The slimming widget of lesson 08: network slimming at a prune rate, its cost and accuracy."""

from __future__ import annotations

import ipywidgets as W

from lwcnn import plots
from lwcnn.widgets.controls import clamp_float, float_slider, live, say, show_figure, working

# the score dropdown: label -> `normalize` of lwcnn.prune.slim ("raw" stands for None, which a
# Dropdown cannot hold as a value: None there means "nothing selected")
SCORE_CHOICES = {"raw |gamma| (the paper)": "raw", "|gamma| / layer mean": "mean"}


def slimming_summary(
    model, prune_rate: float = 0.4, normalize: str | None = "mean", test_loader=None
) -> dict:
    """`lwcnn.prune.slim(model, prune_rate, normalize=...)` in numbers, for the prune-rate slider.

    The rate is clamped to [0, 0.95]. Returns it, the pruned and unpruned params and MACs (from
    `lwcnn.models.cost`), their ratios, `kept`: (channel group, kept, channels) per prunable
    group, the floored groups, and the test accuracy right after slimming (before any
    fine-tuning) when `test_loader` is given, else None.
    """
    summary, slimmed = _slim(model, prune_rate, normalize)
    summary["accuracy"] = None if test_loader is None else _accuracy(slimmed, test_loader)
    return summary


def _slim(model, prune_rate: float, normalize: str | None) -> tuple[dict, object]:
    """`slimming_summary` without the accuracy (None), and the slimmed model to measure it on."""
    from lwcnn import models, prune

    rate = clamp_float(prune_rate, 0.0, 0.95)
    result = prune.slim(model, rate, normalize=normalize)
    full, pruned = models.cost(prune.spec_of(model)), models.cost(result.cfg)
    groups = {group.name: group.channels for group in prune.channel_groups(result.cfg.base)}
    summary = {
        "prune_rate": rate,
        "normalize": normalize,
        "params": pruned.params,
        "macs": pruned.macs,
        "full_params": full.params,
        "full_macs": full.macs,
        "params_ratio": full.params / pruned.params,
        "macs_ratio": full.macs / pruned.macs,
        "kept": [(name, kept, groups[name]) for name, kept in result.cfg.widths],
        "floored": result.floored,
        "accuracy": None,
    }
    return summary, result.model


# the slider evaluates in batches this large: the same accuracy, sooner. Larger is not faster: at
# 256 a batch's activations spill out of L2 (`benchmarks/slimming_eval.py` times 16-256 side by
# side); 64 is within a few percent of the best there and keeps half of 128's working set, for
# laptops with smaller caches
EVALUATION_BATCH = 64


def _accuracy(slimmed, test_loader) -> float:
    """Test accuracy of `slimmed` on `test_loader`, read as a deployed network runs: BatchNorms
    folded into their convs (`lwcnn.train.inference_copy`, the same function to float rounding),
    and in batches of `EVALUATION_BATCH` when a DataLoader's are smaller."""
    from torch.utils.data import DataLoader

    from lwcnn.train import evaluate, inference_copy

    if isinstance(test_loader, DataLoader) and (test_loader.batch_size or 0) < EVALUATION_BATCH:
        test_loader = DataLoader(test_loader.dataset, batch_size=EVALUATION_BATCH)
    return evaluate(inference_copy(slimmed), test_loader)[1]


def describe_slimming(summary: dict) -> str:
    """The lines a learner reads under the prune-rate slider."""
    lines = _cost_lines(summary)
    if summary["accuracy"] is not None:
        lines.append(_accuracy_line(summary["accuracy"]))
    return "\n".join(lines)


def _cost_lines(summary: dict) -> list[str]:
    s = summary
    scores = "raw |gamma|" if s["normalize"] is None else f"|gamma| normalized by the layer {s['normalize']}"
    return [
        f"prune rate {s['prune_rate']:.2f} ({scores})",
        f"params {s['params']:>10,} of {s['full_params']:,}: {s['params_ratio']:.2f}x fewer",
        f"MACs   {s['macs']:>10,} of {s['full_macs']:,}: {s['macs_ratio']:.2f}x fewer",
        f"groups held at min_channels: {', '.join(s['floored']) or 'none'}",
    ]


def _accuracy_line(accuracy: float) -> str:
    return f"test accuracy right after slimming (no fine-tuning): {accuracy:.4f}"


def slimming_widget(model, test_loader=None, **start) -> W.VBox:
    """A prune-rate slider and a score choice over `model`: costs, accuracy and kept channels per layer.

    With a `test_loader`, each move evaluates the slimmed model: the costs show at once, the
    status label says it is evaluating until the accuracy follows, and a setting seen before
    answers from memory.
    """
    s = slimming_summary(model, test_loader=test_loader, **start)
    controls = {
        "prune_rate": float_slider("prune rate", s["prune_rate"], 0.0, 0.9, 0.05),
        "scores": W.Dropdown(
            options=list(SCORE_CHOICES.items()), value=s["normalize"] or "raw", description="scores"
        ),
    }
    status = W.Label("") if test_loader is not None else None
    accuracies = {(s["prune_rate"], s["normalize"]): s["accuracy"]}  # (rate, normalize) -> accuracy

    def render(prune_rate, scores):
        normalize = None if scores == "raw" else scores
        summary, slimmed = _slim(model, prune_rate, normalize)
        say("\n".join(_cost_lines(summary)))
        if test_loader is not None:
            setting = (summary["prune_rate"], normalize)
            if setting not in accuracies:
                with working(status):
                    accuracies[setting] = _accuracy(slimmed, test_loader)
            summary["accuracy"] = accuracies[setting]
            say(_accuracy_line(summary["accuracy"]))
        plots.kept_channels_bars(summary)
        show_figure()

    return live(controls, render, status)
