"""Where the course's shipped data lives: `data/` beside the `lwcnn` package, one name per folder.

>>> LATENCY_DIR.name
'latency'
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
LATENCY_DIR = DATA_DIR / "latency"  # recorded lesson tables (<device>.csv), lookup tables (<device>.lut.csv)
TABLE_SUFFIX = ".lut.csv"  # a lookup table; `<slug>.csv` beside it is the lessons' recorded table
