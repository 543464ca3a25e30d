"""Every method and Compare with default settings on every zoo classifier, driven through the
Selection: a map, or the method disabled with its reason; never an error (issue 9)."""

from __future__ import annotations

import pytest

import xai_widgets as xw
from xai_widgets import zoo

CLASSIFIERS = [name for name in zoo.names() if zoo.card(name).dataset != "sea_ice"]


@pytest.mark.slow
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_method_and_compare_work_with_defaults(name: str) -> None:
    ex = xw.Explorer.from_zoo(name, n=2, data_size=0, size=128)
    sel, tab = ex.selection, ex.explain_tab
    assert ex.wait(120)
    for method in xw.list_methods():
        if method in tab.unavailable:
            assert tab.toggles.buttons[method].disabled
            continue
        sel.method = method
        assert ex.wait(300), method
        assert tab.error.value == "", (name, method, tab.error.value)
        assert ex.explanation is not None and ex.explanation.method == method
    ex.compare()
    assert ex.wait(600)
    for method, (_image, label) in tab.compare.tiles.items():
        assert "ms" in label.value or "skipped" in label.value, (method, label.value)
        if "skipped" in label.value:
            assert method in tab.unavailable, (method, label.value)
    ex.close()
