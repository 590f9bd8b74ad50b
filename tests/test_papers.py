"""The published figures in lwcnn.papers against what lwcnn.models counts for the same models."""

from __future__ import annotations

import pytest

from lwcnn import models, papers

# (model, "macs" or "params"): why the paper's figure is further than 3% from the count
KNOWN_GAPS = {
    ("mobilenet_v2", "params"): "the paper's 3.4 M leaves out BatchNorm's 34,112 scales and shifts",
}


@pytest.mark.parametrize("name", sorted(papers.PAPER_FIGURES))
def test_paper_figures_within_3_percent_of_the_count(name):
    figure = papers.PAPER_FIGURES[name]
    assert name in models.MODEL_NAMES
    result = models.cost(name)
    for kind, published, counted in (
        ("macs", figure.macs_m, result.macs),
        ("params", figure.params_m, result.params),
    ):
        if published is None:
            continue
        gap = abs(counted / (published * 1e6) - 1)
        if (name, kind) in KNOWN_GAPS:
            assert 0.03 < gap < 0.05, KNOWN_GAPS[name, kind]
        else:
            assert gap <= 0.03, f"{name} {kind}: counted {counted:,}, paper {published} M"
    assert figure.top1 is None or 40 < figure.top1 < 90


def test_mobilenet_v1_tables_share_the_baseline_and_are_ordered():
    assert papers.MOBILENET_V1_WIDTH[0] == papers.MOBILENET_V1_RESOLUTION[0]
    for table in (papers.MOBILENET_V1_WIDTH, papers.MOBILENET_V1_RESOLUTION):
        assert [p.macs_m for p in table] == sorted((p.macs_m for p in table), reverse=True)
        assert [p.top1 for p in table] == sorted((p.top1 for p in table), reverse=True)


def test_layer_share_table_has_the_published_typo():
    """Table 2's Mult-Adds column adds up to 99.29%: the 3x3 conv's 1.19% should read 1.91%
    (3*3*3*32*112*112 / 568,740,352), as lesson 03 shows."""
    column = [macs for macs, _ in papers.MOBILENET_V1_LAYER_SHARES.values()]
    assert sum(column) == pytest.approx(99.29)
    stem_share = 100 * 3 * 3 * 3 * 32 * 112 * 112 / models.cost("mobilenet_v1").macs
    assert round(stem_share, 2) == 1.91


def test_headline_tables_agree_with_the_zoos_figures():
    """The same paper's figures, quoted in two tables, must be the same numbers."""
    for name, row in papers.MOBILENET_V3_PIXEL.items():
        assert row.top1 == papers.PAPER_FIGURES[name].top1
    a1 = papers.MNASNET_HEADLINES[-1]
    assert (a1.top1, a1.latency_ms) == papers.MNASNET_SINGLE_OP["MnasNet-A1"]
    assert a1.top1 == papers.PAPER_FIGURES["mnasnet_a1"].top1
    v3 = papers.MOBILENET_V3_ACTIVATIONS["h-swish from block 7 (V3-Large)"]
    assert v3[0] == papers.PAPER_FIGURES["mobilenet_v3_large"].top1
    assert round(v3[1]) == papers.MOBILENET_V3_PIXEL["mobilenet_v3_large"].latency_ms["Pixel 1"]


def test_the_papers_own_conclusions_follow_from_their_tables():
    g = papers.SHUFFLENET_V2_GUIDELINES
    for device in ("gpu_batches_per_s", "arm_images_per_s"):
        for guideline in ("G1", "G2"):  # speed falls as the widths become unequal / the groups grow
            speeds = list(getattr(g[guideline], device).values())
            assert speeds == sorted(speeds, reverse=True)
        g4 = getattr(g["G4"], device)
        assert g4["neither"] == max(g4.values())  # removing ReLU and shortcut is fastest
    # "8 groups is more than two times slower ... on GPU and up to 30% slower on ARM"
    assert g["G2"].gpu_batches_per_s["g=1"] / g["G2"].gpu_batches_per_s["g=8"] > 2
    assert 1 - g["G2"].arm_images_per_s["g=8"] / g["G2"].arm_images_per_s["g=1"] == pytest.approx(
        0.305, abs=1e-3
    )
    single = papers.EFFICIENTNET_SINGLE_DIMENSION
    assert single["compound"] > max(v for k, v in single.items() if k != "compound") + 1.5
    ops = papers.MNASNET_SINGLE_OP
    for expansion in ("MBConv3", "MBConv6"):  # 5x5 buys accuracy, and costs latency
        small, large = ops[f"{expansion} 3x3 only"], ops[f"{expansion} 5x5 only"]
        assert large[0] > small[0] and large[1] > small[1]
    study = papers.PRUNING_STUDY
    assert round(study.size_before_mb / study.size_after_mb, 1) == study.ratio_in_body
