"""lrp and sg_lrp against Zennit's own Gradient attributor, conservation, class
discrimination, bit-identical restore of the canonized model, and clear errors."""

from __future__ import annotations

import itertools

import pytest
import torch
import torchvision
from torch import nn
from zennit.attribution import Gradient

import xai_widgets as xw
from helpers import assert_unchanged, make_input, make_model, prepare_state, snapshot
from xai_widgets.methods.canonize import canonizers_for
from xai_widgets.methods.lrp import COMPOSITES, make_composite


def corr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])


def resnet18() -> nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).eval()
    gen = torch.Generator().manual_seed(2)
    for m in model.modules():  # non-trivial BatchNorm statistics, as in a trained model
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model


def zennit_relevance(model, x, composite, start):
    """Zennit's Gradient attributor with the same composite and canonizers; ``start`` maps
    the output (N, K) to the initial relevance."""
    rules = make_composite(composite, 1e-6, canonizers_for(model), x)
    with torch.no_grad():
        out = model(x)
    with Gradient(model, rules) as attributor:
        _, relevance = attributor(x, start(out))
    return relevance


def logit_start(out: torch.Tensor) -> torch.Tensor:
    t = out.argmax(1)
    start = torch.zeros_like(out)
    start[range(len(t)), t] = out[range(len(t)), t]
    return start


def softmax_start(out: torch.Tensor) -> torch.Tensor:
    """SG-LRP's initial relevance p_t (delta_ti - p_i), computed by hand."""
    p = out.softmax(1)
    t = out.argmax(1)
    onehot = torch.nn.functional.one_hot(t, out.shape[1]).to(p)
    return p.gather(1, t[:, None]) * (onehot - p)


SMALL = [("vgg", 32), ("resnet", 32)]
RESNET18 = pytest.param("torchvision_resnet18", 32, marks=pytest.mark.slow)
CASES = [*SMALL, RESNET18]


def case(name: str, size: int):
    model = resnet18() if name == "torchvision_resnet18" else make_model(name)
    return model, make_input(n=2, size=size)


def check_against_zennit(name: str, size: int, composite: str) -> None:
    model, x = case(name, size)
    ours = xw.explain(model, x, "lrp", composite=composite).attribution
    theirs = zennit_relevance(model, x, composite, logit_start)
    for a, b in zip(ours, theirs, strict=True):
        assert corr(a, b) >= 0.999


@pytest.mark.parametrize("composite", COMPOSITES)
@pytest.mark.parametrize(("name", "size"), SMALL)
def test_lrp_matches_zennit_gradient_attributor(name, size, composite) -> None:
    check_against_zennit(name, size, composite)


@pytest.mark.slow
@pytest.mark.parametrize("composite", ["epsilon_plus_flat", "epsilon_gamma_box"])
def test_lrp_matches_zennit_on_torchvision_resnet18(composite) -> None:
    check_against_zennit("torchvision_resnet18", 32, composite)


@pytest.mark.parametrize(("name", "size"), CASES)
def test_sg_lrp_is_lrp_from_the_softmax_gradient_by_hand(name, size) -> None:
    model, x = case(name, size)
    ours = xw.explain(model, x, "sg_lrp").attribution
    theirs = zennit_relevance(model, x, "epsilon_plus_flat", softmax_start)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5 * theirs.abs().max().item())


def test_lrp_conserves_the_target_logit_on_a_bias_free_model() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 64, 32, bias=False), nn.ReLU(), nn.Linear(32, 5, bias=False),
    ).eval()  # fmt: skip
    x = make_input(n=3)
    e = xw.explain(model, x, "lrp", composite="epsilon_plus_flat")
    sums = e.attribution.sum((1, 2, 3))
    assert (e.scores.abs() > 1e-3).all()
    assert ((sums - e.scores).abs() <= 0.05 * e.scores.abs()).all(), (sums, e.scores)


def _blob_data(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """10 classes: a bright 7x3 bar at one of 10 places of a noisy 20 px image."""
    y = torch.randint(0, 10, (n,), generator=gen)
    x = torch.randn(n, 3, 20, 20, generator=gen) * 0.3
    r, c = y // 5, y % 5
    pos = torch.arange(20)
    rows = (pos[None] >= 2 + r[:, None] * 9) & (pos[None] < 9 + r[:, None] * 9)
    cols = (pos[None] >= c[:, None] * 4) & (pos[None] < c[:, None] * 4 + 3)
    return x + 1.5 * (rows[:, :, None] & cols[:, None, :])[:, None], y


@pytest.mark.slow
def test_sg_lrp_is_more_class_discriminative_than_lrp() -> None:
    """On a trained 10-class model, the maps of two different classes are less alike for
    SG-LRP than for LRP (Iwana et al. 2019: LRP's maps of different classes are nearly the
    same picture). Signed correlation over the pairs of classes whose logits are both
    positive: LRP conserves the logit z_t, so a class with a negative logit gets the
    sign-flipped map of the same evidence, and over all pairs the signed mean is about 0 for
    both methods (-0.04 LRP, -0.03 SG-LRP here), which hides the effect. On the positive
    pairs LRP is +0.55 and SG-LRP -0.19; |correlation| over all pairs agrees (0.68, 0.44)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 25, 32), nn.ReLU(), nn.Linear(32, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(40):
        x, y = _blob_data(64, gen)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x, y = _blob_data(8, torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert (model(x).argmax(1) == y).float().mean() >= 0.9  # it learned the task

        logits = model(x)
    pairs = [(i, j, k) for i, j in itertools.combinations(range(10), 2) for k in range(len(x))]
    positive = [(i, j, k) for i, j, k in pairs if logits[k, i] > 0 and logits[k, j] > 0]
    assert len(positive) >= 20, len(positive)

    def alike(method: str) -> tuple[float, float]:
        maps = [xw.explain(model, x, method, target=c).heatmap for c in range(10)]
        signed = [corr(maps[i][k], maps[j][k]) for i, j, k in positive]
        absolute = [abs(corr(maps[i][k], maps[j][k])) for i, j, k in pairs]
        return sum(signed) / len(signed), sum(absolute) / len(absolute)

    (lrp, lrp_abs), (sg_lrp, sg_lrp_abs) = alike("lrp"), alike("sg_lrp")
    assert lrp > 0.3, lrp  # LRP's known lack of class discrimination shows on this model
    assert sg_lrp < lrp - 0.3, (sg_lrp, lrp)
    assert sg_lrp_abs < lrp_abs - 0.1, (sg_lrp_abs, lrp_abs)


@pytest.mark.slow
@pytest.mark.parametrize("state", ["train", "frozen"])
def test_torchvision_resnet18_is_restored_bit_identically(state) -> None:
    """Zennit's canonizers merge BatchNorm into the convolutions (a new bias where there was
    none) and give each block a Sum module and a forward; all of it is undone."""
    model = resnet18()
    prepare_state(model, state)
    before = snapshot(model)
    xw.explain(model, make_input(n=1, size=32), "lrp")
    xw.explain(model, make_input(n=1, size=32), "sg_lrp", composite="epsilon_gamma_box")
    assert_unchanged(before, model)
    assert all("forward" not in vars(m) for m in model.modules())


def test_model_restored_when_a_canonizer_fails_halfway(monkeypatch) -> None:
    from zennit.canonizers import MergeBatchNorm

    calls = {"n": 0}
    original = MergeBatchNorm.merge_batch_norm

    def flaky(modules, batch_norm):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("merge failed")
        original(modules, batch_norm)

    monkeypatch.setattr(MergeBatchNorm, "merge_batch_norm", staticmethod(flaky))
    model = make_model("resnet")
    prepare_state(model, "frozen")
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="merge failed"):
        xw.explain(model, make_input(), "lrp")
    assert calls["n"] == 3
    assert_unchanged(before, model)


class WithLayerNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = nn.LayerNorm([4, 32, 32])
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        return self.head(self.norm(self.conv(x)).mean((2, 3)))


def test_a_model_zennit_cannot_handle_is_a_clear_error_naming_the_module_type() -> None:
    model = WithLayerNorm().eval()
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"'norm' \(LayerNorm\) has no LRP rule"):
        xw.explain(model, make_input(), "lrp")
    assert_unchanged(before, model)
    pre_norm = nn.Sequential(
        nn.BatchNorm2d(3), nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(2)
    ).eval()  # fmt: skip
    pre_norm(make_input())  # materialize the lazy layer
    with pytest.raises(ValueError, match=r"'0' \(BatchNorm2d\) does not directly follow"):
        xw.explain(pre_norm, make_input(), "sg_lrp")


def test_bad_parameters_and_outputs_name_what_is_accepted() -> None:
    model, x = make_model("vgg"), make_input()
    with pytest.raises(ValueError, match="parameter 'composite' must be one of"):
        xw.explain(model, x, "lrp", composite="alpha1_beta0")
    with pytest.raises(ValueError, match="parameter 'epsilon' must be >= 0"):
        xw.explain(model, x, "sg_lrp", epsilon=-1.0)
    spatial = nn.Sequential(nn.Conv2d(3, 4, 3)).eval()
    with pytest.raises(ValueError, match=r"classifier output \(N=2, classes\)"):
        xw.explain(spatial, x, "lrp")


def test_lrp_families_labels_and_signed_maps() -> None:
    assert xw.list_methods("relevance") == ["lrp", "sg_lrp"]
    assert xw.method_label("sg_lrp") == "SG-LRP"
    e = xw.explain(make_model("vgg"), make_input(), "lrp")
    assert e.signed and (e.heatmap < 0).any() and (e.heatmap > 0).any()
