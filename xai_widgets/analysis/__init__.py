"""Analyses of a model over a dataset: Z-scores of the last layer (Malmgren-Hansen et al.).

Example::

    >>> import xai_widgets as xw
    >>> zs = xw.zscores(model, images, layer="fc")      # per-class Z-scores of a GAP head
    >>> zs.top(5, output=3)
"""

from .zscores import zscores
from .zscores_result import Comparison, GroupSum, Ranked, ZScores

__all__ = ["Comparison", "GroupSum", "Ranked", "ZScores", "zscores"]
