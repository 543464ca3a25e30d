"""Every course notebook runs top to bottom in a fresh kernel, offline, within the time a
Binder user would wait (90 s per cell via the cell timeout), with no error output; the
repository copy is stored without outputs; the quickstart keeps what a reader without a
kernel needs (the widget view and a static PNG of it)."""

from __future__ import annotations

import base64
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT_S = 90
BEFORE_THE_COURSE: set[str] = set()  # notebooks not yet in the course format


def _outputs(nb: nbformat.NotebookNode) -> list:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name} has no code cell"
    assert not [c for c in code if c.outputs or c.execution_count is not None], (
        f"{path.name} is stored with outputs; strip them (jupyter nbconvert --clear-output)"
    )


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_course_shape(path: Path) -> None:
    """Opens with what you will learn; closes with exercises and folded solutions (except the
    quickstart, which is a tour, not a lesson)."""
    if path.stem.startswith("01_"):
        pytest.skip("the quickstart is a tour")
    if path.stem in BEFORE_THE_COURSE:
        pytest.skip(f"{path.name} was written before the course's format")
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "what you will learn" in nb.cells[0].source.lower()
    assert "## Exercises" in text
    assert text.count("<details>") >= 2


def _execute(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no cached ImageNet weights
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get(
        "PYTHONPATH")])))  # fmt: skip
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=dict(os.environ))
    errors = [o for o in _outputs(nb) if o.output_type == "error"]
    assert not errors, f"{path.name}: {errors[0].ename}: {errors[0].evalue}"
    stderr = [o.text for o in _outputs(nb) if o.output_type == "stream" and o.name == "stderr"]
    assert not [t for t in stderr if "Traceback" in t], stderr
    return nb


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_executes(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _execute(path, tmp_path, monkeypatch)
    outputs = _outputs(nb)
    assert [o for o in outputs if "image/png" in o.get("data", {})], f"{path.name}: no figure"
    if path.stem.startswith("01_"):
        assert nb.cells[1].outputs, "the Explorer cell ran without error but shows no output"
        explorer = nb.cells[1].outputs[0]
        assert "application/vnd.jupyter.widget-view+json" in explorer.data
        assert base64.b64decode(explorer.data["image/png"])[:4] == b"\x89PNG"
        figure = [o for o in nb.cells[3].outputs if "image/png" in o.get("data", {})]
        assert figure, "e.show() drew no figure"
        offline = "".join(o.get("text", "") for o in nb.cells[5].outputs)
        assert "imagenet('resnet18', download=True)" in offline
    elif path.stem not in BEFORE_THE_COURSE:
        views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get(
            "data", {})]  # fmt: skip
        assert views, f"{path.name} shows no live widget"


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_binder_takes_its_requirements_from_pyproject() -> None:
    """One list of dependencies: binder/ installs the package (``.[binder]``) and names none of
    pyproject's dependencies itself."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = {_name(r) for r in project["dependencies"]}
    listed |= {_name(r) for r in project["optional-dependencies"]["binder"]}
    lines = [
        line.strip()
        for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "-"))
    ]
    assert lines == [".[binder]"], lines
    installers = [ROOT / "binder" / name for name in ("requirements.txt", "postBuild")]
    names = listed - {"notebook"}  # the word is also the folder notebooks/
    repeated = [
        f.name
        for f in installers
        if any(re.search(rf"\b{re.escape(n)}\b", f.read_text()) for n in names)
    ]
    assert not repeated, f"binder files repeat pyproject's dependencies: {repeated}"


def test_course_index_links_every_notebook() -> None:
    index = (NOTEBOOKS / "README.md").read_text()
    for path in PATHS:
        assert f"]({path.name})" in index, f"notebooks/README.md does not link {path.name}"
    readme = (ROOT / "README.md").read_text().split("\n## ", 1)[0]
    assert "notebooks/README.md" in readme, "the README's first screen does not link the course"
