"""Read, click and time an ipycanvas ``Canvas`` in the page (canvas px, not CSS px).

An ipycanvas view's element is the ``<canvas>`` itself; give it a CSS class from Python
(``canvas.add_class("xw-main-canvas")``) and pass ``page.locator(".xw-main-canvas")`` here.
Coordinates are canvas pixels; clicks are mapped to CSS pixels with
``bounding_box().width / canvas.width``. Pixels are compared with +-``PIXEL_TOLERANCE`` levels.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np
from playwright.sync_api import Locator
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

PIXEL_TIMEOUT_MS = 30_000
PIXEL_TOLERANCE = 4


def colour_close(a: Sequence[int], b: Sequence[int], tol: int = PIXEL_TOLERANCE) -> bool:
    """True when the first ``len(b)`` channels of ``a`` are within ``tol`` levels of ``b``."""
    return all(abs(int(x) - int(y)) <= tol for x, y in zip(a, b, strict=False))


def canvas_pixel(canvas: Locator, x: int, y: int) -> tuple[int, int, int, int]:
    """RGBA at canvas pixel (x, y), read in the page with ``getImageData``."""
    data = canvas.evaluate(
        "(el, [x, y]) => Array.from(el.getContext('2d').getImageData(x, y, 1, 1).data)", [x, y]
    )
    r, g, b, a = data
    return (r, g, b, a)


def canvas_image(
    canvas: Locator, x: int = 0, y: int = 0, w: int | None = None, h: int | None = None
) -> np.ndarray:
    """RGBA uint8 array (h, w, 4) of a canvas region (all of it by default), read in the page."""
    b64, width, height = canvas.evaluate(
        """(el, [x, y, w, h]) => {
            w = w ?? el.width - x;
            h = h ?? el.height - y;
            const d = el.getContext('2d').getImageData(x, y, w, h).data;
            let s = '';
            for (let i = 0; i < d.length; i += 0x8000) {
                s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
            }
            return [btoa(s), w, h];
        }""",
        [x, y, w, h],
    )
    return np.frombuffer(base64.b64decode(b64), dtype=np.uint8).reshape(height, width, 4)


def canvas_to_page(canvas: Locator, x: float, y: float) -> tuple[float, float]:
    """Page (CSS px) coordinates of the centre of canvas pixel (x, y).

    The scale is ``bounding_box().width / canvas.width`` (and the same for the height).
    """
    box = canvas.bounding_box()
    assert box is not None, "canvas is not visible"
    width, height = canvas.evaluate("el => [el.width, el.height]")
    sx, sy = box["width"] / width, box["height"] / height
    return box["x"] + (x + 0.5) * sx, box["y"] + (y + 0.5) * sy


def click_canvas(canvas: Locator, x: float, y: float) -> None:
    """Click canvas pixel (x, y) with the mouse (mousedown + mouseup at the mapped point)."""
    canvas.scroll_into_view_if_needed()
    px, py = canvas_to_page(canvas, x, y)
    canvas.page.mouse.click(px, py)


def wait_for_pixel(
    canvas: Locator,
    x: int,
    y: int,
    rgb: Sequence[int],
    tol: int = PIXEL_TOLERANCE,
    timeout_ms: int = PIXEL_TIMEOUT_MS,
) -> None:
    """Wait (polling every animation frame) until pixel (x, y) is ``rgb`` within ``tol``."""
    handle = canvas.element_handle(timeout=timeout_ms)
    try:
        canvas.page.wait_for_function(
            """([el, x, y, rgb, tol]) => {
                const p = el.getContext('2d').getImageData(x, y, 1, 1).data;
                return rgb.every((v, i) => Math.abs(p[i] - v) <= tol);
            }""",
            arg=[handle, x, y, list(rgb), tol],
            polling="raf",
            timeout=timeout_ms,
        )
    except PlaywrightTimeoutError as exc:
        actual = canvas_pixel(canvas, x, y)
        raise AssertionError(f"pixel ({x}, {y}) is {actual}, expected {tuple(rgb)}") from exc
    finally:
        handle.dispose()


_ARM_LATENCY = """(el, [x, y, tol]) => {
    const ctx = el.getContext('2d');
    const read = () => Array.from(ctx.getImageData(x, y, 1, 1).data);
    const base = read();
    const state = {t0: null, ms: null, before: base, after: null};
    window.__xwLatency = state;
    window.addEventListener('mousedown', () => {
        state.t0 = performance.now();
        const tick = () => {
            const p = read();
            if (p.some((v, i) => Math.abs(v - base[i]) > tol)) {
                state.ms = performance.now() - state.t0;
                state.after = p;
            } else if (window.__xwLatency === state) {
                requestAnimationFrame(tick);
            }
        };
        requestAnimationFrame(tick);
    }, {capture: true, once: true});
}"""


def measure_click_latency(
    canvas: Locator,
    x: int,
    y: int,
    probe: tuple[int, int] | None = None,
    tol: int = PIXEL_TOLERANCE,
    timeout_ms: int = PIXEL_TIMEOUT_MS,
) -> float:
    """Click canvas pixel (x, y); ms from the page's ``mousedown`` until ``probe`` pixels change.

    Timed inside the page: ``performance.now()`` in a capturing listener, then polled on every
    animation frame (so the figure is rounded up to the next frame).
    """
    px, py = probe if probe is not None else (x, y)
    canvas.scroll_into_view_if_needed()
    canvas.evaluate(_ARM_LATENCY, [px, py, tol])
    click_canvas(canvas, x, y)
    page = canvas.page
    try:
        page.wait_for_function("() => window.__xwLatency.ms !== null", timeout=timeout_ms)
        return float(page.evaluate("() => window.__xwLatency.ms"))
    except PlaywrightTimeoutError as exc:
        state = page.evaluate("() => window.__xwLatency")
        raise AssertionError(f"pixel ({px}, {py}) never changed after the click: {state}") from exc
    finally:
        page.evaluate("() => { window.__xwLatency = null; }")


def wait_painted(canvas: Locator, painted: float, timeout_ms: int = PIXEL_TIMEOUT_MS) -> None:
    """Wait until more than ``painted`` of the canvas's pixels are opaque: a canvas that a late
    client draws (its stored state or its replay) is waited for on its own, whatever the order
    in which the page's canvases come up."""
    try:
        canvas.evaluate(
            """(el, [painted, timeoutMs]) => new Promise((resolve, reject) => {
                const start = performance.now();
                const tick = () => {
                    const d = el.getContext('2d').getImageData(0, 0, el.width, el.height).data;
                    let n = 0;
                    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                    if (n > painted * el.width * el.height) return resolve(true);
                    if (performance.now() - start > timeoutMs) return reject(new Error('blank'));
                    requestAnimationFrame(tick);
                };
                tick();
            })""",
            [painted, timeout_ms],
        )
    except Exception as exc:  # the page's rejection or Playwright's own timeout
        raise AssertionError(f"the canvas stayed blank for {timeout_ms} ms") from exc
