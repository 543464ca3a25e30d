"""The course in a real browser: every notebook of ``notebooks/`` opened in JupyterLab 4 and in
Notebook 7 (the ``notebook`` package: ``jupyter notebook``, notebooks at ``/notebooks/PATH``),
run all, no error output, no console error, every widget drawn (each visible ipycanvas canvas,
or each MultiCanvas as a whole, has opaque pixels, and every widget output holds a rendered
view); in JupyterLab a reload redraws them; the widget-heavy notebooks also as Voila apps,
where a reload (a new kernel) draws them again.

Cheap by construction: one JupyterLab server (the session fixture), one Notebook 7 server for
the module, one Chromium, one page per test, and nothing waits a fixed time: each step waits
for an end state (kernel idle and every cell counted, Voila's loading element gone, pixels
present). A failure leaves a screenshot in test-artifacts/browser/course-*.png.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from .harness import (
    ARTIFACTS,
    KERNEL_TIMEOUT_MS,
    PAGE_TIMEOUT_MS,
    WIDGET_RESTORE_RACE,
    ConsoleLog,
    JupyterLabServer,
    LabNotebook,
    VoilaServer,
    screenshot,
    start_jupyterlab,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
VOILA = [nb for nb in NOTEBOOKS if nb.name[:3] in ("01_", "06_", "09_")]  # widget-heavy ones
NOTEBOOK_RUN_MS = 480_000  # a whole notebook on a loaded 2-core machine (each is <= 90 s alone)
DRAWN_MS = 90_000
_IDS = [nb.stem for nb in NOTEBOOKS]

# The widgets of the page (inside `scope`): every visible canvas (a MultiCanvas's stacked layers
# count as one unit: drawn when any layer is), and the widget outputs that failed to render.
_WIDGETS = """(scope) => {
    const root = document.querySelector(scope) || document.body;
    const units = new Map();
    for (const c of root.querySelectorAll('canvas')) {
        if (c.width <= 1 || c.height <= 1 || c.offsetParent === null) continue;
        const layered = c.parentElement.querySelectorAll(':scope > canvas').length > 1;
        const key = layered ? c.parentElement : c;
        if (!units.has(key)) units.set(key, []);
        units.get(key).push(c);
    }
    const painted = c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4 * 7) if (d[i] > 0) return true;
        return false;
    };
    const blank = [];
    for (const [key, layers] of units) {
        if (!layers.some(painted)) {
            const owner = key.closest('[class*="xw-"]');
            blank.push(`${layers[0].width}x${layers[0].height} in ` +
                       (owner ? owner.className : key.tagName));
        }
    }
    const views = [...root.querySelectorAll('.jupyter-widgets')].filter(
        el => !el.parentElement.closest('.jupyter-widgets'));  // top-level widget views
    const embedded = [...document.querySelectorAll(
        'script[type="application/vnd.voila.cell-output+json"]')].filter(
        el => el.textContent.includes('widget-view+json')).length;  // Voila: the views to come
    const text = root.innerText || '';
    const broken = ['Error displaying widget', 'Error rendering output'].filter(
        t => text.includes(t));
    const pending = Math.max(0, embedded - views.length);
    return {units: units.size, blank, broken, pending, views: views.length};
}"""


def wait_widgets_drawn(page: Page, scope: str, views: int = 0, timeout_ms: int = DRAWN_MS) -> dict:
    """Wait until at least ``views`` widget views are there, each rendered, and every visible
    canvas unit in ``scope`` has opaque pixels; fail on a widget that could not render.
    Returns the final state (``units``: canvas units, ``views``: widget outputs)."""
    try:  # the state that satisfied the wait, read in the same task (a replay may clear a
        # canvas a moment later and redraw it once its picture is decoded)
        state = page.wait_for_function(
            f"([scope, views]) => {{ const s = ({_WIDGETS})(scope); "
            "return (s.broken.length > 0 || "
            "(s.blank.length === 0 && s.pending === 0 && s.views >= views)) ? s : false; }",
            arg=[scope, views],
            polling=250,
            timeout=timeout_ms,
        ).json_value()
    except PlaywrightTimeoutError:
        state = page.evaluate(_WIDGETS, scope)  # reported below with what stayed blank
    assert not state["broken"], f"a widget did not render: {state['broken']}"
    assert state["views"] >= views, f"{state['views']} widget views shown, expected {views}+"
    assert not state["pending"], f"{state['pending']} widget view(s) not drawn in {timeout_ms} ms"
    assert not state["blank"], f"canvases still blank after {timeout_ms} ms: {state['blank']}"
    return state


class Notebook7(LabNotebook):
    """A notebook in Notebook 7 (``/notebooks/PATH``) of the same server; its page exposes
    ``window.jupyterapp`` too (``JupyterNotebookApp.expose_app_in_browser``), so the kernel,
    run-all and output checks of :class:`LabNotebook` apply unchanged."""

    def open(self, timeout_ms: int = KERNEL_TIMEOUT_MS) -> None:
        self.page.goto(self.server.url(f"notebooks/{self.path}"), timeout=PAGE_TIMEOUT_MS)
        self.wait_kernel_ready(timeout_ms)


def _run(nb: LabNotebook, name: str) -> dict:
    nb.run_all()
    nb.wait_executed(timeout_ms=NOTEBOOK_RUN_MS)
    state = wait_widgets_drawn(nb.page, ".jp-NotebookPanel")
    screenshot(nb.page, name)
    return state


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_IDS)
def test_course_notebook_in_jupyterlab(
    notebook: Path,
    lab_notebook: Callable[..., LabNotebook],
    browser_page: Page,
    console_log: ConsoleLog,
) -> None:
    console_log.ignore(WIDGET_RESTORE_RACE)  # any bundle (Notebook 7's too)
    nb = lab_notebook(notebook)
    state = _run(nb, f"course-lab-{notebook.stem}")
    print(f"\n[browser] {notebook.name} in JupyterLab: {state}")
    if state["units"]:
        nb.save()
        nb.reload()  # a new client: every canvas must come back from the kernel's state
        again = wait_widgets_drawn(browser_page, ".jp-NotebookPanel", views=state["views"])
        assert again["units"] >= state["units"], (state, again)


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLabServer]:
    """One ``jupyter notebook`` (Notebook 7) server for the module's tests."""
    pytest.importorskip("notebook", minversion="7", reason="Notebook 7 is the test extra's")
    base = tmp_path_factory.mktemp("notebook7")
    server = start_jupyterlab(base, app="notebook")
    # The Lab settings written for the tests (notifications, windowing): with them Notebook 7's
    # settings registry threw "Cannot read properties of undefined (reading 'schema')".
    for stale in (base / "jupyter" / "settings").glob("@jupyterlab/*/*.jupyterlab-settings"):
        stale.unlink()
    try:
        yield server
    finally:
        server.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if server.log_path.exists():
            shutil.copyfile(server.log_path, ARTIFACTS / "notebook7.log")


# Notebook 7.6.5 throws this once while loading its page, before any kernel connects, with any
# notebook (seen with the settings above removed too; its cause is not found yet, possibly an
# installed lab extension's settings): only this exact text is tolerated, on Notebook 7 only.
NB7_SETTINGS_ERROR = r"TypeError: Cannot read properties of undefined \(reading 'schema'\)"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_IDS)
def test_course_notebook_in_notebook7(
    notebook: Path, notebook7: JupyterLabServer, browser_page: Page, console_log: ConsoleLog
) -> None:
    console_log.ignore(NB7_SETTINGS_ERROR)
    console_log.ignore(WIDGET_RESTORE_RACE)  # any bundle (Notebook 7's too)
    path = notebook7.add_notebook(notebook)
    nb = Notebook7(browser_page, notebook7, path)
    try:
        nb.open()
        assert browser_page.locator("#main-panel, .jp-NotebookPanel").first.is_visible()
        assert "/lab" not in browser_page.url, browser_page.url  # Notebook 7, not Lab
        state = _run(nb, f"course-nb7-{notebook.stem}")
        print(f"\n[browser] {notebook.name} in Notebook 7: {state}")
    finally:
        notebook7.shutdown_sessions(path)


_VOILA_DONE = """() => !document.getElementById('loading')
    && document.getElementById('rendered_cells')?.style.display === ''"""
_ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^\w+Error\b", re.M)


# Leaving a Voila page (the reload) makes it ask its server to shut the kernel down without the
# token: 403, logged as a console error. The kernel is culled by the server; only that URL.
VOILA_SHUTDOWN_403 = (
    r"Failed to load resource: the server responded with a status of 403 \(Forbidden\)",
    r"http://127\.0\.0\.1:\d+/voila/api/shutdown/[0-9a-f-]+",
)


def _voila_loaded(page: Page, url: str, views: int = 1) -> dict:
    """Load the app, wait for Voila to finish, fail on a traceback, wait until at least
    ``views`` widget views are drawn (Voila removes its embedded outputs once shown, so the
    count to wait for is given)."""
    page.goto(url, timeout=PAGE_TIMEOUT_MS)
    page.wait_for_function(_VOILA_DONE, timeout=NOTEBOOK_RUN_MS, polling=500)
    errors = [
        t
        for t in page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
        if _ERROR_TEXT.search(t)
    ]
    assert not errors, f"the notebook raised in Voila:\n{errors[0]}"
    return wait_widgets_drawn(page, "#rendered_cells", views=views)


@pytest.mark.parametrize("notebook", VOILA, ids=[nb.stem for nb in VOILA])
def test_course_notebook_in_voila(
    notebook: Path,
    voila_server: Callable[[Path], VoilaServer],
    browser_page: Page,
    console_log: ConsoleLog,
) -> None:
    server = voila_server(notebook)
    console_log.ignore(*VOILA_SHUTDOWN_403)
    state = _voila_loaded(browser_page, server.app_url)
    screenshot(browser_page, f"course-voila-{notebook.stem}")
    print(f"\n[browser] {notebook.name} in Voila: {state}")
    # A reload: a new kernel runs it again, and the same widgets are drawn.
    again = _voila_loaded(browser_page, server.app_url, views=state["views"])
    assert again["units"] == state["units"], (state, again)
