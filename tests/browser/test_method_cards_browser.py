"""Method cards in a real JupyterLab (issue 16): the (i) button beside a method toggle opens its
card in the Explain tab and closes it again; the selected method and the map stay as they were.
Screenshot: test-artifacts/browser/method-card-open.png (look at it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page

from .harness import LabNotebook, canvas_image, screenshot, wait_visible, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

CELLS = [
    "import xai_widgets as xw\nex = xw.Explorer.from_zoo('shapes', n=4, size=192)\nex.wait()\nex",
]


def test_the_info_button_opens_and_closes_the_card(
    lab_notebook: Callable[..., LabNotebook], browser_page: Page, tmp_path: Path
) -> None:
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1100})
    nb = lab_notebook(write_notebook(tmp_path / "xw_method_cards.ipynb", CELLS))
    nb.run_all()
    nb.wait_executed()
    canvas = wait_visible(page, ".xw-main-canvas")
    page.wait_for_function(
        "() => document.querySelector('.xw-status').innerText.includes('Grad-CAM')",
        timeout=120_000,
    )
    selected = page.locator(".xw-explain .mod-active[class*='xw-method-']")
    assert selected.count() == 1 and "xw-method-grad_cam" in selected.get_attribute("class")
    before = canvas_image(canvas)
    card = page.locator(".xw-method-card")
    assert not card.is_visible()

    page.locator(".xw-card-button-lime").click()
    wait_visible(page, ".xw-method-card")
    page.wait_for_function(
        "() => document.querySelector('.xw-method-card').innerText.includes('Ribeiro')"
    )
    text = card.inner_text()
    assert "LIME" in text and "Where it misleads" in text and "Model-agnostic" in text
    screenshot(page.locator(".xw-explain"), "method-card-open")
    page.wait_for_timeout(500)  # a method change would start a new map by now
    selected = page.locator(".xw-explain .mod-active[class*='xw-method-']")
    assert selected.count() == 1 and "xw-method-grad_cam" in selected.get_attribute("class")
    assert (canvas_image(canvas) == before).all()

    page.locator(".xw-card-button-lime").click()
    card.wait_for(state="hidden")
    assert page.locator(".xw-error").inner_text().strip() == ""
