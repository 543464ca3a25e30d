"""Drive the Explorer in a real page: its controls, its canvas layers, its kernel (tests, bench).

The main canvas is an ipycanvas ``MultiCanvas``; in ipycanvas 0.14 its view is one ``<canvas>``
(``.xw-main-canvas``) showing the composite, while each layer lives in its own model as a
detached ``<canvas>`` (image, heatmap drawn with ``global_alpha``, pointer). In JupyterLab
:meth:`ExplorerPage.attach` finds the view through the Lumino widget tree of the notebook and
keeps the layer canvases in ``window.__xwLayers``, so a test reads the heatmap layer itself; in
Voila (no ``window.jupyterapp``) the composite is read instead. The heatmap layer's pixels carry
the overlay opacity as alpha (getImageData un-premultiplies them), so tests compare "changed vs
before" with a tolerance, never exact colours.

Example::

    ex = ExplorerPage(page, lab_path="01_quickstart.ipynb")
    ex.wait_map()
    ex.attach()
    ex.arm()                              # remember the heatmap layer
    ex.click_method("saliency")
    ex.wait_map("saliency")
    ex.wait_changed()                     # the heatmap layer pixels changed
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import numpy as np
from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from .lab import rerun_lost_displays

MAP_TIMEOUT_MS = 120_000  # a first map on a busy 2-core machine, kernel start included
CHANGE_TOLERANCE = 8  # levels; JPEG and alpha rounding stay well below this
MIN_CHANGED = 0.005  # fraction of pixels that must change to call a layer "changed"

# window.__xwTarget(i): layer i of the main canvas in Lab, else the composite <canvas>.
_PROLOGUE = """
window.__xwTarget = window.__xwTarget || ((i) => (window.__xwLayers
    ? window.__xwLayers[i] : document.querySelector('.xw-explorer canvas.xw-main-canvas')));
window.__xwRead = window.__xwRead || ((el) =>
    el.getContext('2d').getImageData(0, 0, el.width, el.height).data);
window.__xwDiff = window.__xwDiff || ((a, b, tol) => {
    let n = 0;
    for (let i = 0; i < a.length; i += 4) {
        if (Math.abs(a[i] - b[i]) > tol || Math.abs(a[i + 1] - b[i + 1]) > tol
            || Math.abs(a[i + 2] - b[i + 2]) > tol || Math.abs(a[i + 3] - b[i + 3]) > tol) n++;
    }
    return n;
});
"""

_ATTACH = """(path) => {
    const app = window.jupyterapp;
    const panel = app && Array.from(app.shell.widgets('main'))
        .find(w => w.context && w.context.path === path);
    if (!panel) return 'notebook not open: ' + path;
    const views = {};
    const walk = (w) => {
        if (w._view && w._view.model) {
            for (const c of (w._view.model.get('_dom_classes') || [])) {
                if (c.startsWith('xw-') && !(c in views)) views[c] = w._view;  // the first
            }
        }
        for (const c of Array.from(w.children ? w.children() : [])) walk(c);
    };
    walk(panel.content);
    const main = views['xw-main-canvas'];
    if (!main) return 'no xw-main-canvas view yet';
    window.__xwLayers = main.model.get('_canvases').map(m => m.canvas);
    return true;
}"""

_KERNEL_EXEC = """async ([path, code, timeoutMs]) => {
    const app = window.jupyterapp;
    const panel = Array.from(app.shell.widgets('main'))
        .find(w => w.context && w.context.path === path);
    const kernel = panel.sessionContext.session.kernel;
    const future = kernel.requestExecute({code, silent: false, store_history: false});
    const out = [];
    future.onIOPub = (msg) => {
        const t = msg.header.msg_type;
        if (t === 'stream') out.push(msg.content.text);
        else if (t === 'execute_result') out.push(msg.content.data['text/plain']);
        else if (t === 'error') out.push(`${msg.content.ename}: ${msg.content.evalue}`);
    };
    let timer;
    const late = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('kernel did not answer')), timeoutMs);
    });
    try {
        const reply = await Promise.race([future.done, late]);
        return {status: reply.content.status, out: out.join('')};
    } finally {
        clearTimeout(timer);
    }
}"""

# The status text of the first Explorer (JS expression).
_STATUS_TEXT = (
    "((document.querySelector('.xw-explorer .xw-status .widget-html-content') || {}).innerText"
    " || '')"
)
_STATUS = f"() => {_STATUS_TEXT}"

_MAP_SHOWN = """(method) => {
    const outputs = Array.from(document.querySelectorAll('.jp-OutputArea-output'));
    if (outputs.some(n => n.innerText.includes('Error displaying widget'))) return 'lost';
    const s = STATUS_TEXT;
    const err = (document.querySelector('.xw-explorer .xw-error') || {}).innerText || '';
    if (err.trim()) return 'error: ' + err;
    const tag = document.querySelector('.xw-explorer .xw-status [data-method]');
    return /\\d+ ms/.test(s) && !/refining|cancelled/.test(s)
        && (!method || (tag !== null && tag.dataset.method === method));
}""".replace("STATUS_TEXT", _STATUS_TEXT)

# Timing of one action, all in the page: t0 in a capturing listener of the first of `events`,
# then every animation frame: `first` = the layer changed, `done` = changed and the status shows
# a finished map (and, with needStatus, a status other than before).
_ARM_TIMING = """([events, layer, tol, minFraction, needStatus, timeoutMs]) => {
    const el = window.__xwTarget(layer);
    const before = window.__xwRead(el);
    const minPixels = Math.ceil(minFraction * el.width * el.height);
    const statusText = () => STATUS_TEXT;
    const s0 = statusText();
    const state = {t0: null, first: null, firstStatus: null, done: null, status: null,
                   timedOut: false, error: null};
    window.__xwTiming = state;
    const tick = () => {
        if (window.__xwTiming !== state) return;
        const now = performance.now();
        const changed = window.__xwDiff(window.__xwRead(el), before, tol) >= minPixels;
        const s = statusText();
        if (state.first === null && changed) {
            state.first = now - state.t0;
            state.firstStatus = s;
        }
        const finished = /\\d+ ms/.test(s) && !/refining/.test(s) && (!needStatus || s !== s0);
        if (/^error in/.test(s) && s !== s0) {  // the Explorer shows an error, no map
            state.error = (document.querySelector('.xw-explorer .xw-error') || {}).innerText;
            state.status = s;
        } else if (state.first !== null && finished) {
            state.done = now - state.t0;
            state.status = s;
        } else if (now - state.t0 > timeoutMs) {
            state.timedOut = true;
            state.status = s;
        } else {
            requestAnimationFrame(tick);
        }
    };
    const start = () => {
        if (state.t0 !== null) return;
        state.t0 = performance.now();
        requestAnimationFrame(tick);
    };
    for (const name of events) window.addEventListener(name, start, {capture: true, once: true});
    return true;
}""".replace("STATUS_TEXT", _STATUS_TEXT)


class MapError(AssertionError):
    """The Explorer showed an error instead of a map (its ``xw-error`` text)."""


@dataclass(frozen=True)
class Timing:
    """One timed action: ms from the user's event to the first change of the layer and to the
    finished map, and the status lines then (they carry the Python-side compute ms)."""

    first_ms: float
    done_ms: float
    first_status: str
    status: str

    @property
    def python_ms(self) -> float | None:
        """Python-side compute time of the finished map, as the status line reports it."""
        return _status_ms(self.status)

    @property
    def python_first_ms(self) -> float | None:
        """Python-side time of the first map drawn (occlusion: the coarse one)."""
        return _status_ms(self.first_status)


def _status_ms(status: str) -> float | None:
    found = re.findall(r"(\d+) ms", status or "")
    return float(found[-1]) if found else None


class ExplorerPage:
    """The first Explorer on a page (JupyterLab when ``lab_path`` is given, else Voila)."""

    def __init__(self, page: Page, lab_path: str | None = None) -> None:
        self.page = page
        self.lab_path = lab_path
        self.root = page.locator(".xw-explorer").first

    # ------------------------------------------------------------------ locators
    @property
    def main(self) -> Locator:
        return self.root.locator("canvas.xw-main-canvas")

    @property
    def gallery(self) -> Locator:
        return self.root.locator("canvas.xw-gallery")

    def method_button(self, name: str) -> Locator:
        return self.root.locator(f".xw-method-{name}")

    def class_button(self, rank: int) -> Locator:
        return self.root.locator(f".xw-class-{rank}")

    def status(self) -> str:
        return self.page.evaluate(_STATUS) or ""

    def probe_text(self) -> str:
        return self.root.locator(".xw-probe").inner_text()

    # ------------------------------------------------------------------ waiting
    def wait_map(self, method: str | None = None, timeout_ms: int = MAP_TIMEOUT_MS) -> str:
        """Wait until the status shows a finished map (of ``method``); fail on an error. A
        display lost to ipywidgets' restore race (an upstream bug, harness.WIDGET_RESTORE_RACE)
        is re-run once in JupyterLab, and said so on stdout."""
        for attempt in (1, 2):
            try:
                handle = self.page.wait_for_function(
                    _MAP_SHOWN, arg=method, timeout=timeout_ms, polling=100
                )
            except PlaywrightTimeoutError as exc:
                what = f"no finished {method or ''} map; status {self.status()!r}"
                raise AssertionError(what) from exc
            outcome = handle.json_value()
            if outcome == "lost" and attempt == 1 and self.lab_path is not None:
                rerun_lost_displays(self.page, self.lab_path)
                continue
            break
        assert outcome is True, outcome
        return self.status()

    def attach(self, timeout_ms: int = MAP_TIMEOUT_MS) -> None:
        """Find the main canvas's layers (JupyterLab only; Voila reads the composite)."""
        self.page.evaluate(f"() => {{ {_PROLOGUE} }}")
        if self.lab_path is None:
            return
        self.page.wait_for_function(
            f"(path) => ({_ATTACH})(path) === true",
            arg=self.lab_path,
            timeout=timeout_ms,
            polling=200,
        )

    @property
    def has_layers(self) -> bool:
        return bool(self.page.evaluate("() => !!window.__xwLayers"))

    def layer(self, index: int) -> np.ndarray:
        """RGBA (H, W, 4) of layer ``index`` (0 image, 1 heatmap, 2 pointer), or of the
        composite when the layers are not reachable (Voila)."""
        b64, width, height = self.page.evaluate(
            """(i) => {
                const el = window.__xwTarget(i);
                const d = window.__xwRead(el);
                let s = '';
                for (let k = 0; k < d.length; k += 0x8000) {
                    s += String.fromCharCode.apply(null, d.subarray(k, k + 0x8000));
                }
                return [btoa(s), el.width, el.height];
            }""",
            index,
        )
        return np.frombuffer(base64.b64decode(b64), np.uint8).reshape(height, width, 4)

    def painted_layer(
        self, index: int, painted: float = 0.9, timeout_ms: int = 30_000
    ) -> np.ndarray:
        """Layer ``index`` as soon as more than ``painted`` of it is opaque, read in the same
        browser task as the check (a replay may clear a layer and redraw it a frame later, so a
        check followed by a separate read can catch the gap); on timeout the layer as it is."""
        try:
            handle = self.page.wait_for_function(
                """([i, painted]) => {
                    const el = window.__xwTarget(i);
                    const d = window.__xwRead(el);
                    let n = 0;
                    for (let k = 3; k < d.length; k += 4) if (d[k] > 0) n++;
                    if (n <= painted * d.length / 4) return false;
                    let s = '';
                    for (let k = 0; k < d.length; k += 0x8000) {
                        s += String.fromCharCode.apply(null, d.subarray(k, k + 0x8000));
                    }
                    return [btoa(s), el.width, el.height];
                }""",
                arg=[index, painted],
                polling="raf",
                timeout=timeout_ms,
            )
        except PlaywrightTimeoutError:
            return self.layer(index)
        b64, width, height = handle.json_value()
        return np.frombuffer(base64.b64decode(b64), np.uint8).reshape(height, width, 4)

    def arm(self, *layers: int) -> None:
        """Remember the given layers (default: the heatmap) now, for :meth:`wait_changed`."""
        self.page.evaluate(
            """(layers) => {
                window.__xwBefore = {};
                for (const i of layers) {
                    window.__xwBefore[i] = window.__xwRead(window.__xwTarget(i));
                }
            }""",
            list(layers or (1,)),
        )

    def wait_changed(
        self, layer: int = 1, min_fraction: float = MIN_CHANGED, timeout_ms: int = MAP_TIMEOUT_MS
    ) -> int:
        """Wait until ``layer`` differs from what :meth:`arm` saw; return the count of changed
        pixels."""
        try:
            self.page.wait_for_function(
                """([i, tol, minFraction]) => {
                    const el = window.__xwTarget(i);
                    const n = window.__xwDiff(window.__xwRead(el), window.__xwBefore[i], tol);
                    return n >= Math.ceil(minFraction * el.width * el.height);
                }""",
                arg=[layer, CHANGE_TOLERANCE, min_fraction],
                polling="raf",
                timeout=timeout_ms,
            )
        except PlaywrightTimeoutError as exc:
            what = f"layer {layer} did not change; status {self.status()!r}"
            raise AssertionError(what) from exc
        return self.changed_pixels(layer)

    def changed_pixels(self, layer: int = 1) -> int:
        return int(
            self.page.evaluate(
                """([i, tol]) => window.__xwDiff(
                    window.__xwRead(window.__xwTarget(i)), window.__xwBefore[i], tol)""",
                [layer, CHANGE_TOLERANCE],
            )
        )

    # ------------------------------------------------------------------ acting
    def click_method(self, name: str) -> None:
        self.method_button(name).click()

    def layer_values(self) -> list[str]:
        """The layer dropdown's option values, in order (the first is the default)."""
        return self.root.locator(".xw-param-layer select").evaluate(
            "el => Array.from(el.options).map(o => o.value)"
        )

    def pick_layer(self, value: str) -> None:
        self.root.locator(".xw-param-layer select").select_option(value=value)

    def drag_slider(self, name: str, dx: float, steps: int = 12) -> str:
        """Drag the handle of slider ``xw-param-<name>`` by ``dx`` CSS px with the mouse, in
        ``steps`` moves; return the value its readout shows afterwards."""
        handle = self.root.locator(f".xw-param-{name} .noUi-handle")
        handle.scroll_into_view_if_needed()
        box = handle.bounding_box()
        assert box is not None, f"slider {name} is not visible"
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        mouse = self.page.mouse
        mouse.move(x, y)
        mouse.down()
        for i in range(1, steps + 1):
            mouse.move(x + dx * i / steps, y)
            self.page.wait_for_timeout(40)  # a hand, not a teleport: the kernel sees each value
        mouse.up()
        return self.root.locator(f".xw-param-{name} .widget-readout").inner_text().strip()

    def canvas_point(self, locator: Locator, x: float, y: float) -> tuple[float, float]:
        """Page coordinates of canvas pixel (x, y) of ``locator`` (scaled by its CSS size)."""
        locator.scroll_into_view_if_needed()
        box = locator.bounding_box()
        assert box is not None
        width, height = locator.evaluate("el => [el.width, el.height]")
        return (
            box["x"] + (x + 0.5) * box["width"] / width,
            box["y"] + (y + 0.5) * box["height"] / height,
        )

    def click_canvas(self, locator: Locator, x: float, y: float) -> None:
        self.page.mouse.click(*self.canvas_point(locator, x, y))

    def mouse_away(self) -> None:
        """Move the mouse off every canvas (its pointer outline would change the pixels)."""
        self.page.mouse.move(2, 2)

    # ------------------------------------------------------------------ timing
    def arm_timing(
        self,
        events: tuple[str, ...] = ("mousedown",),
        need_status_change: bool = True,
        timeout_ms: int = MAP_TIMEOUT_MS,
        layer: int = 1,
    ) -> None:
        self.page.evaluate(
            _ARM_TIMING,
            [list(events), layer, CHANGE_TOLERANCE, MIN_CHANGED, need_status_change, timeout_ms],
        )

    def timing(self, timeout_ms: int = MAP_TIMEOUT_MS + 10_000) -> Timing:
        """Wait for the action armed by :meth:`arm_timing` and return its timing."""
        self.page.wait_for_function(
            "() => window.__xwTiming && (window.__xwTiming.done !== null"
            " || window.__xwTiming.timedOut || window.__xwTiming.error !== null)",
            timeout=timeout_ms,
            polling=100,
        )
        state = self.page.evaluate("() => window.__xwTiming")
        self.page.evaluate("() => { window.__xwTiming = null; }")
        if state["error"] is not None:
            raise MapError(state["error"].strip())
        if state["timedOut"]:
            raise AssertionError(f"no finished map after the action: {state}")
        return Timing(state["first"], state["done"], state["firstStatus"], state["status"])

    # ------------------------------------------------------------------ kernel (Lab)
    def kernel(self, code: str, timeout_ms: int = 60_000) -> str:
        """Run ``code`` in the notebook's kernel (not in a cell); return its printed output."""
        assert self.lab_path is not None, "the kernel is reachable in JupyterLab only"
        reply = self.page.evaluate(_KERNEL_EXEC, [self.lab_path, code, timeout_ms])
        assert reply["status"] == "ok", reply
        return reply["out"]
