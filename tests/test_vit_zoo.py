"""The zoo's vision transformer ``shapes_vit`` (issue 12): torchvision's VisionTransformer,
trained by the zoo's script, >= 95 % held out, weights < 2 MB, a card like the others; its
attention maps put more weight on the object than its area share."""

from __future__ import annotations

from importlib import resources

import pytest
import torch
import torch.nn.functional as F
from torchvision.models import VisionTransformer

import xai_widgets as xw
from xai_widgets import data, zoo
from xai_widgets.zoo import specs, train


def test_card_weights_and_architecture() -> None:
    c = zoo.card("shapes_vit")
    assert c.classes == ("triangle", "square") and c.input_size == (64, 64)
    assert c.accuracy >= 0.95 and c.source == "python -m xai_widgets.zoo.train shapes_vit"
    assert "VisionTransformer" in c.architecture and "parameters" in c.architecture
    path = resources.files("xai_widgets.zoo").joinpath("weights", "shapes_vit.pt")
    assert len(path.read_bytes()) < 2_000_000
    model = zoo.load("shapes_vit")
    assert isinstance(model, VisionTransformer) and not model.training
    assert len(xw.layers.encoder_blocks(model)) == 3


@pytest.mark.slow
def test_held_out_accuracy_and_not_saturated() -> None:
    assert zoo.evaluate("shapes_vit", n=300, seed=777) >= 0.95
    images, _ = train.held_out(specs.SPECS["shapes_vit"], n=300, seed=777)
    median = train.median_confidence(zoo.load("shapes_vit"), images, zoo.card("shapes_vit"))
    assert 0.3 < median <= 0.98


def test_attention_rollout_prefers_the_object() -> None:
    """Rollout's mass on object patches exceeds the object's share of the grid on average."""
    model, c = zoo.load("shapes_vit"), zoo.card("shapes_vit")
    images, _, masks = data.dataset(c.dataset, 32, seed=4242, **c.dataset_kwargs)
    e = xw.explain(model, data.normalize(images, c), "attention_rollout")
    share = F.adaptive_avg_pool2d(masks[:, None].float(), 8)[:, 0]
    weights = e.attribution / e.attribution.sum((1, 2), keepdim=True)
    on_object = (weights * share).sum((1, 2))
    assert float(on_object.mean()) > float(share.mean((1, 2)).mean()), (on_object, share)
    assert torch.isfinite(e.heatmap).all()
