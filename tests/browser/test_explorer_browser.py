"""Issue 4 in a real browser: the quickstart's Explorer in JupyterLab and in Voila.

What a student does in the quickstart, done with the mouse in headless Chromium: run all cells,
click the image (click-to-occlude), toggle methods, switch the CAM layer, drag the occlusion
patch slider, click a thumbnail and a top class; then save, reload and see the canvases
redrawn from the kernel's state; and the same notebook as a Voila app. The heatmap layer is
read in the page (``ExplorerPage``); every step waits for a condition, never a fixed sleep.
The fixtures fail a test on any browser console error.
"""

from __future__ import annotations

import base64
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page

from .explorer_page import ExplorerPage
from .harness import (
    LabNotebook,
    VoilaServer,
    canvas_image,
    colour_close,
    screenshot,
    wait_for_pixel,
    wait_painted,
    wait_visible,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "notebooks" / "01_quickstart.ipynb"
WEIGHTS = REPO / "xai_widgets" / "zoo" / "weights" / "shapes.pt"
GALLERY_THUMB, GALLERY_GAP = 56, 4  # panels.Gallery defaults
SELECTED = (255, 152, 0)  # the gallery's outline of the selected thumbnail (#ff9800)
NUM = r"([-+\d.e]+)"
PROBE = re.compile(
    r"Occluded (\d+)×(\d+) px at \(x, y\) = \(\d+, \d+\): (?:(.+?) logit "
    rf"{NUM} → {NUM} \({NUM}\), probability {NUM} → {NUM}|no measurable change)"
)

# Every listed layer is (almost) fully painted: a late client draws a canvas's stored state and
# then its replay, which clears a layer before its image is decoded, so wait for the end state.
PAINTED = """(layers) => layers.every(i => {
    const d = window.__xwRead(window.__xwTarget(i));
    let n = 0;
    for (let k = 3; k < d.length; k += 4) if (d[k] > 0) n++;
    return n > 0.95 * d.length / 4;
})"""

# At least a fraction of layer i is painted (region boundaries, a filled region).
LINES = """([i, fraction]) => {
    const d = window.__xwRead(window.__xwTarget(i));
    let n = 0;
    for (let k = 3; k < d.length; k += 4) if (d[k] > 0) n++;
    return n > fraction * d.length / 4;
}"""

# The kernel's view of what the canvas shows: (height, width, base64 RGB bytes).
COMPOSITE = """\
import base64 as _b64
_v = explorer.explain_tab.canvas.composite()
print(_v.shape[0], _v.shape[1], _b64.b64encode(_v.tobytes()).decode())"""

# The map on the canvas is the one of the slider's final value (no stale map won): recompute
# occlusion with the public API and compare with the map the view holds.
FINAL_OCCLUSION = """\
import numpy as _np, xai_widgets as _xw
assert explorer.wait(120)
_sel = explorer.selection
_p, _i = _sel.param_values("occlusion"), _sel.index
_s = _sel.session(_i)
_e = _xw.explain(_sel.model, _sel.pictures[_i].input[None], "occlusion",
                 target=_s.predicted if _sel.target is None else _sel.target, **_p)
_ref = _e.heatmap[0].numpy()
_err = float(_np.abs(_ref - explorer.explain_tab.heat).max() / (_np.abs(_ref).max() + 1e-12))
print(_sel.params["patch"], _sel.method, _err)"""

pytestmark.append(
    pytest.mark.skipif(not WEIGHTS.exists(), reason=f"zoo weights missing: {WEIGHTS}")
)


def thumb_centre(index: int, per_row: int = 10) -> tuple[int, int]:
    cell = GALLERY_THUMB + GALLERY_GAP
    col, row = index % per_row, index // per_row
    half = GALLERY_THUMB // 2
    return GALLERY_GAP + col * cell + half, GALLERY_GAP + row * cell + half


def assert_not_blank(pixels: np.ndarray, what: str, painted: float = 0.9) -> None:
    opaque = pixels[..., 3] > 0
    assert opaque.mean() > painted, f"{what} is blank ({opaque.mean():.1%} painted)"
    assert pixels[..., :3].std() > 3, f"{what} is one flat colour"


def assert_view_matches_kernel(ex: ExplorerPage) -> None:
    """What the page shows (the composite canvas) is what the kernel's state composes to."""
    height, width, data = ex.kernel(COMPOSITE).split()
    expected = np.frombuffer(base64.b64decode(data), np.uint8).reshape(int(height), int(width), 3)
    shown = canvas_image(ex.main)[..., :3]
    diff = np.abs(shown.astype(int) - expected.astype(int)).max(-1)
    # JPEG (q92) and the heatmap's alpha rounding: a few levels on average, more at edges.
    assert diff.mean() < 4 and (diff > 32).mean() < 0.01, (diff.mean(), (diff > 32).mean())


# The main canvas is shown whole at its own size; no control sticks out of the widget.
LAYOUT = """() => {
    const root = document.querySelector('.xw-explorer');
    const r = (el) => el.getBoundingClientRect();
    const problems = [];
    const main = root.querySelector('canvas.xw-main-canvas');
    const box = r(main);
    if (Math.abs(box.width - main.width) > 1 || Math.abs(box.height - main.height) > 1) {
        problems.push(`main canvas shown ${box.width}x${box.height} CSS px`
                      + ` for ${main.width}x${main.height} canvas px`);
    }
    // Clipped by an ancestor (overflow) or covered by a sibling: the visible part of its row.
    for (let a = main.parentElement; a && a !== root; a = a.parentElement) {
        const ab = r(a);
        if (getComputedStyle(a).overflowX !== 'visible' && ab.right < box.right - 1) {
            problems.push(`main canvas clipped to ${Math.round(ab.right - box.left)} of`
                          + ` ${main.width} px by ${a.className}`);
            break;
        }
    }
    const outer = r(root);
    const selector = '[class*="xw-method-"], [class*="xw-class-"], [class*="xw-param-"],'
        + ' .xw-status, .xw-save, .xw-cancel, .xw-gallery, .xw-upload';
    for (const el of root.querySelectorAll(selector)) {
        const b = r(el);
        if (b.width === 0) continue;  // hidden (display: none)
        if (b.right > outer.right + 1 || b.left < outer.left - 1) {
            problems.push(`${el.className} sticks out of the explorer`);
        }
    }
    return problems;
}"""


def assert_layout(ex: ExplorerPage) -> None:
    problems = ex.page.evaluate(LAYOUT)
    assert not problems, "\n".join(problems)


def assert_filled(ex: ExplorerPage, layer: int, at: tuple[int, int], timeout_s: float = 30) -> None:
    """Layer ``layer`` becomes opaque at canvas pixel ``at`` = (x, y) (read every 0.2 s: an
    encoded picture is decoded after the probe's text has changed)."""
    deadline = time.monotonic() + timeout_s
    while (alpha := int(ex.layer(layer)[at[1], at[0], 3])) == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alpha > 0, f"layer {layer} is still transparent at {at}"


def toggle(ex: ExplorerPage, method: str) -> int:
    """Click a method toggle; wait for its map; return how many heatmap pixels changed."""
    ex.arm()
    ex.click_method(method)
    ex.wait_map(method)
    changed = ex.wait_changed()
    assert "mod-active" in (ex.method_button(method).get_attribute("class") or "")
    return changed


def test_lab_quickstart_explorer(
    lab_notebook: Callable[..., LabNotebook], browser_page: Page
) -> None:
    page = browser_page
    nb = lab_notebook(QUICKSTART)
    nb.run_all()
    ex = ExplorerPage(page, nb.path)
    ex.wait_map("grad_cam")
    nb.wait_executed()
    ex.attach()
    page.wait_for_function(  # the canvas decodes its images after the status has changed
        PAINTED, arg=[0, 1], polling="raf"
    )
    assert_not_blank(ex.painted_layer(0), "the image layer")
    assert_not_blank(ex.painted_layer(1), "the heatmap layer")
    wait_painted(ex.gallery, 0.4)
    assert_not_blank(canvas_image(ex.gallery), "the gallery", 0.4)  # 12 of 20 cells
    assert_view_matches_kernel(ex)
    assert_layout(ex)  # JupyterLab's default: file browser open, 1280 px window
    screenshot(ex.root, "explorer-lab-start")

    # Toggle methods: each draws a different heatmap.
    for method in ("saliency", "integrated_gradients", "grad_cam"):
        toggle(ex, method)

    # Grad-CAM on another layer (a different resolution than the default's).
    values = ex.layer_values()
    assert values[0].startswith("(default: "), values
    other = next(v for v in values[1:] if v.split()[-1] != values[-1].split()[-1])
    ex.arm()
    ex.pick_layer(other)
    layer = other.split()[0]
    page.wait_for_function(
        "(layer) => (document.querySelector('.xw-explorer .xw-status') || {}).innerText"
        ".includes('layer ' + layer)",
        arg=layer,
    )
    ex.wait_map("grad_cam")
    ex.wait_changed()
    screenshot(ex.root, "explorer-lab-grad_cam-layer")

    # Occlusion, then drag its patch slider with the mouse: the map follows, the last value wins.
    toggle(ex, "occlusion")
    assert_layout(ex)  # with the occlusion sliders
    ex.arm()
    before = int(ex.root.locator(".xw-param-patch .widget-readout").inner_text())
    final = int(ex.drag_slider("patch", dx=50))
    assert final > before + 5, (before, final)
    ex.wait_map("occlusion")
    ex.wait_changed()
    patch, method, err = ex.kernel(FINAL_OCCLUSION).split()
    assert (int(patch), method) == (final, "occlusion")
    assert float(err) < 1e-4, f"the map shown is not the final value's map (rel. err {err})"
    assert_view_matches_kernel(ex)
    screenshot(ex.root, "explorer-lab-occlusion-drag")

    # Click-to-occlude: the pointer layer shows the occluded patch, the probe text the change.
    colour = ex.kernel(
        "_sel = explorer.selection\n"
        'print(_sel.preprocess.colour(_sel.param_values("occlusion")["baseline"]))'
    )
    rgb = tuple(int(colour.strip()[i : i + 2], 16) for i in (1, 3, 5))
    ex.click_canvas(ex.main, 160, 160)
    page.wait_for_function(
        "() => /Occluded/.test(document.querySelector('.xw-explorer .xw-probe').innerText)"
    )
    found = PROBE.search(ex.probe_text())
    assert found, ex.probe_text()
    assert int(found[1]) == int(found[2]) == final
    if found[3] is not None:  # a measurable change: the numbers add up
        l0, l1, delta = float(found[4]), float(found[5]), float(found[6])
        assert abs(l1 - l0 - delta) <= 0.01 * max(1.0, abs(l0)), found.groups()
        assert 0 <= float(found[7]) <= 1 and 0 <= float(found[8]) <= 1, found.groups()
    ex.mouse_away()
    pointer = ex.layer(2)
    assert pointer[160, 160, 3] == 255 and colour_close(pointer[160, 160], rgb), pointer[160, 160]
    screenshot(ex.root, "explorer-lab-probe")

    # A thumbnail: the image, the selection and the map change; the probe patch is gone.
    ex.arm(0, 1)
    x, y = thumb_centre(1)
    ex.click_canvas(ex.gallery, x, y)
    ex.wait_changed(0)
    wait_for_pixel(ex.gallery, x - GALLERY_THUMB // 2 - 1, y, SELECTED, tol=24)
    ex.wait_changed(1)
    ex.wait_map("occlusion")
    assert not ex.layer(2)[..., 3].any(), "the probe patch of the previous image is still shown"

    # A region method: its boundaries on the top layer; a click occludes the clicked region.
    toggle(ex, "area_occlusion")
    ex.root.locator(".xw-regions-toggle input[type=checkbox]").check()
    page.wait_for_function(LINES, arg=[3, 0.01], polling="raf")
    ex.click_canvas(ex.main, 160, 160)
    page.wait_for_function(
        "() => /region of \\d+ px/.test(document.querySelector('.xw-explorer .xw-probe').innerText)"
    )
    assert_filled(ex, 2, (160, 160))  # the clicked region, filled on the pointer layer
    screenshot(ex.root, "explorer-lab-regions")

    # A top class: that class is explained (and highlighted).
    toggle(ex, "grad_cam")
    name = ex.class_button(1).inner_text().rsplit(" ", 1)[0].strip()
    ex.arm()
    ex.class_button(1).click()
    page.wait_for_function(
        "(name) => (document.querySelector('.xw-explorer .xw-status') || {}).innerText"
        ".includes('class ' + name)",
        arg=name,
    )
    ex.wait_map("grad_cam")
    ex.wait_changed()
    assert "mod-info" in (ex.class_button(1).get_attribute("class") or "")
    assert_view_matches_kernel(ex)
    screenshot(ex.root, "explorer-lab-class")
    status = ex.status()

    # Save and reload: the new page's canvases are replayed from the kernel's state.
    ex.mouse_away()
    nb.save()
    nb.reload()
    ex = ExplorerPage(page, nb.path)
    wait_visible(page, ".xw-explorer canvas.xw-main-canvas")
    ex.attach()
    page.wait_for_function(PAINTED, arg=[0, 1], polling="raf")
    assert_not_blank(ex.painted_layer(0), "the image layer after reload")
    assert_not_blank(ex.painted_layer(1), "the heatmap layer after reload")
    assert ex.status() == status
    wait_for_pixel(ex.gallery, x - GALLERY_THUMB // 2 - 1, y, SELECTED, tol=24)
    assert_view_matches_kernel(ex)
    screenshot(ex.root, "explorer-lab-reloaded")
    toggle(ex, "saliency")  # the reloaded view still drives the kernel


def test_voila_quickstart_explorer(
    voila_server: Callable[[Path], VoilaServer], browser_page: Page, tmp_path: Path
) -> None:
    notebook = tmp_path / "nb" / QUICKSTART.name
    notebook.parent.mkdir(parents=True)
    shutil.copyfile(QUICKSTART, notebook)
    server = voila_server(notebook)
    page = browser_page
    page.goto(server.app_url)
    ex = ExplorerPage(page)
    wait_visible(page, ".xw-explorer canvas.xw-main-canvas", timeout_ms=180_000)
    ex.wait_map("grad_cam")
    ex.attach()  # Voila: no Lab app, the composite canvas is read
    page.wait_for_function(
        PAINTED, arg=[0], polling="raf"
    )  # replayed: Voila ran the cells before this client connected
    assert_not_blank(ex.layer(0), "the Voila canvas")
    wait_painted(ex.gallery, 0.4)  # each canvas's own state or replay, in any order
    assert_not_blank(canvas_image(ex.gallery), "the Voila gallery", 0.4)

    ex.arm(0)
    ex.click_method("saliency")
    ex.wait_map("saliency")
    ex.wait_changed(0)

    ex.click_canvas(ex.main, 160, 160)
    page.wait_for_function(
        "() => /Occluded/.test(document.querySelector('.xw-explorer .xw-probe').innerText)"
    )
    assert PROBE.search(ex.probe_text()), ex.probe_text()
    screenshot(ex.root, "explorer-voila")
