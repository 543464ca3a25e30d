"""Interactive views over the methods: the Explorer, its tabs, and the selection they share.

Everything is built from one :class:`Selection` (model, pictures, ``index``, ``method``,
``target``, ``layer``, ``params``, ``engine``): each tab reads and writes it, its controls are
linked to it both ways, and Python code drives a widget exactly as a click does.

How to add a tab
----------------
Write one file with one :class:`View` subclass: a ``title``, the selection traits it
``follows`` (default: ``("index",)``), ``_build()`` returning its child widgets, and
``_refresh()`` bringing it up to date (called only while the tab is shown; run slow work with
``self.submit(lane, fn, label)``, which cancels superseded jobs and shows errors in
``self.error``). Then one registry line: add the class to the tuple registered at the end of
this package (your own code decorates its class with :func:`register_tab` instead). Every new
:class:`Explorer` shows the registered tabs in order, and ``Explorer(..., tabs=[...])`` picks
tabs explicitly::

    @register_tab
    class IndexTab(View):
        title = "Index"

        def _build(self):
            self.label = ipywidgets.HTML()
            return [self.label, self.error]

        def _refresh(self):
            self.label.value = f"picture {self.selection.index}"
"""

from .concepts_tab import ConceptsTab
from .evaluate_tab import EvaluateTab
from .explain_tab import ExplainTab
from .explorer import Explorer
from .selection import Selection
from .tabs import register_tab, registered_tabs, unregister_tab
from .view import View
from .views import ActivationsView, FeatureView, FeatureVisView, FiltersView
from .zscores_tab import ZScoresTab

__all__ = [
    "ActivationsView",
    "ConceptsTab",
    "EvaluateTab",
    "ExplainTab",
    "Explorer",
    "FeatureView",
    "FeatureVisView",
    "FiltersView",
    "Selection",
    "View",
    "ZScoresTab",
    "register_tab",
    "registered_tabs",
    "unregister_tab",
]

_TABS = (ExplainTab, ActivationsView, FiltersView, FeatureVisView, EvaluateTab, ZScoresTab)
for _tab in (*_TABS, ConceptsTab):
    register_tab(_tab)  # the Explorer's tabs, in this order
