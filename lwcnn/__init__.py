"""lwcnn: the helper package of the lightweight-CNN course.

from lwcnn import cost, blocks          # formulas and building blocks
lwcnn.count_model(model, (1, 3, 224, 224), convention="paper")
"""

from lwcnn import blocks, cost
from lwcnn.counting import CONVENTIONS, CountReport, count_model, difference
from lwcnn.draw import draw

__version__ = "0.1.0"

__all__ = ["CONVENTIONS", "CountReport", "blocks", "cost", "count_model", "difference", "draw"]
