"""The scaling widgets of lesson 11: EfficientNet's compound scaling and TinyNet's recommendation."""

from __future__ import annotations

import ipywidgets as W

from lwcnn import plots
from lwcnn.widgets.controls import clamp_float, float_slider, live, say, show_figure


def compound_summary(
    phi: float = 1.0, alpha: float = 1.2, beta: float = 1.1, gamma: float = 1.15, base=None
) -> dict:
    """EfficientNet's compound scaling at phi (clamped to [-3, 3]; alpha, beta, gamma to [1, 2]).

    `base` is an `lwcnn.models.EfficientNet` spec (default: B0 at 224). Returns the settings, the
    multipliers `lwcnn.scaling.compound_multipliers`, the scaled network's input size, blocks per
    stage, params and MACs (`lwcnn.models.cost`), its real MACs over the base's, the nominal
    `(alpha beta^2 gamma^2)^phi` and `2^phi`.
    """
    from lwcnn import models, scaling

    base = models.EfficientNet() if base is None else base
    phi = clamp_float(phi, -3.0, 3.0)
    alpha, beta, gamma = (clamp_float(value, 1.0, 2.0) for value in (alpha, beta, gamma))
    multipliers = scaling.compound_multipliers(phi, alpha, beta, gamma)
    spec = scaling.scaled_spec(base, multipliers)
    result, base_cost = models.cost(spec), models.cost(base)
    return {
        "phi": phi,
        "alpha": alpha,
        "beta": beta,
        "gamma": gamma,
        "multipliers": multipliers,
        "resolution": spec.resolution,
        "blocks": [len(stage.layers) for stage in spec.stages()[1:-1]],
        "params": result.params,
        "macs": result.macs,
        "base_macs": base_cost.macs,
        "macs_ratio": result.macs / base_cost.macs,
        "nominal_ratio": scaling.flops_factor(*multipliers),
        "two_to_phi": 2.0**phi,
    }


def describe_compound(summary: dict) -> str:
    """The lines a learner reads under the phi slider."""
    s = summary
    d, w, r = s["multipliers"]
    product = s["alpha"] * s["beta"] ** 2 * s["gamma"] ** 2
    return "\n".join(
        [
            f"phi = {s['phi']:g}, alpha = {s['alpha']:g}, beta = {s['beta']:g}, gamma = {s['gamma']:g} "
            f"(alpha beta^2 gamma^2 = {product:.3f})",
            f"depth x{d:.3f}  width x{w:.3f}  resolution x{r:.3f} -> {s['resolution']}x{s['resolution']}, "
            f"blocks per stage {s['blocks']}",
            f"params {s['params']:,}   MACs {s['macs']:,}",
            f"MACs / base = {s['macs_ratio']:.3f}   d w^2 r^2 = {s['nominal_ratio']:.3f}   2^phi = {s['two_to_phi']:.3f}",
        ]
    )


def compound_widget(base=None, **start) -> W.VBox:
    """Sliders over phi and alpha, beta, gamma; prints the scaled network and draws MACs against phi."""
    s = compound_summary(base=base, **start)
    controls = {
        "phi": float_slider("phi", s["phi"], -3.0, 3.0, 0.1),
        "alpha": float_slider("alpha (depth)", s["alpha"], 1.0, 2.0, 0.05),
        "beta": float_slider("beta (width)", s["beta"], 1.0, 2.0, 0.05),
        "gamma": float_slider("gamma (resolution)", s["gamma"], 1.0, 2.0, 0.05),
    }

    def render(**values):
        summary = compound_summary(base=base, **values)
        say(describe_compound(summary))
        curve = [
            compound_summary(phi / 4, summary["alpha"], summary["beta"], summary["gamma"], base)
            for phi in range(-12, 13)
        ]
        plots.compound_scaling_curve(curve, summary)
        show_figure()

    return live(controls, render)


def tinynet_summary(gp, budget: float = 0.5, base=None) -> dict:
    """TinyNet's recommendation at FLOPs budget c (clamped to [0.1, 1]) against inverse compound scaling.

    `gp` is a fitted `lwcnn.scaling.TinyNetGP`; `base` an EfficientNet spec (default
    `scaling.digits_base()`). Returns r(c), d(c) and their standard deviations, the paper's
    `w = sqrt(c / (r^2 d))` and the real-budget w (`scaling.real_budget_width`), the real MACs of
    both, and inverse compound scaling's multipliers at c: nominal (`inverse_compound_multipliers`)
    and matched to the real budget (`real_budget_phi`), with their real MACs.
    """
    from lwcnn import models, scaling

    base = scaling.digits_base() if base is None else base
    budget = clamp_float(budget, 0.1, 1.0)
    p = gp.predict(budget)
    r, d = float(p["resolution"][0]), float(p["depth"][0])
    paper = gp.recommend(budget)
    real = scaling.Multipliers(d, scaling.real_budget_width(base, budget, d, r), r)
    phi = scaling.inverse_compound_phi(budget)
    inverse = scaling.inverse_compound_multipliers(budget)
    real_phi = scaling.real_budget_phi(base, budget)
    inverse_real = scaling.compound_multipliers(real_phi)
    base_macs = models.cost(base).macs

    def network(multipliers):
        spec = scaling.scaled_spec(base, multipliers)
        cost = models.cost(spec)
        return {"multipliers": multipliers, "resolution": spec.resolution, "macs": cost.macs,
                "params": cost.params, "macs_ratio": cost.macs / base_macs}  # fmt: skip

    return {
        "budget": budget,
        "resolution_std": float(p["resolution_std"][0]),
        "depth_std": float(p["depth_std"][0]),
        "tinynet": network(paper),
        "tinynet_real": network(real),
        "inverse_phi": phi,
        "inverse": network(inverse),
        "inverse_real_phi": real_phi,
        "inverse_real": network(inverse_real),
        "base_macs": base_macs,
    }


def describe_tinynet(summary: dict) -> str:
    """The lines a learner reads under the budget slider."""
    s = summary

    def line(label, net):
        d, w, r = net["multipliers"]
        return (
            f"{label:<34} d {d:.3f}  w {w:.3f}  r {r:.3f} ({net['resolution']:>2} px)  "
            f"MACs {net['macs']:>9,} = {net['macs_ratio']:.3f} x base"
        )

    return "\n".join(
        [
            f"budget c = {s['budget']:g} x the base's {s['base_macs']:,} MACs; "
            f"GP: r = {s['tinynet']['multipliers'].resolution:.3f} +- {s['resolution_std']:.3f}, "
            f"d = {s['tinynet']['multipliers'].depth:.3f} +- {s['depth_std']:.3f}",
            line("TinyNet, w = sqrt(c / (r^2 d))", s["tinynet"]),
            line("TinyNet, w on the real network", s["tinynet_real"]),
            line(f"inverse compound, phi = {s['inverse_phi']:.2f}", s["inverse"]),
            line(f"inverse compound, real phi = {s['inverse_real_phi']:.2f}", s["inverse_real"]),
        ]
    )


def tinynet_widget(gp, samples=(), best=(), base=None, budget: float = 0.5) -> W.VBox:
    """A budget slider c over TinyNet's GP fits r(c), d(c) (drawn with the table's `samples` and
    the `best` the GPs were fitted on) and the recommendation against inverse compound scaling."""
    s = tinynet_summary(gp, budget, base)
    controls = {"budget": float_slider("budget c", s["budget"], 0.1, 1.0, 0.05)}

    def render(budget):
        summary = tinynet_summary(gp, budget, base)
        say(describe_tinynet(summary))
        plots.tinynet_fit(gp, samples, best, summary)
        show_figure()

    return live(controls, render)
