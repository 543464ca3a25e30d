"""xai_widgets.features: dataset exemplars (top_activating) and activation space (PCA)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from helpers import assert_unchanged, make_input, make_model, snapshot
from xai_widgets import features as xf

matplotlib.use("Agg")


def loader(n: int = 40, batch: int = 16, size: int = 32) -> list:
    """A DataLoader-like list of (images, labels) batches."""
    x = make_input(n, size, seed=3)
    y = torch.arange(n) % 3
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, n, batch)]


def test_top_activating_matches_brute_force() -> None:
    model, x = make_model("vgg"), make_input(40, seed=3)
    maps = xf.activations(model, x, "features.4")[:, 7]
    scores = maps.flatten(1).amax(1)
    ex = xf.top_activating(model, x, "features.4", 7, k=9)
    assert torch.equal(ex.indices, torch.sort(scores, descending=True, stable=True).indices[:9])
    assert torch.allclose(ex.scores, scores[ex.indices])
    for idx, (i, j) in zip(ex.indices, ex.positions, strict=True):
        assert maps[idx, i, j] == maps[idx].max()
    assert torch.equal(ex.images, x[ex.indices])
    assert ex.layer == "features.4" and ex.channel == 7


def test_top_activating_batches_and_loader_agree() -> None:
    model = make_model("resnet")
    batches = loader()
    whole = torch.cat([b[0] for b in batches])
    a = xf.top_activating(model, whole, "layer1", 3, k=5)
    b = xf.top_activating(model, batches, "layer1", 3, k=5)
    c = xf.top_activating(model, iter([b[0] for b in batches]), "layer1", 3, k=5)
    for other in (b, c):
        assert torch.equal(a.indices, other.indices) and torch.allclose(a.scores, other.scores)
        assert torch.equal(a.crops, other.crops)


def test_top_activating_mean_and_small_data() -> None:
    model, x = make_model("functional"), make_input(4)
    ex = xf.top_activating(model, x, "conv2", 0, k=9, reduce="mean")
    means = xf.activations(model, x, "conv2")[:, 0].mean((1, 2))
    assert len(ex.indices) == 4  # fewer images than k
    assert torch.allclose(ex.scores, means.sort(descending=True).values)


def test_crops_are_the_clipped_receptive_field() -> None:
    model, x = make_model("vgg"), make_input(20, seed=5)
    ex = xf.top_activating(model, x, "features.3", 2, k=20)  # field 8 x 8, stride 2, pad 3
    assert ex.crops.shape == (20, 3, 8, 8)
    for n, (box, crop) in enumerate(zip(ex.boxes, ex.crops, strict=True)):
        i, j = ex.positions[n].tolist()
        assert box == (2 * i - 3, 2 * j - 3, 2 * i + 5, 2 * j + 5)
        top, left, bottom, right = box
        image = ex.images[n]
        if top >= 0 and left >= 0 and bottom <= 32 and right <= 32:
            assert torch.equal(crop, image[:, top:bottom, left:right])
        else:  # the part inside the image, on a canvas padded where the box leaves it
            inside = image[:, max(top, 0) : min(bottom, 32), max(left, 0) : min(right, 32)]
            oy = 8 - inside.shape[1] if top < 0 else 0
            ox = 8 - inside.shape[2] if left < 0 else 0
            window = crop[:, oy : oy + inside.shape[1], ox : ox + inside.shape[2]]
            assert torch.equal(window, inside)
            rest = crop.clone()
            rest[:, oy : oy + inside.shape[1], ox : ox + inside.shape[2]] = 0
            assert not rest.any()  # the rest is pad_value 0


def test_top_activating_progress_and_cancel() -> None:
    model = make_model("vgg")
    seen: list[float] = []
    xf.top_activating(model, loader(), "features.4", 0, progress=seen.append)
    assert seen == pytest.approx([1 / 3, 2 / 3, 1.0])

    class Cancelled(Exception):
        pass

    def cancel(fraction: float) -> None:
        raise Cancelled

    before = snapshot(model)
    with pytest.raises(Cancelled):
        xf.top_activating(model, loader(), "features.4", 0, progress=cancel)
    assert_unchanged(before, model)


def test_top_activating_errors() -> None:
    model, x = make_model("vgg"), make_input(4)
    with pytest.raises(ValueError, match=r"channel 16 is out of range.*16 channels \(0..15\)"):
        xf.top_activating(model, x, "features.4", 16)
    with pytest.raises(ValueError, match="k must be >= 1"):
        xf.top_activating(model, x, "features.4", 0, k=0)
    with pytest.raises(TypeError, match="k must be an int"):
        xf.top_activating(model, x, "features.4", 0, k=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        xf.top_activating(model, [], "features.4", 0)
    with pytest.raises(TypeError, match="iterable of such batches"):
        xf.top_activating(model, 3, "features.4", 0)
    with pytest.raises(ValueError, match="one shape"):
        xf.top_activating(model, [make_input(2), make_input(2, 40)], "features.4", 0)
    with pytest.raises(ValueError, match="reduce"):
        xf.top_activating(model, x, "features.4", 0, reduce="sum")
    with pytest.raises(ValueError, match="not a spatial"):
        xf.top_activating(model, x, "classifier.1", 0)


# --- activation space ----------------------------------------------------------------------


def test_activation_space_is_the_pca_of_pooled_activations() -> None:
    model, x = make_model("resnet"), make_input(30, seed=4)
    space = xf.activation_space(model, x, "layer2")
    pooled = xf.activations(model, x, "layer2").mean((2, 3)).double().numpy()
    centred = pooled - pooled.mean(0)
    values, vectors = np.linalg.eigh(np.cov(centred, rowvar=False, bias=True))
    top = vectors[:, ::-1][:, :2]
    expected = centred @ top
    assert space.embedding.shape == (30, 2)
    for k in range(2):  # equal up to the sign of each axis
        ours = space.embedding[:, k].double().numpy()
        assert np.allclose(np.abs(ours), np.abs(expected[:, k]), atol=1e-4)
    assert np.allclose(space.explained.numpy(), values[::-1][:2] / values.sum(), atol=1e-5)
    assert torch.allclose(space.pooled, torch.from_numpy(pooled).float(), atol=1e-6)
    assert space.labels is None


def test_activation_space_labels_from_loader_and_plot() -> None:
    model = make_model("vgg")
    space = xf.activation_space(model, loader(), "features.4", pool="max")
    assert torch.equal(space.labels, torch.arange(40) % 3)
    again = xf.activation_space(model, loader(), "features.4", pool="max")
    assert torch.equal(space.embedding, again.embedding)  # signs are deterministic
    fig = xf.plot_activation_space(space, classes=["a", "b", "c"])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["a", "b", "c"] and "PC 1" in fig.axes[0].get_xlabel()
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_activation_space_errors() -> None:
    model, x = make_model("vgg"), make_input(4)
    with pytest.raises(ValueError, match="3 labels for 4 images"):
        xf.activation_space(model, x, "features.4", labels=[0, 1, 2])
    with pytest.raises(ValueError, match="at least 2 images"):
        xf.activation_space(model, x[:1], "features.4")
    with pytest.raises(ValueError, match="pool"):
        xf.activation_space(model, x, "features.4", pool="median")
    with pytest.raises(ValueError, match="unknown layer"):
        xf.activation_space(model, x, "features.44")
