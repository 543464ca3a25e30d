"""Drive a notebook in JupyterLab through ``window.jupyterapp`` (``expose_app_in_browser``).

Pitfalls handled here: running cells before the kernel is really ready opens a modal "Select
Kernel" dialog and nothing runs, so :meth:`LabNotebook.wait_kernel_ready` waits for the panel of
*this* notebook to have ``sessionContext.isReady``, a connected ``idle`` kernel and no dialog;
``page.evaluate`` has no timeout and awaits a returned promise, so commands are fired and
forgotten and their effect is awaited with ``wait_for_function`` (which has one); without a save
before ``page.reload()`` the widget outputs do not come back. :meth:`LabNotebook.wait_executed`
ends at the first error output, resumes a run-all that stalled (seen once in CI: Notebook 7,
kernel idle, later cells never sent) and re-runs a display lost to ipywidgets' restore race,
each once and said so on stdout.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from .servers import JupyterLabServer

PAGE_TIMEOUT_MS = 90_000  # first load of the Lab bundles on a busy 2-core machine
KERNEL_TIMEOUT_MS = 120_000  # kernel start has been seen to take 20+ s under load
RUN_TIMEOUT_MS = 120_000
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# JS prologue: `panel` is the notebook panel open on `path` (or undefined).
_PANEL = """
const app = window.jupyterapp;
const panel = app && app.shell
    ? Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path === path)
    : undefined;
"""

_KERNEL_STATE = f"""(path) => {{ {_PANEL}
    const sc = panel && panel.sessionContext;
    const kernel = sc && sc.session && sc.session.kernel;
    return {{
        panel: !!panel,
        visible: !!(panel && panel.isVisible),
        cells: panel ? panel.content.widgets.length : 0,
        contextReady: !!(panel && panel.context.isReady),
        sessionReady: !!(sc && sc.isReady),
        status: kernel ? kernel.status : null,
        connection: kernel ? kernel.connectionStatus : null,
        dialog: (document.querySelector('.jp-Dialog') || {{}}).innerText || null,
    }};
}}"""

SETTLE_MS = 1500  # after the kernel connects, before cells run (see wait_kernel_ready)

_KERNEL_READY = f"""(path) => {{ {_PANEL}
    const dialog = document.querySelector('.jp-Dialog');
    if (dialog) return 'dialog: ' + dialog.innerText;  // truthy: ends the wait, reported below
    if (!panel || !panel.isVisible || !panel.context.isReady) return false;
    if (panel.content.widgets.length === 0 || !panel.content.node.querySelector('.jp-Cell')) {{
        return false;
    }}
    const sc = panel.sessionContext;
    const kernel = sc.session && sc.session.kernel;
    return sc.isReady && !!kernel && kernel.status === 'idle'
        && kernel.connectionStatus === 'connected';
}}"""

_RUN_ALL = f"""(path) => {{ {_PANEL}
    if (!panel) throw new Error('notebook not open: ' + path);
    // Clear counts first, so that wait_executed cannot mistake an earlier run for this one.
    for (const c of panel.content.widgets) {{
        if (c.model.type === 'code') c.model.clearExecution();
    }}
    delete (window.__xwIdleSince || {{}})[path];  // wait_executed's stall clock
    app.shell.activateById(panel.id);
    app.commands.execute('notebook:run-all-cells', {{widget: panel.id}});
    return true;  // fire and forget: page.evaluate would await the command with no timeout
}}"""

# Re-run each code cell whose widget display was lost to ipywidgets' restore race ("Error
# displaying widget: model not found", see harness.WIDGET_RESTORE_RACE); returns how many.
RERUN_LOST_DISPLAYS = f"""(path) => {{ {_PANEL}
    if (!panel) return 0;
    let rerun = 0;
    panel.content.widgets.forEach((cell, i) => {{
        const out = cell.model.type === 'code' && cell.node.querySelector('.jp-OutputArea');
        if (out && out.innerText.includes('Error displaying widget')) {{
            cell.model.clearExecution();  // wait_executed then waits for this run
            panel.content.activeCellIndex = i;
            app.commands.execute('notebook:run-cell', {{widget: panel.id}});
            rerun += 1;
        }}
    }});
    return rerun;
}}"""


def rerun_lost_displays(page: Page, path: str) -> int:
    """Re-run the cells of notebook ``path`` whose widget display was lost to ipywidgets'
    restore race (:data:`RERUN_LOST_DISPLAYS`), say so on stdout; how many."""
    rerun = page.evaluate(RERUN_LOST_DISPLAYS, path)
    if rerun:
        print(f"\n[browser] a display lost to the restore race: {rerun} cell(s) re-run")
    return rerun


# Where a run-all stands: per code cell (empty ones skipped) its index, execution count and
# whether its prompt still shows "*"; whether the kernel is idle; the first error output.
# `stalled` once the kernel has been idle for `stall_ms` with cells still unrun (run-all's
# remaining requests were lost: seen once in CI with Notebook 7, the kernel idle, no error).
_PROGRESS = f"""([path, stall_ms]) => {{ {_PANEL}
    if (!panel) return null;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    const idle = !!kernel && kernel.status === 'idle';
    const cells = [];
    let error = null;
    panel.content.widgets.forEach((c, i) => {{
        if (c.model.type !== 'code' || c.model.sharedModel.getSource().trim() === '') return;
        const prompt = c.node.querySelector('.jp-InputArea-prompt')?.textContent || '';
        cells.push({{index: i, count: c.model.executionCount, pending: prompt.includes('*')}});
        for (const o of c.model.outputs.toJSON()) {{
            if (!error && o.output_type === 'error') error = {{index: i, ...o}};
        }}
    }});
    const left = cells.filter(c => c.count === null || c.pending);
    const clocks = window.__xwIdleSince = window.__xwIdleSince || {{}};
    if (!idle || left.length === 0) delete clocks[path];
    else if (!(path in clocks)) clocks[path] = Date.now();
    const stalled = path in clocks && Date.now() - clocks[path] >= stall_ms;
    return {{idle, done: idle && left.length === 0, stalled, error, left, cells: cells.length}};
}}"""

# Run the code cells from `index` to the end (after a stalled run-all).
_RUN_FROM = f"""([path, index]) => {{ {_PANEL}
    if (!panel) throw new Error('notebook not open: ' + path);
    app.shell.activateById(panel.id);
    delete (window.__xwIdleSince || {{}})[path];  // the stall clock starts again
    panel.content.activeCellIndex = index;
    app.commands.execute('notebook:run-all-below', {{widget: panel.id}});
    return true;
}}"""

STALL_MS = 30_000  # kernel idle this long with cells unrun: the run-all stalled
LOST_SETTLE_MS = 750  # after the run, before looking for displays lost to the restore race

_OUTPUTS = f"""(path) => {{ {_PANEL}
    if (!panel) return null;
    return panel.content.widgets.map(c => c.model.type === 'code' ? c.model.outputs.toJSON() : []);
}}"""

_SAVE = f"""(path) => {{ {_PANEL}
    if (!panel) throw new Error('notebook not open: ' + path);
    app.shell.activateById(panel.id);
    const state = {{path, done: false, error: null}};
    window.__xwSaved = state;
    app.commands.execute('docmanager:save').then(() => {{ state.done = true; }},
                                              e => {{ state.error = String(e); }});
    return true;
}}"""


@dataclass
class LabNotebook:
    """A notebook in the JupyterLab of ``server``, driven through ``window.jupyterapp``."""

    page: Page
    server: JupyterLabServer
    path: str  # relative to the server root
    workspace: str = field(default_factory=lambda: f"xw-{uuid.uuid4().hex[:12]}")

    def open(self, timeout_ms: int = KERNEL_TIMEOUT_MS) -> None:
        """Navigate to the notebook (in its own workspace) and wait until its kernel is ready."""
        url = self.server.notebook_url(self.path, self.workspace)
        self.page.goto(url, timeout=PAGE_TIMEOUT_MS)
        self.wait_kernel_ready(timeout_ms)

    def kernel_state(self) -> dict:
        """Panel/session/kernel state and the text of any open dialog (for diagnostics)."""
        return self.page.evaluate(_KERNEL_STATE, self.path)

    def wait_kernel_ready(self, timeout_ms: int = KERNEL_TIMEOUT_MS) -> None:
        """Cells rendered, session ready, kernel idle and connected; fail at once on a dialog.

        A modal dialog ("Select Kernel", "Kernel Restarting", ...) means the notebook cannot run
        as it is (e.g. no ``kernelspec`` metadata), so it fails now with the dialog's text.
        """
        try:
            handle = self.page.wait_for_function(
                _KERNEL_READY, arg=self.path, timeout=timeout_ms, polling=200
            )
        except PlaywrightTimeoutError as exc:
            raise AssertionError(f"kernel not ready: {self.kernel_state()}") from exc
        outcome = handle.json_value()
        if outcome is not True:
            raise AssertionError(f"kernel not ready, a dialog is open: {outcome}")
        # Let the widget manager finish restoring from the newly connected kernel before cells
        # run: a restore that overlaps the first widgets can lose the model a display refers to
        # ("Error displaying widget: model not found", jupyter-widgets/ipywidgets#2570; seen
        # about once in 30 notebook loads on this 2-core machine). Ready again after the pause.
        self.page.wait_for_timeout(SETTLE_MS)
        self.page.wait_for_function(_KERNEL_READY, arg=self.path, timeout=timeout_ms, polling=200)

    def run_all(self) -> None:
        """Run all cells (fire and forget); follow with :meth:`wait_executed` or a selector."""
        self.page.evaluate(_RUN_ALL, self.path)

    def outputs(self) -> list[list[dict]]:
        """Outputs of every cell as nbformat dicts (empty list for non-code cells)."""
        return self.page.evaluate(_OUTPUTS, self.path)

    def wait_executed(
        self, timeout_ms: int = RUN_TIMEOUT_MS, allow_errors: bool = False, stall_ms: int = STALL_MS
    ) -> None:
        """Wait until every code cell has run and the kernel is idle; fail on error outputs.

        An error output ends the wait at once (run-all stops there). A run-all that stalls (the
        kernel idle for ``stall_ms``, no error, cells unrun) is resumed once from the first
        unrun cell, and said so on stdout; a second stall fails with every cell's state. A
        widget display lost to ipywidgets' restore race (an upstream bug,
        harness.WIDGET_RESTORE_RACE) is re-run once, and said so.
        """
        for attempt in (1, 2):
            progress = self._wait_progress(timeout_ms, stall_ms)
            if not progress.get("stalled") or progress["error"] or attempt == 2:
                break
            first = progress["left"][0]["index"]
            print(f"\n[browser] run-all stalled, resumed from cell {first}: {progress['left']}")
            self.page.evaluate(_RUN_FROM, [self.path, first])
        if progress["done"] and not progress["error"]:
            self.page.wait_for_timeout(LOST_SETTLE_MS)  # a lost display shows a moment later
            if rerun_lost_displays(self.page, self.path):
                progress = self._wait_progress(timeout_ms, stall_ms)
        error = progress["error"]
        if error and not allow_errors:
            trace = _ANSI.sub("", "\n".join(error.get("traceback", [])))
            cell = error["index"]
            raise AssertionError(f"cell {cell} raised {error['ename']}: {error['evalue']}\n{trace}")
        if not progress["done"] and not (error and allow_errors):
            raise AssertionError(f"cells did not finish: {progress} {self.kernel_state()}")

    def _wait_progress(self, timeout_ms: int, stall_ms: int) -> dict:
        """Poll :data:`_PROGRESS` until done, an error, or a stall; its last state."""
        until = "(a) => { const p = (" + _PROGRESS + ")(a); "
        until += "return p && (p.done || (p.idle && p.error) || p.stalled) ? p : false; }"
        args = [self.path, stall_ms]
        try:
            handle = self.page.wait_for_function(until, arg=args, timeout=timeout_ms, polling=200)
        except PlaywrightTimeoutError:
            return self.page.evaluate(_PROGRESS, args) or {"done": False, "error": None}
        return handle.json_value()

    def stream_text(self, cell: int, name: str = "stdout") -> str:
        """Concatenated ``stdout`` (or ``stderr``) text of cell ``cell``."""
        return "".join(
            "".join(o["text"]) if isinstance(o["text"], list) else o["text"]
            for o in self.outputs()[cell]
            if o["output_type"] == "stream" and o["name"] == name
        )

    def save(self, timeout_ms: int = 30_000) -> None:
        """Save (as ``docmanager:save`` / Ctrl+S do) and wait until the file is written."""
        self.page.evaluate(_SAVE, self.path)
        self.page.wait_for_function(
            "() => window.__xwSaved.done || window.__xwSaved.error", timeout=timeout_ms
        )
        error = self.page.evaluate("() => window.__xwSaved.error")
        assert error is None, f"save failed: {error}"

    def reload(self, timeout_ms: int = KERNEL_TIMEOUT_MS) -> None:
        """Reload the page (save first, or the widget outputs are gone) and wait for the kernel."""
        self.page.reload(timeout=PAGE_TIMEOUT_MS)
        self.wait_kernel_ready(timeout_ms)


def write_notebook(path: Path, cells: Sequence[str]) -> Path:
    """A notebook of code ``cells`` with python3 kernelspec metadata (without it Lab opens a
    "Select Kernel" dialog and nothing runs), validated and written to ``path``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.validate(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
