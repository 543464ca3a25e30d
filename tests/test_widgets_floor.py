"""The widgets floor: a tab registered in a few lines, canvas drawing safe under exceptions,
and the state late clients get."""

from __future__ import annotations

import io
import time

import ipywidgets
import numpy as np
import pytest
from ipycanvas import Canvas
from ipycanvas import canvas as ipycanvas_canvas
from PIL import Image

import xai_widgets as xw
from helpers import make_input, make_model
from xai_widgets.widgets import Explorer, View, register_tab, unregister_tab
from xai_widgets.widgets.canvas import Encoded, drawing, encode, put_encoded


class IndexTab(View):
    """A whole tab in a few lines: it follows the picture, computes only while shown."""

    title = "Index"

    def _build(self):
        self.label = ipywidgets.HTML()
        self.refreshed = 0
        return [self.label, self.error]

    def _refresh(self):
        self.refreshed += 1
        self.label.value = f"picture {self.selection.index}"


@pytest.fixture
def index_tab():
    register_tab(IndexTab)
    yield IndexTab
    unregister_tab(IndexTab)


def test_a_registered_tab_shows_in_a_new_explorer_and_follows_the_index(index_tab) -> None:
    ex = Explorer(make_model("resnet"), make_input(n=3), size=96)
    assert ex.tabs.titles[-1] == "Index"
    tab = ex.view(index_tab)
    assert tab is not None and tab.refreshed == 0  # hidden: not computed
    ex.show_tab(index_tab)
    assert tab.label.value == "picture 0"
    ex.selection.index = 2
    assert tab.label.value == "picture 2"
    ex.show_tab(xw.widgets.ExplainTab)
    ex.selection.index = 1
    assert tab.label.value == "picture 2" and tab.refreshed == 2
    ex.show_tab(index_tab)
    assert tab.label.value == "picture 1"
    ex.close()


def test_tabs_can_be_chosen_per_explorer(index_tab) -> None:
    ex = Explorer(make_model("resnet"), make_input(n=2), size=96, tabs=[index_tab])
    assert ex.tabs.titles == ("Index",) and ex.explain_tab is None
    assert ex.views[0].label.value == "picture 0"  # the first tab is shown
    with pytest.raises(ValueError, match="no Explain tab"):
        ex.probe(1, 1)
    ex.close()
    with pytest.raises(TypeError, match="View subclass"):
        register_tab(int)


def test_the_tab_file_is_short() -> None:
    import inspect

    assert len(inspect.getsource(IndexTab).splitlines()) < 40


def test_a_failed_draw_never_leaves_the_canvas_manager_caching() -> None:
    manager = ipycanvas_canvas._CANVAS_MANAGER
    assert not manager._caching
    with pytest.raises(RuntimeError), drawing():
        Canvas(width=2, height=2).fill_rect(0, 0, 1, 1)
        raise RuntimeError("a draw failed")
    assert not manager._caching and not manager._commands_cache


def test_the_private_ipycanvas_call_still_works() -> None:
    """``put_encoded`` is the package's one private ipycanvas call: if a new ipycanvas renames
    ``_canvas_manager``, ``send_draw_command`` or ``COMMANDS['putImageData']``, this fails."""
    canvas = Canvas(width=4, height=4)
    sent = []
    manager = canvas._canvas_manager
    original = manager.send_draw_command
    manager.send_draw_command = lambda *args: sent.append(args)
    try:
        put_encoded(canvas, encode(np.zeros((4, 4, 3), np.uint8), lossless=True), 1, 2)
    finally:
        manager.send_draw_command = original
    assert "putImageData" in ipycanvas_canvas.COMMANDS
    (target, command, args, buffers) = sent[0]
    assert target is canvas and command == ipycanvas_canvas.COMMANDS["putImageData"]
    assert args == [1, 2] and buffers[0][:4] == b"\x89PNG"


def _wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_every_canvas_keeps_what_it_shows_as_state_for_late_clients() -> None:
    ex = Explorer(make_model("resnet"), make_input(n=3, size=32), size=96)
    assert ex.wait()
    main = ex.explain_tab.canvas
    assert _wait_for(lambda: main.base.image_data is not None)
    assert _wait_for(lambda: ex.gallery.canvas.image_data is not None)
    state = np.asarray(Image.open(io.BytesIO(main.base.image_data)).convert("RGB"))
    assert np.abs(state.astype(int) - main.composite().astype(int)).max() <= 12  # JPEG
    gallery = np.asarray(Image.open(io.BytesIO(ex.gallery.canvas.image_data)).convert("RGB"))
    assert gallery.shape[:2] == (ex.gallery.canvas.height, ex.gallery.canvas.width)
    assert gallery.std() > 10  # thumbnails, not a blank canvas
    ex.show_tab(xw.widgets.ActivationsView)
    assert ex.wait()
    grid = ex.feature_views[0].grid
    assert _wait_for(lambda: grid.base.image_data is not None)
    ex.close()


def test_replay_redraws_every_layer_from_python_state() -> None:
    ex = Explorer(make_model("resnet"), make_input(n=2, size=32), size=96)
    assert ex.wait()
    main = ex.explain_tab.canvas
    sent: list[tuple] = []
    manager = main.widget[0]._canvas_manager
    original = manager.send_draw_command
    manager.send_draw_command = lambda canvas, *args: sent.append((canvas, *args))
    put = ipycanvas_canvas.COMMANDS["putImageData"]

    def images() -> list:
        return [c for c, command, *_ in list(sent) if command == put]

    try:
        # a new client creates the three layers at once: they share one replay
        for i in range(3):
            main.widget[i]._handle_frontend_event(None, {"event": "client_ready"}, [])
        ex.gallery.canvas._handle_frontend_event(None, {"event": "client_ready"}, [])
        assert _wait_for(lambda: images().count(ex.gallery.canvas) >= 1)
        assert _wait_for(lambda: main.widget[1] in images())
        time.sleep(0.3)  # a second replay would have come by now
    finally:
        manager.send_draw_command = original
    assert images().count(main.widget[0]) == 1 and images().count(main.widget[1]) == 1
    assert images().count(ex.gallery.canvas) == 1  # the whole gallery as one picture
    ex.close()


def test_encoded_keeps_transparency_lossless() -> None:
    rgba = np.zeros((200, 200, 4), np.uint8)
    rgba[..., 3] = 128
    assert isinstance(encode(rgba), Encoded) and encode(rgba).data[:4] == b"\x89PNG"
