"""The Concepts tab driven from Python: it shows ``features.concepts`` of the gallery and the
dataset, a picture or class switch only redraws, a click on a concept shows its exemplars, a
misclassified picture is said with what pushed toward the wrong class, errors are shown and
the tab keeps working, Cancel stops a search."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_concepts import texture_model, texture_world
from torch import nn

import xai_widgets as xw
from helpers import make_input, make_model
from xai_widgets import features as xf
from xai_widgets.widgets import ConceptsTab
from xai_widgets.widgets import concepts_tab as module
from xai_widgets.widgets.concepts_draw import GAP, mace, segments, strip, tile_at


@pytest.fixture
def explorer():
    ex = xw.Explorer(
        make_model("resnet"), make_input(n=3, size=32), size=96, dataset=make_input(20, 32, 4)
    )
    yield ex
    ex.close()


def click(tab: ConceptsTab, x: float, y: float = 40.0) -> None:
    tab.strip.widget._canvases[-1]._handle_custom_msg({"event": "mouse_down", "x": x, "y": y}, [])


def test_the_tab_shows_the_concepts_and_a_switch_only_redraws(explorer) -> None:
    tab = explorer.show_tab(ConceptsTab)
    assert explorer.wait(60) and tab.error.value == "", tab.error.value
    sel = explorer.selection
    data = torch.cat([torch.stack([p.input for p in sel.pictures]), sel.dataset])
    expected = xf.concepts(sel.model, data, None, k=6, seed=0)
    assert torch.equal(tab.result.directions, expected.directions)
    pred = int(expected.predictions[0])
    assert tab.shown == expected.top(0, pred)
    assert "23 images" in tab.status.value and "layer2" in tab.status.value
    assert [o[1] for o in tab.layer.options][:2] == ["", "stem.0"]
    calls = []
    handle = sel.model.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        sel.index = 2
        sel.target = 3
    finally:
        handle.remove()
    assert explorer.wait(60) and calls == []  # a redraw only
    assert tab.shown == expected.top(2, 3)
    assert "ranked for <b>class 3</b>" in tab.verdict.value


def test_a_click_on_a_concept_shows_its_exemplars(explorer) -> None:
    tab = explorer.show_tab(ConceptsTab)
    assert explorer.wait(60)
    assert tab.exemplars.picture() is None or tab.selected is None
    second = tab.shown[1][0]
    click(tab, module.TILE + GAP + 10)
    assert tab.selected == second
    assert f"concept {second}</b>: the 8 images" in tab.exemplar_caption.value
    assert tab.strip.boxes and tab.strip.boxes[0][0] == module.TILE + GAP
    picture = tab.exemplars.picture()
    assert picture is not None and picture.shape[1] == 8 * (module.EXEMPLAR + GAP)
    click(tab, module.TILE + GAP // 2 + module.TILE - 1 + 3)  # a gap: nothing changes
    assert tab.selected == second
    explorer.selection.index = 1  # the selection is kept, the exemplars stay
    assert explorer.wait(60) and tab.selected == second


def test_a_misclassified_picture_shows_what_pushed_toward_the_wrong_class() -> None:
    images, _masks, labels = texture_world(40)
    model = texture_model()
    names = ["horizontal", "vertical", "diagonal"]
    ex = xw.Explorer(model, list(images), classes=names, size=96)
    ex.selection.labels = labels.tolist()
    tab = ex.show_tab(ConceptsTab)
    assert ex.wait(60) and tab.error.value == ""
    tab.k.value = 3
    assert ex.wait(60) and tab.result.k == 3
    wrong = int((tab.result.predictions != labels).nonzero()[0])
    ex.selection.index = wrong
    pred = int(tab.result.predictions[wrong])
    assert "Misclassified" in tab.verdict.value and f"the picture is <b>{names[labels[wrong]]}" in (
        tab.verdict.value
    )
    concept, relevance = tab.shown[0]  # ranked for the wrong (predicted) class
    assert relevance > 0
    texture = int(tab.result.directions[concept].reshape(3, 3).sum(1).argmax())
    assert texture == pred  # the concept that pushed is the wrong class's texture
    assert "what spoke for vertical" in tab.verdict.value
    ex.selection.index = 0
    assert "✓ correct" in tab.verdict.value
    ex.close()


def test_k_follows_the_layer_and_errors_are_shown_and_the_tab_keeps_working(monkeypatch):
    layers = [nn.Conv2d(3, 1, 1), nn.ReLU(), nn.Conv2d(1, 4, 3), nn.ReLU()]
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    ex = xw.Explorer(model, make_input(n=3, size=16), size=64)
    tab = ex.show_tab(ConceptsTab)
    assert ex.wait(60) and tab.error.value == "", tab.error.value
    assert tab.k.max == 4 and tab.k.value == 4 and tab.result.k == 4  # clamped to the channels
    tab.layer.value = "1"  # one channel: no two concepts
    assert ex.wait(60)
    assert "k=2 is more than the 1 channels of layer &#x27;1&#x27;" in tab.error.value
    assert "at least 2 channels" in tab.error.value and tab.result.layer == "3"
    tab.layer.value = "2"
    assert ex.wait(60) and tab.error.value == "" and tab.result.layer == "2"

    def broken(*_args, **_kwargs):
        raise ValueError("concepts: something went wrong")

    monkeypatch.setattr(module, "concepts", broken)
    tab.seed.value = 1
    assert ex.wait(60) and "something went wrong" in tab.error.value
    monkeypatch.undo()
    tab.seed.value = 2
    assert ex.wait(60) and tab.error.value == "" and tab.result.seed == 2
    ex.close()


def test_cancel_stops_a_search_and_the_next_setting_searches_again(explorer) -> None:
    tab = explorer.show_tab(ConceptsTab)
    assert explorer.wait(60)
    first = tab.result
    started = []
    real = module.concepts

    def slow(*args, **kwargs):
        progress = kwargs["progress"]
        started.append(1)
        for _ in range(200):
            progress(0.5)  # raises Cancelled once the search is cancelled
            __import__("time").sleep(0.01)
        return real(*args, **kwargs)

    module.concepts = slow
    try:
        tab.seed.value = 5
        while not started:
            __import__("time").sleep(0.01)
        tab.stop()
        assert explorer.wait(10)
        assert tab.result is first and "cancelled" in tab.status.value
        assert tab.progress.layout.visibility == "hidden"
    finally:
        module.concepts = real
    tab.seed.value = 6
    assert explorer.wait(60) and tab.result.seed == 6


def test_drawing_helpers() -> None:
    rgb = np.full((4, 4, 3), 200, np.uint8)
    region = np.zeros((2, 2), bool)
    region[0, 0] = True
    out = mace(rgb, region)
    assert out[:2, :2].min() == 200 and out[2:].max() == 0 and out[:, 2:].max() == 0
    labels = np.array([[0, -1], [1, -1]])
    seg = segments(rgb, labels, ["#ff0000", "#0000ff"])
    assert seg[0, 0, 0] > seg[0, 0, 2] and seg[2, 0, 2] > seg[2, 0, 0]
    assert tuple(seg[0, 3]) == (120, 120, 120)  # no concept: dimmed
    row = strip([rgb, rgb], ["a", "b"], ["+1", "-1"], ["#ff0000", "#0000ff"], 10)
    assert row.shape[1] == 2 * (10 + GAP) and tuple(row[0, 0]) == (255, 0, 0)
    assert tile_at(3, 2, 10) == 0 and tile_at(12, 2, 10) is None and tile_at(17, 2, 10) == 1


def test_a_model_with_many_classes_gets_the_relevance_of_its_predictions() -> None:
    model = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(6, 100)).eval()  # fmt: skip
    ex = xw.Explorer(model, make_input(n=3, size=16), size=64)
    ex.selection.target = 42
    tab = ex.show_tab(ConceptsTab)
    assert ex.wait(60) and tab.error.value == "", tab.error.value
    with torch.no_grad():
        preds = set(model(make_input(n=3, size=16)).argmax(1).tolist())
    assert set(tab.result.classes) == preds | {42}
    assert tab.shown == tab.result.top(0, 42)
    ex.close()
