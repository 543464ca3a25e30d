"""Vision transformers (issue 12): attention maps and rollout checked against
``nn.MultiheadAttention(need_weights=True)`` and a plain rollout, Grad-CAM on encoder blocks
against pytorch-grad-cam's ``reshape_transform`` recipe, the token-to-grid view, the default
layer, bad input, and the model contract on a ViT."""

from __future__ import annotations

import pytest
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from test_peers import assert_close_maps
from vit_helpers import make_vit, plain_rollout, plain_weights

import xai_widgets as xw
from helpers import assert_unchanged, make_model, prepare_state, snapshot
from xai_widgets.hooks import attention_inputs, borrowed
from xai_widgets.layers import default_layer, encoder_blocks
from xai_widgets.methods.attention import attention_heads, attention_modules
from xai_widgets.methods.attention_math import attention_weights, rollout

BLOCKS = [f"encoder.layers.encoder_layer_{i}" for i in range(3)]


def _x(n: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_recomputed_weights_equal_need_weights_and_logits_are_unchanged() -> None:
    model, x = make_vit(), _x()
    with torch.no_grad():
        plain_logits = model(x)
    names = attention_modules(model)
    with borrowed(model), attention_inputs(model, names) as calls, torch.no_grad():
        hooked_logits = model(x)
    assert torch.equal(hooked_logits, plain_logits)  # the fused SDPA path still runs, untouched
    for name, expected in zip(names, plain_weights(model, x), strict=True):
        query, key, masks = calls[name]
        ours = attention_weights(model.get_submodule(name), query, key, masks)
        assert ours.shape == expected.shape == (2, 2, 17, 17)
        assert (ours - expected).abs().max() < 1e-6


def test_recomputed_weights_with_masks_and_sequence_first_layout() -> None:
    torch.manual_seed(3)
    mha = torch.nn.MultiheadAttention(12, 3, kdim=8, vdim=8).eval()  # separate projections
    query, key = torch.randn(5, 2, 12), torch.randn(7, 2, 8)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, 5:] = True
    mask = torch.randn(5, 7)
    _, expected = mha(query, key, key, key_padding_mask=pad, attn_mask=mask,
                      average_attn_weights=False)  # fmt: skip
    masks = {"key_padding_mask": pad, "attn_mask": mask}
    ours = attention_weights(mha, query, key, masks)
    assert (ours - expected).abs().max() < 1e-6


@pytest.mark.parametrize(("fusion", "discard"), [("mean", 0.0), ("max", 0.0), ("min", 0.9)])
def test_rollout_equals_a_plain_reimplementation(fusion: str, discard: float) -> None:
    model, x = make_vit(), _x()
    e = xw.explain(model, x, "attention_rollout", head_fusion=fusion, discard_ratio=discard)
    expected = plain_rollout(plain_weights(model, x), fusion, discard).view(2, 4, 4)
    assert e.attribution.shape == (2, 4, 4) and e.heatmap.shape == (2, 32, 32)
    assert (e.attribution.double() - expected).abs().max() < 1e-5


@pytest.mark.parametrize("discard", [0.0, 0.5])
def test_rollout_row_equals_the_row_of_the_product(discard: float) -> None:
    gen = torch.Generator().manual_seed(4)
    fused = [torch.rand(3, 9, 9, generator=gen, dtype=torch.float64) for _ in range(4)]
    fused = [a / a.sum(-1, keepdim=True) for a in fused[:2]] + fused[2:]  # softmax-like or not
    whole = rollout(fused, discard)
    for row in (0, 4):
        assert torch.allclose(rollout(fused, discard, row=row), whole[:, row : row + 1])
    if discard:  # a discard ranks the whole last matrix, so its row alone is refused
        with pytest.raises(ValueError, match="whole"):
            rollout([*fused[:-1], fused[-1][:, :1]], discard, row=0)
    else:  # the last block's class row alone is enough
        assert torch.allclose(rollout([*fused[:-1], fused[-1][:, :1]], row=0), whole[:, :1])


@pytest.mark.parametrize("layer", [0, -1, "encoder.layers.encoder_layer_1"])
@pytest.mark.parametrize("head", ["mean", "max", "min", 1, "0"])
def test_attention_is_the_class_token_row(layer, head) -> None:
    model, x = make_vit(), _x()
    e = xw.explain(model, x, "attention", layer=layer, head=head)
    index = BLOCKS.index(layer) if isinstance(layer, str) else layer
    rows = plain_weights(model, x)[index][:, :, 0, 1:]  # (N, heads, 16)
    if isinstance(head, str) and not head.isdigit():
        rows = {"mean": rows.mean(1), "max": rows.amax(1), "min": rows.amin(1)}[head]
    else:
        rows = rows[:, int(head)]
    assert e.params["layer"] == BLOCKS[index]
    assert (e.attribution - rows.view(2, 4, 4)).abs().max() < 1e-6
    assert not e.signed


def test_attention_heads_grid_and_default_block() -> None:
    model, x = make_vit(), _x()
    heads = attention_heads(model, x, layer=-1)
    assert heads.shape == (2, 2, 4, 4)
    mean = xw.explain(model, x, "attention").attribution
    torch.testing.assert_close(heads.mean(1), mean)


def test_tokens_are_seen_as_a_grid_and_the_default_layer_reaches_the_class_token() -> None:
    model, x = make_vit(), _x()
    layers = dict(xw.spatial_layers(model, x))
    assert layers["conv_proj"] == (2, 16, 4, 4)
    assert all(layers[b] == (2, 16, 4, 4) for b in BLOCKS)  # (N, 1 + 16, 16) as (N, 16, 4, 4)
    assert encoder_blocks(model) == BLOCKS
    # the last block's output reaches the head only through its class token: pytorch-grad-cam's
    # recipe explains the input of the last attention instead
    assert default_layer(model, x) == "encoder.layers.encoder_layer_2.ln_1"
    last = xw.explain(model, x, "grad_cam", layer="encoder")
    assert last.heatmap.abs().max() == 0
    assert xw.explain(model, x, "grad_cam").heatmap.abs().max() > 0


def _grad_cam_peer(model, layer: str, x: torch.Tensor, target: list[int]):
    def reshape_transform(tensor, height=4, width=4):  # pytorch-grad-cam's ViT tutorial
        result = tensor[:, 1:, :].reshape(tensor.size(0), height, width, tensor.size(2))
        return result.transpose(2, 3).transpose(1, 2)

    module = model.get_submodule(layer)
    with GradCAM(model=model, target_layers=[module], reshape_transform=reshape_transform) as cam:
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(t) for t in target])


@pytest.mark.parametrize(
    "layer", ["encoder.layers.encoder_layer_2.ln_1", "encoder.layers.encoder_layer_1", ""]
)
def test_grad_cam_on_blocks_matches_pytorch_grad_cam_reshape_transform(layer: str) -> None:
    model, x, target = make_vit(), _x(4, seed=2), [0, 1, 2, 3]
    ours = xw.explain(model, x, "grad_cam", layer=layer, target=target)
    peer = _grad_cam_peer(model, layer or default_layer(model, x), x, target)
    assert_close_maps(ours.heatmap, peer, threshold=0.99)


def test_gradient_and_perturbation_methods_run_on_a_vit() -> None:
    model, x = make_vit(stem=(8, 8, 8)), _x()
    for method, params in [
        ("saliency", {}),
        ("integrated_gradients", {"steps": 4}),
        ("grad_cam_pp", {"layer": BLOCKS[1]}),
        ("layer_visualization", {"layer": BLOCKS[0]}),
        ("occlusion", {"patch": 8, "stride": 8}),
    ]:
        e = xw.explain(model, x, method, **params)
        assert e.heatmap.shape == (2, 32, 32) and torch.isfinite(e.heatmap).all(), method
        assert e.heatmap.abs().max() > 0, method


def test_bad_input_names_the_parameter() -> None:
    model, x = make_vit(), _x()
    cnn = make_model("resnet")
    with pytest.raises(ValueError, match=r"no attention module.*'grad_cam'"):
        xw.explain(cnn, x, "attention")
    with pytest.raises(ValueError, match=r"no attention module"):
        xw.explain(cnn, x, "attention_rollout")
    with pytest.raises(ValueError, match=r"parameter 'head' is 2, but the block has 2 heads"):
        xw.explain(model, x, "attention", head=2)
    with pytest.raises(ValueError, match=r"parameter 'head' is '7'.*0 to 1"):
        xw.explain(model, x, "attention", head="7")
    with pytest.raises(ValueError, match=r"parameter 'head' must be one of"):
        xw.explain(model, x, "attention", head="avg")
    with pytest.raises(ValueError, match=r"parameter 'layer' is block index 3.*-3 to 2"):
        xw.explain(model, x, "attention", layer=3)
    with pytest.raises(ValueError, match=r"parameter 'layer' is 'conv_proj', which is not in"):
        xw.explain(model, x, "attention", layer="conv_proj")
    with pytest.raises(ValueError, match=r"parameter 'discard_ratio' must be <= 0.99"):
        xw.explain(model, x, "attention_rollout", discard_ratio=1.0)
    with pytest.raises(ValueError, match=r"unknown layer 'encoder.nope'"):
        xw.explain(model, x, "attention", layer="encoder.nope")


FAST = {
    "smoothgrad": {"samples": 2},
    "integrated_gradients": {"steps": 2},
    "occlusion": {"patch": 16, "stride": 16},
    "area_occlusion": {"segments": "grid", "n_segments": 4},
    "lime": {"segments": "grid", "n_segments": 4, "samples": 8},
    "kernel_shap": {"segments": "grid", "n_segments": 4, "samples": 8},
    "rise": {"masks": 8, "cell": 4},
    "score_cam": {"batch_size": 64},
}
REFUSED = {"cam", "lrp", "sg_lrp"}  # no GAP + linear head; Zennit has no rule for attention


def _run_all(model, x, **kwargs) -> dict[str, str]:
    refusals = {}
    for method in xw.list_methods():
        try:
            e = xw.explain(model, x, method, **FAST.get(method, {}), **kwargs)
            assert torch.isfinite(e.heatmap).all() and e.heatmap.shape == (2, 32, 32), method
        except ValueError as error:
            refusals[method] = str(error)
    return refusals


@pytest.mark.parametrize("state", ["eval", pytest.param("frozen", marks=pytest.mark.slow)])
def test_model_contract_on_a_vit(state: str) -> None:
    model, x = make_vit(stem=(8, 8, 8)), _x()
    prepare_state(model, state)
    before = snapshot(model)
    refusals = _run_all(model, x)
    assert set(refusals) <= REFUSED, refusals
    assert_unchanged(before, model)


class Boom(RuntimeError):
    pass


def _raising(output: torch.Tensor) -> torch.Tensor:
    raise Boom("target failed")


@pytest.mark.slow
def test_model_contract_on_a_vit_when_the_target_raises() -> None:
    model, x = make_vit(stem=(8, 8, 8)), _x()
    prepare_state(model, "frozen")
    before = snapshot(model)
    for method in sorted(set(xw.list_methods()) - REFUSED):
        with pytest.raises(Boom):
            xw.explain(model, x, method, target=_raising, **FAST.get(method, {}))
    assert_unchanged(before, model)


@pytest.mark.parametrize("method", ["attention", "attention_rollout"])
def test_method_cards_parse(method: str) -> None:
    from importlib import resources

    import tomllib

    path = resources.files("xai_widgets.methods").joinpath("cards", f"{method}.toml")
    card = tomllib.loads(path.read_text(encoding="utf-8"))
    assert {"title", "paper", "formula", "question", "cost", "misleads"} <= card.keys()
    assert card["title"] == xw.method_label(method)
    levels = {"low", "medium", "high"}
    criteria = card["criteria"]
    assert {
        criteria[k] for k in ("detail", "class_discrimination", "effort", "intuitive")
    } <= levels
    assert criteria["model_agnostic"] is False
