"""xai_widgets.zscores: Z = c / sigma against numpy, coarse sigma before upsampling, dead
inputs, groups, data forms, rankings and figures, and the errors for bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import xai_widgets as xw
from helpers import make_input, make_model


def _logistic(features: int = 6, outputs: int = 2, seed: int = 0):
    """Synthetic features of very different scales, a fixed standardizing linear layer (from
    another sample's statistics) and a fixed logistic-regression layer ``head``."""
    gen = torch.Generator().manual_seed(seed)
    scales = torch.tensor([0.1, 1.0, 5.0, 30.0, 0.5, 2.0])[:features]
    x = torch.randn(500, features, generator=gen) * scales + torch.arange(features) * 3.0
    ref = torch.randn(200, features, generator=gen) * scales + torch.arange(features) * 3.0
    standardize = nn.Linear(features, features)
    head = nn.Linear(features, outputs)
    with torch.no_grad():
        standardize.weight.copy_(torch.diag(1 / ref.std(0)))
        standardize.bias.copy_(-ref.mean(0) / ref.std(0))
        head.weight.copy_(torch.randn(outputs, features, generator=gen))
        head.bias.zero_()
    model = nn.Sequential(standardize, head).eval()
    return model, x


def _numpy_z(model: nn.Sequential, x: torch.Tensor) -> np.ndarray:
    w0, b0 = model[0].weight.detach().double().numpy(), model[0].bias.detach().double().numpy()
    s = x.double().numpy() @ w0.T + b0
    return model[1].weight.detach().double().numpy() / s.std(axis=0)


def test_z_equals_c_over_sigma_with_numpy():
    model, x = _logistic()
    expected = _numpy_z(model, x)
    for data, batch in [(x, 64), (x, 500), (x, 7), (list(x.split(33)), 64)]:
        zs = xw.zscores(model, data, batch_size=batch)
        assert zs.layer == "1"  # the last linear layer by default
        np.testing.assert_allclose(zs.z.numpy(), expected, rtol=1e-6)
        np.testing.assert_allclose(zs.coef.numpy(), model[1].weight.detach().numpy(), rtol=0)
        assert zs.samples == 500 and zs.dead == ()
    loader = DataLoader(TensorDataset(x, torch.zeros(500)), batch_size=50)  # (x, y) batches
    np.testing.assert_allclose(xw.zscores(model, loader).z.numpy(), expected, rtol=1e-6)


def test_one_by_one_conv_sigma_over_samples_and_pixels():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(20, 3, 9, 7, generator=gen) * torch.tensor([1.0, 4.0, 0.2])[:, None, None]
    model = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.Conv2d(5, 2, 1)).eval()
    zs = xw.zscores(model, x, batch_size=6)
    with torch.no_grad():
        a = model[0](x).double().numpy()
    sigma = a.transpose(1, 0, 2, 3).reshape(5, -1).std(axis=1)
    np.testing.assert_allclose(zs.sigma.numpy(), sigma, rtol=1e-6)
    coef = model[1].weight.detach().double().numpy().reshape(2, 5)
    np.testing.assert_allclose(zs.z.numpy(), coef / sigma, rtol=1e-6)
    assert zs.layer == "1" and zs.z.shape == (2, 5)


class Coarse(nn.Module):
    """A fine feature map plus a coarse input upsampled x16 (bilinear) into a 1x1 mix."""

    def __init__(self) -> None:
        super().__init__()
        self.fine = nn.Conv2d(1, 3, 3, padding=1)
        self.coarse_in = nn.Identity()
        self.up = nn.Upsample(scale_factor=16, mode="bilinear", align_corners=False)
        self.mix = nn.Conv2d(3 + 4, 1, 1)

    def forward(self, image: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        return self.mix(torch.cat([self.fine(image), self.up(self.coarse_in(low))], 1))


def test_coarse_sigma_is_taken_before_upsampling():
    torch.manual_seed(0)
    model = Coarse().eval()
    gen = torch.Generator().manual_seed(1)
    image, low = torch.randn(40, 1, 64, 64, generator=gen), torch.randn(40, 4, 4, 4, generator=gen)
    groups = [("fine", 3), ("low", 4)]
    zs = xw.zscores(model, (image, low), groups=groups, coarse={"low": "coarse_in"})
    after = xw.zscores(model, (image, low), groups=groups)  # the pitfall: sigma after upsampling
    expected = low.double().numpy().transpose(1, 0, 2, 3).reshape(4, -1).std(axis=1)
    np.testing.assert_allclose(zs.sigma[3:].numpy(), expected, rtol=1e-6)
    assert torch.equal(zs.sigma_layer, after.sigma) and zs.coarse == ("low",)
    ratio = (zs.sigma_layer[3:] / zs.sigma[3:]).numpy()
    # bilinear x16 of white noise keeps about 2/3 of the std: Z would be ~1.5x too high
    assert np.all((ratio > 0.55) & (ratio < 0.8)), ratio
    assert torch.all(after.z[:, 3:].abs() > zs.z[:, 3:].abs() * 1.2)
    assert torch.equal(zs.z[:, :3], after.z[:, :3])  # fine inputs do not change
    # a callable of the inputs gives the same coarse sigma
    by_call = xw.zscores(model, (image, low), groups=groups, coarse={"low": lambda i, lo: lo})
    np.testing.assert_allclose(by_call.sigma.numpy(), zs.sigma.numpy(), rtol=1e-12)


class Relu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(3, 4)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4, 2)
        with torch.no_grad():
            self.body.bias[1] = -1e3  # never fires: dead
            self.body.weight[3].zero_()
            self.body.bias[3] = 2.0  # constant, non-zero: dead as well

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.relu(self.body(x)))


def test_dead_inputs_are_reported_not_infinite():
    torch.manual_seed(0)
    model, x = Relu().eval(), torch.randn(100, 3)
    with pytest.warns(RuntimeWarning, match="2 input"):
        zs = xw.zscores(model, x, groups={"a": [0, 1], "b": [2, 3]})
    assert zs.dead == (1, 3)
    assert torch.isnan(zs.z[:, [1, 3]]).all() and torch.isfinite(zs.z[:, [0, 2]]).all()
    assert {r.index for r in zs.top(None)} == {0, 2}
    grouped = zs.grouped(1)
    assert grouped["a"].alive == 1 and grouped["a"].size == 2
    assert grouped["a"].abs_sum == pytest.approx(abs(float(zs.z[1, 0])))
    assert "2 dead input" in zs._repr_html_()


def test_top_grouped_compare_plot():
    model, x = _logistic(outputs=3)
    groups = {"small": [0, 4], "big": [1, 2, 3, 5]}
    zs = xw.zscores(model, x, groups=groups)
    top = zs.top(4, output=2)
    assert [abs(r.z) for r in top] == sorted((abs(r.z) for r in top), reverse=True)
    assert all(r.z == pytest.approx(float(zs.z[2, r.index])) for r in top)  # sign kept
    assert all(r.group == ("small" if r.index in (0, 4) else "big") for r in top)
    sums = zs.grouped(2)
    assert sums["big"].signed_sum == pytest.approx(float(zs.z[2, [1, 2, 3, 5]].sum()))
    assert sums["small"].abs_sum == pytest.approx(float(zs.z[2, [0, 4]].abs().sum()))
    other = xw.zscores(model, x, groups=[("small", 1), ("big", 4), ("extra", 1)])
    rows = zs.compare(other).rows()
    assert [r[0] for r in rows] == ["small", "big", "extra"] and rows[2][1] is None
    fig = zs.plot(k=5, output=1)
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) == 5
    assert len(zs.compare(other).plot().axes) == 1
    assert "<table>" in zs._repr_html_() and "<table>" in zs.compare(other)._repr_html_()
    with pytest.raises(ValueError, match="output"):
        zs.top(3, output=7)


def test_per_class_zscores_of_a_gap_head():
    model = make_model("resnet")
    zs = xw.zscores(model, make_input(6), layer="fc")
    assert zs.z.shape == (4, 12) and zs.samples == 6
    assert zs.outputs == ("0", "1", "2", "3")
    assert zs.top(1, output=3)[0].z == pytest.approx(float(zs.z[3].abs().max()) * np.sign(
        float(zs.z[3][zs.z[3].abs().argmax()])))  # fmt: skip


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"layer": "layer1.conv1"}, ValueError, "1x1 nn.Conv2d"),
        ({"layer": "nope"}, ValueError, "unknown layer 'nope'"),
        ({"layer": "fc", "groups": [("a", 5), ("b", 5)]}, ValueError, "cover 10 of the layer's 12"),
        ({"layer": "fc", "groups": {"a": range(8), "b": range(6, 12)}}, ValueError, "overlap"),
        ({"layer": "fc", "groups": {"a": [0, 12]}}, ValueError, "outside"),
        ({"layer": "fc", "groups": "abc"}, TypeError, "groups"),
        ({"layer": "fc", "groups": [("a", 12)], "coarse": {"b": "fc"}}, ValueError, "unknown"),
        ({"layer": "fc", "batch_size": 0}, ValueError, "batch_size"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, error, match):
    with pytest.raises(error, match=match):
        xw.zscores(make_model("resnet"), make_input(2), **kwargs)


def test_bad_data_and_coarse_channels():
    model = make_model("resnet")
    with pytest.raises(ValueError, match="empty"):
        xw.zscores(model, torch.zeros(0, 3, 32, 32))
    with pytest.raises(ValueError, match="empty"):
        xw.zscores(model, [])
    with pytest.raises(TypeError, match="data"):
        xw.zscores(model, "images")
    torch.manual_seed(0)
    coarse = Coarse().eval()
    data = (torch.randn(2, 1, 32, 32), torch.randn(2, 4, 2, 2))
    with pytest.raises(ValueError, match=r"coarse.*'low'.*expected 3 channels"):
        xw.zscores(coarse, data, groups=[("fine", 4), ("low", 3)], coarse={"low": "coarse_in"})


def test_progress_reaches_one_and_can_cancel():
    model, x = _logistic()
    seen: list[float] = []
    xw.zscores(model, x, batch_size=100, progress=seen.append)
    assert seen == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])

    def cancel(fraction: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        xw.zscores(model, x, batch_size=100, progress=cancel)


def test_no_warning_without_dead_inputs():
    model, x = _logistic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xw.zscores(model, x)


def test_multi_input_from_columns_lists_and_loaders_agree():
    torch.manual_seed(0)
    model = Coarse().eval()
    gen = torch.Generator().manual_seed(2)
    image, low = torch.randn(12, 1, 32, 32, generator=gen), torch.randn(12, 4, 2, 2, generator=gen)
    labels = torch.zeros(12, 32, 32)
    kwargs = {"groups": [("fine", 3), ("low", 4)], "coarse": {"low": "coarse_in"}}
    reference = xw.zscores(model, (image, low, labels), batch_size=5, **kwargs)
    loader = DataLoader(TensorDataset(image, low, labels), batch_size=4)
    batches = [(image[:7], low[:7]), (image[7:], low[7:])]
    for data in (loader, batches):
        other = xw.zscores(model, data, **kwargs)
        np.testing.assert_allclose(other.z.numpy(), reference.z.numpy(), rtol=1e-6)
        np.testing.assert_allclose(
            other.sigma_layer.numpy(), reference.sigma_layer.numpy(), rtol=1e-6
        )
        assert other.samples == 12
