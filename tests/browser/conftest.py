"""Fixtures for the real-browser tests (JupyterLab / Voila in headless Chromium).

- ``jupyter_lab`` (session): a JupyterLab server; its log is copied to test-artifacts/browser.
- ``chromium_browser`` (session): Debian's Chromium through Playwright.
- ``console_log``: the console/page errors of ``browser_page``; ``console_log.ignore(...)``.
- ``browser_page``: a fresh page; the test fails on a console error or an uncaught page
  error; its console goes to test-artifacts/browser/<test>-console.txt, and a screenshot
  too (<test>-failure.png) when the test fails.
- ``lab_notebook``: ``lab_notebook(path) -> LabNotebook`` copied into the root, opened, kernel
  ready; its kernel is shut down after the test.
- ``voila_server``: ``voila_server(path) -> VoilaServer`` serving that notebook for the test.

The ``browser`` and ``slow`` markers are registered in pyproject.toml.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright", reason="browser tests need playwright (the test extra)")

from playwright.sync_api import Browser, Page, sync_playwright

from .harness import (
    ARTIFACTS,
    CHROMIUM,
    JLAB_WIDGET_MANAGER_URL,
    NON_LOOPBACK_URL,
    OFFLINE_CDN_ERROR,
    PAGE_TIMEOUT_MS,
    WIDGET_RESTORE_RACE,
    ConsoleLog,
    JupyterLabServer,
    LabNotebook,
    VoilaServer,
    launch_chromium,
    screenshot,
    start_jupyterlab,
    start_voila,
)

CONSOLE_KEY = pytest.StashKey[ConsoleLog]()


def _save_log(src: Path, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if src.exists():
        shutil.copyfile(src, ARTIFACTS / name)


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLabServer]:
    server = start_jupyterlab(tmp_path_factory.mktemp("jupyterlab"))
    try:
        yield server
    finally:
        server.stop()
        _save_log(server.log_path, "jupyterlab.log")


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def console_log() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def browser_page(
    chromium_browser: Browser, console_log: ConsoleLog, request: pytest.FixtureRequest
) -> Iterator[Page]:
    for stale in ARTIFACTS.glob(f"{request.node.name}-failure*"):
        stale.unlink()
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        page = context.new_page()
        console_log.attach(page)
        console_log.ignore(WIDGET_RESTORE_RACE, JLAB_WIDGET_MANAGER_URL)
        request.node.stash[CONSOLE_KEY] = console_log
        yield page
    finally:
        context.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{request.node.name}-console.txt").write_text(console_log.dump())


@pytest.fixture
def lab_notebook(
    jupyter_lab: JupyterLabServer, browser_page: Page
) -> Iterator[Callable[..., LabNotebook]]:
    opened: list[LabNotebook] = []

    def open_notebook(src: Path, name: str | None = None) -> LabNotebook:
        nb = LabNotebook(browser_page, jupyter_lab, jupyter_lab.add_notebook(src, name))
        opened.append(nb)
        nb.open()
        return nb

    yield open_notebook
    for nb in opened:
        jupyter_lab.shutdown_sessions(nb.path)


@pytest.fixture
def voila_server(
    tmp_path: Path, console_log: ConsoleLog, request: pytest.FixtureRequest
) -> Iterator[Callable[[Path], VoilaServer]]:
    started: list[VoilaServer] = []

    def serve(notebook: Path) -> VoilaServer:
        server = start_voila(notebook, tmp_path / f"voila-{len(started)}")
        started.append(server)
        console_log.ignore(OFFLINE_CDN_ERROR, NON_LOOPBACK_URL)
        return server

    yield serve
    for i, server in enumerate(started):
        server.stop()
        _save_log(server.log_path, f"{request.node.name}-voila-{i}.log")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After a passing test body, fail it on unexpected browser console or page errors."""
    result = yield
    console = item.stash.get(CONSOLE_KEY, None)
    if console is not None:
        console.assert_clean()
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[pytest.TestReport]:
    """On a failure while the page is still open, save a screenshot of it."""
    report = yield
    page = getattr(item, "funcargs", {}).get("browser_page")
    if report.failed and report.when == "call" and page is not None and not page.is_closed():
        name = f"{item.name}-failure"
        try:
            screenshot(page, name)
        except Exception as exc:  # a broken page must not hide the real failure
            report.sections.append(("screenshot", repr(exc)))
    return report
