"""xai_widgets.data: generated and bundled datasets, sample photos, prepare/denormalize."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.measure import label as connected_components
from skimage.measure import regionprops

from xai_widgets import data

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
GREY = ((0.5,), (0.25,))


def _check_triple(images, labels, masks, n, channels, size, classes):
    assert images.shape == (n, channels, size, size) and images.dtype == torch.float32
    assert labels.shape == (n,) and labels.dtype == torch.long
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert set(labels.tolist()) <= set(range(classes))
    if masks is not None:
        assert masks.shape == (n, size, size) and masks.dtype == torch.bool


@pytest.mark.parametrize(
    "name, kwargs, channels, size, classes",
    [
        ("triangles_squares", {"size": 32}, 1, 32, 2),
        ("triangles_squares", {"size": 64}, 1, 64, 2),
        ("counting", {"size": 64, "max_count": 5}, 1, 64, 6),
        ("textures", {"size": 64}, 1, 64, 3),
    ],
)
def test_generated_datasets_shapes_and_determinism(name, kwargs, channels, size, classes):
    a = data.dataset(name, 60, seed=3, **kwargs)
    _check_triple(*a, 60, channels, size, classes)
    b = data.dataset(name, 60, seed=3, **kwargs)
    c = data.dataset(name, 60, seed=4, **kwargs)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert torch.bincount(a[1], minlength=classes).tolist() == [60 // classes] * classes
    assert len(data.class_names(name, **kwargs)) == classes


def test_generators_leave_global_rng_alone():
    torch.manual_seed(0)
    np.random.seed(0)
    before = (torch.rand(1), np.random.rand())
    torch.manual_seed(0)
    np.random.seed(0)
    data.triangles_squares(10, seed=1)
    data.counting(10, seed=1)
    data.textures(10, seed=1)
    data.faces(10, seed=1)
    assert (torch.rand(1), np.random.rand()) == before


def test_triangles_squares_masks_are_the_object():
    images, labels, masks = data.triangles_squares(200, size=64, seed=0)
    for img, mask in zip(images[:, 0], masks, strict=True):
        obj, bg = img[mask], img[~mask]
        assert mask.any() and (~mask).any()
        assert torch.all(obj == obj[0]) and torch.all(bg == bg[0])  # flat grey levels
        assert abs(float(obj[0] - bg[0])) >= 0.25 - 1e-6
        assert not mask[0].any() and not mask[-1].any()  # fully inside the image
        assert not mask[:, 0].any() and not mask[:, -1].any()
    # Same area range for both classes, so size is no cue.
    area = masks.float().sum((1, 2))
    assert abs(float(area[labels == 0].mean() / area[labels == 1].mean()) - 1) < 0.15
    # Triangles are less compact than squares (isoperimetric quotient 0.60 vs 0.79).
    quotient = []
    for mask in masks.numpy():
        props = regionprops(mask.astype(np.uint8))[0]
        quotient.append(4 * np.pi * props.area / props.perimeter**2)
    predicted = (np.array(quotient) > 0.695).astype(int)
    assert (predicted == labels.numpy()).mean() >= 0.98


def test_counting_label_is_the_number_of_circles():
    images, labels, masks = data.counting(120, size=64, max_count=5, seed=2)
    for img, lab, mask in zip(images[:, 0], labels, masks, strict=True):
        assert connected_components(mask.numpy(), connectivity=1).max() == int(lab)
        if lab > 0:
            assert torch.all(img[mask] == img[mask][0])
        assert torch.all(img[~mask] == img[~mask][0])
    _, labels3, _ = data.counting(40, size=32, max_count=3, seed=0)
    assert set(labels3.tolist()) == {0, 1, 2, 3}


def test_generation_is_fast():
    start = time.perf_counter()
    data.triangles_squares(2000, size=64, seed=0)
    data.counting(2000, size=64, seed=0)
    data.textures(2000, size=64, seed=0)
    assert time.perf_counter() - start < 10


def test_textures_splits_and_no_masks():
    images, _, masks = data.textures(30, size=64, seed=0, split="test")
    assert masks is None and images.shape == (30, 1, 64, 64)
    with pytest.raises(ValueError, match="size"):
        data.textures(4, size=200, split="test")
    with pytest.raises(ValueError, match="split"):
        data.textures(4, split="validation")


def test_faces_bundled_subset_and_disjoint_split():
    images, labels, masks = data.faces()
    _check_triple(images, labels, None, 200, 1, 25, 2)
    assert masks is None and int(labels.sum()) == 100
    train, _, _ = data.faces(split="train")
    test, test_labels, _ = data.faces(split="test", seed=5)
    assert len(train) == 150 and len(test) == 50 and int(test_labels.sum()) == 25
    flat_train = {tuple(x.flatten().tolist()) for x in train}
    assert not any(tuple(x.flatten().tolist()) in flat_train for x in test)
    assert torch.equal(data.faces(10, seed=1)[0], data.faces(10, seed=1)[0])
    with pytest.raises(ValueError, match=r"0\.\.50"):
        data.faces(51, split="test")


def test_dataset_by_name_matches_generators():
    a = data.dataset("counting", 10, seed=7, size=32)
    b = data.counting(10, size=32, seed=7)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert data.dataset_names() == ["triangles_squares", "counting", "textures", "faces", "sea_ice"]
    with pytest.raises(ValueError, match="triangles_squares"):
        data.dataset("mnist", 10)


def test_sample_images_are_rgb_uint8():
    photos = data.sample_images()
    assert list(photos) == ["chelsea", "coffee", "astronaut", "rocket", "retina"]
    for image in photos.values():
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_data_does_not_import_zoo():
    code = "import sys, xai_widgets.data; assert 'xai_widgets.zoo' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- prepare / denormalize


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((40, 50, 3), np.uint8),
        np.zeros((40, 50), np.float32),
        np.zeros((40, 50, 4), np.uint8),
        np.zeros((3, 40, 50), np.float64),
        torch.rand(3, 40, 50),
        torch.rand(40, 50),
        torch.zeros(1, 1, 40, 50, dtype=torch.uint8),
        Image.new("RGB", (50, 40)),
        Image.new("L", (50, 40)),
        Image.new("RGBA", (50, 40)),
        Image.new("P", (50, 40)),
    ],
    ids=lambda i: f"{type(i).__name__}{tuple(getattr(i, 'shape', getattr(i, 'size', ())))}",
)
def test_prepare_accepts_common_inputs(image):
    x = data.prepare(image, IMAGENET, 32)
    assert x.shape == (1, 3, 32, 32) and x.dtype == torch.float32
    g = data.prepare(image, GREY, (24, 30))
    assert g.shape == (1, 1, 24, 30)


def test_prepare_uses_the_card_and_converts_channels():
    class Card:  # anything with mean, std, channels, input_size
        mean, std, channels, input_size = (0.5,), (0.25,), 1, (64, 64)

    rgb = data.sample_images()["chelsea"]
    x = data.prepare(rgb, Card())
    assert x.shape == (1, 1, 64, 64)
    luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) / 255
    assert abs(float(data.denormalize(x, Card()).mean()) - luma.mean()) < 0.02
    grey = np.full((10, 10), 0.25, np.float32)
    x3 = data.prepare(grey, IMAGENET)
    assert x3.shape == (1, 3, 10, 10)
    assert torch.allclose(data.denormalize(x3, IMAGENET), torch.full((1, 3, 10, 10), 0.25))


def test_prepare_keeps_aspect_by_cropping_or_stretches():
    image = torch.zeros(1, 20, 40)
    image[:, :, 10:30] = 1.0  # a bright centre band, dark left and right quarters
    crop = data.denormalize(data.prepare(image, GREY, 20), GREY)
    stretch = data.denormalize(data.prepare(image, GREY, 20, fit="stretch"), GREY)
    assert float(crop.min()) > 0.99  # the centre crop is the band
    assert float(stretch[..., 0].max()) < 0.01  # stretched: the dark edges stay


def test_prepare_denormalize_round_trip():
    image = torch.rand(3, 16, 16)
    x = data.prepare(image, IMAGENET)
    assert torch.allclose(data.denormalize(x, IMAGENET)[0], image, atol=1e-6)
    assert torch.allclose(data.denormalize(x[0], IMAGENET), image, atol=1e-6)
    batch = torch.rand(5, 1, 8, 8)
    assert torch.allclose(data.denormalize(data.normalize(batch, GREY), GREY), batch, atol=1e-6)
    assert data.prepare(batch, GREY).shape == (5, 1, 8, 8)
    uint8 = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    back = data.denormalize(data.prepare(uint8, IMAGENET), IMAGENET)[0].permute(1, 2, 0)
    assert torch.allclose(back * 255, torch.from_numpy(uint8).float(), atol=1e-3)


@pytest.mark.parametrize(
    "image, error, words",
    [
        (np.zeros((8, 8, 2), np.uint8), ValueError, "2 channels.*accepted are 1 .grey., 3"),
        (np.zeros((8, 8, 5), np.uint8), ValueError, "5 channels"),
        (torch.zeros(5, 8, 8), ValueError, "5 channels"),
        (np.zeros((0, 8, 3), np.uint8), ValueError, r"empty \(shape \(0, 8, 3\)\); expected"),
        (torch.zeros(3, 0, 0), ValueError, "empty"),
        (np.full((8, 8), np.nan, np.float32), ValueError, "NaN"),
        (torch.tensor([[0.5, float("inf")]]), ValueError, "infinite"),
        (np.full((8, 8), 255.0), ValueError, r"\[0, 1\].*spans \[255, 255\].*uint8"),
        (np.zeros((8, 8), np.int64), TypeError, "dtype int64.*use uint8"),
        (np.zeros((2, 3, 8, 8, 3), np.uint8), ValueError, "shape"),
        ("cat.png", TypeError, "expected a PIL image.*got str"),
        ([[0, 1], [1, 0]], TypeError, "list"),
    ],
)
def test_prepare_rejects_bad_images_clearly(image, error, words):
    """The message names what was given and what is accepted."""
    with pytest.raises(error, match=words):
        data.prepare(image, IMAGENET)


def test_prepare_rejects_bad_statistics():
    with pytest.raises(ValueError, match="std"):
        data.prepare(np.zeros((4, 4)), ((0.5,), (0.0,)))
    with pytest.raises(TypeError, match="mean, std"):
        data.prepare(np.zeros((4, 4)), 0.5)
    with pytest.raises(ValueError, match="size"):
        data.prepare(np.zeros((4, 4)), GREY, size=(0, 4))
