"""The feature views (issue 5) in a real JupyterLab: standalone Activations, Filters and Feature
visualization views on the zoo's shapes model (a small seeded CNN when its weights are not
there); click a channel tile, click the picture, find exemplars, zoom the filters, run feature
visualization; the canvases must change in the page. Screenshots go to
test-artifacts/browser/feature-views-*.png (look at them).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Locator, Page

from .harness import (
    LabNotebook,
    canvas_image,
    click_canvas,
    screenshot,
    wait_visible,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

SETUP = """\
import torch
from torch import nn
from xai_widgets import data, zoo
from xai_widgets.widgets.views import ActivationsView, FeatureVisView, FiltersView

try:
    model, card = zoo.load("shapes"), zoo.card("shapes")
    images, labels, _masks = data.dataset(
        card.dataset, 8, seed=card.test_seed, **card.dataset_kwargs
    )
    names = [f"#{i} {card.classes[int(y)]}" for i, y in enumerate(labels)]
    options = dict(preprocess=card, classes=card.classes, names=names)
    images = list(images)
except FileNotFoundError:  # the zoo's weights are not there: a small seeded CNN
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 16 * 16, 2),
    ).eval()
    images, options = torch.rand(8, 3, 64, 64), {}
print(type(model).__name__)"""

EXPLORER = """\
import xai_widgets as xw

try:
    ex = xw.Explorer.from_zoo("shapes", n=8, size=256)
except FileNotFoundError:
    ex = xw.Explorer(model, images, size=256)
views = ex.feature_views  # the Explorer carries the feature tabs itself
ex"""

CELLS = [
    SETUP,
    "act = ActivationsView(model, images, **options)\nact",
    "filt = FiltersView(model, images, **options)\nfilt",
    "fv = FeatureVisView(model, images, **options)\n"
    "fv.params['steps'].value = 64\nfv.dream_params['steps'].value = 5\nfv",
]

_SIGNATURE = """el => {
    const d = el.getContext('2d').getImageData(0, 0, el.width, el.height).data;
    let s = 0;
    for (let i = 0; i < d.length; i += 7) s = (s * 31 + d[i]) % 1000000007;
    return [el.width, el.height, s];
}"""


def signature(canvas: Locator) -> list:
    return canvas.evaluate(_SIGNATURE)


def wait_changed(canvas: Locator, before: list, timeout_ms: int = 60_000) -> list:
    """Wait (every animation frame) until the canvas's size or pixels differ from ``before``."""
    handle = canvas.element_handle()
    try:
        canvas.page.wait_for_function(
            f"([el, before]) => {{ const now = ({_SIGNATURE})(el); "
            "return now.some((v, i) => v !== before[i]); }",
            arg=[handle, before],
            polling="raf",
            timeout=timeout_ms,
        )
    finally:
        handle.dispose()
    return signature(canvas)


def wait_drawn(canvas: Locator, timeout_ms: int = 60_000) -> None:
    """Wait until the canvas has opaque pixels (a first image arrived)."""
    handle = canvas.element_handle()
    try:
        canvas.page.wait_for_function(
            """el => { if (el.width < 2) return false;
                const d = el.getContext('2d').getImageData(0, 0, el.width, el.height).data;
                for (let i = 3; i < d.length; i += 4 * 13) if (d[i] > 0) return true;
                return false; }""",
            arg=handle,
            polling="raf",
            timeout=timeout_ms,
        )
    finally:
        handle.dispose()


def test_feature_views_in_lab(
    lab_notebook: Callable[..., LabNotebook], browser_page: Page, tmp_path: Path
) -> None:
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1000})
    nb = lab_notebook(write_notebook(tmp_path / "xw_feature_views.ipynb", CELLS))
    nb.run_all()
    nb.wait_executed()
    print(f"\n[browser] model: {nb.stream_text(0).strip()}")

    # Activations: the grid and the map arrive; a tile click changes the map.
    grid = wait_visible(page, ".xw-act-grid")
    main = wait_visible(page, ".xw-act-canvas")
    wait_drawn(grid)
    wait_drawn(main)
    box = main.bounding_box()
    assert box is not None and abs(box["width"] - 256) < 1, box  # fixed layout, no stretch
    screenshot(page.locator(".xw-feature-view").nth(0), "feature-views-activations")
    before_main, before_grid = signature(main), signature(grid)
    click_canvas(grid, 56 + 4 + 28, 30)  # the second tile: another channel
    wait_changed(main, before_main)
    wait_text(page, ".xw-act-caption", "rank 2")  # the text may come after the pixels

    # A click on the picture ranks the channels there: the grid is redrawn.
    before_grid = signature(grid)
    click_canvas(main, 40, 200)
    wait_changed(grid, before_grid)
    wait_text(page, ".xw-feature-view", "activation at unit")
    screenshot(page.locator(".xw-feature-view").nth(0), "feature-views-activations-clicked")

    # Exemplars of the chosen channel.
    exemplars = page.locator(".xw-act-exemplars-grid")
    page.locator(".xw-act-exemplars").click()
    wait_drawn(exemplars)
    pixels = canvas_image(exemplars)
    assert pixels.shape[1] > 4 * 80 and np.ptp(pixels[..., :3]) > 50
    screenshot(page.locator(".xw-feature-view").nth(0), "feature-views-exemplars")

    # Filters: a grid that a zoom changes in size.
    filters = wait_visible(page, ".xw-filters-grid")
    wait_drawn(filters)
    before = signature(filters)
    handle = page.locator(".xw-filters-zoom .noUi-handle, .xw-filters-zoom .slider-handle")
    handle.first.focus()
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    after = wait_changed(filters, before)
    assert after[0] < before[0], (before, after)
    screenshot(page.locator(".xw-feature-view").nth(1), "feature-views-filters")

    # Feature visualization: Run, and the preview changes while it optimizes; then DeepDream.
    preview = wait_visible(page, ".xw-fv-canvas")
    first = signature(preview)
    page.locator(".xw-fv-run").click()
    second = wait_changed(preview, first)
    wait_changed(preview, second)  # a later preview step
    page.wait_for_function(
        "() => document.querySelector('.xw-fv-caption').innerText.includes('step 64 / 64')",
        timeout=120_000,
    )
    page.locator(".xw-fv-dream").click()
    dreamed = page.locator(".xw-fv-dream-canvas")
    wait_drawn(dreamed, 120_000)
    errors = page.locator(".xw-view-error").all_inner_texts()
    assert not any(text.strip() for text in errors), errors
    screenshot(page.locator(".xw-feature-view").nth(2), "feature-views-featvis")

    # A reloaded page starts with blank canvases: the views replay their state.
    nb.save()
    nb.reload()
    for selector in (".xw-act-grid", ".xw-act-canvas", ".xw-filters-grid", ".xw-fv-canvas"):
        wait_drawn(wait_visible(page, selector))
    wait_drawn(wait_visible(page, ".xw-act-exemplars-grid"))


def test_feature_tabs_in_the_explorer(
    lab_notebook: Callable[..., LabNotebook], browser_page: Page, tmp_path: Path
) -> None:
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1100})
    nb = lab_notebook(write_notebook(tmp_path / "xw_feature_tabs.ipynb", [SETUP, EXPLORER]))
    nb.run_all()
    nb.wait_executed()
    explorer = wait_visible(page, ".xw-explorer")
    wait_drawn(wait_visible(page, ".xw-main-canvas"))
    grid = page.locator(".xw-act-grid")
    assert grid.evaluate("el => el.width") == 1  # lazy: nothing computed before the tab shows
    tab = page.locator(".xw-explorer .lm-TabBar-tab", has_text="Activations")
    tab.click()
    wait_drawn(grid)
    screenshot(explorer, "feature-tabs-activations")
    page.locator(".xw-explorer .lm-TabBar-tab", has_text="Filters").click()
    wait_drawn(wait_visible(page, ".xw-filters-grid"))
    page.locator(".xw-explorer .lm-TabBar-tab", has_text="Feature visualization").click()
    preview = wait_visible(page, ".xw-fv-canvas")
    before = signature(preview)
    page.locator(".xw-fv-run").click()
    wait_changed(preview, before)
    screenshot(explorer, "feature-tabs-featvis")
    page.locator(".xw-explorer .lm-TabBar-tab", has_text="Explain").click()
    assert page.locator(".xw-error").inner_text().strip() == ""
    assert not any(t.strip() for t in page.locator(".xw-view-error").all_inner_texts())


def test_every_tab_of_the_quickstart_explorer(
    lab_notebook: Callable[..., LabNotebook], browser_page: Page, tmp_path: Path
) -> None:
    """Each tab of the Explorer opens without an error and shows something; its screenshot
    goes to test-artifacts/browser/tab-<title>.png (look at them)."""
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1300})
    nb = lab_notebook(write_notebook(tmp_path / "xw_every_tab.ipynb", [SETUP, EXPLORER]))
    nb.run_all()
    nb.wait_executed()
    explorer = wait_visible(page, ".xw-explorer")
    wait_drawn(wait_visible(page, ".xw-main-canvas"))
    titles = [t.strip() for t in page.locator(".xw-explorer .lm-TabBar-tab").all_inner_texts()]
    assert titles[:4] == ["Explain", "Activations", "Filters", "Feature visualization"], titles
    for title in titles:
        tab = page.locator(".xw-explorer .lm-TabBar-tab", has_text=title).first
        tab.click()
        page.wait_for_function(
            "(el) => el.classList.contains('lm-mod-current')", arg=tab.element_handle()
        )
        page.wait_for_function(
            """() => {
                const busy = [...document.querySelectorAll('.xw-explorer .xw-view-progress')]
                    .some(el => el.offsetParent !== null && el.style.visibility !== 'hidden');
                return !busy;
            }""",
            timeout=120_000,
        )
        page.wait_for_timeout(1500)  # the first results of a tab that computes when shown
        screenshot(explorer, f"tab-{title.lower().replace(' ', '-')}")
        errors = [t.strip() for t in page.locator(".xw-view-error").all_inner_texts()]
        assert not any(errors), (title, errors)


def wait_text(page, selector: str, text: str, timeout_ms: int = 30_000) -> None:
    """Wait until the first element matching ``selector`` shows ``text``."""
    page.wait_for_function(
        "([sel, text]) => ((document.querySelector(sel) || {}).innerText || '').includes(text)",
        arg=[selector, text],
        timeout=timeout_ms,
    )


SMOOTH = """\
from xai_widgets import data, zoo
from xai_widgets.widgets.views import FeatureVisView

model, card = zoo.load("counting"), zoo.card("counting")
images = list(data.dataset(card.dataset, 2, seed=5, **card.dataset_kwargs)[0])
fv = FeatureVisView(model, images, preprocess=card)
fv.channel = 8  # a channel whose best data images are blank
fv"""


def test_a_smooth_picture_is_named_under_it(
    lab_notebook: Callable[..., LabNotebook], browser_page: Page, tmp_path: Path
) -> None:
    """Feature visualization with its defaults (512 steps) on the counting model's channel 8:
    the finished picture has no fine detail, and the caption says so in words."""
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 900})
    nb = lab_notebook(write_notebook(tmp_path / "xw_smooth_picture.ipynb", [SMOOTH]))
    nb.run_all()
    nb.wait_executed()
    preview = wait_visible(page, ".xw-fv-canvas")
    wait_visible(page, ".xw-fv-run").click()
    wait_drawn(preview, 120_000)
    page.wait_for_function(
        "() => document.querySelector('.xw-fv-caption').innerText.includes('step 512 / 512')",
        timeout=180_000,
    )
    caption = page.locator(".xw-fv-caption").inner_text()
    assert "No fine detail" in caption and "without objects" in caption, caption
    errors = page.locator(".xw-view-error").all_inner_texts()
    assert not any(text.strip() for text in errors), errors
    screenshot(page.locator(".xw-feature-view"), "featvis-smooth-picture")
