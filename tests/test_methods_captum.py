"""from_captum: any Captum attribution class as a registered method, equal to Captum called
directly, covered by the model contract, with a clear error when Captum is missing."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
import torch
from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

import xai_widgets as xw
from helpers import assert_unchanged, make_input, make_model, prepare_state, snapshot
from xai_widgets.methods import from_captum, registry


@pytest.fixture
def registered() -> Iterator[list[str]]:
    """Names registered by a test, removed from the registry afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        registry._REGISTRY.pop(name, None)


def test_a_captum_class_becomes_a_method_equal_to_captum(registered) -> None:
    registered.append("captum_ig")
    from_captum("captum_ig", IntegratedGradients, label="IG (Captum)", n_steps=16)
    assert "captum_ig" in xw.list_methods("gradient")
    assert xw.method_label("captum_ig") == "IG (Captum)"
    model, x = make_model("resnet"), make_input()
    e = xw.explain(model, x, "captum_ig", target=[1, 3])
    direct = IntegratedGradients(model).attribute(x, target=[1, 3], n_steps=16)
    torch.testing.assert_close(e.attribution, direct)
    assert e.heatmap.shape == (2, 32, 32) and e.target == [1, 3]


def test_target_none_explains_the_predicted_class_and_callables_work(registered) -> None:
    registered.append("captum_saliency")
    from_captum("captum_saliency", "Saliency", abs=False)
    model, x = make_model("vgg"), make_input()
    with torch.no_grad():
        top = model(x).argmax(1).tolist()
    e = xw.explain(model, x, "captum_saliency")
    assert e.target == top
    torch.testing.assert_close(e.attribution, Saliency(model).attribute(x, top, abs=False))
    f = xw.explain(model, x, "captum_saliency", target=lambda out: out.softmax(1)[:, 2])
    assert f.target is None and torch.isfinite(f.attribution).all()


def test_a_wrapper_factory_such_as_noise_tunnel(registered) -> None:
    registered.append("captum_smooth")
    from_captum(
        "captum_smooth", lambda forward: NoiseTunnel(Saliency(forward)),
        label="SmoothGrad (Captum)", nt_type="smoothgrad", nt_samples=4, stdevs=0.1,
    )  # fmt: skip
    model, x = make_model("functional"), make_input()
    torch.manual_seed(0)
    e = xw.explain(model, x, "captum_smooth", target=0)
    torch.manual_seed(0)
    direct = NoiseTunnel(Saliency(model)).attribute(
        x, target=[0, 0], nt_type="smoothgrad", nt_samples=4, stdevs=0.1
    )
    torch.testing.assert_close(e.attribution, direct)


@pytest.mark.parametrize("state", ["train", "frozen"])
def test_the_model_contract_holds_for_captum_methods(registered, state) -> None:
    registered.append("captum_ig_contract")
    from_captum("captum_ig_contract", IntegratedGradients, n_steps=4)
    model = make_model("resnet")
    prepare_state(model, state)
    before = snapshot(model)
    xw.explain(model, make_input(), "captum_ig_contract")
    with pytest.raises(RuntimeError, match="boom"):
        xw.explain(model, make_input(), "captum_ig_contract", target=_boom)
    assert_unchanged(before, model)


def _boom(output: torch.Tensor) -> torch.Tensor:
    raise RuntimeError("boom")


def test_errors(registered, monkeypatch) -> None:
    with pytest.raises(ValueError, match=r"captum\.attr has no attribution class 'Nope'"):
        from_captum("captum_nope", "Nope")
    with pytest.raises(TypeError, match="captum_class must be"):
        from_captum("captum_bad", 3)
    with pytest.raises(ValueError, match="registered twice"):
        from_captum("saliency", Saliency)
    monkeypatch.setitem(sys.modules, "captum", None)
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    with pytest.raises(ImportError, match=r"pip install xai_widgets\[captum\]"):
        from_captum("captum_missing", "Saliency")
    assert "captum_missing" not in xw.list_methods()
