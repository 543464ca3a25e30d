"""xai_widgets: look inside a PyTorch image classifier from a notebook.

Example::

    import xai_widgets as xw
    e = xw.explain(model, x, "grad_cam", target=3)
    xw.list_methods(), xw.method_params("occlusion"), xw.spatial_layers(model, x)
"""

from .api import explain
from .explanation import Explanation
from .layers import spatial_layers
from .methods import Forward, list_methods, method_params

__version__ = "0.1.0"

__all__ = [
    "Explanation",
    "Explorer",
    "Forward",
    "explain",
    "list_methods",
    "method_params",
    "spatial_layers",
]


def __getattr__(name: str):
    """The widgets (and ipywidgets) load on first use, so the core imports fast."""
    if name == "Explorer":
        from .widgets import Explorer

        return Explorer
    raise AttributeError(f"module 'xai_widgets' has no attribute {name!r}")
