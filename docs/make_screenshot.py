"""Regenerate ``docs/explorer.png``: the quickstart's Explorer in JupyterLab, as a user sees it.

Runs ``notebooks/01_quickstart.ipynb`` in a throw-away JupyterLab with headless Chromium (the
browser test layer's helpers), hides the file browser, picks a gallery image and a method,
and saves the widget's output area (the ``.xw-explorer`` element).

    python docs/make_screenshot.py [--image 7] [--method grad_cam] [--out docs/explorer.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the browser test layer is the package `browser`

from browser.explorer_page import ExplorerPage  # noqa: E402
from browser.harness import LabNotebook, launch_chromium, start_jupyterlab  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=int, default=7, help="gallery index (shapes: #7)")
    parser.add_argument("--method", default="grad_cam")
    parser.add_argument("--width", type=int, default=1280, help="browser window width")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "explorer.png")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="xw-screenshot-") as tmp:
        server = start_jupyterlab(Path(tmp))
        try:
            with sync_playwright() as pw:
                browser = launch_chromium(pw)
                page = browser.new_page(viewport={"width": args.width, "height": 1100})
                page.set_default_timeout(120_000)
                nb = LabNotebook(
                    page, server, server.add_notebook(REPO / "notebooks" / "01_quickstart.ipynb")
                )
                nb.open()
                page.evaluate(
                    "() => { window.jupyterapp.commands.execute('application:toggle-left-area');"
                    " return true; }"
                )
                nb.run_all()
                ex = ExplorerPage(page, nb.path)
                ex.wait_map()
                nb.wait_executed()
                ex.attach()
                if args.image:
                    ex.arm(1)
                    x, y = 4 + (args.image % 10) * 60 + 28, 4 + (args.image // 10) * 60 + 28
                    ex.click_canvas(ex.gallery, x, y)
                    ex.wait_changed(1)
                    ex.wait_map()
                if "mod-active" not in (ex.method_button(args.method).get_attribute("class") or ""):
                    ex.click_method(args.method)
                    ex.wait_map(args.method)
                ex.mouse_away()
                page.evaluate("() => document.activeElement && document.activeElement.blur()")
                page.wait_for_timeout(500)  # let the last frame paint (no condition to wait on)
                ex.root.scroll_into_view_if_needed()
                args.out.parent.mkdir(parents=True, exist_ok=True)
                ex.root.screenshot(path=str(args.out))
                print(f"saved {args.out} ({ex.status()})")
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
