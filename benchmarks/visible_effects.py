"""Which of the lessons' claims the shipped, seeded results show: one row per claim.

    .venv/bin/python benchmarks/visible_effects.py          # a second: it only reads data/

For every comparison a lesson states on recorded runs (`lwcnn.experiments.CLAIMS`), the mean gap
between the two variants over their seeds, the seeds' spread (the larger of the two variants'
ranges), and the verdict: "separated" when the gap is larger than the spread, the only case in
which a lesson says that one beats the other.

Last line: `claims=<n> separated=<n> min_test_images=<n> accuracy_range=<lo>-<hi>`, over the
experiments the claims come from (test images of their dataset; lowest and highest mean
accuracy of a variant, in percent).
"""

from __future__ import annotations

import statistics

from lwcnn import data, experiments


def test_images(dataset: str) -> int:
    if dataset == "distorted":
        return len(data.distorted_digits_tensors().test_labels)
    return len(data.digits_tensors(image_size=None).test_labels)


def main() -> None:
    runs = experiments.load_runs()
    names = list(dict.fromkeys(name for name, _, _ in experiments.CLAIMS))
    print(f"{'lesson':6s}  {'claim':58s} {'mean gap':>9s} {'spread':>7s}  verdict")
    gaps, means = [], []
    for name in names:
        lesson = experiments.EXPERIMENTS[name].lesson
        for found in experiments.claims(runs, name):
            gaps.append(found)
            verdict = "separated" if found.separated else "within the spread"
            print(
                f"{lesson:6s}  {found.first + ' vs ' + found.second:58s} "
                f"{100 * found.mean_gap:+8.2f}p {100 * found.spread:6.2f}p  {verdict}"
            )
        means += [statistics.fmean(values) for values in experiments.accuracies(runs, name).values()]
    images = min(test_images(experiments.EXPERIMENTS[name].dataset) for name in names)
    print(
        f"claims={len(gaps)} separated={sum(g.separated for g in gaps)} min_test_images={images} "
        f"accuracy_range={100 * min(means):.1f}-{100 * max(means):.1f}"
    )


if __name__ == "__main__":
    main()
