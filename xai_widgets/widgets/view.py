"""What every view (every tab of the Explorer) shares: its selection, computing only while shown,
engine jobs, its own errors and progress.

A view is an ``ipywidgets.VBox`` built from a :class:`~.selection.Selection`. It follows the
selection's traits named in ``follows`` and brings itself up to date in :meth:`View._refresh`,
which runs only while the view is on screen (:meth:`View.set_on_screen`; a change while hidden
is computed when the view is shown again). Jobs run on the selection's engine (latest wins,
cancelled at the next check); an exception in a job is shown in the view's own error area
(``xw-view-error``) and the next input works as usual.

A whole tab in a few lines is in the package doc (:mod:`xai_widgets.widgets`, "How to add a
tab").
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import ClassVar

import ipywidgets as w

from .engine import Cancelled, Job
from .selection import Selection
from .session import ImageSession
from .shared import shared_layout, shared_style

__all__ = ["View"]


class View(w.VBox):
    """Base of the tabs (see the module doc). Subclasses set ``title`` and ``follows``, build
    their children in :meth:`_build` and update in :meth:`_refresh` (called only while shown).
    """

    title: ClassVar[str] = ""
    follows: ClassVar[tuple[str, ...]] = ("index",)
    #: works on scenes of a multi-input model (each session's model is then a one-input view)
    scenes: ClassVar[bool] = False

    def __init__(self, selection: Selection, *, lazy: bool = True) -> None:
        if not isinstance(selection, Selection):
            raise TypeError(f"a view is built from a Selection, not {type(selection).__name__}")
        super().__init__()
        self.selection = selection
        self.on_screen = False
        self._dirty = True
        self._lanes: set[str] = set()
        look = {"layout": shared_layout(), "style": shared_style(w.HTML)}
        self.status = w.HTML(_dom_classes=("xw-view-status",), **look)
        self.error = w.HTML(_dom_classes=("xw-view-error",), **look)
        self.progress = w.FloatProgress(
            0,
            min=0,
            max=1,
            layout=w.Layout(width="160px", visibility="hidden"),  # its own: shown while busy
            style=shared_style(w.FloatProgress),
            _dom_classes=("xw-view-progress",),
        )
        self.children = self._build()
        if self.follows:
            selection.observe(self._followed, list(self.follows))
        self.set_on_screen(not lazy)

    # ------------------------------------------------------------------ to override
    def _build(self) -> list[w.Widget]:
        raise NotImplementedError

    def _refresh(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ showing
    def _followed(self, _change: dict) -> None:
        self.refresh()

    def set_on_screen(self, shown: bool) -> None:
        """Tell the view whether it is shown; when shown, compute what changed meanwhile."""
        self.on_screen = bool(shown)
        if self.on_screen and self._dirty:
            self.refresh()

    def refresh(self) -> None:
        """Bring the view up to date now if it is shown, else when it is next shown."""
        if not self.on_screen:
            self._dirty = True
            return
        self._dirty = False
        self._refresh()

    # ------------------------------------------------------------------ jobs
    def lane(self, name: str) -> str:
        """Engine lanes are named per view, so two views never supersede each other."""
        return f"{type(self).__name__}-{id(self)}-{name}"

    def need_classifier(self, session: ImageSession) -> None:
        """A ValueError naming this tab when the model gives per-pixel scores: its measures are
        defined for a classifier's class score (the Explain tab explains a region instead)."""
        if session.maps is not None:
            shape = tuple(session.maps.shape)
            raise ValueError(
                f"the {self.title} tab needs a classifier's (N, classes) scores; this model "
                f"gives per-pixel scores ({shape[0]} classes on a {shape[1]} x {shape[2]} map). "
                "Explain a region of its prediction map in the Explain tab"
            )

    def submit(self, lane: str, fn: Callable[[Job], None], label: str) -> None:
        """Run ``fn(job)`` on ``lane`` (latest wins); its exception is shown in this view."""

        def run(job: Job) -> None:
            try:
                fn(job)
            except Cancelled:
                raise
            except Exception as exc:  # shown in the view; the lane keeps working
                job.deliver(lambda e=exc: self.show_error(label, e))

        self._lanes.add(lane)
        self.selection.engine.submit(self.lane(lane), run, label=label)

    def cancel(self, lane: str | None = None) -> None:
        """Stop this view's running work (one lane, or all of them)."""
        engine = self.selection.engine
        for name in [lane] if lane else sorted(self._lanes):
            engine.cancel(self.lane(name))
        self.show_progress(None)

    def reporter(self, job: Job) -> Callable[[float], None]:
        """A ``progress(fraction)`` for long work: stops a superseded job and moves this view's
        bar (in steps of 2 %, only for work that takes over 0.3 s)."""
        shown = [-1.0]

        def report(fraction: float) -> None:
            job.check()
            if job.elapsed_ms < 300 and fraction < 1:
                return
            if fraction >= 1 or fraction - shown[0] >= 0.02:
                shown[0] = fraction
                job.deliver(lambda: self.show_progress(fraction))

        return report

    def show_progress(self, fraction: float | None) -> None:
        """Show the bar at ``fraction``; None (or done) hides it."""
        if fraction is None or fraction >= 1:
            if self.progress.layout.visibility != "hidden":
                self.progress.layout.visibility = "hidden"
        else:
            self.progress.value = max(0.0, float(fraction))
            self.progress.layout.visibility = "visible"

    def show_error(self, label: str, exc: BaseException) -> None:
        self.error.value = (
            f"<div style='color:#b00020'><b>{type(exc).__name__}</b> in {html.escape(label)}: "
            f"{html.escape(str(exc))}</div>"
        )
        self.show_progress(None)

    def clear_error(self) -> None:
        if self.error.value:
            self.error.value = ""

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until the engine is idle (scripts and tests)."""
        return self.selection.engine.wait(timeout)
