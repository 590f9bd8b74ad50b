"""Latency: what a network really costs on a device, measured, and predicted from a table.

One concern per file, read in this order:

- `timing.py`: time a module (`measure`), several side by side (`compare`, `fastest`,
  `lower_quartile`), single calls (`time_calls`, `summarize_ms`), and name the device; every timing runs with
  freed memory kept in the process (`steady_allocator`, and why).
- `walk.py`: a network as the blocks a lookup table times, each with its input shape.
- `context.py`: timing those blocks alone and in context, as a network runs them (and why).
- `entry.py`: a table's entry key (`entry_key`, the one place it is built) and its rows.
- `lut.py`: the FBNet lookup table: measuring blocks, predicting a network, calibrating.
- `table_file.py`: a table as a CSV file.
- `recorded.py`: the lessons' recorded latencies shipped in `data/latency/`, and how well the
  shipped lookup table predicted whole networks at each input size.

    >>> from lwcnn.latency import measure
    >>> from torch import nn
    >>> measure(nn.Conv2d(8, 8, 3), (1, 8, 16, 16)).median_ms > 0
    True

`lwcnn.lut` is the older name of the table's half and still works.
"""

from lwcnn.latency.context import CONTEXT_GROUP, count_ops
from lwcnn.latency.entry import STATISTICS, Calibration, Entry, block_key, entry_key
from lwcnn.latency.lut import DATA_DIR, LatencyTable, PredictedLayer, Prediction, table_path
from lwcnn.latency.recorded import (
    LUT_ACCURACY_COLUMNS,
    RECORDED_COLUMNS,
    RecordedTable,
    lut_accuracy,
    lut_errors,
    recorded_tables,
    side_by_side,
)
from lwcnn.latency.table_file import COLUMNS, FORMAT, VERSION
from lwcnn.latency.timing import (
    DEVICES,
    Latency,
    compare,
    device_label,
    device_name,
    device_slug,
    fastest,
    lower_quartile,
    measure,
    slugify,
    steady_allocator,
    summarize_ms,
    time_calls,
    time_side_by_side,
)
from lwcnn.latency.walk import (
    CONTAINER_SHAPE,
    Container,
    GlobalAvgPool,
    Layer,
    container_calls,
    network_blocks,
    network_layers,
)
from lwcnn.paths import LUT_ACCURACY_DIR, TABLE_SUFFIX

__all__ = [
    "COLUMNS",
    "CONTAINER_SHAPE",
    "CONTEXT_GROUP",
    "DATA_DIR",
    "DEVICES",
    "FORMAT",
    "LUT_ACCURACY_COLUMNS",
    "LUT_ACCURACY_DIR",
    "RECORDED_COLUMNS",
    "STATISTICS",
    "TABLE_SUFFIX",
    "VERSION",
    "Calibration",
    "Container",
    "Entry",
    "GlobalAvgPool",
    "Latency",
    "LatencyTable",
    "Layer",
    "PredictedLayer",
    "Prediction",
    "RecordedTable",
    "block_key",
    "compare",
    "container_calls",
    "count_ops",
    "device_label",
    "device_name",
    "device_slug",
    "entry_key",
    "fastest",
    "lower_quartile",
    "lut_accuracy",
    "lut_errors",
    "measure",
    "network_blocks",
    "network_layers",
    "recorded_tables",
    "side_by_side",
    "slugify",
    "steady_allocator",
    "summarize_ms",
    "table_path",
    "time_calls",
    "time_side_by_side",
]
