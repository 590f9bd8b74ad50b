"""Add `lwcnn.draw` diagram cells to the instructor lessons, where a block or network is introduced.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/add_diagrams.py notebooks/*.ipynb
    PYTHONPATH=$PWD .venv/bin/python benchmarks/add_diagrams.py --check notebooks/*.ipynb

Each new code cell is tagged `diagram` and goes right after the cell that holds its anchor text
(and after diagram cells already there, so the order below is kept). The script prints each
anchor and where it put the cell. It is idempotent: a cell whose `diagram` key is already in the
notebook is left alone (its source is updated if it changed). `--check` changes nothing and
exits 1 if a cell is missing or an anchor is not found. Patched notebooks have no outputs in the
new cells: execute them afterwards (the diagram's PNG differs between matplotlib builds; its text
repr `<Diagram: N layers drawn>` is exact, so nbval can check the cell as long as it ignores
images, which it does by default).

Only the given notebooks are patched; run it on the instructor notebooks (`notebooks/`), then
regenerate `student/`.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import NamedTuple

import nbformat

TAG = "diagram"


class DiagramCell(NamedTuple):
    key: str  # unique per notebook; also the cell id, "diagram-<key>"
    anchor: str  # text of the cell the diagram follows
    source: str  # the cell, without the `import lwcnn` line the script adds where it is needed


CELLS: dict[str, list[DiagramCell]] = {
    "02_depthwise_separable": [
        DiagramCell(
            "separable",
            "spec = DepthwiseSeparable(32, 64, kernel_size=3, order=order)",
            "lwcnn.draw(DepthwiseSeparable(32, 64, kernel_size=3), input_size=112)",
        ),
    ],
    "05_inverted_residuals": [
        DiagramCell(
            "inverted-residual",
            "v2_block = InvertedResidual.with_ratio(24, 24, expand_ratio=6)",
            "lwcnn.draw(v2_block, input_size=56)",
        ),
        DiagramCell("mobilenet-v2", 'v2 = models.spec("mobilenet_v2")', "lwcnn.draw(v2)"),
    ],
    "06_se_and_hswish": [
        DiagramCell(
            "v3-block-with-se",
            "stem = large.stages()[0].layers[0]",
            "# block 5 of the table: 5x5 depthwise, SE on the 120 expanded channels, then the projection\n"
            "lwcnn.draw(large.stages()[3].layers[1], input_size=28)",
        ),
    ],
    "07_flops_vs_latency": [
        DiagramCell(
            "shufflenet-v2-unit",
            'print("after: ", channel_shuffle(x, 2).flatten().int().tolist())',
            "from lwcnn.blocks import ShuffleNetV2Unit\n\n"
            "lwcnn.draw(ShuffleNetV2Unit(116, 116), input_size=28)",
        ),
        DiagramCell(
            "ghost-module",
            "ghost = GhostModule(m, n, ratio=2).cost(28)",
            "lwcnn.draw(GhostModule(64, 128, ratio=2), input_size=28)",
        ),
        DiagramCell(
            "ghost-bottleneck",
            "ghost = GhostModule(m, n, ratio=2).cost(28)",
            "# GhostNet's bottleneck: two Ghost modules, the identity shortcut around them\n"
            'lwcnn.draw(models.spec("ghostnet").stages()[2].layers[1], input_size=56)',
        ),
    ],
    "08_pruning": [
        DiagramCell(
            "pruned-next-to-original",
            "result = prune.slim(model, rate",
            "from IPython.display import display\n\n"
            "display(lwcnn.draw(checkpoint.cfg), lwcnn.draw(result.cfg))",
        ),
    ],
    "09_nas_mnasnet": [
        DiagramCell(
            "sampled-network", "arch = space.sample(random.Random(0))", "lwcnn.draw(space.spec(arch))"
        ),
    ],
    "10_nas_fbnet": [
        DiagramCell(
            "candidate-blocks",
            "supernet = nas.Supernet(nas.TABLE_SPACE, seed=0)",
            "from IPython.display import display\n\n"
            "# block 1's candidates with 3x3 kernels (the 5x5 ones differ in the depthwise kernel only),\n"
            "# taken from the network the supernet builds for each candidate\n"
            "for candidate in supernet.candidates:\n"
            "    if candidate.kernel == 3:\n"
            "        network = nas.TABLE_SPACE.spec((candidate,) * nas.TABLE_SPACE.blocks)\n"
            "        display(lwcnn.draw(network.stages()[1].layers[0], input_size=16))",
        ),
        DiagramCell(
            "one-path",
            "arch = tuple(supernet.candidates[i] for i in (0, 3, 5))",
            "lwcnn.draw(nas.TABLE_SPACE.spec(arch))",
        ),
    ],
    "11_scaling": [
        DiagramCell(
            "efficientnet-b0",
            "alpha, beta, gamma = 1.2, 1.1, 1.15\nfor phi in range(4):",
            'lwcnn.draw(models.spec("efficientnet_b0"))',
        ),
        DiagramCell(
            "fused-mbconv",
            "alpha, beta, gamma = 1.2, 1.1, 1.15\nfor phi in range(4):",
            "# EfficientNetV2's Fused-MBConv: one 3x3 conv replaces B0's 1x1 expansion and depthwise conv\n"
            "from lwcnn.blocks import FusedMBConv\n\n"
            "lwcnn.draw(FusedMBConv(24, 48, expanded_channels=96, stride=2), input_size=56)",
        ),
    ],
    "12_quantization": [
        DiagramCell(
            "quantized-mobilenet-v2",
            'print(f"recorded test accuracy {checkpoint.metadata',
            "# the network this lesson quantizes: every conv and linear layer here becomes an int8 layer\n"
            "lwcnn.draw(checkpoint.cfg)",
        ),
    ],
    "13_other_families": [
        DiagramCell("fire-module", "fire2 = Fire(96, 16, 64, 64)", "lwcnn.draw(fire2, input_size=55)"),
        DiagramCell(
            "squeezenet-1-1",
            'macs_ratio = models.cost("squeezenet1_0", 224).macs',
            "# SqueezeNet 1.1: the stem, three pooling stages of Fire modules, the 1x1 conv classifier\n"
            'lwcnn.draw("squeezenet1_1")',
        ),
        DiagramCell(
            "shufflenet-v1-unit",
            '"ShuffleNetV2 unit": ShuffleNetV2Unit(width, width),',
            "lwcnn.draw(ShuffleNetV1Unit(240, 240, groups=3), input_size=28)",
        ),
        DiagramCell(
            "shufflenet-v2-unit-240",
            '"ShuffleNetV2 unit": ShuffleNetV2Unit(width, width),',
            "lwcnn.draw(ShuffleNetV2Unit(240, 240), input_size=28)",
        ),
        DiagramCell(
            "esp-module", "for branches in (2, 3, 4, 5):", "lwcnn.draw(ESPModule(120, 120, 5), input_size=56)"
        ),
        DiagramCell(
            "eesp-unit",
            'modules = {"ESP": ESPModule(128, 128, 4), "EESP": EESPUnit(128, 128, branches=4)}',
            "lwcnn.draw(EESPUnit(128, 128, branches=4), input_size=56)",
        ),
        DiagramCell(
            "ghost-module-3x3",
            "equation_4 = s * c * k * k",
            "# the last row: a 3x3 primary conv, 3x3 ghosts, s = 3\n"
            "lwcnn.draw(GhostModule(64, 100, 3, 3, 3), input_size=28)",
        ),
        DiagramCell(
            "dfc-attention",
            "dfc = cost.dfc_attention_macs(channels, channels, side, side)",
            "lwcnn.draw(DFCAttention(72, 72), input_size=28)",
        ),
        DiagramCell(
            "fused-mbconv",
            "fused = FusedMBConv(c, c, 4 * c, 3, 1)",
            "lwcnn.draw(FusedMBConv(48, 48, 192, 3, 1), input_size=56)",
        ),
        DiagramCell(
            "mbconv-silu",
            "fused = FusedMBConv(c, c, 4 * c, 3, 1)",
            'lwcnn.draw(InvertedResidual(48, 48, 192, 3, 1, 0, activation="silu"), input_size=56)',
        ),
        DiagramCell("tinynet-e", 'for name in ("tinynet_a", "tinynet_b"', 'lwcnn.draw("tinynet_e")'),
        DiagramCell("fbnet-c", 'for name in ("tinynet_a", "tinynet_b"', 'lwcnn.draw("fbnet_c")'),
    ],
}


def _imports_lwcnn(notebook) -> bool:
    """Does a cell of the lesson itself (not a diagram cell) bind the name `lwcnn`?"""
    return any(
        cell.cell_type == "code" and _key(cell) is None and "import lwcnn\n" in cell.source + "\n"
        for cell in notebook.cells
    )


def _key(cell) -> str | None:
    return cell.get("metadata", {}).get(TAG)


def patch(notebook, cells: list[DiagramCell], name: str) -> list[str]:
    """Insert or update `cells` in `notebook`; returns what changed (empty when nothing did)."""
    changes = []
    needs_import = not _imports_lwcnn(notebook)
    for wanted in cells:
        source = f"import lwcnn\n\n{wanted.source}" if needs_import else wanted.source
        existing = [cell for cell in notebook.cells if _key(cell) == wanted.key]
        if existing:
            if existing[0].source != source:
                existing[0].source = source
                changes.append(f"{name}: updated diagram cell {wanted.key!r}")
            continue
        anchors = [
            i for i, cell in enumerate(notebook.cells) if _key(cell) is None and wanted.anchor in cell.source
        ]
        if len(anchors) != 1:
            changes.append(f"{name}: ERROR: anchor {wanted.anchor!r} is in {len(anchors)} cells, not 1")
            continue
        position = anchors[0] + 1
        while position < len(notebook.cells) and _key(notebook.cells[position]) is not None:
            position += 1  # after the diagrams already following the anchor
        cell = nbformat.v4.new_code_cell(source, id=f"diagram-{wanted.key}")
        cell.metadata = {"tags": [TAG], TAG: wanted.key}
        notebook.cells.insert(position, cell)
        changes.append(f"{name}: cell {position} {wanted.key!r} after the cell with {wanted.anchor!r}")
    return changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=pathlib.Path)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a cell is missing")
    args = parser.parse_args(argv)
    missing = False
    for path in args.notebooks:
        stem = path.name.removesuffix(".ipynb")
        if stem not in CELLS:
            continue
        notebook = nbformat.read(path, as_version=4)
        changes = patch(notebook, CELLS[stem], path.name)
        for change in changes:
            print(change)
        if any("ERROR" in change for change in changes):
            return 2  # this notebook is not written: fix its anchor first
        if changes and args.check:
            missing = True
        elif changes:
            nbformat.validate(notebook)
            nbformat.write(notebook, path)
        else:
            print(f"{path.name}: up to date")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
