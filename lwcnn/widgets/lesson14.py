"""The predictor widget of lesson 14: an accuracy predictor fitted on a share of the table, ranked
on the rest (Kendall tau), refitted as the share slider moves (a ridge fit takes milliseconds)."""

from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from lwcnn import plots
from lwcnn.widgets.controls import clamp_float, float_slider, live, say, show_figure

SHARE_RANGE = (0.05, 0.9)  # at least a handful of networks to fit on, a handful to rank


def predictor_summary(rows, train_share: float = 0.5, seed: int = 0, model: str = "ridge") -> dict:
    """Fit `model` (`lwcnn.nas.fit_predictor`) on a random `train_share` of table `rows` (shuffled
    by `seed`; the share clamped to `SHARE_RANGE`) and predict the rest: the recorded and
    predicted accuracies of the held-out networks and their Kendall tau-b
    (`lwcnn.nas.predictor_rank_correlation`)."""
    from lwcnn import nas

    share = clamp_float(train_share, *SHARE_RANGE, digits=2)
    tau, predictor, train, test = nas.predictor_rank_correlation(
        rows, nas.TABLE_SPACE, share, seed=seed, model=model
    )
    return {
        "train_share": share,
        "seed": seed,
        "model": model,
        "train_size": len(train),
        "test_size": len(test),
        "tau": tau,
        "recorded": [row.accuracy for row in test],
        "predicted": predictor.predict([row.arch for row in test]),
    }


def describe_predictor(summary: dict) -> str:
    """The line a learner reads under the share slider."""
    s = summary
    return (
        f"{s['model']} fitted on {s['train_size']} networks ({s['train_share']:.0%} of the table), "
        f"ranking the other {s['test_size']}: Kendall tau = {s['tau']:.2f}"
    )


def _axes(figsize=(4.6, 4.0)):
    figures = plots.figures_in_hand()
    if figures is None:
        return plt.subplots(figsize=figsize)
    figure = Figure(figsize=figsize)
    figures.append(figure)
    return figure, figure.subplots()


def predictor_scatter(summary: dict, ax=None):
    """Predicted against recorded accuracy of the held-out networks, with the diagonal."""
    if ax is None:
        _, ax = _axes()
    recorded, predicted = summary["recorded"], summary["predicted"]
    ax.scatter(recorded, predicted, s=12, alpha=0.7)
    low, high = min(recorded + predicted), max(recorded + predicted)
    ax.plot([low, high], [low, high], color="gray", lw=1, ls="--", label="predicted = recorded")
    ax.set_xlabel("recorded test accuracy")
    ax.set_ylabel("predicted accuracy")
    ax.set_title(f"{summary['test_size']} held-out networks, tau = {summary['tau']:.2f}", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    ax.figure.tight_layout()
    return ax


def predictor_widget(rows, train_share: float = 0.5, seed: int = 0) -> W.VBox:
    """A slider over the training share; each move refits ridge and redraws the scatter."""
    start = predictor_summary(rows, train_share, seed)
    controls = {"train_share": float_slider("train share", start["train_share"], *SHARE_RANGE, 0.05)}

    def render(train_share):
        summary = predictor_summary(rows, train_share, seed)
        say(describe_predictor(summary))
        predictor_scatter(summary)
        show_figure()

    return live(controls, render)
