"""Every published figure in `lwcnn.papers.PAPER_FIGURES` beside what `lwcnn.models.cost` counts.

One row per network: its input size, the counted params and MACs, the paper's, the gap in %, the
published top-1 and the source. `tests/test_papers.py` holds every gap within 3% (or a known,
explained gap); this prints the table. Takes a second.

    .venv/bin/python benchmarks/paper_figures.py

The last line reads `paper_figures_within_3pct=<figures within 3%>/<figures published>`.
"""

from __future__ import annotations

from lwcnn import models, papers

TOLERANCE = 0.03


def gap(counted: int, published_m: float | None) -> float | None:
    """The count's distance from the published figure (in millions), as a share of it."""
    return None if published_m is None else counted / (published_m * 1e6) - 1


def main() -> None:
    print(
        f"{'network':<20}{'input':>6}{'params (M)':>11}{'paper':>7}{'gap':>7}"
        f"{'MACs (M)':>10}{'paper':>8}{'gap':>7}{'top-1':>7}  source"
    )
    within = published = 0
    for name, figure in papers.PAPER_FIGURES.items():
        counted = models.cost(name)
        cells = []
        for value, paper in ((counted.params, figure.params_m), (counted.macs, figure.macs_m)):
            share = gap(value, paper)
            if share is not None:
                published += 1
                within += abs(share) <= TOLERANCE
            cells.append(
                f"{value / 1e6:>{10 if not cells else 10}.2f}"
                + (f"{'-':>7}{'':>7}" if paper is None else f"{paper:>7g}{share:>+7.1%}")
            )
        top1 = "-" if figure.top1 is None else f"{figure.top1:g}"
        print(f"{name:<20}{counted.input_size[0]:>6}{cells[0]} {cells[1]}{top1:>7}  {figure.source}")
    print(f"{within} of {published} published figures within {TOLERANCE:.0%} of the count")
    print(f"paper_figures_within_3pct={within}/{published}")


if __name__ == "__main__":
    main()
