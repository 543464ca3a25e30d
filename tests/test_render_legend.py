"""render.flatness / legend / flat_message / natural_mode: the words beside a colour bar."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xai_widgets import render


def test_zero_constant_noise_structured() -> None:
    assert render.flatness(np.zeros((8, 8), np.float32)).kind == "zero"
    assert render.flatness(torch.zeros(1, 4, 4)).kind == "zero"
    state = render.flatness(np.full((3, 3), 0.25, np.float32))
    assert state.kind == "constant" and state.lo == state.hi == 0.25 and state.flat
    # The walkthrough's probe: p(triangle) near 1 moved by float rounding only.
    p = np.float32(0.9999999)
    drops = (np.float32(1.0) - np.array([p, 1.0, p - np.float32(1e-7)], np.float32)).reshape(1, 3)
    assert render.flatness(drops, reference=1.0).kind == "noise"
    structured = render.flatness(np.array([[0.0, 0.2], [0.1, -0.3]], np.float32))
    assert structured.kind == "structured" and not structured.flat
    assert structured.spread == pytest.approx(0.5)


def test_noise_floor_scales_with_reference_and_dtype() -> None:
    tiny = np.array([0.0, 2e-5], np.float32)
    assert render.flatness(tiny).kind == "structured"  # small, but far above its own eps
    assert render.flatness(tiny, reference=10.0).kind == "noise"  # next to a logit of 10
    state = render.flatness(tiny, reference=10.0)
    assert state.floor == pytest.approx(64 * np.finfo(np.float32).eps * 10.0)
    assert render.flatness(tiny.astype(np.float64), reference=10.0).kind == "structured"
    assert render.flatness(tiny, reference=10.0, rtol=0.0).kind == "structured"


def test_flatness_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        render.flatness(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="NaN or inf"):
        render.flatness(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="reference"):
        render.flatness(np.ones(3), reference=float("inf"))
    with pytest.raises(ValueError, match="rtol"):
        render.flatness(np.ones(3), rtol=-1.0)


def test_legend_words() -> None:
    assert render.legend("signed", "triangle") == "red supports 'triangle', blue speaks against it"
    assert render.legend("positive", "square") == "brighter = more important for 'square'"
    assert render.legend("minmax", 428) == "brighter = more important for class 428"
    assert render.legend("positive", "428") == "brighter = more important for class 428"
    assert render.legend("positive", "class 428").endswith("for class 428")  # never "class class"
    assert "sign is dropped" in render.legend("abs", "cat")
    assert "the explained class" in render.legend("signed")
    with pytest.raises(ValueError, match="unknown mode 'hot'"):
        render.legend("hot", "cat")


def test_natural_mode_matches_the_palette() -> None:
    signed, positive = np.array([-0.1, 0.3]), np.array([0.0, 0.3])
    assert render.natural_mode(signed) == "signed" and render.natural_mode(positive) == "positive"
    assert render.default_cmap(render.natural_mode(signed)) == "RdBu_r"  # diverging, 0 white
    assert render.default_cmap(render.natural_mode(positive)) == "inferno"  # one sequential


def test_flat_messages() -> None:
    zero = render.flatness(np.zeros((4, 4)))
    text = render.flat_message(zero, "Grad-CAM", "square", "features.6", positive_only=True)
    assert text == (
        "Grad-CAM found no positive evidence for 'square' at layer features.6 "
        "(the map is zero everywhere)"
    )
    assert "found no evidence for class 3" in render.flat_message(zero, "Saliency", 3)
    constant = render.flat_message(render.flatness(np.full(4, 0.5)), "CAM", "cat")
    assert "same value (0.5) everywhere" in constant
    noise = render.flatness(np.array([1e-7, 2e-7], np.float32), reference=1.0)
    assert "no measurable change" in render.flat_message(noise, "Occlusion probe", "triangle")
    assert render.flat_message(render.flatness(np.array([0.0, 1.0])), "CAM") == ""
