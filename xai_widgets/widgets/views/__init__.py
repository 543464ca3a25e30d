"""Inside the network: the Activations, Filters and Feature visualization views.

Each view works on its own or as a tab of the Explorer, built from a
:class:`~xai_widgets.widgets.Selection`::

    from xai_widgets.widgets.views import ActivationsView, FiltersView, FeatureVisView
    ActivationsView(model, images, preprocess=card)      # standalone: computes at once
    ActivationsView(explorer.selection)                  # on a shared selection: lazy

Views are ``ipywidgets.VBox`` subclasses with traits (``layer``, ``channel``, ...); their jobs
run on the selection's engine (latest wins, cancelled by the next input), their errors are
shown in the view, and the model is never changed. All three are tabs of the Explorer.
"""

from __future__ import annotations

from .activations_view import ActivationsView
from .base import FeatureView
from .featvis_view import FeatureVisView
from .filters_view import FiltersView

__all__ = ["ActivationsView", "FeatureView", "FeatureVisView", "FiltersView"]
