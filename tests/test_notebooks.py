"""The quickstart notebook runs top to bottom in a fresh kernel, offline, and leaves what a
reader without a kernel needs: the widget view and a static PNG of it."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quickstart_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no cached ImageNet weights
    nb = nbformat.read(NOTEBOOKS / "01_quickstart.ipynb", as_version=4)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env=dict(os.environ))
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    explorer = nb.cells[1].outputs[0]
    assert "application/vnd.jupyter.widget-view+json" in explorer.data
    assert base64.b64decode(explorer.data["image/png"])[:4] == b"\x89PNG"
    figure = [o for o in nb.cells[3].outputs if "image/png" in o.get("data", {})]
    assert figure, "e.show() drew no figure"
    offline = "".join(o.get("text", "") for o in nb.cells[5].outputs)
    assert "imagenet('resnet18', download=True)" in offline
