"""The tab registry: which views a new Explorer shows, in order.

A tab is a :class:`~.view.View` subclass with a ``title``, built as ``cls(selection)``;
:func:`register_tab` adds it to every Explorer created afterwards, and
``Explorer(..., tabs=[...])`` picks which ones one Explorer shows.

Example::

    @register_tab
    class IndexTab(View):
        title = "Index"
        ...

    registered_tabs()       # [ExplainTab, ActivationsView, FiltersView, FeatureVisView, IndexTab]
"""

from __future__ import annotations

from .view import View

__all__ = ["register_tab", "registered_tabs", "unregister_tab"]

_TABS: list[type[View]] = []


def register_tab(cls: type[View]) -> type[View]:
    """Class decorator: show ``cls`` as a tab of every new Explorer (once, in registration
    order). TypeError for a class that is not a titled :class:`View`."""
    if not (isinstance(cls, type) and issubclass(cls, View)):
        raise TypeError(f"a tab must be a View subclass, not {cls!r}")
    if not cls.title:
        raise TypeError(f"tab {cls.__name__} needs a title")
    if cls not in _TABS:
        _TABS.append(cls)
    return cls


def unregister_tab(cls: type[View]) -> None:
    """Stop adding ``cls`` to new Explorers (tests, notebooks that experiment)."""
    if cls in _TABS:
        _TABS.remove(cls)


def registered_tabs() -> list[type[View]]:
    """The registered tab classes, in the order new Explorers show them."""
    return list(_TABS)
