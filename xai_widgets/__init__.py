"""xai_widgets: look inside a PyTorch image classifier from a notebook.

Example::

    import xai_widgets as xw
    e = xw.explain(model, x, "grad_cam", target=3)
    xw.list_methods(), xw.method_params("occlusion"), xw.spatial_layers(model, x)
"""

from .analysis import ZScores, zscores
from .api import explain, explain_stream
from .explanation import Explanation
from .layers import spatial_layers
from .methods import Forward, list_methods, method_card, method_label, method_params, method_table

__version__ = "0.1.0"

__all__ = [
    "Explanation",
    "Explorer",
    "Forward",
    "ZScores",
    "data",
    "evaluate",
    "explain",
    "explain_stream",
    "features",
    "list_methods",
    "method_card",
    "method_label",
    "method_params",
    "method_table",
    "spatial_layers",
    "zoo",
    "zscores",
]


_LAZY = {"data", "zoo", "features", "widgets", "evaluate"}


def __getattr__(name: str):
    """The widgets (ipywidgets), data (scikit-image), zoo and features load on first use, so
    ``import xai_widgets`` stays fast."""
    import importlib

    if name == "Explorer":
        return importlib.import_module(".widgets", __name__).Explorer
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'xai_widgets' has no attribute {name!r}")
