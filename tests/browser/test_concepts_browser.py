"""The Concepts tab (issue 12) in a real JupyterLab on the zoo's shapes model: open the tab,
the concepts of the picture arrive; click a concept, its tile is outlined and its exemplars
are drawn in that concept's colour. Screenshots go to test-artifacts/browser/concepts-*.png.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page

from xai_widgets.widgets.concepts_draw import GAP, PALETTE
from xai_widgets.widgets.concepts_tab import EXEMPLAR, TILE

from .canvas import canvas_image, canvas_pixel, click_canvas, colour_close, wait_for_pixel
from .harness import LabNotebook, screenshot, wait_visible, write_notebook
from .test_feature_views_browser import signature, wait_changed, wait_drawn

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

CELLS = [
    "import xai_widgets as xw\n"
    "from xai_widgets.widgets import ConceptsTab\n"
    "ex = xw.Explorer.from_zoo('shapes', n=6, size=256, data_size=60)\n"
    "ex",
]
CYAN = (0, 229, 255)  # the outline of the selected tile


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def test_concepts_tab_click_shows_exemplars(
    lab_notebook: Callable[..., LabNotebook], browser_page: Page, tmp_path: Path
) -> None:
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1200})
    nb = lab_notebook(write_notebook(tmp_path / "xw_concepts.ipynb", CELLS))
    nb.run_all()
    nb.wait_executed()
    explorer = wait_visible(page, ".xw-explorer")
    page.locator(".xw-explorer .lm-TabBar-tab", has_text="Concepts").click()
    strip = wait_visible(page, ".xw-concepts-strip")
    page.wait_for_function(
        "() => document.querySelector('.xw-concepts-strip').width > 5 * 96", timeout=120_000
    )
    wait_drawn(strip)
    wait_drawn(wait_visible(page, ".xw-concepts-segments"))
    assert "The model says" in page.locator(".xw-concepts-verdict").inner_text()
    pixels = canvas_image(strip)
    assert np.ptp(pixels[..., :3]) > 50  # pictures, not a blank canvas
    bar = canvas_pixel(strip, TILE + GAP + 10, 2)  # the second concept's colour bar
    assert any(colour_close(bar, _rgb(c)) for c in PALETTE), bar
    screenshot(explorer, "concepts-tab")

    exemplars = page.locator(".xw-concepts-exemplars")
    before = signature(exemplars)
    click_canvas(strip, TILE + GAP + 40, 50)  # the second concept
    wait_for_pixel(strip, TILE + GAP + 1, 60, CYAN)  # its tile is outlined
    wait_changed(exemplars, before)
    wait_drawn(exemplars)
    assert exemplars.evaluate("el => el.width") == 8 * (EXEMPLAR + GAP)
    assert colour_close(canvas_pixel(exemplars, 10, 2), bar[:3])  # in the concept's colour
    assert (
        "the 8 images that show it most"
        in page.locator(".xw-concepts-exemplar-caption").inner_text()
    )
    assert not any(t.strip() for t in page.locator(".xw-view-error").all_inner_texts())
    screenshot(explorer, "concepts-exemplars")
