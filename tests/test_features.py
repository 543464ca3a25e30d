"""xai_widgets.features (issue 5): activations, filters, receptive fields.

Exemplars and activation space: test_features_exemplars.py; deconvnet: test_features_deconv.py;
optimization and DeepDream: test_features_optimize.py; the model contract for every feature
function: test_features_contract.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import MODEL_NAMES, make_input, make_model
from xai_widgets import features as xf
from xai_widgets.features._common import probe
from xai_widgets.features.receptive import _exact


def hooked_forward(model: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """The oracle: a plain forward hook that clones the layer's output (in-place ReLUs later
    would change it otherwise)."""
    kept = []
    handle = dict(model.named_modules())[layer].register_forward_hook(
        lambda _m, _i, out: kept.append(out.detach().clone())
    )
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return kept[-1]


SPATIAL = {
    "vgg": ["features.0", "features.1", "features.3", "features.4", "features"],
    "resnet": ["stem.2", "layer1", "layer1.bn2", "layer2"],
    "functional": ["conv1", "conv2"],
}


# --- activations ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_activations_equal_a_hooked_forward(name: str) -> None:
    model, x = make_model(name), make_input(3)
    for layer in SPATIAL[name]:
        ours = xf.activations(model, x, layer)
        assert torch.allclose(ours, hooked_forward(model, x, layer), atol=1e-6, rtol=0), layer
        assert not ours.requires_grad


def test_activations_layer_forms() -> None:
    model, x = make_model("vgg"), make_input()
    by_module = xf.activations(model, x, model.features[3])
    assert torch.equal(by_module, xf.activations(model, x, "features.3"))
    assert xf.activations(model, x, None).shape == (2, 16, 16, 16)  # the default: not the pool
    assert xf.activations(model, x[0], "features.3").shape == (1, 16, 16, 16)


def test_activations_other_size_despite_fixed_head() -> None:
    # VGGish's flatten + linear head only takes 32 px; the features stop before it
    model = make_model("vgg")
    assert xf.activations(model, make_input(1, size=48), "features.3").shape == (1, 16, 24, 24)


def test_activations_errors() -> None:
    model, x = make_model("vgg"), make_input()
    with pytest.raises(ValueError, match=r"unknown layer 'features\.9'"):
        xf.activations(model, x, "features.9")
    with pytest.raises(ValueError, match="not a spatial"):
        xf.activations(model, x, "classifier.1")
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        xf.activations("model", x, "features.3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="channels"):
        xf.activations(model, torch.zeros(1, 1, 32, 32), "features.3")


# --- filters -------------------------------------------------------------------------------


def test_filters_modes() -> None:
    model = make_model("vgg")
    first = xf.filters(model, "features.0")
    assert first.mode == "rgb" and torch.equal(first.weights, model.features[0].weight)
    assert first.weights is not model.features[0].weight
    deep = xf.filters(model, "features.3")
    assert deep.mode == "channels" and deep.weights.shape == (16, 8, 3, 3) and deep.ncols == 8
    norms = xf.filters(model, model.features[3], mode="norms")
    expected = model.features[3].weight.detach().pow(2).sum((2, 3)).sqrt()
    assert norms.weights.shape == (16, 8) and torch.allclose(norms.weights, expected)
    wide = nn.Sequential(nn.Conv2d(3, 80, 3), nn.Conv2d(80, 64, 3))
    assert xf.filters(wide, "1").mode == "norms"  # 5120 patches are too many


def test_filters_errors() -> None:
    model = make_model("vgg")
    with pytest.raises(ValueError, match=r"ReLU, not a Conv2d.*features\.0, features\.3"):
        xf.filters(model, "features.1")
    with pytest.raises(ValueError, match="reads 8 channels"):
        xf.filters(model, "features.3", mode="rgb")
    with pytest.raises(ValueError, match="unknown mode"):
        xf.filters(model, "features.0", mode="colour")
    with pytest.raises(ValueError, match="unknown layer"):
        xf.filters(model, "feature.0")


# --- receptive field -----------------------------------------------------------------------


def three_convs(padding: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=padding),
        nn.ReLU(inplace=True),
        nn.Conv2d(4, 4, 3, padding=padding),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=padding),
    ).eval()


def conv_pool_conv() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(4, 5, 3, padding=1),
    ).eval()


def test_three_3x3_convs_give_7x7_centred() -> None:
    model, x = three_convs(1), make_input(1, 16)
    for i, j in [(0, 0), (5, 9), (15, 15)]:
        box = xf.receptive_field(model, "5", x, (i, j))
        assert box == (i - 3, j - 3, i + 4, j + 4)  # centred on the unit, may leave the image


def test_padding_shifts_the_box() -> None:
    model, x = three_convs(0), make_input(1, 16)  # output 10 x 10; unit 0 starts at pixel 0
    assert xf.receptive_field(model, "5", x, (0, 0)) == (0, 0, 7, 7)
    assert xf.receptive_field(model, "5", x, (9, 2)) == (9, 2, 16, 9)


def test_conv_pool_conv_by_hand() -> None:
    # conv2 unit u reads pool units u-1..u+1 -> conv1 units 2u-2..2u+3 -> pixels 2u-3..2u+4
    model, x = conv_pool_conv(), make_input(1, 16)
    for i, j in [(0, 0), (3, 5), (7, 7)]:
        box = xf.receptive_field(model, "3", x, (i, j))
        assert box == (2 * i - 3, 2 * j - 3, 2 * i + 5, 2 * j + 5)
    assert xf.receptive_field(model, "2", x, (1, 2)) == (1, 3, 5, 7)  # pool: R 4, S 2, P 1


def test_stride_dilation_and_same_padding() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 4, 5, stride=2, padding=2),  # R 5, S 2, P 2
        nn.Conv2d(4, 4, 3, dilation=2, padding="same"),  # k' 5: R 5 + 4*2 = 13, P 2 + 2*2 = 6
        nn.AvgPool2d(3, stride=1, padding=1),  # R 13 + 2*2 = 17, P 6 + 1*2 = 8
    ).eval()
    geometry = xf.receptive_geometry(model, "2", make_input(1, 32))
    assert (geometry.size, geometry.stride, geometry.padding) == ((17, 17), (2, 2), (8, 8))
    assert geometry.method == "exact"
    assert xf.receptive_field(model, "2", make_input(1, 32), (4, 1)) == (0, -6, 17, 11)


@pytest.mark.parametrize(
    ("model", "layers"),
    [
        (three_convs(1), ["0", "2", "5"]),
        (conv_pool_conv(), ["2", "3"]),
        (make_model("vgg"), ["features.0", "features.3", "features.4", "features"]),
    ],
)
def test_gradient_fallback_agrees_with_the_recursion(model: nn.Module, layers: list) -> None:
    x = make_input(1, 24)
    for layer in layers:
        exact = xf.receptive_geometry(model, layer, x, method="exact")
        measured = xf.receptive_geometry(model, layer, x, method="gradient")
        assert exact.method == "exact" and measured.method == "gradient"
        assert (measured.size, measured.stride, measured.padding) == (
            exact.size,
            exact.stride,
            exact.padding,
        ), layer


def test_residual_and_functional_models_use_the_gradient() -> None:
    x = make_input(1, 32)
    resnet = make_model("resnet")
    assert _exact(resnet, probe(resnet, x, "layer2", "test"), x) is None
    # stem conv3 (R 3, P 1) -> pool 2 (R 4, S 2, P 1) -> four conv3 (R 4 + 4*2*2, P 1 + 4*2)
    assert xf.receptive_field(resnet, "layer2", x, (0, 3)) == (-9, -3, 11, 17)
    assert xf.receptive_geometry(resnet, "layer2", x).method == "gradient"
    assert xf.receptive_geometry(resnet, "stem.3", x).method == "exact"
    # F.relu / F.max_pool2d: conv5 (R 5, P 2) -> pool 2 (R 6, S 2) -> conv3 (R 10, P 4)
    functional = make_model("functional")
    assert xf.receptive_field(functional, "conv2", x, (5, 0)) == (6, -4, 16, 6)
    with pytest.raises(ValueError, match="not a pure chain"):
        xf.receptive_field(functional, "conv2", x, (0, 0), method="exact")


def test_in_place_branch_add_breaks_the_chain() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(3, 4, 1)
            self.b = nn.Conv2d(3, 4, 7, padding=3)
            self.relu = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.a(x)
            out += self.b(x)  # keeps the tensor object; the version counter tells
            return self.relu(out)

    model, x = Branchy().eval(), make_input(1, 16)
    assert xf.receptive_field(model, "relu", x, (5, 5)) == (2, 2, 9, 9)
    assert xf.receptive_geometry(model, "relu", x).method == "gradient"


def test_global_statistics_give_the_whole_image() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.Conv2d(4, 4, 1))
    geometry = xf.receptive_geometry(model.eval(), "2", make_input(1, 16))
    assert geometry.method == "global"
    assert xf.receptive_field(model, "2", make_input(1, 16), (3, 3)) == (0, 0, 16, 16)


def test_receptive_field_errors() -> None:
    model, x = make_model("vgg"), make_input()
    with pytest.raises(ValueError, match=r"outside layer 'features.3'.* 16 x 16"):
        xf.receptive_field(model, "features.3", x, (16, 0))
    with pytest.raises(ValueError, match="outside"):
        xf.receptive_field(model, "features.3", x, (-1, 0))
    with pytest.raises(TypeError, match=r"\(i, j\) ints"):
        xf.receptive_field(model, "features.3", x, (1.5, 0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown method"):
        xf.receptive_field(model, "features.3", x, (0, 0), method="magic")
    with pytest.raises(ValueError, match="not a spatial"):
        xf.receptive_field(model, "classifier.3", x, (0, 0))
    with pytest.raises(ValueError, match="did you mean"):
        xf.receptive_field(model, "feature.3", x, (0, 0))
