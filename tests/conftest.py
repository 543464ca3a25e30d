"""Fixtures of the core tests; the models themselves live in helpers.py."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import MODEL_NAMES, make_input, make_model


@pytest.fixture(params=MODEL_NAMES)
def model_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def model(model_name: str) -> nn.Module:
    return make_model(model_name)


@pytest.fixture
def x() -> torch.Tensor:
    return make_input()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``gpu`` tests run where CUDA is available and are skipped (with the reason) elsewhere."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="gpu test: no CUDA device here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
