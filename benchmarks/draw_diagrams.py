"""Draw the README's architecture diagrams from the specs with `lwcnn.draw`.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/draw_diagrams.py      # a few seconds

Writes

* `docs/diagrams/inverted_residual.png`: MobileNetV2's inverted residual with stride 1 and its
  shortcut (24 -> 144 -> 24 channels, expansion 6), on a 56x56 input;
* `docs/diagrams/mobilenet_v3_small.png`: MobileNetV3-Small at 224, one row per stage.

The PNGs carry no timestamp, so rerunning with the same matplotlib rewrites identical files.
"""

from __future__ import annotations

import pathlib

import lwcnn
from lwcnn.blocks import InvertedResidual

OUT = pathlib.Path(__file__).resolve().parent.parent / "docs" / "diagrams"

DIAGRAMS = {
    "inverted_residual.png": (InvertedResidual(24, 24, expanded_channels=144, stride=1), 56),
    "mobilenet_v3_small.png": ("mobilenet_v3_small", 224),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for file_name, (spec, input_size) in DIAGRAMS.items():
        diagram = lwcnn.draw(spec, input_size)
        diagram.save(OUT / file_name)
        print(f"{OUT / file_name}: {len(diagram.items)} layers drawn")


if __name__ == "__main__":
    main()
