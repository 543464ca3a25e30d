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
from traitlets import TraitError

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
    assert ex.wait()
    yield ex
    ex.close()


def test_opens_with_a_map_top_classes_and_layers(explorer) -> None:
    tab = explorer.explain_tab
    assert tab.canvas.image is not None and tab.canvas.heatmap is not None
    assert explorer.explanation.method == "grad_cam"
    assert explorer.explanation.params["layer"] == "layer2"
    labels = [b.description for b in tab.top.buttons if b.layout.display != "none"]
    assert len(labels) == 4 and all("%" in label for label in labels)
    values = [v for _, v in tab.layer_picker.options]
    assert values[0] == "" and "layer1" in values and "layer2.conv2" in values
    assert "Grad-CAM" in tab.status.value and tab.error.value == ""


def test_the_constructor_never_blocks_on_computation() -> None:
    model = make_model("resnet")
    started = time.perf_counter()
    ex = xw.Explorer(model, make_input(n=2), method="occlusion", size=128)
    ex.set_param("stride", 1)
    assert time.perf_counter() - started < 2.0
    assert ex.wait(60) and ex.explanation.method == "occlusion"
    ex.close()


@pytest.mark.parametrize(
    ("trait", "value", "check"),
    [
        ("method", "saliency", lambda e: e.method == "saliency"),
        ("index", 3, lambda e: e.inputs is not None),
        ("target", 2, lambda e: e.target == [2]),
        ("layer", "layer1", lambda e: e.params["layer"] == "layer1"),
    ],
)
def test_setting_a_selection_trait_shows_its_explanation(explorer, trait, value, check) -> None:
    setattr(explorer.selection, trait, value)
    assert explorer.wait()
    assert check(explorer.explanation)
    if trait == "index":
        x = explorer.selection.pictures[3].input[None]
        torch.testing.assert_close(explorer.explanation.inputs, x)


def test_params_follow_the_controls_both_ways(explorer) -> None:
    sel, tab = explorer.selection, explorer.explain_tab
    sel.method = "occlusion"
    sel.params = {"patch": 8}  # merged with the current values, then checked
    assert sel.params == {"patch": 8, "stride": 8, "baseline": 0.0, "approximate": False}
    assert tab.controls.controls["occlusion"]["patch"].value == 8
    tab.controls.controls["occlusion"]["stride"].value = 4  # as a slider drag does
    assert sel.params["stride"] == 4
    assert explorer.wait() and explorer.explanation.params == {
        "patch": 8,
        "stride": 4,
        "baseline": 0.0,
        "approximate": False,
        "engine": "incremental",  # as used: the engine that computed it
    }
    with pytest.raises(TraitError, match="parameter 'patch' must be <= 4096"):
        sel.params = {"patch": 10**6}
    with pytest.raises(TraitError, match=r"unknown parameter\(s\) nope"):
        sel.params = {"nope": 1}
    sel.method = "saliency"
    sel.method = "occlusion"  # a method keeps its values while another is shown
    assert sel.params["patch"] == 8


def test_every_method_toggle_shows_its_map(explorer) -> None:
    tab = explorer.explain_tab
    seen = {}
    for name in xw.list_methods():
        if name in xw.list_methods("attention"):  # a CNN: disabled with its reason
            assert explorer.wait(30) and "no attention module" in tab.unavailable[name]
            assert tab.toggles.buttons[name].disabled
            continue
        tab.toggles.buttons[name].value = True  # as a click on the toggle does
        assert explorer.wait(30)
        assert explorer.selection.method == name and tab.error.value == "", tab.error.value
        assert f"data-method='{name}'" in tab.status.value
        assert explorer.explanation.method == name
        seen[name] = tab.canvas.heatmap.data
    assert len(set(seen.values())) == len(seen), "two methods drew the same pixels"


def test_param_controls_come_from_method_params(explorer) -> None:
    sel, tab = explorer.selection, explorer.explain_tab
    sel.method = "occlusion"
    names = {c._dom_classes[0] for c in tab.visible_controls()}
    assert names == {
        "xw-param-patch",
        "xw-param-stride",
        "xw-param-baseline",
        "xw-param-approximate",
    }
    patch = tab.controls.controls["occlusion"]["patch"]
    assert patch.max == 32 and patch.value == 16  # capped at the image side
    sel.method = "score_cam"
    assert tab.visible_controls() == [
        tab.layer_picker,
        tab.controls.controls["score_cam"]["batch_size"],
    ]


def test_latest_value_wins_after_100_rapid_slider_changes(explorer, monkeypatch) -> None:
    sel, tab = explorer.selection, explorer.explain_tab
    sel.method = "occlusion"
    explorer.wait()
    calls = []
    original = xw.methods.get_method("occlusion").stream

    def counting(self, *args, **kwargs):
        calls.append(self.patch)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(xw.methods.get_method("occlusion"), "stream", counting)
    slider = tab.controls.controls["occlusion"]["patch"]
    for value in [*range(2, 32), *range(31, 1, -1), *range(2, 42)][:100]:
        slider.value = min(value, 32)
    final = slider.value
    assert explorer.wait(30)
    assert calls[-1] == final and len(calls) < 100
    fresh = xw.explain(explorer.selection.model, tab.explanation.inputs, "occlusion", patch=final)
    np.testing.assert_allclose(tab.heat, fresh.heatmap[0].numpy(), rtol=1e-4, atol=1e-6)
    assert explorer.explanation.params["patch"] == final and explorer.explanation.fraction == 1


def test_an_error_is_shown_and_the_next_input_works() -> None:
    model = make_model("vgg")  # no GAP head: CAM is undefined
    ex = xw.Explorer(model, make_input(n=2), size=128)
    tab = ex.explain_tab
    ex.selection.method = "cam"
    assert ex.wait()
    assert "ValueError" in tab.error.value and "global-average-pool" in tab.error.value
    assert "error" in tab.status.value and ex.explanation is None
    assert tab.canvas.heatmap is None, "the previous method's map must not stay on screen"
    ex.selection.method = "grad_cam"
    assert ex.wait()
    assert tab.error.value == "" and "Grad-CAM" in tab.status.value
    ex.close()


def test_gallery_click_top_class_and_layer_switch(explorer) -> None:
    sel, tab = explorer.selection, explorer.explain_tab
    mouse(explorer.gallery.canvas, "mouse_down", 4 + 2 * 60 + 10, 10)
    assert explorer.wait() and sel.index == 2
    session = sel.session(2)
    other = session.top(4)[1][0]
    tab.top.buttons[1].click()
    assert explorer.wait() and sel.target == other
    assert explorer.explanation.target == [other]
    assert CLASSES[other] in tab.status.value
    tab.layer_picker.value = "layer1"
    assert explorer.wait() and sel.layer == "layer1"
    assert explorer.explanation.params["layer"] == "layer1"
    fresh = xw.explain(sel.model, session.x, "grad_cam", target=other, layer="layer1")
    torch.testing.assert_close(explorer.explanation.heatmap, fresh.heatmap)
    sel.layer = "layer2"  # the picker follows the trait
    assert tab.layer_picker.value == "layer2"


def test_switching_class_or_layer_redoes_no_forward(explorer) -> None:
    sel = explorer.selection
    calls = []
    handle = sel.model.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        for layer in ("layer1", "stem.0", "layer2"):
            sel.layer = layer
            assert explorer.wait()
        for target in (0, 1, 2, 3):
            sel.target = target
            assert explorer.wait()
    finally:
        handle.remove()
    assert calls == []


def test_pointer_outline_and_click_to_occlude(explorer) -> None:
    sel, tab = explorer.selection, explorer.explain_tab
    canvas = tab.canvas.widget
    mouse(canvas, "mouse_move", 80, 80)
    assert tab.canvas.pointer == (40, 40, 80, 80)  # patch 16 px x scale 5
    session = sel.session(0)
    before = float(session.probs[session.predicted])
    mouse(canvas, "mouse_down", 80, 80)
    assert explorer.wait()
    assert tab.canvas.patch is not None and tab.canvas.patch[0] == (40, 40, 80, 80)
    text = tab.probes.label.value
    assert f"probability {before:.3f} →" in text and "(x, y) = (8, 8)" in text, text
    assert "logit" in text and "margin to the runner-up" in text
    probe = session.probe_map()
    assert probe is not None and probe[8:24, 8:24].abs().sum() > 0 and probe[0, 0] == 0
    mouse(canvas, "mouse_down", 20, 20)
    assert explorer.wait()
    assert session.probe_count.max() == 2  # the two patches overlap
    sel.index = 1  # another picture: its own, empty probe state
    assert explorer.wait()
    assert "Occluded" not in tab.probes.label.value and tab.canvas.patch is None
    sel.index = 0
    assert explorer.wait() and sel.session(0).probe_count.max() == 2
    explorer.clear_probes()
    assert sel.session(0).probe_map() is None and tab.canvas.patch is None
    mouse(canvas, "mouse_down", 80, 80)
    assert explorer.wait() and tab.canvas.patch is not None
    sel.method = "saliency"  # the grey patch belongs to the probe, not to the next method
    assert tab.canvas.patch is None


def test_occlusion_shows_a_coarse_map_first_then_the_exact_one(explorer) -> None:
    tab = explorer.explain_tab
    shown = []
    original = tab.canvas.show

    def recording(*args, **kwargs):
        if tab.heat is not None and kwargs.get("heatmap") is not None:
            shown.append((tab.heat.copy(), tab.caption))
        return original(*args, **kwargs)

    tab.canvas.show = recording
    explorer.set_param("patch", 8, "occlusion")
    explorer.set_param("stride", 2, "occlusion")
    explorer.selection.method = "occlusion"
    assert explorer.wait()
    assert len(shown) >= 2 and "refining" in shown[0][1] and "refining" not in shown[-1][1]
    assert "patch 8, stride 2, baseline 0" in shown[-1][1]  # the status names the values
    exact = xw.explain(
        explorer.selection.model, tab.explanation.inputs, "occlusion", patch=8, stride=2
    )
    final = exact.heatmap[0].numpy()
    np.testing.assert_allclose(shown[-1][0], final, rtol=1e-4, atol=1e-6)
    assert not np.allclose(shown[0][0], final)
    assert explorer.explanation.method == "occlusion" and explorer.explanation.fraction == 1


def test_overlay_settings_redraw_without_recomputing(explorer) -> None:
    tab = explorer.explain_tab
    heat = tab.heat.copy()
    data = tab.canvas.heatmap.data
    tab.overlay.cmap.value = "viridis"
    assert explorer.wait()
    assert tab.canvas.heatmap.data != data
    np.testing.assert_array_equal(tab.heat, heat)
    tab.overlay.alpha.value = 0.2
    assert tab.canvas.alpha == 0.2
    assert tab.overlay.lo.value and tab.overlay.hi.value


def test_compare_fills_every_chosen_method(explorer) -> None:
    explorer.compare(["saliency", "grad_cam", "occlusion"])
    assert explorer.wait()
    tiles = explorer.explain_tab.compare.tiles
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
    sel, tab = explorer.selection, explorer.explain_tab
    assert sel.index == 5 and len(sel.pictures) == 6 and tab.error.value == ""
    assert len(explorer.gallery.pictures) == 6
    explorer.upload.value = (upload("notes.txt", b"not an image"),)
    assert explorer.wait()
    assert "not an image" in tab.error.value
    sel.method = "saliency"
    assert explorer.wait() and tab.error.value == ""


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
    methods = [m for m in xw.list_methods() if m not in xw.list_methods("attention")]
    start = None
    for i in range(500):
        if i == 50:  # caches and allocator warmed up
            ex.wait()
            start = _rss_mb()
        action = i % 6
        if action == 0:
            ex.selection.method = methods[int(rng.integers(len(methods)))]
        elif action == 1:
            ex.selection.index = int(rng.integers(4))
        elif action == 2:
            ex.selection.target = int(rng.integers(4))
        elif action == 3:
            mouse(ex.explain_tab.canvas.widget, "mouse_move", *rng.integers(0, 128, 2))
        elif action == 4:
            mouse(ex.explain_tab.canvas.widget, "mouse_down", *rng.integers(0, 128, 2))
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


def test_a_probe_below_float_noise_says_so() -> None:
    from xai_widgets.widgets.probe import describe
    from xai_widgets.widgets.session import ProbeResult

    still = ProbeResult(1, (12.0, 12.0 + 1e-6), (1.0, 1.0), (9.0, 9.0), 1, (0, 0, 4, 4))
    assert not still.measurable
    assert "no measurable change" in describe(still, CLASSES.__getitem__, 1)
    moved = ProbeResult(1, (2.0, 0.5), (0.7, 0.3), (1.0, -0.4), 2, (4, 8, 12, 16))
    text = describe(moved, CLASSES.__getitem__, 1)
    assert "(x, y) = (8, 4)" in text and "logit 2 → <b>0.5</b> (-1.5)" in text
    assert "probability 0.700 → <b>0.300</b>" in text and "top class now <b>two</b>" in text
