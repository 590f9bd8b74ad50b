"""Copy each lesson's main figures, as executed, out of the notebooks into `docs/figures/`.

    .venv/bin/python benchmarks/lesson_figures.py        # a second: it reads the executed lessons

A code cell tagged `main-figure` is a lesson's main result (for example lesson 06's accuracies
over seeds, lesson 08's prune-rate sweeps); each PNG it drew is written to
`docs/figures/<lesson>-<n>.png`, numbered in the lesson's order, so a README, an issue or a
review can show the figures without running the course. Re-execute a lesson first
(`benchmarks/notebook_times.py --write`) for its figures to follow a change.
"""

from __future__ import annotations

import base64
import pathlib

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "figures"
TAG = "main-figure"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    written = 0
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        lesson = path.stem.split("_")[0]
        count = 0
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code" or TAG not in cell.metadata.get("tags", []):
                continue
            for output in cell.outputs:
                png = output.get("data", {}).get("image/png")
                if png:
                    count += 1
                    target = OUT / f"{lesson}-{count}.png"
                    target.write_bytes(base64.b64decode(png))
                    print(f"{target.relative_to(ROOT)}: {path.name}")
        written += count
    print(f"figures={written}")


if __name__ == "__main__":
    main()
