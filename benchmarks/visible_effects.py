"""Which of the lessons' claims the shipped, seeded results show: one row per claim.

    .venv/bin/python benchmarks/visible_effects.py          # a second: it only reads data/

For every comparison a lesson states on recorded runs (`lwcnn.experiments.CLAIMS`), the mean gap
between the two variants over their seeds, the seeds' spread (the larger of the two variants'
ranges), and the verdict: "separated" when the gap is larger than the spread, the only case in
which a lesson says that one beats the other.

The claims come from `data/digits_runs.csv` (lesson 06), `data/pruning/` (lesson 08) and
`data/scaling_distorted.csv` (lesson 11).

Last line: `claims=<n> separated=<n> min_test_images=<n> accuracy_range=<lo>-<hi>`, over the
experiments the claims come from (test images of their dataset; lowest and highest mean
accuracy of a trained network, in percent: every variant of a training experiment, the unpruned
networks of the pruning sweeps, every scaled network of lesson 11).
"""

from __future__ import annotations

import statistics

from lwcnn import data, experiments


def test_images(dataset: str) -> int:
    if dataset == "distorted":
        return len(data.distorted_digits_tensors().test_labels)
    return len(data.digits_tensors(image_size=None).test_labels)


def main() -> None:
    runs = experiments.load_runs() + experiments.load_pruning_runs() + experiments.load_scaling_runs()
    names = list(dict.fromkeys(name for name, _, _ in experiments.CLAIMS))
    print(f"{'lesson':6s}  {'claim':92s} {'mean gap':>9s} {'spread':>7s}  verdict")
    gaps, means, images = [], [], []
    for name in names:
        lesson, dataset = experiments.source(name)
        images.append(test_images(dataset))
        for found in experiments.claims(runs, name):
            gaps.append(found)
            verdict = "separated" if found.separated else "within the spread"
            print(
                f"{lesson:6s}  {found.first + ' vs ' + found.second:92s} "
                f"{100 * found.mean_gap:+8.2f}p {100 * found.spread:6.2f}p  {verdict}"
            )
        for variant, values in experiments.accuracies(runs, name).items():
            if name != experiments.PRUNING or variant.endswith("unpruned"):
                means.append(statistics.fmean(values))
    print(
        f"claims={len(gaps)} separated={sum(g.separated for g in gaps)} min_test_images={min(images)} "
        f"accuracy_range={100 * min(means):.1f}-{100 * max(means):.1f}"
    )


if __name__ == "__main__":
    main()
