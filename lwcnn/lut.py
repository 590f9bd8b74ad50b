"""The older name of the latency lookup table's module: `lwcnn.lut` is `lwcnn.latency` (the
table in `lwcnn/latency/lut.py`, a network's blocks in `walk.py`, the lessons' recordings in
`recorded.py`, single calls in `timing.py`), so `from lwcnn import lut` keeps working.

    >>> from lwcnn.lut import LatencyTable, network_blocks
"""

from lwcnn.latency import *  # noqa: F403  (one list of names, lwcnn.latency's __all__)
from lwcnn.latency import __all__  # noqa: F401
