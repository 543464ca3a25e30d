"""The Explorer driven from Python: trait changes and simulated canvas events, no browser."""

from __future__ import annotations

import base64
import io
import resource
import time
from datetime import datetime, timezone

import numpy as np
import pytest
import torch
from PIL import Image

import xai_widgets as xw
from helpers import assert_unchanged, make_input, make_model, snapshot

CLASSES = ["zero", "one", "two", "three"]


def mouse(canvas, event: str, x: float, y: float) -> None:
    """What arrives when the browser reports a mouse event: a custom widget message."""
    canvas._handle_custom_msg({"event": event, "x": float(x), "y": float(y)}, [])


@pytest.fixture
def explorer():
    model = make_model("resnet")
    ex = xw.Explorer(model, make_input(n=5, size=32, seed=2), classes=CLASSES, size=160)
    yield ex
    ex.close()


def test_opens_with_a_map_top_classes_and_layers(explorer) -> None:
    assert explorer.canvas.image is not None and explorer.canvas.heatmap is not None
    assert explorer.explanation.method == "grad_cam"
    assert explorer.explanation.params["layer"] == "layer2"
    labels = [b.description for b in explorer.top.buttons if b.layout.display != "none"]
    assert len(labels) == 4 and all("%" in label for label in labels)
    values = [v for _, v in explorer.layer_picker.options]
    assert values[0] == "" and "layer1" in values and "layer2.conv2" in values
    assert "grad_cam" in explorer.status.value and explorer.error.value == ""


def test_every_method_toggle_shows_its_map(explorer) -> None:
    seen = {}
    for name in xw.list_methods():
        explorer.toggles.buttons[name].value = True  # as a click on the toggle does
        assert explorer.wait(30)
        assert explorer.method == name and explorer.error.value == "", explorer.error.value
        assert name in explorer.status.value
        seen[name] = explorer.canvas.heatmap.data
    assert len(set(seen.values())) == len(seen), "two methods drew the same pixels"


def test_param_controls_come_from_method_params(explorer) -> None:
    explorer.method = "occlusion"
    names = {c._dom_classes[0] for c in explorer.visible_controls()}
    assert names == {"xw-param-patch", "xw-param-stride", "xw-param-baseline"}
    patch = explorer.controls["occlusion"]["patch"]
    assert patch.max == 32 and patch.value == 16  # capped at the image side
    explorer.method = "score_cam"
    assert explorer.visible_controls() == [
        explorer.layer_picker,
        explorer.controls["score_cam"]["batch_size"],
    ]


def test_latest_value_wins_after_100_rapid_slider_changes(explorer) -> None:
    explorer.method = "occlusion"
    explorer.wait()
    calls = []
    original = explorer.sessions[0].occlusion_progressive

    def counting(params, *args, **kwargs):
        calls.append(params["patch"])
        return original(params, *args, **kwargs)

    for session in explorer.sessions.values():
        session.occlusion_progressive = counting
    slider = explorer.controls["occlusion"]["patch"]
    for value in [*range(2, 32), *range(31, 1, -1), *range(2, 42)][:100]:
        slider.value = min(value, 32)
    final = slider.value
    assert explorer.wait(30)
    assert calls[-1] == final and len(calls) < 100
    fresh = xw.explain(explorer.model, explorer.sessions[0].x, "occlusion", patch=final)
    shown = fresh.heatmap[0].numpy()
    np.testing.assert_allclose(explorer._heat, shown, rtol=1e-4, atol=1e-6)


def test_an_error_is_shown_and_the_next_input_works() -> None:
    model = make_model("vgg")  # no GAP head: CAM is undefined
    ex = xw.Explorer(model, make_input(n=2), size=128)
    ex.method = "cam"
    assert ex.wait()
    assert "ValueError" in ex.error.value and "global-average-pool" in ex.error.value
    assert "error" in ex.status.value
    assert ex.canvas.heatmap is None, "the previous method's map must not stay on screen"
    ex.method = "grad_cam"
    assert ex.wait()
    assert ex.error.value == "" and "grad_cam" in ex.status.value
    ex.close()


def test_gallery_click_top_class_and_layer_switch(explorer) -> None:
    mouse(explorer.gallery.canvas, "mouse_down", 4 + 2 * 60 + 10, 10)
    assert explorer.wait() and explorer.index == 2
    session = explorer.sessions[2]
    other = session.top(4)[1][0]
    explorer.top.buttons[1].click()
    assert explorer.wait() and explorer.target == other
    assert explorer.explanation.target == [other]
    assert CLASSES[other] in explorer.status.value
    explorer.layer_picker.value = "layer1"
    assert explorer.wait() and explorer.explanation.params["layer"] == "layer1"
    fresh = xw.explain(explorer.model, session.x, "grad_cam", target=other, layer="layer1")
    torch.testing.assert_close(explorer.explanation.heatmap, fresh.heatmap)


def test_switching_class_or_layer_redoes_no_forward(explorer) -> None:
    calls = []
    handle = explorer.model.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        for layer in ("layer1", "stem.0", "layer2"):
            explorer.layer = layer
            assert explorer.wait()
        for target in (0, 1, 2, 3):
            explorer.target = target
            assert explorer.wait()
    finally:
        handle.remove()
    assert calls == []


def test_pointer_outline_and_click_to_occlude(explorer) -> None:
    canvas = explorer.canvas.widget
    mouse(canvas, "mouse_move", 80, 80)
    assert explorer.canvas.pointer == (40, 40, 80, 80)  # patch 16 px x scale 5
    before = float(explorer.sessions[0].probs[explorer.sessions[0].predicted])
    mouse(canvas, "mouse_down", 80, 80)
    assert explorer.wait()
    assert explorer.canvas.patch is not None and explorer.canvas.patch[0] == (40, 40, 80, 80)
    assert f"{before:.3f} →" in explorer.probe_label.value
    probe = explorer.sessions[0].probe_map()
    assert probe is not None and probe[8:24, 8:24].abs().sum() > 0 and probe[0, 0] == 0
    mouse(canvas, "mouse_down", 20, 20)
    assert explorer.wait()
    assert explorer.sessions[0].probe_count.max() == 2  # the two patches overlap
    explorer.index = 1  # another picture: its own, empty probe state
    assert explorer.wait()
    assert "Occluded" not in explorer.probe_label.value and explorer.canvas.patch is None
    explorer.index = 0
    assert explorer.wait() and explorer.sessions[0].probe_count.max() == 2
    explorer.clear_probes()
    assert explorer.sessions[0].probe_map() is None and explorer.canvas.patch is None


def test_occlusion_shows_a_coarse_map_first_then_the_exact_one(explorer) -> None:
    shown = []
    original = explorer._show_map
    explorer._show_map = lambda heat, signed, caption: (
        shown.append((heat.copy(), caption)),
        original(heat, signed, caption),
    )
    explorer.set_param("patch", 8, "occlusion")
    explorer.set_param("stride", 2, "occlusion")
    explorer.method = "occlusion"
    assert explorer.wait()
    assert len(shown) >= 2 and "refining" in shown[0][1] and "refining" not in shown[-1][1]
    assert "patch 8, stride 2, baseline 0" in shown[-1][1]  # the status names the values
    exact = xw.explain(explorer.model, explorer.sessions[0].x, "occlusion", patch=8, stride=2)
    final = exact.heatmap[0].numpy()
    np.testing.assert_allclose(shown[-1][0], final, rtol=1e-4, atol=1e-6)
    assert not np.allclose(shown[0][0], final)


def test_overlay_settings_redraw_without_recomputing(explorer) -> None:
    heat = explorer._heat.copy()
    data = explorer.canvas.heatmap.data
    explorer.overlay.cmap.value = "viridis"
    assert explorer.wait()
    assert explorer.canvas.heatmap.data != data
    np.testing.assert_array_equal(explorer._heat, heat)
    explorer.overlay.alpha.value = 0.2
    assert explorer.canvas.alpha == 0.2
    assert explorer.overlay.lo.value and explorer.overlay.hi.value


def test_compare_fills_every_chosen_method(explorer) -> None:
    explorer.compare(["saliency", "grad_cam", "occlusion"])
    assert explorer.wait()
    tiles = explorer.compare_panel.tiles
    assert list(tiles) == ["saliency", "grad_cam", "occlusion"]
    for image, label in tiles.values():
        assert Image.open(io.BytesIO(image.value)).size == (192, 192)
        assert "ms" in label.value


def test_snapshot_save_and_static_png_for_nbviewer(explorer, tmp_path) -> None:
    png = explorer.snapshot()
    img = Image.open(io.BytesIO(png))
    assert img.size == (160, 200)
    path = explorer.save(tmp_path / "view.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"])[:4] == b"\x89PNG"


def test_upload_adds_an_image_and_bad_uploads_are_shown(explorer) -> None:
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)).save(
        buf, "PNG"
    )
    explorer.upload.value = (upload("mine.png", buf.getvalue()),)
    assert explorer.wait()
    assert explorer.index == 5 and len(explorer.pictures) == 6 and explorer.error.value == ""
    explorer.upload.value = (upload("notes.txt", b"not an image"),)
    assert explorer.wait()
    assert "not an image" in explorer.error.value
    explorer.method = "saliency"
    assert explorer.wait() and explorer.error.value == ""


def upload(name: str, content: bytes) -> dict:
    """A FileUpload value entry as the front end sends it."""
    return {
        "name": name,
        "type": "image/png",
        "size": len(content),
        "content": memoryview(content),
        "last_modified": datetime.now(timezone.utc),
    }


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


@pytest.mark.slow
def test_500_interactions_leave_the_model_identical_and_memory_flat() -> None:
    model = make_model("resnet")
    model.train()
    before = snapshot(model)
    ex = xw.Explorer(model, make_input(n=4, size=32, seed=1), size=128)
    rng = np.random.default_rng(0)
    methods = xw.list_methods()
    start = None
    for i in range(500):
        if i == 50:  # caches and allocator warmed up
            ex.wait()
            start = _rss_mb()
        action = i % 6
        if action == 0:
            ex.method = methods[int(rng.integers(len(methods)))]
        elif action == 1:
            ex.index = int(rng.integers(4))
        elif action == 2:
            ex.target = int(rng.integers(4))
        elif action == 3:
            mouse(ex.canvas.widget, "mouse_move", *rng.integers(0, 128, 2))
        elif action == 4:
            mouse(ex.canvas.widget, "mouse_down", *rng.integers(0, 128, 2))
        else:
            ex.set_param("patch", int(rng.integers(2, 32)), "occlusion")
        if i % 25 == 0:
            ex.wait()
    assert ex.wait(60)
    time.sleep(0.1)
    grown = _rss_mb() - start
    ex.close()
    assert_unchanged(before, model)
    assert grown < 50, f"memory grew by {grown:.1f} MB over 450 interactions"
