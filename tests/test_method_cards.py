"""Method cards (issue 16): every registered method has a valid card, the cards and the
comparison table render with our measured speeds, and the Explorer's (i) button shows a card
without changing the selection."""

from __future__ import annotations

import json
from importlib import resources

import pytest

import xai_widgets as xw
from helpers import make_input, make_model
from xai_widgets.methods import card as card_module
from xai_widgets.methods.card import CRITERIA, RATINGS, TEXT_FIELDS, card_path, parse_card

GOOD = """
title = "Grad-CAM"
paper = "Selvaraju et al., ICCV 2017"
formula = "ReLU(sum_k a_k A^k)"
question = "Where?"
cost = "one forward and one backward pass"
misleads = "Coarse."
[criteria]
detail = "low"
class_discrimination = "high"
effort = "low"
intuitive = "high"
model_agnostic = false
"""


@pytest.mark.parametrize("name", xw.list_methods())
def test_every_registered_method_has_a_valid_card(name: str) -> None:
    where = f"xai_widgets/methods/cards/{name}.toml"
    assert card_path(name).is_file(), f"method {name!r} has no card: write {where}"
    card = xw.method_card(name)
    assert card.name == name
    assert card.title == xw.method_label(name), f"{where}: title should be the method's label"
    for key in TEXT_FIELDS:
        assert len(getattr(card, key)) >= 3, f"{where}: {key} is too short"
    for key in ("detail", "class_discrimination", "effort", "intuitive"):
        assert getattr(card.criteria, key) in RATINGS
    assert isinstance(card.criteria.model_agnostic, bool)


@pytest.mark.parametrize("name", xw.list_methods())
def test_every_registered_method_is_measured_or_skipped_with_a_reason(name: str) -> None:
    speeds = json.loads(
        resources.files("xai_widgets.methods").joinpath("cards", "speeds.json").read_text()
    )
    fix = "run OMP_NUM_THREADS=1 python benchmarks/bench_cards.py"
    measured, skipped = speeds["methods"].get(name), speeds["skipped"].get(name)
    assert measured or skipped, f"{name!r} is not in speeds.json: {fix}"
    if measured:
        assert measured["ms"] > 0 and measured["forward_ratio"] > 0
    else:
        assert len(skipped) > 20  # a reason a person can read


def test_a_card_renders_as_html_and_text() -> None:
    card = xw.method_card("occlusion")
    text, page = str(card), card._repr_html_()
    assert text.startswith("Occlusion (occlusion)")
    assert "Zeiler & Fergus" in text and "Model-agnostic yes" in text
    assert " ms, " in text and "x one forward pass (median of" in text
    assert "zoo model 'shapes'" in text
    assert "class='xw-card xw-card-occlusion'" in page and "<h4" in page
    assert "Zeiler &amp; Fergus" in page  # escaped
    assert page.count("<tr>") >= 6


def test_a_method_that_does_not_apply_to_the_benchmark_model_says_why() -> None:
    card = xw.method_card("cam")
    assert card.speed is None
    assert card.speed_note.startswith("not measured: does not apply to zoo model 'shapes'")
    assert "global-average-pool" in str(card)


def test_unknown_method_lists_the_registered_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown method 'gradcam'; registered methods: .*cam"):
        xw.method_card("gradcam")
    with pytest.raises(TypeError, match="method must be a name"):
        xw.method_card(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace('misleads = "Coarse."\n', ""), r"missing fields \['misleads'\]"),
        (lambda t: t + 'speed = "fast"\n', r"x\.toml: \[criteria\] missing \[\], unknown"),
        (lambda t: 'colour = "red"\n' + t, r"unknown fields \['colour'\]"),
        (lambda t: t.replace('detail = "low"', 'detail = "tiny"'), r"criteria\.detail is 'tiny'"),
        (lambda t: t.replace("= false", '= "no"'), "model_agnostic must be true or false"),
        (lambda t: t.replace('"Where?"', '" "'), "'question' must be a non-empty string"),
        (lambda t: t.replace('"Grad-CAM"', "Grad-CAM"), "not valid TOML"),
    ],
)
def test_a_broken_card_raises_a_clear_error_naming_its_file(change, message) -> None:
    assert parse_card("x", GOOD, "x.toml")[1].detail == "low"
    with pytest.raises(ValueError, match=message) as info:
        parse_card("x", change(GOOD), "cards/x.toml")
    assert "method card cards/x.toml" in str(info.value)


def test_a_registered_method_without_a_card_file_names_the_file_to_write(monkeypatch) -> None:
    monkeypatch.setattr(card_module, "card_path", lambda name: card_path("no_such_method"))
    with pytest.raises(FileNotFoundError, match=r"write xai_widgets/methods/cards/saliency\.toml"):
        xw.method_card("saliency")


def test_the_table_has_a_row_per_method_with_the_measured_speeds() -> None:
    table = xw.method_table()
    speeds = json.loads(
        resources.files("xai_widgets.methods").joinpath("cards", "speeds.json").read_text()
    )
    assert [r["method"] for r in table.rows] == xw.list_methods()
    for row in table.rows:
        measured = speeds["methods"].get(row["method"])
        assert row["ms"] == (measured["ms"] if measured else None)
        assert row["detail"] == xw.method_card(row["method"]).criteria.detail
    text, page = str(table), table._repr_html_()
    for header in CRITERIA.values():
        assert header in text and header in page
    lines = text.splitlines()
    assert lines[0].split()[0] == "Method" and len(lines) >= len(table.rows) + 3
    grad_cam = next(r for r in table.rows if r["method"] == "grad_cam")
    line = next(line for line in lines if line.startswith("Grad-CAM  "))
    assert f"{grad_cam['ms']:.1f}" in line
    assert f"zoo model '{speeds['model']}'" in text and speeds["machine"] in page
    assert page.count("<tr class='xw-row-") == len(table.rows)


def test_the_info_button_shows_the_card_and_keeps_the_method() -> None:
    ex = xw.Explorer(make_model("resnet"), make_input(n=2, size=32), size=96)
    assert ex.wait()
    toggles = ex.explain_tab.toggles
    assert set(toggles.info) == set(xw.list_methods())
    before = (ex.selection.method, ex.selection.params, ex.explanation)
    assert toggles.card.layout.display == "none"
    toggles.info["lime"].click()
    assert toggles.card.layout.display is None
    assert toggles.card.value == xw.method_card("lime")._repr_html_()
    assert "Ribeiro" in toggles.card.value and toggles.info["lime"].button_style == "info"
    assert (ex.selection.method, ex.selection.params, ex.explanation) == before
    assert toggles.buttons[before[0]].value and not toggles.buttons["lime"].value
    toggles.info["rise"].click()  # another card replaces it
    assert "Petsiuk" in toggles.card.value and toggles.card.layout.display is None
    assert toggles.info["rise"].button_style == "info" and toggles.info["lime"].button_style == ""
    toggles.info["rise"].click()  # the same button closes it
    assert toggles.card.layout.display == "none" and toggles.info["rise"].button_style == ""
    assert ex.wait() and ex.explanation is before[2]
    ex.close()


def test_a_method_registered_at_run_time_without_a_card_is_listed_not_broken() -> None:
    from dataclasses import dataclass

    from xai_widgets.methods import registry

    @registry.register("user_method", family="gradient", label="User method")
    @dataclass(frozen=True)
    class UserMethod(registry.Method):
        def __call__(self, model, x, target, progress=None, cache=None):
            return x

    try:
        with pytest.raises(FileNotFoundError, match=r"write xai_widgets/methods/cards/user_m"):
            xw.method_card("user_method")
        table = xw.method_table()
        assert "user_method" not in [r["method"] for r in table.rows]
        assert table.without_card == ["user_method"]
        assert "No card (registered at run time): user_method" in str(table)
        ex = xw.Explorer(make_model("resnet"), make_input(n=1, size=32), size=64)
        assert "user_method" in ex.explain_tab.toggles.buttons
        assert "user_method" not in ex.explain_tab.toggles.info
        ex.close()
    finally:
        registry._REGISTRY.pop("user_method", None)
