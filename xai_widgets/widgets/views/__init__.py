"""Inside the network (issue 5): the Activations, Filters and Feature visualization views.

Each view works on its own or as a tab of the Explorer, over the small :class:`ViewHost`
interface (model, engine, pictures, observable ``index``, preprocess, ``class_name``)::

    from xai_widgets.widgets.views import ActivationsView, FiltersView, FeatureVisView
    ActivationsView(model, images, preprocess=card)          # standalone: computes at once

    add_feature_tabs(explorer)     # three more tabs, each computing when first shown

Views are ``ipywidgets.VBox`` subclasses with traits (``layer``, ``channel``, ...); their jobs
run on the host's engine (latest wins, cancelled by the next input), their errors are shown in
the view, and the model is never changed.
"""

from __future__ import annotations

import ipywidgets as w

from .activations_view import ActivationsView
from .base import FeatureView
from .featvis_view import FeatureVisView
from .filters_view import FiltersView
from .host import StandaloneHost, ViewHost, to_display

__all__ = [
    "ActivationsView",
    "FeatureView",
    "FeatureVisView",
    "FiltersView",
    "StandaloneHost",
    "ViewHost",
    "add_feature_tabs",
    "feature_tabs",
    "to_display",
]


def feature_tabs(host: ViewHost) -> list[tuple[str, FeatureView]]:
    """``[("Activations", view), ("Filters", view), ("Feature visualization", view)]`` on
    ``host``, each view a widget. They are lazy: when ``host.tabs`` is an ``ipywidgets.Tab``
    a view computes when its tab is selected (and again for a new picture while selected);
    a host without tabs gets views that compute at once."""
    views: list[FeatureView] = [
        ActivationsView.from_host(host),
        FiltersView.from_host(host),
        FeatureVisView.from_host(host),
    ]
    tabs = getattr(host, "tabs", None)
    if isinstance(tabs, w.Tab):

        def selected(change: dict) -> None:
            index = change["new"]
            children = tabs.children
            child = children[index] if index is not None and 0 <= index < len(children) else None
            for view in views:
                view.set_on_screen(view is child)

        tabs.observe(selected, "selected_index")
    else:
        for view in views:
            view.set_on_screen(True)
    return [(view.title, view) for view in views]


def add_feature_tabs(host: ViewHost) -> list[FeatureView]:
    """Append the :func:`feature_tabs` to ``host.tabs`` (titles included); returns the views."""
    pairs = feature_tabs(host)
    tabs: w.Tab = host.tabs  # type: ignore[attr-defined]
    n = len(tabs.children)
    titles = list(tabs.titles[:n]) + [""] * (n - len(tabs.titles))
    tabs.children = (*tabs.children, *(view for _, view in pairs))
    tabs.titles = (*titles, *(title for title, _ in pairs))
    return [view for _, view in pairs]
