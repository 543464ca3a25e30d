"""The per-pixel, two-input fusion model in a real JupyterLab (issue 14): the prediction map
is drawn beside the picture; a mouse drag on it draws the new region in orange, the status
names the explained input and the map over the picture changes. Screenshot:
test-artifacts/browser/dense-region.png (look at it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page

from xai_widgets.widgets.panels import SELECTED

from .canvas import canvas_image, canvas_pixel, canvas_to_page, colour_close, wait_for_pixel
from .harness import LabNotebook, screenshot, wait_visible, write_notebook
from .test_feature_views_browser import signature, wait_changed, wait_drawn

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

CELLS = [
    "import xai_widgets as xw\n"
    "ex = xw.Explorer.from_zoo('fusion_small', n=3, size=256)\n"
    "ex.selection.method = 'saliency'\n"
    "ex",
]


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def test_a_drag_on_the_prediction_map_explains_that_region(
    lab_notebook: Callable[..., LabNotebook], browser_page: Page, tmp_path: Path
) -> None:
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1200})
    nb = lab_notebook(write_notebook(tmp_path / "xw_dense.ipynb", CELLS))
    nb.run_all()
    nb.wait_executed()
    main = wait_visible(page, ".xw-main-canvas")
    prediction = wait_visible(page, ".xw-prediction-canvas")
    wait_drawn(prediction)
    page.wait_for_function(
        "() => document.querySelector('.xw-status').innerText.includes('explaining sar')",
        timeout=120_000,
    )
    orange = _rgb(SELECTED)
    assert colour_close(canvas_pixel(prediction, 0, 80), orange)  # the whole map's frame
    before_main = signature(main)

    scale = 160 / 128  # the prediction canvas: 160 px for the 128 px output map
    start = canvas_to_page(prediction, 20 * scale, 30 * scale)
    end = canvas_to_page(prediction, 70 * scale, 90 * scale)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=5)
    page.mouse.up()
    # the new region's left edge (x = 20) is orange, its inside is not
    wait_for_pixel(prediction, round(20 * scale), round(60 * scale), orange)
    assert not colour_close(canvas_pixel(prediction, round(45 * scale), round(60 * scale)), orange)
    assert not colour_close(canvas_pixel(prediction, 0, 80), orange)  # the old frame is gone
    page.wait_for_function(
        "() => /x \\d+\\.\\.\\d+, y/.test(document.querySelector('.xw-prediction-caption')"
        ".innerText)",
        timeout=60_000,
    )
    caption = page.locator(".xw-prediction-caption").inner_text()
    found = re.search(r"x (\d+)\.\.(\d+), y (\d+)\.\.(\d+)", caption)
    assert found, caption
    # the region the mouse drew, to a pixel (the page maps CSS px to canvas px by rounding)
    for got, want in zip(map(int, found.groups()), (20, 70, 30, 90), strict=True):
        assert abs(got - want) <= 1, caption
    wait_changed(main, before_main)
    assert canvas_image(main).shape[0] == 256
    status = page.locator(".xw-status").inner_text()
    assert "mwr held at this scene" in status and "Saliency" in status
    assert page.locator(".xw-error").inner_text().strip() == ""
    screenshot(page.locator(".xw-explain"), "dense-region")
