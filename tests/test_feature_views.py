"""The feature views (issue 5: Activations, Filters, Feature visualization) driven from Python:
trait and control changes and simulated canvas events, no browser. Oracles: the pure
functions of ``xai_widgets.features`` and ``xai_widgets.render``."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw
from helpers import MODEL_NAMES, add_user_hooks, assert_unchanged, make_input, make_model, snapshot
from xai_widgets import features as xf
from xai_widgets.render import render_heatmap
from xai_widgets.widgets import Selection
from xai_widgets.widgets.images import Preprocess
from xai_widgets.widgets.views import (
    ActivationsView,
    FeatureVisView,
    FiltersView,
)
from xai_widgets.widgets.views.tiles import channel_grid

FEATURE_VIEWS = (ActivationsView, FiltersView, FeatureVisView)

LAYER = {"vgg": "features.3", "resnet": "layer1", "functional": "conv2"}


def mouse(canvas, event: str, x: float, y: float) -> None:
    """What arrives when the browser reports a mouse event: a custom widget message."""
    canvas._handle_custom_msg({"event": event, "x": float(x), "y": float(y)}, [])


def ranked(values: torch.Tensor) -> list[int]:
    return torch.sort(values, descending=True, stable=True).indices.tolist()


def rf_display(view: ActivationsView, layer: str, x: torch.Tensor, unit) -> tuple:
    top, left, bottom, right = xf.receptive_field(view.model, layer, x, unit)
    height, width = x.shape[2:]
    top, left, bottom, right = max(top, 0), max(left, 0), min(bottom, height), min(right, width)
    s = view.scale
    return round(left * s), round(top * s), round((right - left) * s), round((bottom - top) * s)


@pytest.fixture
def act_view():
    view = ActivationsView(make_model("vgg"), make_input(n=5, size=32, seed=3), size=128)
    assert view.wait()
    yield view
    view.close()


def test_grid_is_ranked_by_mean_activation(act_view) -> None:
    assert act_view.shown["layer"] == "features.4"  # the default layer: not the pooling
    assert act_view.layer_picker.value == "features.4" and act_view.layer == ""
    act_view.layer = "features.3"
    assert act_view.wait() and act_view.error.value == ""
    x = act_view.picture_input()
    acts = xf.post_activation(act_view.model, x, "features.3").maps[0]
    order = ranked(acts.mean((1, 2)))
    assert act_view.shown["order"] == order and act_view.shown["channel"] == order[0]
    assert act_view.shown["layout"].n == 16
    scale = (float(acts.min()), float(acts.max()))  # one scale for all tiles by default
    expected, _ = channel_grid(acts, order, acts.mean((1, 2))[order].tolist(), scale=scale)
    np.testing.assert_array_equal(act_view.grid.image.array, expected)
    assert "channels 1–16 of 16" in act_view.grid_label.value
    assert "after features.4 (ReLU)" in act_view.caption.value  # post-activation maps, said
    bar = act_view.grid_bar
    assert bar.lo.value == f"<code>{scale[0]:.3g}</code>" and "one scale" in bar.meaning.value
    act_view.scale_box.value = False  # each tile on its own
    assert act_view.wait()
    expected, _ = channel_grid(acts, order, acts.mean((1, 2))[order].tolist())
    np.testing.assert_array_equal(act_view.grid.image.array, expected)
    assert "own min" in bar.meaning.value
    labels = dict(act_view.layer_picker.options)
    assert labels["features.3 - Conv2d - 16 x 16 x 16"] == "features.3"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_tile_click_selects_the_channel_and_draws_its_map(name: str) -> None:
    view = ActivationsView(make_model(name), make_input(n=3, size=32, seed=1), size=128)
    view.layer = LAYER[name]
    assert view.wait()
    layout, order = view.shown["layout"], view.shown["order"]
    x0, y0 = layout.origin(3)
    mouse(view.grid.widget, "mouse_down", x0 + 10, y0 + 10)
    assert view.wait() and view.error.value == "", view.error.value
    channel = order[3]
    assert view.channel == channel and view.shown["channel"] == channel
    x = view.picture_input()
    heat = xf.post_activation(view.model, x, LAYER[name]).maps[0, channel]
    mode = "positive" if float(heat.min()) >= 0 else "signed"
    expected = render_heatmap(heat, None, mode=mode, size=(128, 128))
    np.testing.assert_array_equal(view.canvas.heatmap.array, expected)
    peak = divmod(int(heat.flatten().argmax()), heat.shape[1])
    assert view.shown["unit"] == peak
    assert view.canvas.pointer == rf_display(view, LAYER[name], x, peak)
    assert f"channel {channel}</b>" in view.caption.value
    assert view.grid.boxes and view.grid.boxes[0][:2] == (x0 - 2, y0 - 2)  # selection outline
    view.close()


def test_image_click_ranks_channels_at_that_place(act_view) -> None:
    act_view.layer = "features.3"  # 16 x 16 map over a 32 px picture shown at 128 px
    assert act_view.wait()
    mouse(act_view.canvas.widget, "mouse_down", 50, 90)
    assert act_view.wait()
    i, j = int(90 / 4 * 16 / 32), int(50 / 4 * 16 / 32)
    assert act_view.unit == (i, j) == act_view.shown["unit"]
    x = act_view.picture_input()
    acts = xf.post_activation(act_view.model, x, "features.3").maps[0]
    order = ranked(acts[:, i, j])
    assert act_view.shown["order"] == order and act_view.shown["channel"] == order[0]
    assert act_view.canvas.pointer == rf_display(act_view, "features.3", x, (i, j))
    assert f"activation at unit (x, y) = ({j}, {i})" in act_view.grid_label.value
    act_view.selection.index = 2  # a new picture: back to the mean ranking
    assert act_view.wait() and act_view.unit is None
    acts2 = xf.post_activation(act_view.model, act_view.picture_input(), "features.3").maps[0]
    assert act_view.shown["order"] == ranked(acts2.mean((1, 2)))


def test_pages_of_64_channels() -> None:
    model = nn.Sequential(nn.Conv2d(3, 80, 3, padding=1), nn.ReLU(), nn.Conv2d(80, 4, 1)).eval()
    view = ActivationsView(model, make_input(n=2, size=16), size=64)
    view.layer = "1"
    assert view.wait() and view.shown["layout"].n == 64 and view.prev.disabled
    acts = xf.post_activation(model, view.picture_input(), "1").maps[0]
    order = ranked(acts.mean((1, 2)))
    view.next.click()
    assert view.wait() and view.page == 1 and view.shown["layout"].n == 16 and view.next.disabled
    x0, y0 = view.shown["layout"].origin(5)
    mouse(view.grid.widget, "mouse_down", x0 + 3, y0 + 3)
    assert view.wait() and view.channel == order[69]
    view.close()


def test_exemplars_equal_top_activating(act_view) -> None:
    act_view.layer = "features.3"
    act_view.channel = 4
    assert act_view.wait()
    act_view.exemplar_panel.button.click()
    assert act_view.wait() and act_view.error.value == ""
    batch = torch.stack([p.input for p in act_view.selection.pictures])
    expected = xf.top_activating(act_view.model, batch, "features.3", 4, k=5)
    ex = act_view.exemplars
    assert ex is not None and ex.channel == 4
    assert torch.equal(ex.indices, expected.indices)
    torch.testing.assert_close(ex.scores, expected.scores)
    assert act_view.exemplar_panel.grid.image.size[0] == 5 * 96 + 4 * 4
    assert "5 of 5 gallery pictures" in act_view.exemplar_panel.caption.value


def test_filters_grid_tiles_modes_and_zoom() -> None:
    model = make_model("vgg")
    view = FiltersView(model, make_input(n=1))
    assert view.wait()
    assert view.layer == "features.0" and view.filters.mode == "rgb"
    assert view.layout_info.n == 8 and view.layout_info.ncols == 8
    view.layer = "features.3"
    assert view.wait() and view.filters.mode == "channels"
    assert view.layout_info.n == 16 * 8 and view.layout_info.ncols == 8
    zoom = view.zoom_slider.value  # the fitted zoom
    assert view.grid.size[0] <= 640 and view.layout_info.tile_w == 3 * zoom
    view.zoom_slider.value = 4
    assert view.wait() and view.grid.size == (8 * 12 + 7 * 2, 16 * 12 + 15 * 2)
    view.mode = "norms"
    assert view.wait() and view.layout_info.n == 1 and view.filters.weights.shape == (16, 8)
    view.mode = "rgb"  # 8 input channels are no colour patch: shown, then the next input works
    assert view.wait() and "ValueError" in view.error.value and "not 1 or 3" in view.error.value
    view.mode = "auto"
    assert view.wait() and view.error.value == "" and view.filters.mode == "channels"
    labels = [label for label, _ in view.layer_picker.options]
    assert labels == ["features.0  8 x 3 x 3 x 3", "features.3  16 x 8 x 3 x 3"]
    view.close()


@pytest.fixture
def fv_view():
    view = FeatureVisView(make_model("vgg"), make_input(n=2, size=32, seed=4))
    assert view.wait()
    yield view
    view.close()


def test_controls_are_derived_from_the_declared_settings(fv_view) -> None:
    import inspect

    from xai_widgets.features.dream import DreamSettings
    from xai_widgets.features.optimize import FeatVisSettings
    from xai_widgets.params import declared

    for fn, settings, controls in (
        (xf.optimize, FeatVisSettings, fv_view.params),
        (xf.dream, DreamSettings, fv_view.dream_params),
    ):
        specs = {spec.name: spec for spec in declared(settings)}
        assert set(controls) == set(specs)
        signature = inspect.signature(fn).parameters
        for name, control in controls.items():
            assert control.value == specs[name].default == signature[name].default, name
            assert control.tooltip == specs[name].help
            if specs[name].kind == "number":
                assert (control.min, control.max) == (specs[name].min, specs[name].max), name
            if specs[name].kind == "choice":
                assert tuple(control.options) == specs[name].choices


def test_feature_visualization_raises_the_objective(fv_view) -> None:
    fv_view.layer, fv_view.channel = "features.3", 2
    fv_view.params["steps"].value = 32
    fv_view.run_button.click()
    assert fv_view.wait() and fv_view.error.value == ""
    steps = [s for s, _ in fv_view.history]
    assert steps == [0, 8, 16, 24, 32]
    assert fv_view.history[-1][1] > fv_view.history[0][1]
    assert fv_view.preview.image is not None and "step 32 / 32" in fv_view.caption.value
    assert fv_view.stop_button.disabled and fv_view.status.value == "done"
    expected = list(xf.optimize(fv_view.model, "features.3", 2, steps=32, size=32, every=8))
    torch.testing.assert_close(fv_view.image, expected[-1].image)


def test_the_class_objective_names_the_class(fv_view) -> None:
    fv_view.params["objective"].value = "class"
    assert fv_view.target_box.layout.display is None
    assert fv_view.channel_box.layout.display == "none"
    fv_view.target_box.value = 1
    fv_view.params["steps"].value = 8
    fv_view.run()
    assert fv_view.wait() and fv_view.error.value == ""
    assert "the logit of class 1" in fv_view.caption.value


def test_stop_and_a_newer_run_end_the_running_one(fv_view) -> None:
    fv_view.params["steps"].value = 1024
    fv_view.run()
    deadline = time.monotonic() + 30
    while len(fv_view.history) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    fv_view.stop_button.click()
    assert fv_view.wait()
    assert 0 < fv_view.history[-1][0] < 1024 and "stopped at step" in fv_view.status.value
    fv_view.run()  # restart, then supersede it at once with a short run
    fv_view.params["steps"].value = 16
    fv_view.run()
    assert fv_view.wait() and [s for s, _ in fv_view.history] == [0, 8, 16]


def test_whole_layer_objective_and_channel_limit(fv_view) -> None:
    fv_view.params["objective"].value = "layer"
    assert fv_view.channel is None
    fv_view.layer = "features.0"
    assert fv_view.channel_box.max == 7
    fv_view.params["steps"].value = 8
    fv_view.run()
    assert fv_view.wait() and "whole layer" in fv_view.caption.value


def test_deep_dream_on_the_current_picture(fv_view) -> None:
    fv_view.selection.index = 1
    fv_view.layer = "features.3"
    fv_view.dream_params["octaves"].value = 2
    fv_view.dream_params["steps"].value = 5
    fv_view.dream_button.click()
    assert fv_view.wait() and fv_view.error.value == ""
    x = fv_view.selection.pictures[1].input[None]
    expected = xf.dream(fv_view.model, x, "features.3", octaves=2, steps=5)
    torch.testing.assert_close(fv_view.dreamed, expected)
    assert fv_view.dream_view.image.size == (2 * 256 + 8, 256 + 14)


def test_errors_are_shown_in_the_view_and_the_next_input_works(act_view, fv_view) -> None:
    act_view.layer = "nope"
    assert act_view.wait() and "unknown layer &#x27;nope" in act_view.error.value
    act_view.layer = "features.3"
    assert act_view.wait() and act_view.error.value == ""
    fv_view.channel = 99
    fv_view.run()
    assert fv_view.wait() and "out of range" in fv_view.error.value
    fv_view.channel = 1
    fv_view.params["steps"].value = 8
    fv_view.run()
    assert fv_view.wait() and fv_view.error.value == "" and fv_view.history[-1][0] == 8
    fv_view.layer = "features"
    fv_view.dream_params["octaves"].value = 6  # the smallest octave is too small
    fv_view.deep_dream()
    assert fv_view.wait() and "smallest octave" in fv_view.error.value
    fv_view.dream_params["octaves"].value = 1
    fv_view.dream_params["steps"].value = 2
    fv_view.deep_dream()
    assert fv_view.wait() and fv_view.error.value == "" and fv_view.dreamed is not None


def test_a_failing_model_is_shown_in_the_view() -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("the model is broken")

    view = ActivationsView(Broken(), make_input(n=1))
    assert view.wait() and "RuntimeError" in view.error.value and "broken" in view.error.value
    view.close()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_views_leave_the_model_unchanged(name: str) -> None:
    model = make_model(name)
    add_user_hooks(model)
    model.train()
    before = snapshot(model)
    host = Selection(model, make_input(n=3, size=32, seed=5))
    act, filt, fv = (cls(host, lazy=False) for cls in FEATURE_VIEWS)
    act.layer = LAYER[name]
    assert host.engine.wait()
    mouse(act.canvas.widget, "mouse_down", 100, 60)
    act.find_exemplars()
    fv.layer, fv.channel = LAYER[name], 1
    fv.params["steps"].value = 8
    fv.run()
    assert host.engine.wait()
    fv.dream_params["steps"].value = 2
    fv.deep_dream()
    filt.layer = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)][-1]
    assert host.engine.wait()
    for view in (act, filt, fv):
        assert view.error.value == "", view.error.value
    assert act.exemplars is not None and fv.history and fv.dreamed is not None
    assert_unchanged(before, model)
    host.close()


def test_explorer_tabs_compute_only_when_shown() -> None:
    ex = xw.Explorer(make_model("resnet"), make_input(n=3, size=32, seed=2), size=128)
    sel = ex.selection
    views = ex.feature_views  # the Explorer adds the tabs itself
    assert ex.tabs.titles[:4] == ("Explain", "Activations", "Filters", "Feature visualization")
    assert list(ex.tabs.children[1:4]) == views
    act = views[0]
    assert ex.wait() and not act.shown  # hidden: nothing computed
    ex.tabs.selected_index = 1
    assert ex.wait() and act.shown["index"] == 0 and act.error.value == ""
    sel.index = 2  # shown: follows the gallery
    assert ex.wait() and act.shown["index"] == 2
    ex.tabs.selected_index = 0
    sel.index = 1  # hidden: waits until shown again
    assert ex.wait() and act.shown["index"] == 2
    ex.tabs.selected_index = 1
    assert ex.wait() and act.shown["index"] == 1 and act.picker.value == 1
    act.layer = "nope"  # the view's error, not the Explain tab's
    assert ex.wait() and "nope" in act.error.value and ex.explain_tab.error.value == ""
    act.picker.value = 0  # the view's picker moves the selection too
    assert sel.index == 0
    ex.close()


def test_preprocess_display_undoes_the_preprocessing() -> None:
    x = torch.rand(3, 8, 8)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    normed = (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    shown = Preprocess.of((mean, std)).display(normed).astype(int)
    assert np.abs(shown - (x.permute(1, 2, 0).numpy() * 255).round()).max() <= 1
    assert Preprocess.of(None).display(x).tolist() == xw.render.image_to_uint8(x).tolist()
    wide = Preprocess.of(lambda im: im).display(normed * 10)  # a callable: min-max
    assert wide.min() == 0 and wide.max() == 255
    assert Preprocess.of((mean, std)).kind == "normalize"
    with pytest.raises(TypeError, match="zoo card"):
        Preprocess.of(42)


def test_zoo_shapes_model_in_the_views() -> None:
    from xai_widgets import data, zoo

    try:
        model, card = zoo.load("shapes"), zoo.card("shapes")
    except FileNotFoundError:
        pytest.skip("the zoo's shapes weights are not there yet")
    images, _labels, _ = data.dataset(card.dataset, 6, seed=1, **card.dataset_kwargs)
    host = Selection(model, list(images), preprocess=card, classes=card.classes)
    act, filt, fv = (cls(host, lazy=False) for cls in FEATURE_VIEWS)
    act.layer = "features.6"
    fv.layer, fv.channel = "features.6", 0
    fv.params["steps"].value = 16
    fv.run()
    assert host.engine.wait(120)
    assert act.shown["layout"].n == 32 and act.error.value == ""
    assert filt.filters.mode == "rgb" and filt.layout_info.n == 8  # grey first-layer patches
    assert fv.history[-1][1] > fv.history[0][1] and fv.error.value == ""
    shown = act.canvas.image.array
    assert shown.shape == (256, 256, 3) and shown.std() > 10  # the picture, not a flat image
    host.close()


def test_exemplars_come_from_the_data_set_when_there_is_one() -> None:
    model = make_model("vgg")
    data = make_input(n=20, size=32, seed=9)
    view = ActivationsView(model, make_input(n=3, size=32, seed=3), size=128)
    view.selection.dataset = data  # as Explorer(..., dataset=...) gives it
    view.layer, view.channel = "features.3", 2
    assert view.wait()
    view.find_exemplars()
    assert view.wait() and view.error.value == ""
    expected = xf.top_activating(model, data, "features.3", 2, 9)
    assert view.exemplars.indices.tolist() == expected.indices.tolist()
    assert "of 20 data set images" in view.exemplar_panel.caption.value
    view.close()


def test_explorer_from_zoo_brings_its_data_set_and_masks() -> None:
    from xai_widgets import zoo

    try:
        zoo.load("shapes")
    except FileNotFoundError:
        pytest.skip("the zoo's shapes weights are not there yet")
    ex = xw.Explorer.from_zoo("shapes", n=4, data_size=50)
    sel = ex.selection
    assert tuple(sel.dataset.shape) == (50, 1, 64, 64) and len(sel.masks) == 4
    assert sel.masks[0].dtype == torch.bool and sel.masks[0].any()
    ex.close()


def test_filters_say_what_they_are_and_deep_layers_show_the_strongest() -> None:
    first = nn.Conv2d(1, 8, 3, padding=1)
    deep = nn.Conv2d(8, 64, 3, padding=1)
    model = nn.Sequential(first, nn.ReLU(), deep, nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(64, 3)).eval()  # fmt: skip
    view = FiltersView(model, torch.rand(2, 1, 16, 16))
    assert view.wait() and view.error.value == ""
    assert (
        "8 filters of 1 input channel" in view.caption.value and "(rgb)" not in view.caption.value
    )
    assert view.top_caption.value == "" and view.top_grid.image is None  # 8 kernels: readable
    view.layer = "2"
    assert view.wait() and view.error.value == ""
    assert "64 filters of 8 input channels" in view.caption.value
    from xai_widgets.features.activations import top_filters

    summary = top_filters(model, "2", 8)
    assert "The strongest filters" in view.top_caption.value
    assert f"#{int(summary.indices[0])}," in view.top_caption.value
    assert view.top_grid.image is not None
