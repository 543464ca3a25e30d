"""The Evaluate tab in a real browser (issue 13): from picking a new method to its curves on
screen.

JupyterLab + headless Chromium, as in ``tests/browser`` and ``bench_browser.py``. Per zoo model
an Explorer is opened on its Evaluate tab (MoRF / LeRF curves, the tab's defaults). Each round
picks another method in the tab's own method picker (``.xw-eval-method select``); the time is
taken inside the page: ``performance.now()`` in a capturing ``change`` listener, then every
animation frame until the curve plot (``.xw-eval-plot``) shows a new, decoded picture and the
tab's status line names the method. The method's map, its two curves and the random map's two
curves are all computed in that time (nothing is cached across methods: each pick is a method
not shown just before). The Python-side time from the status line is printed beside it.

    python benchmarks/bench_browser_evaluate.py [--repeat 8]
        [--models shapes,counting,textures,shapes_vit] [--methods saliency,grad_cam,...]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the browser test layer is the package `browser`
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_browser import ZOO, ZOO_CELL, lab_page, open_explorer  # noqa: E402
from browser.explorer_page import ExplorerPage  # noqa: E402
from playwright.sync_api import Page  # noqa: E402

TARGET_MS = 500.0
METHODS = "saliency,grad_cam,input_x_gradient,guided_backprop,grad_cam_pp,integrated_gradients"

_ARM = """([sel, plotSel, statusSel, label]) => {
  const select = document.querySelector(sel);
  const img = document.querySelector(plotSel);
  const status = document.querySelector(statusSel);
  const before = img.src;
  const state = {start: null, done: null, status: null};
  window.__xwEval = state;
  select.addEventListener('change', () => { state.start = performance.now(); },
                          {capture: true, once: true});
  const tick = () => {
    if (state.start !== null) {
      const text = status ? status.innerText : '';
      if (img.src !== before && img.complete && img.naturalWidth > 0 && text.includes(label)) {
        state.done = performance.now() - state.start;
        state.status = text;
        return;
      }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


def labels(ex: ExplorerPage) -> dict[str, str]:
    """Method name -> label, from the kernel (the picker shows labels)."""
    out = ex.kernel(
        "from xai_widgets.methods.registry import get_method, list_methods\n"
        "print('|'.join(m + '=' + get_method(m).label for m in list_methods()))"
    )
    return dict(item.split("=", 1) for item in out.strip().split("|"))


def open_tab(page: Page) -> None:
    tab = page.locator(".xw-explorer .lm-TabBar-tab", has_text="Evaluate").first
    tab.click()
    page.wait_for_function(
        "() => { const i = document.querySelector('.xw-eval-plot');"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=300_000,
    )


def pick(page: Page, method: str, label: str) -> tuple[float, float | None]:
    """Pick ``method`` in the tab's picker; (browser ms, Python ms from the status line)."""
    root = ".xw-explorer"
    page.evaluate(
        _ARM,
        [f"{root} .xw-eval-method select", f"{root} .xw-eval-plot",
         f"{root} .xw-eval-tab .xw-view-status", label],
    )  # fmt: skip
    page.locator(f"{root} .xw-eval-method select").select_option(label=label)
    page.wait_for_function(
        "() => window.__xwEval && window.__xwEval.done !== null", timeout=120_000, polling=50
    )
    state = page.evaluate("() => window.__xwEval")
    found = re.search(r"·\s*([\d.]+)\s*ms", state["status"] or "")
    return state["done"], float(found.group(1)) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=8, help="timed picks per model")
    parser.add_argument("--models", default=",".join(ZOO))
    parser.add_argument("--methods", default=METHODS)
    args = parser.parse_args()
    methods = args.methods.split(",")
    rows = []
    started = time.monotonic()
    with lab_page("xw-bench-evaluate-", height=1100) as (page, server, base):
        for model in [m for m in args.models.split(",") if m]:
            print(f"{model}: opening", flush=True)
            source = ZOO_CELL.format(name=model)
            nb = open_explorer(page, server, base / "nb", model, source)
            ex = ExplorerPage(page, nb.path)
            names = labels(ex)
            open_tab(page)
            times, py = [], []
            for r in range(args.repeat + 1):  # round 0: warm-up
                method = methods[r % len(methods)]
                if method == ex.kernel("print(explorer.selection.method)").strip():
                    method = methods[(r + 1) % len(methods)]
                ms, py_ms = pick(page, method, names[method])
                print(f"  {model:10s} {method:22s} {ms:7.0f} ms  (py {py_ms} ms)")
                if r > 0:
                    times.append(ms)
                    if py_ms is not None:
                        py.append(py_ms)
            rows.append((model, statistics.median(times), max(times),
                         statistics.median(py) if py else float("nan")))  # fmt: skip
            server.shutdown_sessions(nb.path)
    print(f"\nJupyterLab + headless Chromium, CPU; {time.monotonic() - started:.0f} s in all.")
    print("ms from picking a method in the Evaluate tab to its curves on screen")
    print(f"(map + MoRF/LeRF of the method and of a random map); target p50 <= {TARGET_MS:.0f}\n")
    print(f"{'model':12s} {'p50 ms':>8s} {'max ms':>8s} {'py p50':>8s}  met")
    for model, p50, worst, py50 in rows:
        met = "yes" if p50 <= TARGET_MS else "NO"
        print(f"{model:12s} {p50:8.0f} {worst:8.0f} {py50:8.0f}  {met}")


if __name__ == "__main__":
    main()
