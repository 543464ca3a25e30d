"""xai_widgets.features: activation maximization (optimize) and DeepDream (dream)."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from helpers import assert_unchanged, make_input, make_model, snapshot
from xai_widgets import features as xf
from xai_widgets.features.priors import total_variation
from xai_widgets.hooks import model_lock


def zoo_model(name: str) -> nn.Module:
    """A trained zoo model, or a skip while the zoo (another issue) is not in the tree."""
    try:
        from xai_widgets import zoo

        return zoo.load(name)
    except (ImportError, AttributeError, FileNotFoundError, KeyError, ValueError) as error:
        pytest.skip(f"zoo model {name!r} not available: {error}")


def strongest_channel(model: nn.Module, layer: str, size: int) -> int:
    """The channel most active on the start image: the hardest one to raise tenfold."""
    start = next(iter(xf.optimize(model, layer, None, steps=1, size=size, **PIXEL)))
    return int(xf.activations(model, start.image, layer)[0].mean((1, 2)).argmax())


def run(*args, **kwargs) -> list[xf.Step]:
    return list(xf.optimize(*args, **kwargs))


# The plain pixel ascent (Erhan et al. 2009) without Olah's transformations: what the tests of
# the ascent machinery below use (the readable defaults are tested in test_featvis_quality).
PIXEL = dict(parametrization="pixel", scale=0.0, rotate=0.0, jitter=0)


# --- optimize ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "layer"), [("vgg", "features.4"), ("resnet", "layer2"), ("functional", "conv2")]
)
def test_optimize_raises_the_objective_tenfold(name: str, layer: str) -> None:
    model = make_model(name)
    channel = strongest_channel(model, layer, 32)
    steps = run(model, layer, channel, steps=128, size=32, tv=0.01, every=64, **PIXEL)
    assert steps[0].objective > 0.05
    assert steps[-1].objective >= 10 * steps[0].objective
    assert steps[-1].image.shape == (1, 3, 32, 32)


def test_optimize_raises_the_objective_tenfold_on_a_zoo_model() -> None:
    model = zoo_model("shapes")
    layer = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)][-1]
    channel = strongest_channel(model, layer, 64)
    steps = run(model, layer, channel, steps=256, size=64, tv=0.01, every=64, **PIXEL)
    assert steps[0].objective > 0
    assert steps[-1].objective >= 10 * steps[0].objective


def test_optimize_yields_every_and_at_the_end() -> None:
    steps = run(make_model("functional"), "conv2", 3, steps=40, every=16, size=16)
    assert [s.step for s in steps] == [0, 16, 32, 40]
    assert all(isinstance(s.objective, float) for s in steps)
    assert steps[0].image is not steps[1].image and not steps[1].image.requires_grad


def test_optimize_is_deterministic_for_a_seed() -> None:
    model = make_model("resnet")
    kwargs = dict(steps=24, size=24, jitter=3, blur_every=4, tv=0.1, every=8)
    a = run(model, "layer1", 2, seed=5, **kwargs)
    assert a[-1].image.shape == (1, 3, 24, 24)  # the defaults: Fourier picture, transforms
    b = run(model, "layer1", 2, seed=5, **kwargs)
    c = run(model, "layer1", 2, seed=6, **kwargs)
    assert all(torch.equal(p.image, q.image) for p, q in zip(a, b, strict=True))
    assert [p.objective for p in a] == [q.objective for q in b]
    assert not torch.equal(a[-1].image, c[-1].image)


def test_optimize_priors_act() -> None:
    model = make_model("vgg")
    plain = run(model, "features.3", 1, steps=48, size=32, **PIXEL)[-1].image
    smooth = run(model, "features.3", 1, steps=48, size=32, tv=1.0, **PIXEL)[-1].image
    small = run(model, "features.3", 1, steps=48, size=32, l2=5.0, **PIXEL)[-1].image
    blurred = run(model, "features.3", 1, steps=48, size=32, blur_every=2, **PIXEL)[-1].image
    assert total_variation(smooth) < total_variation(plain)
    assert total_variation(blurred) < total_variation(plain)
    assert small.norm() < plain.norm()


def test_optimize_whole_layer_init_and_other_size() -> None:
    model = make_model("vgg")  # its linear head takes 32 px only; optimize stops before it
    steps = run(model, "features", None, steps=16, size=(40, 48))
    assert steps[-1].image.shape == (1, 3, 40, 48)
    assert steps[-1].objective > steps[0].objective
    init = make_input(1, 32)
    first = next(iter(xf.optimize(model, "features.4", 0, steps=4, init=init, **PIXEL)))
    assert torch.equal(first.image, init)
    with pytest.raises(ValueError, match=r"init .* needs parametrization='pixel'"):
        xf.optimize(model, "features.4", 0, init=init)


def test_optimize_borrows_only_while_stepping() -> None:
    model = make_model("resnet")
    model.train()
    before = snapshot(model)
    gen = xf.optimize(model, "layer2", 0, steps=64, size=16, every=8)
    next(gen)
    next(gen)
    assert_unchanged(before, model)  # between yields: the user's model, untouched

    acquired = []

    def other_thread() -> None:
        lock = model_lock(model)
        acquired.append(lock.acquire(blocking=False))
        if acquired[-1]:
            lock.release()

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert acquired == [True]  # not locked between yields
    gen.close()
    assert_unchanged(before, model)


def test_optimize_errors_at_call_time() -> None:
    model = make_model("vgg")
    cases = [
        (dict(steps=0), ValueError, "'steps' must be >= 1"),
        (dict(lr=0.0), ValueError, "'lr' must be >= 0.0001"),
        (dict(tv=-1.0), ValueError, "'tv' must be >= 0"),
        (dict(jitter=-2), ValueError, "'jitter' must be >= 0"),
        (dict(objective="neuron"), ValueError, "'objective' must be one of 'channel'"),
        (dict(parametrization="cppn"), ValueError, "'fourier', 'pixel'"),
        (dict(rotate=200.0), ValueError, "'rotate' must be <= 90"),
        (dict(decorrelate=1), TypeError, "'decorrelate' must be True or False"),
        (dict(preprocess="imagenet"), TypeError, "card_or_mean_std"),
        (dict(every=0), ValueError, "every must be >= 1"),
        (dict(size=(0, 4)), ValueError, "size must be positive"),
        (dict(size="big"), TypeError, "size must be an int"),
        (dict(channel=16), ValueError, "16 channels"),
        (dict(init=make_input(2), parametrization="pixel"), ValueError, "one image"),
        (dict(steps=2.5), TypeError, "'steps' must be an int"),
    ]
    for kwargs, error, message in cases:
        kwargs = {"channel": 0, **kwargs}
        with pytest.raises(error, match=message):
            xf.optimize(model, "features.4", **kwargs)  # no next(): checked when called
    with pytest.raises(ValueError, match="not a spatial"):
        xf.optimize(model, "classifier.1", size=32)
    with pytest.raises(ValueError, match="unknown layer"):
        xf.optimize(model, "features.8")


# --- dream ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "layer"), [("vgg", "features.4"), ("resnet", "layer1"), ("functional", "conv2")]
)
def test_dream_raises_the_layer_norm(name: str, layer: str) -> None:
    model, x = make_model(name), make_input(1, 48)
    out = xf.dream(model, x, layer, octaves=3, steps=10, lr=0.05)
    assert out.shape == x.shape
    before = xf.activations(model, x, layer).norm()
    assert xf.activations(model, out, layer).norm() > before


def test_dream_deterministic_batched_and_single_image() -> None:
    model, x = make_model("vgg"), make_input(2, 40)
    a = xf.dream(model, x, "features.3", octaves=2, steps=4, seed=1)
    b = xf.dream(model, x, "features.3", octaves=2, steps=4, seed=1)
    single = xf.dream(model, x[0], "features.3", octaves=2, steps=4, seed=1)
    assert torch.equal(a, b) and a.shape == (2, 3, 40, 40) and single.shape == (1, 3, 40, 40)
    assert not torch.equal(a, x)


def test_dream_progress_and_cancel() -> None:
    model = make_model("resnet")
    seen: list[float] = []
    xf.dream(model, make_input(1), "layer1", octaves=2, steps=3, progress=seen.append)
    assert seen == pytest.approx([k / 6 for k in range(1, 7)])

    class Stop(Exception):
        pass

    def cancel(fraction: float) -> None:
        if fraction > 0.3:
            raise Stop

    before = snapshot(model)
    with pytest.raises(Stop):
        xf.dream(model, make_input(1), "layer1", progress=cancel)
    assert_unchanged(before, model)


def test_dream_errors() -> None:
    model, x = make_model("vgg"), make_input(1)
    with pytest.raises(ValueError, match=r"too small for layer 'features\.4'.*fewer octaves"):
        xf.dream(model, x, "features.4", octaves=8, octave_scale=2.0)
    with pytest.raises(ValueError, match=r"parameter .octave_scale. must be >= 1\.01"):
        xf.dream(model, x, "features.4", octave_scale=1.0)
    with pytest.raises(ValueError, match=r"parameter .octaves. must be >= 1"):
        xf.dream(model, x, "features.4", octaves=0)
    with pytest.raises(ValueError, match=r"parameter .steps. must be >= 1"):
        xf.dream(model, x, "features.4", steps=0)
    with pytest.raises(ValueError, match="did you mean"):
        xf.dream(model, x, "feature.4")
