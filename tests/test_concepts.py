"""Concepts (Deep Feature Factorization): the NMF against scikit-learn, the known truth of a
synthetic texture world, the relevance of a GAP + linear head, determinism, bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from helpers import assert_unchanged, make_input, make_model, prepare_state, snapshot
from xai_widgets import features as xf
from xai_widgets.features.nmf import nmf

SIZE, TEXTURES = 64, 3


def _pattern(t: int, size: int = SIZE) -> torch.Tensor:
    """Texture t: horizontal stripes (period 4), vertical stripes (period 4), diagonal (8)."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    phase = [2 * math.pi * y / 4, 2 * math.pi * x / 4, 2 * math.pi * (x + y) / 8][t]
    return torch.sin(phase.float())


def texture_world(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n images (n, 1, 64, 64) tiled by the three textures in three rectangles (left; top
    right; bottom right), their masks (n, 3, 64, 64) and the largest texture as the label."""
    gen = torch.Generator().manual_seed(seed)
    images, masks = torch.zeros(n, 1, SIZE, SIZE), torch.zeros(n, TEXTURES, SIZE, SIZE)
    for i in range(n):
        a, b = (int(v) for v in torch.randint(20, 45, (2,), generator=gen))
        order = torch.randperm(TEXTURES, generator=gen).tolist()
        regions = [(slice(None), slice(0, a)), (slice(0, b), slice(a, None)),
                   (slice(b, None), slice(a, None))]  # fmt: skip
        for t, (rows, cols) in zip(order, regions, strict=True):
            masks[i, t, rows, cols] = 1
        phase = torch.randint(0, 4, (2,), generator=gen).tolist()
        for t in range(TEXTURES):
            shifted = torch.roll(_pattern(t), shifts=tuple(phase), dims=(0, 1))
            images[i, 0] += masks[i, t] * shifted
    return images, masks, masks.sum((2, 3)).argmax(1)


class Energy(nn.Module):
    """Quadrature-pair energy: channel j = sin_j^2 + cos_j^2 of the filter responses."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0::2] ** 2 + x[:, 1::2] ** 2


def texture_model(gains: tuple[float, ...] = (1.0, 0.6, 0.3)) -> nn.Module:
    """Hand-built: 8x8 quadrature filters matched to each texture (stride 4), energy, then
    each texture's energy at len(gains) gains (9 channels, three per texture), GAP + linear."""
    filters = torch.zeros(2 * TEXTURES, 1, 8, 8)
    for t in range(TEXTURES):
        base = _pattern(t, 8)
        quarter = {0: (1, 0), 1: (0, 1), 2: (2, 0)}[t]  # a quarter period along the stripes
        filters[2 * t, 0] = base
        filters[2 * t + 1, 0] = torch.roll(base, shifts=quarter, dims=(0, 1))
    conv = nn.Conv2d(1, 2 * TEXTURES, 8, stride=4, padding=2, bias=False)
    conv.weight.data = filters / 32
    mix = nn.Conv2d(TEXTURES, TEXTURES * len(gains), 1, bias=False)
    weight = torch.zeros(TEXTURES * len(gains), TEXTURES, 1, 1)
    for t in range(TEXTURES):
        for j, g in enumerate(gains):
            weight[t * len(gains) + j, t] = g
    mix.weight.data = weight
    head = nn.Linear(TEXTURES * len(gains), TEXTURES)
    head.weight.data = torch.kron(torch.eye(TEXTURES), torch.ones(1, len(gains))) * 4 - 1
    return nn.Sequential(
        conv, Energy(), mix, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), head
    ).eval()


@pytest.fixture(scope="module")
def world():
    images, masks, labels = texture_world(40)
    model = texture_model()
    return model, images, masks, labels, xf.concepts(model, images, "3", k=3, seed=0)


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a & b).sum() / (a | b).sum().clamp(min=1))


def test_the_concepts_recover_the_textures(world) -> None:
    model, images, masks, _labels, c = world
    assert (model(images).argmax(1) == _labels).float().mean() >= 0.9  # the model works
    segs = torch.stack([c.segmentation(i) for i in range(len(images))])  # (n, H, W)
    iou = torch.tensor(
        [[_iou(segs == k, masks[:, t].bool()) for t in range(TEXTURES)] for k in range(3)]
    )
    best = max(
        itertools.permutations(range(TEXTURES)), key=lambda p: sum(iou[k, p[k]] for k in range(3))
    )
    matched = [float(iou[k, best[k]]) for k in range(3)]
    assert min(matched) >= 0.7, (matched, iou)
    per_image = [
        _iou(segs[i] == k, masks[i, best[k]].bool()) for i in range(len(images)) for k in range(3)
    ]
    assert np.median(per_image) >= 0.7
    # each direction lives on its texture's three channels
    for k in range(3):
        channels = c.directions[k].reshape(TEXTURES, 3).sum(1)
        assert int(channels.argmax()) == best[k] and channels[best[k]] > 0.95 * channels.sum()


def test_gap_linear_relevance_is_the_class_weights_on_the_concept(world) -> None:
    model, _images, _masks, _labels, c = world
    head = model[6]
    expected = (head.weight.detach() @ c.directions.T).T  # (k, classes)
    torch.testing.assert_close(c.class_relevance, expected, rtol=1e-4, atol=1e-5)
    # the concepts' shares add up to the logit minus the bias (the NMF is exact here)
    assert c.error < 0.05
    total = c.relevance.sum(1) + head.bias.detach()
    torch.testing.assert_close(total, c.logits, rtol=0.05, atol=0.05 * c.logits.abs().max())
    # the top concept of an image for its own class is its own largest texture's concept
    assert c.top(0, int(c.predictions[0]))[0][1] > 0


def test_deterministic_for_a_seed_and_exemplars_show_the_concept(world) -> None:
    model, images, _masks, _labels, c = world
    again = xf.concepts(model, images, "3", k=3, seed=0)
    assert torch.equal(again.directions, c.directions) and torch.equal(again.maps, c.maps)
    assert torch.equal(again.exemplars, c.exemplars)
    amount = c.maps.mean((2, 3))
    for k in range(3):
        assert torch.equal(
            c.exemplars[k], torch.sort(amount[:, k], descending=True, stable=True).indices[:8]
        )
    other = xf.concepts(model, images, "3", k=3, seed=1)
    assert other.seed == 1 and other.directions.shape == c.directions.shape


def test_nmf_matches_scikit_learn_on_the_reconstruction_error() -> None:
    sklearn = pytest.importorskip("sklearn.decomposition")
    gen = torch.Generator().manual_seed(0)
    V = (torch.rand(600, 5, generator=gen) ** 3) @ torch.rand(5, 40, generator=gen)
    V = V + 0.05 * torch.rand(600, 40, generator=gen)
    ours = nmf(V.double(), 5, seed=0, max_iter=400, tol=1e-7)
    model = sklearn.NMF(5, init="random", random_state=0, max_iter=600, tol=1e-6)
    W = model.fit_transform(V.double().numpy())
    theirs = np.linalg.norm(V.double().numpy() - W @ model.components_) / np.linalg.norm(V.numpy())
    assert ours.W.min() >= 0 and ours.H.min() >= 0
    assert ours.error <= theirs * 1.02 + 1e-6, (ours.error, theirs)
    direct = float((V.double() - ours.W @ ours.H).norm() / V.double().norm())
    assert abs(direct - ours.error) < 1e-6


def test_zoo_model_and_progress_and_cancel() -> None:
    from xai_widgets import zoo

    model = zoo.load("textures")
    x = make_input(12, 64, seed=1)[:, :1]
    seen: list[float] = []
    c = xf.concepts(model, x, k=4, progress=seen.append)
    assert c.maps.shape[:2] == (12, 4) and c.classes == (0, 1, 2)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)

    def cancel(fraction: float) -> None:
        if fraction > 0.3:
            raise KeyboardInterrupt

    before = snapshot(model)
    with pytest.raises(KeyboardInterrupt):
        xf.concepts(model, x, k=4, progress=cancel)
    assert_unchanged(before, model)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"k": 1}, ValueError, "k must be >= 2"),
        ({"k": 2.5}, TypeError, "k must be an int"),
        ({"k": 99}, ValueError, "k=99 is more than the 16 channels"),
        ({"layer": "classifier.1"}, ValueError, "classifier.1"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
        ({"classes": [7]}, ValueError, "classes must be class indices in 0..4"),
    ],
)
def test_bad_input_is_a_clear_error_and_the_model_is_unchanged(kwargs, error, words) -> None:
    model = make_model("vgg")
    prepare_state(model, "frozen")
    before = snapshot(model)
    args = {"layer": "features.4", **kwargs}
    with pytest.raises(error, match=words):
        xf.concepts(model, make_input(3), **args)
    assert_unchanged(before, model)


def test_many_classes_need_classes() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 100)).eval()  # fmt: skip
    with pytest.raises(ValueError, match="has 100 classes; pass classes="):
        xf.concepts(model, make_input(2), "1", k=2)
    c = xf.concepts(model, make_input(2), "1", k=2, classes=[5, 9])
    assert c.classes == (5, 9) and c.relevance.shape == (2, 2, 2)
    with pytest.raises(ValueError, match="not for class 3"):
        c.image_relevance(0, 3)
