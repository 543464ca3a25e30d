"""Explorer latency in a real browser (issue 4): from the user's click to changed heatmap pixels.

JupyterLab + headless Chromium, as in ``tests/browser``. Each action is timed inside the page:
``performance.now()`` in a capturing listener of the user's event (``mousedown`` on a method
toggle, a top-class button or a gallery thumbnail; ``change`` of the layer dropdown), then every
animation frame until the heatmap layer of the main canvas changed (``first``) and the status
line shows the finished map (``done``; occlusion draws a coarse map first and refines it). The
Python-side compute time that the status line reports is printed beside it.

Per model (zoo ``shapes``, ``counting``, ``textures`` when their weights exist; torchvision
``resnet18(weights=None)`` at 224 px on scikit-image photos):

- every gradient and CAM method, toggled ``--repeat`` times alternating with another method
  (the first round is a warm-up, not counted; slow methods stop at ``--budget-s``);
- a class switch (top-class buttons) and a Grad-CAM layer switch, vs a fresh map (a gallery
  click on an image that is not cached, same method): the cache should make a switch cheap;
- occlusion: the first (coarse) map vs the finished one.

The floor is the bare ipycanvas round trip of ``tests/browser/test_harness.py`` (a click, a
Python callback, ``put_image_data`` of 200x200 RGBA, pixels changed).

    python benchmarks/bench_browser.py [--repeat 10] [--resnet-repeat 3] [--budget-s 25]
        [--models shapes,counting,textures,resnet18] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the browser test layer is the package `browser`

from browser.explorer_page import ExplorerPage, MapError, Timing  # noqa: E402
from browser.harness import (  # noqa: E402
    LabNotebook,
    launch_chromium,
    measure_click_latency,
    start_jupyterlab,
    wait_for_pixel,
    wait_visible,
    write_notebook,
)
from browser.test_harness import BG, GRID, SELECTOR, write_canvas_notebook  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402

import xai_widgets as xw  # noqa: E402

TOGGLE_TARGET_MS = 100.0
SWITCH_RATIO = 0.3  # class / layer switch vs a fresh map
COARSE_RATIO = 0.25  # occlusion's first map vs the finished one
ZOO = ("shapes", "counting", "textures", "shapes_vit")

ZOO_CELL = """\
import xai_widgets as xw
explorer = xw.Explorer.from_zoo({name!r})
explorer"""

RESNET_CELL = """\
import torch
from torchvision.models import resnet18
import xai_widgets as xw
from xai_widgets import data, zoo

torch.manual_seed(0)
card = zoo.imagenet_card("resnet18")
photos = data.sample_images()
explorer = xw.Explorer(resnet18(weights=None).eval(), list(photos.values()),
                       classes=card.classes, preprocess=card, names=list(photos))
explorer"""


@dataclass
class Series:
    """Timings of one action on one model."""

    model: str
    action: str
    timings: list[Timing] = field(default_factory=list)
    cold: Timing | None = None  # the warm-up round
    error: str | None = None  # the Explorer showed this instead of a map

    def add(self, round_: int, timing: Timing) -> None:
        """Round 0 is the warm-up (kept apart as ``cold``), the others are counted."""
        if round_ == 0:
            self.cold = timing
        else:
            self.timings.append(timing)

    def p(self, q: float, attr: str = "done_ms") -> float:
        values = sorted(v for v in (getattr(t, attr) for t in self.timings) if v is not None)
        if not values:
            return float("nan")
        k = (len(values) - 1) * q
        lo, hi = int(k), min(int(k) + 1, len(values) - 1)
        return values[lo] + (values[hi] - values[lo]) * (k - lo)


def timed(ex: ExplorerPage, act: Callable[[], None], events=("mousedown",), status=True) -> Timing:
    ex.arm_timing(events, need_status_change=status, timeout_ms=600_000)
    act()
    return ex.timing(timeout_ms=610_000)


def select_method(ex: ExplorerPage, method: str) -> None:
    if "mod-active" not in (ex.method_button(method).get_attribute("class") or ""):
        timed(ex, lambda: ex.click_method(method))


def measure_toggles(ex, model, methods, repeat, budget_s, log) -> list[Series]:
    out = []
    for method in methods:
        partner = "saliency" if method == "grad_cam" else "grad_cam"
        series = Series(model, f"toggle {method}")
        if ex.method_button(method).is_disabled():  # does not apply here, says why on hover
            series.error = ex.method_button(method).get_attribute("title") or "disabled"
            log(series)
            out.append(series)
            continue
        start = time.monotonic()
        for r in range(repeat + 1):
            select_method(ex, partner)
            try:
                t = timed(ex, lambda m=method: ex.click_method(m))
            except MapError as exc:  # e.g. CAM on a head that is not GAP + linear
                series.error = str(exc)
                break
            series.add(r, t)
            if r >= 1 and time.monotonic() - start > budget_s:
                break
        log(series)
        out.append(series)
    return out


def measure_class_switch(ex, model, repeat, log) -> Series:
    select_method(ex, "grad_cam")
    series = Series(model, "class switch (grad_cam)")
    for r in range(repeat + 1):
        t = timed(ex, lambda r=r: ex.class_button(1 - r % 2).click())
        series.add(r, t)
    log(series)
    return series


def measure_fresh_image(ex, model, n_images, repeat, log) -> Series:
    """Gallery clicks, each on an image that left the Explorer's 3-image cache."""
    select_method(ex, "grad_cam")
    series = Series(model, "fresh image (gallery, grad_cam)")
    current = 0
    for r in range(repeat + 1):
        current = (current + 1) % n_images
        x, y = 4 + (current % 10) * 60 + 28, 4 + (current // 10) * 60 + 28
        t = timed(ex, lambda x=x, y=y: ex.click_canvas(ex.gallery, x, y), status=False)
        series.add(r, t)
    log(series)
    return series


def measure_layer_switch(ex, model, repeat, log) -> Series:
    select_method(ex, "grad_cam")
    values = ex.layer_values()
    default = values[0].removeprefix("(default: ").rstrip(")")
    others = [v for v in values[1:] if v.split()[0] != default]  # a switch must change the map
    width = {v: int(v.split()[-1]) for v in others}  # "name - Type - C x H x W"
    smallest = min(w for w in width.values() if w > 1)
    mid = [v for v in others if width[v] == 2 * smallest] or others[:-1]
    pair = [values[0], mid[-1]]  # the default "(default: ...)" and a finer one
    series = Series(model, f"layer switch (grad_cam, last <-> {mid[-1].split()[0]})")
    for r in range(repeat + 1):
        value = pair[(r + 1) % 2]
        t = timed(ex, lambda v=value: ex.pick_layer(v), events=("change",))
        series.add(r, t)
    if pair[(repeat + 1) % 2] != values[0]:
        timed(ex, lambda: ex.pick_layer(values[0]), events=("change",))
    log(series)
    return series


def measure_occlusion(ex, model, repeat, budget_s, log) -> Series:
    series = Series(model, "occlusion (first = coarse map)")
    start = time.monotonic()
    for r in range(repeat + 1):
        select_method(ex, "grad_cam")
        t = timed(ex, lambda: ex.click_method("occlusion"))
        series.add(r, t)
        if r >= 1 and time.monotonic() - start > budget_s:
            break
    log(series)
    return series


def open_explorer(page: Page, server, root: Path, name: str, source: str) -> LabNotebook:
    nb = LabNotebook(
        page, server, server.add_notebook(write_notebook(root / f"{name}.ipynb", [source]))
    )
    nb.open()
    nb.run_all()
    ex = ExplorerPage(page, nb.path)
    ex.wait_map(timeout_ms=300_000)
    nb.wait_executed(timeout_ms=300_000)
    ex.attach()
    ex.mouse_away()
    return nb


@contextmanager
def lab_page(prefix: str, height: int = 1000) -> Iterator[tuple[Page, object, Path]]:
    """(page, JupyterLab server, scratch folder): a JupyterLab server and a headless Chromium
    page on it, both stopped on exit."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        base = Path(tmp)
        server = start_jupyterlab(base / "lab")
        try:
            with sync_playwright() as pw:
                browser = launch_chromium(pw)
                context = browser.new_context(viewport={"width": 1280, "height": height})
                context.set_default_timeout(120_000)
                yield context.new_page(), server, base
                browser.close()
        finally:
            server.stop()


def measure_floor(page: Page, server, root: Path, n: int) -> list[float]:
    nb = LabNotebook(page, server, server.add_notebook(write_canvas_notebook(root / "floor.ipynb")))
    nb.open()
    nb.run_all()
    nb.wait_executed()
    canvas = wait_visible(page, SELECTOR)
    wait_for_pixel(canvas, 100, 100, BG)
    values = [measure_click_latency(canvas, x, y) for x, y in GRID[: n + 1]]
    server.shutdown_sessions(nb.path)
    return values[1:]  # the first click is a warm-up


def fmt(v: float | None) -> str:
    return "-" if v is None or v != v else f"{v:.0f}"


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(floor: list[float], results: dict[str, dict[str, list[Series] | Series]]) -> str:
    head = ["model", "action", "n", "p50 ms", "p90 ms", "py p50", "cold", "target", "met"]
    rows = [head]
    errors: list[str] = []
    fp50 = statistics.median(floor)
    rows.append(["(bare ipycanvas)", "click -> put_image_data -> pixels", str(len(floor)),
                 fmt(fp50), fmt(sorted(floor)[int(0.9 * (len(floor) - 1))]), "-", "-",
                 "floor", "-"])  # fmt: skip
    for model, parts in results.items():
        fresh = parts["fresh"]
        assert isinstance(fresh, Series)
        fresh_p50, fresh_py = fresh.p(0.5), fresh.p(0.5, "python_ms")
        for s in parts["toggles"]:  # type: ignore[union-attr]
            if s.error is not None:
                rows.append([s.model, s.action, "0", "-", "-", "-", "-", "error (see below)", "-"])
                errors.append(f"{s.model} {s.action}: {s.error}")
                continue
            met = s.p(0.5) <= TOGGLE_TARGET_MS
            rows.append(row(s, f"p50 <= {TOGGLE_TARGET_MS:.0f}", met))
        rows.append(row(fresh, "(reference)", None))
        for key in ("class", "layer"):
            s = parts[key]
            assert isinstance(s, Series)
            limit = SWITCH_RATIO * fresh_p50
            ratio, py_ratio = s.p(0.5) / fresh_p50, s.p(0.5, "python_ms") / fresh_py
            target = f"<= {SWITCH_RATIO}x fresh = {limit:.0f} (x{ratio:.2f}; py x{py_ratio:.2f})"
            rows.append(row(s, target, s.p(0.5) <= limit))
        occ = parts["occlusion"]
        assert isinstance(occ, Series)
        first, done = occ.p(0.5, "first_ms"), occ.p(0.5)
        py_first, py_done = occ.p(0.5, "python_first_ms"), occ.p(0.5, "python_ms")
        limit = COARSE_RATIO * done
        target = f"<= {COARSE_RATIO}x full = {limit:.0f} (x{first / done:.2f}"
        target += f"; py x{py_first / py_done:.2f})"
        cold = fmt(occ.cold.first_ms if occ.cold else None)
        n, p90 = str(len(occ.timings)), fmt(occ.p(0.9, "first_ms"))
        label = "occlusion first (coarse) map"
        rows.append(
            [model, label, n, fmt(first), p90, fmt(py_first), cold, target, yes(first <= limit)]
        )
        rows.append(row(occ, "(full map)", None, label="occlusion full map"))
    return table(rows) + "".join(f"\n{e}" for e in errors)


def row(s: Series, target: str, met: bool | None, label: str | None = None) -> list[str]:
    return [s.model, label or s.action, str(len(s.timings)), fmt(s.p(0.5)), fmt(s.p(0.9)),
            fmt(s.p(0.5, "python_ms")), fmt(s.cold.done_ms if s.cold else None), target,
            "-" if met is None else yes(met)]  # fmt: skip


def yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="timed rounds per action (zoo)")
    parser.add_argument("--resnet-repeat", type=int, default=3, help="timed rounds (resnet18)")
    parser.add_argument("--budget-s", type=float, default=25.0, help="max seconds per method")
    parser.add_argument("--models", default=",".join((*ZOO, "resnet18")))
    parser.add_argument("--methods", default="", help="comma list (default: gradient + CAM)")
    parser.add_argument("--floor", type=int, default=10, help="bare ipycanvas clicks")
    parser.add_argument("--json", type=Path, help="also write the raw timings here")
    args = parser.parse_args()

    methods = args.methods.split(",") if args.methods else [
        *xw.list_methods("gradient"), *xw.list_methods("cam")
    ]  # fmt: skip
    weights = REPO / "xai_widgets" / "zoo" / "weights"
    models = [m for m in args.models.split(",") if m]
    for m in [m for m in models if m in ZOO and not (weights / f"{m}.pt").exists()]:
        print(f"[skip] {m}: no weights at {weights / m}.pt")
        models.remove(m)

    def log(s: Series) -> None:
        if s.error is not None:
            print(f"  {s.model:9s} {s.action:46s} error: {s.error}", flush=True)
            return
        print(f"  {s.model:9s} {s.action:46s} n={len(s.timings):2d} p50 {fmt(s.p(0.5)):>6s} ms"
              f"  first {fmt(s.p(0.5, 'first_ms')):>6s} ms  py {fmt(s.p(0.5, 'python_ms')):>6s} ms"
              f"  cold {fmt(s.cold.done_ms if s.cold else None)} ms", flush=True)  # fmt: skip

    results: dict[str, dict] = {}
    started = time.monotonic()
    with lab_page("xw-bench-browser-") as (page, server, base):
        floor = measure_floor(page, server, base / "nb", args.floor)
        print(f"floor (bare ipycanvas): p50 {statistics.median(floor):.0f} ms", flush=True)
        for model in models:
            source = RESNET_CELL if model == "resnet18" else ZOO_CELL.format(name=model)
            repeat = args.resnet_repeat if model == "resnet18" else args.repeat
            print(f"{model}: opening", flush=True)
            nb = open_explorer(page, server, base / "nb", model, source)
            ex = ExplorerPage(page, nb.path)
            n_images = int(ex.kernel("print(len(explorer.selection.pictures))"))
            parts: dict[str, object] = {}
            parts["toggles"] = measure_toggles(ex, model, methods, repeat, args.budget_s, log)
            parts["class"] = measure_class_switch(ex, model, repeat, log)
            parts["fresh"] = measure_fresh_image(ex, model, n_images, repeat, log)
            parts["layer"] = measure_layer_switch(ex, model, repeat, log)
            parts["occlusion"] = measure_occlusion(ex, model, repeat, args.budget_s, log)
            results[model] = parts
            server.shutdown_sessions(nb.path)

    print(f"\nJupyterLab + headless Chromium, CPU; {time.monotonic() - started:.0f} s in all.")
    print("ms from the user's event to changed heatmap pixels (done = finished map);")
    print("py = Python-side compute ms from the status line; cold = the warm-up round.\n")
    print(report(floor, results))
    if args.json:
        raw = {
            "floor_ms": floor,
            "results": {
                model: {
                    key: [asdict(s) for s in v] if isinstance(v, list) else asdict(v)
                    for key, v in parts.items()
                }
                for model, parts in results.items()
            },
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
