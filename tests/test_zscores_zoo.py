"""The sensor-fusion zoo models (fusion_small, fusion_large, fusion_large_relu): shipped weights
and cards, held-out per-pixel accuracy, Z-scores that need nothing but the model and the data,
the paper's cautions on the trained networks, the model contract, and the notebook."""

from __future__ import annotations

import os
import warnings
from importlib import resources
from pathlib import Path

import pytest
import torch

import xai_widgets as xw
from helpers import assert_unchanged, prepare_state, snapshot
from xai_widgets import data, zoo
from xai_widgets.hooks import observe
from xai_widgets.zoo.fusion import FusionNet

FUSION = ("fusion_small", "fusion_large", "fusion_large_relu")
WIDTH = {"fusion_small": 14, "fusion_large": 28, "fusion_large_relu": 28}


@pytest.fixture(scope="module")
def scenes():
    return data.dataset("sea_ice", 12, seed=31337)  # fresh: neither training nor card seeds


@pytest.mark.parametrize("name", FUSION)
def test_weights_and_cards(name):
    c = zoo.card(name)
    assert c.dataset == "sea_ice" and c.inputs == ("sar", "mwr") and c.classes == ("ice",)
    assert c.accuracy >= 0.90 and c.zscores["layer"] == "mix"
    w = WIDTH[name]
    expected = [["Scale-0", 14], *([f"Scale-{d}", w] for d in (2, 4, 8, 16)), ["MWR", 14]]
    assert c.zscores["groups"] == expected and c.zscores["coarse"] == {"MWR": "mwr_norm"}
    path = resources.files("xai_widgets.zoo").joinpath("weights", f"{name}.pt")
    assert len(path.read_bytes()) < 1_000_000
    model = zoo.load(name)
    assert isinstance(model, FusionNet) and not model.training and model.zoo_card == c
    assert [list(g) for g in model.groups()] == expected


@pytest.mark.parametrize("name", FUSION)
def test_held_out_pixel_accuracy(name):
    accuracy = zoo.evaluate(name, n=8, seed=4242)
    assert accuracy >= 0.90, f"{name}: {accuracy:.3f}"


def test_zscores_of_the_zoo_need_nothing_else(scenes):
    zs = xw.zscores(zoo.load("fusion_small"), data.dataset("sea_ice", 6))
    assert zs.layer == "mix" and list(zs.groups) == [g for g, _ in FusionNet().groups()]
    assert zs.coarse == ("MWR",) and zs.outputs == ("ice",) and zs.model == "fusion_small"
    assert zs.z.shape == (1, 84) and zs.dead == ()


@pytest.mark.parametrize("name", ["fusion_small", "fusion_large"])
def test_sigma_after_upsampling_is_too_low(name, scenes):
    """The paper's caution on the trained network: measured at the mixing layer, after the x16
    bilinear upsampling, every MWR channel's sigma is lower than at mwr_norm, so Z is inflated."""
    zs = xw.zscores(zoo.load(name), scenes)
    mwr = list(zs.groups["MWR"])
    assert torch.all(zs.sigma_layer[mwr] < zs.sigma[mwr])
    naive = xw.zscores(zoo.load(name), scenes, groups=zoo.card(name).zscores["groups"])
    assert naive.grouped()["MWR"].abs_sum > zs.grouped()["MWR"].abs_sum


def test_relu_variant_dead_inputs(scenes):
    """Whatever training left dead in fusion_large_relu is found: exactly the inputs that are
    zero on every pixel of the data (checked directly), none in the linear variant."""
    model = zoo.load("fusion_large_relu")
    seen = []
    with torch.no_grad(), observe(model, [("mix", "input", seen.append)]):
        model(*scenes[:2])
    always_zero = tuple(int(i) for i in torch.nonzero(seen[0].amax((0, 2, 3)) <= 0).flatten())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        zs = xw.zscores(model, scenes)
    assert zs.dead == always_zero
    assert bool(caught) == bool(always_zero)
    assert (
        torch.isnan(zs.z[:, list(zs.dead)]).all()
        and torch.isfinite(zs.z[:, [i for i in range(zs.z.shape[1]) if i not in zs.dead]]).all()
    )


@pytest.mark.parametrize("name", FUSION)
def test_only_the_relu_variant_has_dead_inputs(name, scenes):
    """The shipped fusion_large_relu shows the paper's caution: at least one input of its mixing
    layer is zero on every pixel of fresh scenes; the linear variants have none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zs = xw.zscores(zoo.load(name), scenes)
    if name == "fusion_large_relu":
        assert len(zs.dead) >= 1 and torch.all(zs.sigma[list(zs.dead)] == 0)
    else:
        assert zs.dead == () and float(zs.sigma.min()) > 1e-3


def test_fusion_model_contract(scenes):
    model = zoo.load("fusion_small")
    prepare_state(model, "frozen")
    before = snapshot(model)
    xw.zscores(model, tuple(t[:3] for t in scenes), batch_size=2)
    assert_unchanged(before, model)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_notebook_executes(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = Path(__file__).resolve().parents[1] / "notebooks" / "09_zscores.ipynb"
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    root = str(path.parents[1])  # the kernel imports this checkout, not an installed copy
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    client.execute(env=env)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 5


@pytest.mark.slow
def test_training_script_writes_a_dense_card(tmp_path, monkeypatch):
    """``python -m xai_widgets.zoo.train fusion_small`` end to end on a tiny budget."""
    import dataclasses

    from xai_widgets.zoo import specs, train

    spec = dataclasses.replace(
        specs.SPECS["fusion_small"], n_train=4, epochs=1, batch_size=4, n_test=1,
        dataset_kwargs={"size": 32},
    )  # fmt: skip
    monkeypatch.setitem(specs.SPECS, "fusion_small", spec)
    c = train.train("fusion_small", out=tmp_path, verbose=False)
    written = zoo.ModelCard.from_json((tmp_path / "cards" / "fusion_small.json").read_text())
    assert written == c and c.inputs == ("sar", "mwr") and 0 <= c.accuracy <= 1
    assert c.zscores["coarse"] == {"MWR": "mwr_norm"} and c.zscores["modules"]["MWR"] == "upsample"
    state = torch.load(tmp_path / "weights" / "fusion_small.pt", weights_only=True)
    assert state["mwr_norm.mean"].shape == (14,) and float(state["mwr_norm.std"].min()) > 0
