"""lwcnn: the helper package of the lightweight-CNN course."""

__version__ = "0.1.0"
