"""The public API: explain, Explanation, targets, method_params, spatial_layers, the cache."""

from __future__ import annotations

import pytest
import torch

import xai_widgets as xw
from helpers import assert_unchanged, make_input, make_model, snapshot

ISSUE_METHODS = {
    "saliency": {},
    "input_x_gradient": {},
    "smoothgrad": {"samples": 25, "noise": 0.15, "seed": 0},
    "integrated_gradients": {"steps": 50, "baseline": 0.0},
    "guided_backprop": {},
    "deconvnet": {},
    "layer_visualization": {"layer": ""},
    "cam": {"layer": ""},
    "grad_cam": {"layer": ""},
    "grad_cam_pp": {"layer": ""},
    "score_cam": {"layer": "", "batch_size": 32},
    "guided_grad_cam": {"layer": ""},
    "occlusion": {"patch": 16, "stride": 8, "baseline": 0.0, "approximate": False},
    "lrp": {"composite": "epsilon_plus_flat", "epsilon": 1e-6},
    "sg_lrp": {"composite": "epsilon_plus_flat", "epsilon": 1e-6},
    "area_occlusion": {"segments": "slic", "n_segments": 50, "baseline": 0.0},
    "lime": {
        "segments": "slic",
        "n_segments": 50,
        "samples": 500,
        "kernel_width": 0.25,
        "baseline": 0.0,
        "seed": 0,
    },
    "kernel_shap": {
        "segments": "slic",
        "n_segments": 50,
        "samples": 500,
        "baseline": 0.0,
        "seed": 0,
    },
    "rise": {"masks": 2000, "cell": 7, "p": 0.5, "seed": 0},
    "attention": {"layer": "", "head": "mean"},
    "attention_rollout": {"head_fusion": "mean", "discard_ratio": 0.0},
}


def test_registry_holds_exactly_the_declared_methods_and_defaults() -> None:
    assert set(xw.list_methods()) == set(ISSUE_METHODS)
    for name, defaults in ISSUE_METHODS.items():
        specs = xw.method_params(name)
        assert {s.name: s.default for s in specs} == defaults, name
        for s in specs:
            assert s.help, f"{name}.{s.name} has no help text"
            if s.kind == "number":
                assert s.min is not None and s.max is not None
    assert set(xw.list_methods("cam")) >= {"grad_cam", "score_cam", "cam"}
    assert xw.list_methods("perturbation") == [
        "occlusion",
        "area_occlusion",
        "lime",
        "kernel_shap",
        "rise",
    ]
    assert xw.list_methods("relevance") == ["lrp", "sg_lrp"]


@pytest.mark.parametrize("method", ["saliency", "grad_cam", "occlusion", "integrated_gradients"])
def test_explanation_fields(method) -> None:
    model, x = make_model("resnet"), make_input()
    e = xw.explain(model, x, method, target=[0, 2])
    assert e.method == method
    assert e.target == [0, 2]
    assert e.heatmap.shape == (2, 32, 32)
    if method == "grad_cam":
        assert e.attribution.shape == (2, 16, 16)
        assert e.params == {"layer": "layer2"}
    else:
        assert e.attribution.shape == (2, 3, 32, 32)
    with torch.no_grad():
        logits = model(x)
    torch.testing.assert_close(e.scores, logits[[0, 1], [0, 2]])
    assert "Explanation(method=" in repr(e)


def test_target_none_is_the_predicted_class_of_the_clean_input() -> None:
    model, x = make_model("vgg"), make_input(n=4, seed=3)
    with torch.no_grad():
        predicted = model(x).argmax(1).tolist()
    for method in ("saliency", "occlusion", "integrated_gradients", "smoothgrad", "score_cam"):
        e = xw.explain(model, x, method, **({"steps": 4} if "integ" in method else {}))
        assert e.target == predicted, method


def test_int_list_tensor_and_callable_targets_agree() -> None:
    model, x = make_model("vgg"), make_input()
    a = xw.explain(model, x, "saliency", target=2).attribution
    b = xw.explain(model, x, "saliency", target=[2, 2]).attribution
    c = xw.explain(model, x, "saliency", target=torch.tensor([2, 2])).attribution
    d = xw.explain(model, x, "saliency", target=lambda out: out[:, 2])
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)
    torch.testing.assert_close(a, d.attribution)
    assert d.target is None


def test_callable_target_can_explain_a_probability() -> None:
    model, x = make_model("vgg"), make_input()
    e = xw.explain(model, x, "occlusion", target=lambda out: out.softmax(1)[:, 1], patch=8)
    with torch.no_grad():
        prob = model(x).softmax(1)[:, 1]
    torch.testing.assert_close(e.scores, prob)
    assert e.heatmap.abs().max() <= 1.0  # drops of a probability


def test_single_image_and_layer_as_module() -> None:
    model = make_model("vgg")
    x = make_input(n=1)[0]
    e = xw.explain(model, x, "grad_cam", layer=model.features[3])
    assert e.params["layer"] == "features.3"
    assert e.heatmap.shape == (1, 32, 32)


def test_spatial_layers_in_forward_order() -> None:
    layers = xw.spatial_layers(make_model("resnet"), make_input())
    names = [n for n, _ in layers]
    assert names[0] == "stem.0" and names[-1] == "layer2"
    assert dict(layers)["layer1.conv1"] == (2, 12, 16, 16)
    assert "pool" not in names and "fc" not in names  # 1x1 and flat outputs are not spatial


class Counter:
    def __init__(self, model):
        self.n = 0
        model.register_forward_pre_hook(lambda m, a: setattr(self, "n", self.n + 1))


def test_shared_forward_cache_reuses_one_forward_for_every_class_and_layer() -> None:
    model, x = make_model("resnet"), make_input()
    counter = Counter(model)
    with xw.hooks.borrowed(model):
        fwd = xw.Forward.spatial(model, x)
    counted = counter.n
    for layer in ("layer1", "layer2", "stem.2"):
        for target in (0, 3):
            cached = xw.explain(model, x, "grad_cam", target=target, layer=layer, cache=fwd)
            fresh = xw.explain(model, x, "grad_cam", target=target, layer=layer)
            torch.testing.assert_close(cached.attribution, fresh.attribution)
    for method in ("saliency", "input_x_gradient", "grad_cam_pp", "layer_visualization"):
        runs = counter.n
        cached = xw.explain(model, x, method, target=1, cache=fwd)
        assert counter.n == runs, f"{method} ran a forward despite the cache"
        torch.testing.assert_close(
            cached.attribution, xw.explain(model, x, method, target=1).attribution
        )
    assert counted >= 1


def test_cache_is_ignored_after_the_weights_change() -> None:
    model, x = make_model("resnet"), make_input()
    with xw.hooks.borrowed(model):
        fwd = xw.Forward.spatial(model, x)
    with torch.no_grad():
        model.fc.weight.mul_(-1)
    cached = xw.explain(model, x, "grad_cam", target=0, cache=fwd)
    fresh = xw.explain(model, x, "grad_cam", target=0)
    torch.testing.assert_close(cached.attribution, fresh.attribution)


def test_progress_is_reported_and_an_exception_cancels() -> None:
    model, x = make_model("vgg"), make_input()
    seen: list[float] = []
    xw.explain(model, x, "occlusion", patch=4, stride=2, progress=seen.append)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)

    class Cancelled(Exception):
        pass

    def cancel(fraction: float) -> None:
        if fraction > 0.2:
            raise Cancelled

    for method, params in [
        ("occlusion", {"patch": 4, "stride": 2}),
        ("smoothgrad", {}),
        ("score_cam", {"batch_size": 2}),
        ("integrated_gradients", {}),
    ]:
        with pytest.raises(Cancelled):
            xw.explain(model, x, method, progress=cancel, **params)


def test_results_do_not_depend_on_the_chunking() -> None:
    model, x = make_model("resnet"), make_input()
    a = xw.explain(model, x, "score_cam", batch_size=1).attribution
    b = xw.explain(model, x, "score_cam", batch_size=64).attribution
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_smoothgrad_is_deterministic_for_a_seed() -> None:
    model, x = make_model("vgg"), make_input()
    a = xw.explain(model, x, "smoothgrad", seed=3).attribution
    b = xw.explain(model, x, "smoothgrad", seed=3).attribution
    c = xw.explain(model, x, "smoothgrad", seed=4).attribution
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_guided_backprop_differs_from_deconvnet_and_saliency() -> None:
    model, x = make_model("vgg"), make_input()
    sal = xw.explain(model, x, "saliency").attribution
    gb = xw.explain(model, x, "guided_backprop").attribution
    dc = xw.explain(model, x, "deconvnet").attribution
    assert not torch.allclose(sal, gb) and not torch.allclose(gb, dc)


@pytest.mark.gpu
@pytest.mark.parametrize(
    "method", [m for m in xw.list_methods() if m not in xw.list_methods("attention")]
)
def test_cuda_compute_stays_on_the_model_device(method) -> None:
    model = make_model("resnet").cuda()
    x = make_input()  # a CPU input is moved to the model's device
    e = xw.explain(model, x, method, **({"steps": 8} if "integ" in method else {}))
    assert e.attribution.device.type == "cuda" and e.heatmap.device.type == "cuda"
    cpu = xw.explain(model.cpu(), x, method, **({"steps": 8} if "integ" in method else {}))
    torch.testing.assert_close(e.heatmap.cpu(), cpu.heatmap, rtol=1e-3, atol=1e-4)


def test_explanation_renders_an_overlay() -> None:
    import io

    from PIL import Image

    model, x = make_model("resnet"), make_input()
    e = xw.explain(model, x, "grad_cam")
    img = e.to_image(1)
    assert img.size == (32, 32) and img.mode == "RGBA"
    png = e._repr_png_()
    assert Image.open(io.BytesIO(png)).size == (32, 32)
    opaque = e.to_image(0, alpha=1.0)
    plain = e.to_image(0, alpha=0.0)
    assert opaque.tobytes() != plain.tobytes()  # the heatmap is visible
    fig = e.show(1)
    assert len(fig.axes) == 3  # input, overlay, colour bar
    with pytest.raises(IndexError):
        e.to_image(5)


def test_a_borrow_without_gradients_leaves_requires_grad_and_restores_the_rest() -> None:
    model = make_model("resnet")
    frozen, free = model.fc.weight, next(model.parameters())
    frozen.requires_grad_(False)
    model.train()
    before = snapshot(model)
    with xw.hooks.borrowed(model, gradients=False):
        assert not torch.is_grad_enabled() and not model.training
        assert free.requires_grad and not frozen.requires_grad  # untouched
        model.register_forward_hook(lambda *a: None)
        free.grad = torch.ones_like(free)
    assert torch.is_grad_enabled()
    assert_unchanged(before, model)
    with pytest.raises(RuntimeError, match="boom"), xw.hooks.borrowed(model, gradients=False):
        model.eval()
        raise RuntimeError("boom")
    assert_unchanged(before, model)
    # the attention methods never differentiate, and say so; gradient methods do
    assert not xw.methods.get_method("attention").gradients
    assert xw.methods.get_method("grad_cam").gradients


def test_one_walk_shares_a_models_module_list_within_the_block_only() -> None:
    """explain() walks the model's modules once (checks, memo keys and borrow share the
    walk); outside the block every walk is fresh, so a module added between calls counts."""
    from xai_widgets.hooks.borrow import one_walk, submodules

    model = make_model("resnet")
    assert submodules(model) is not submodules(model)
    with one_walk():
        first = submodules(model)
        assert submodules(model) is first and first[0] is model
        other = make_model("vgg")
        assert submodules(other) is not first and submodules(other)[0] is other
    model.add_module("extra", torch.nn.Identity())
    assert len(submodules(model)) == len(first) + 1
    e = xw.explain(model, make_input(), "saliency")  # the new structure is used and restored
    assert e.heatmap.shape[0] == make_input().shape[0]
