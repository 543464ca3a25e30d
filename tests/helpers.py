"""Tiny seeded fixture models and model-state snapshots for the core tests (no network, GPU
or browser).

Each model covers a trap users meet: in-place ReLU after a conv (torchvision VGG/ResNet), a
residual add with BatchNorm (non-trivial running statistics), functional ``F.relu`` calls, and a
global-average-pool + linear head (CAM applies).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class VGGish(nn.Module):
    """conv/ReLU(inplace)/max-pool blocks + a two-layer linear head (no GAP)."""

    def __init__(self, classes: int = 5, size: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * (size // 4) ** 2, 32),
            nn.ReLU(inplace=True),
            nn.Linear(32, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x  # in-place residual add, as torchvision does
        return self.relu(out)  # the same ReLU module runs twice


class TinyResNet(nn.Module):
    """stem conv/BN/ReLU(inplace) + two residual blocks + GAP + linear (CAM applies)."""

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 12, 3, padding=1, bias=False),
            nn.BatchNorm2d(12),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.layer1 = Block(12)
        self.layer2 = Block(12)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


class FunctionalNet(nn.Module):
    """A conv with functional F.relu and F.max_pool2d in forward, a second conv, and a GAP
    head via torch.mean (so CAM applies at conv2)."""

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 5, padding=2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.head = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return self.head(self.conv2(x).mean((2, 3)))


def _randomize_bn(model: nn.Module, gen: torch.Generator) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.num_batches_tracked.fill_(7)
    return model


def make_model(name: str) -> nn.Module:
    """A fresh, seeded fixture model by name (eval mode)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    models = {
        "vgg": lambda: VGGish(),
        "resnet": lambda: _randomize_bn(TinyResNet(), gen),
        "functional": lambda: FunctionalNet(),
    }
    return models[name]().eval()


MODEL_NAMES = ["vgg", "resnet", "functional"]
GAP_MODELS = {"resnet": "layer2", "functional": "conv2"}


def make_input(n: int = 2, size: int = 32, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=gen)


def snapshot(model: nn.Module) -> dict:
    """Everything the model contract promises to keep: tensors by value, objects by identity."""
    params = dict(model.named_parameters())
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()},
        "training": [(name, m.training) for name, m in model.named_modules()],
        "modules": [(name, id(m), type(m)) for name, m in model.named_modules()],
        "inplace": [(name, getattr(m, "inplace", None)) for name, m in model.named_modules()],
        "requires_grad": {k: p.requires_grad for k, p in params.items()},
        "grad_ids": {k: id(p.grad) if p.grad is not None else None for k, p in params.items()},
        "grads": {k: None if p.grad is None else p.grad.clone() for k, p in params.items()},
        "param_ids": {k: id(p) for k, p in params.items()},
        "hooks": [
            (name, attr, list(getattr(m, attr).items()))
            for name, m in model.named_modules()
            for attr in sorted(vars(m))
            if attr.startswith("_") and "hooks" in attr and isinstance(getattr(m, attr), dict)
        ],
    }


def assert_unchanged(before: dict, model: nn.Module) -> None:
    after = snapshot(model)
    for key in ("training", "modules", "inplace", "requires_grad", "grad_ids", "param_ids"):
        assert before[key] == after[key], f"model {key} changed"
    assert before["hooks"] == after["hooks"], "model hooks changed"
    assert before["state"].keys() == after["state"].keys()
    for k, v in before["state"].items():
        assert torch.equal(v, after["state"][k]), f"{k} changed"
    for k, g in before["grads"].items():
        if g is None:
            assert after["grads"][k] is None, f"{k}.grad appeared"
        else:
            assert torch.equal(g, after["grads"][k]), f"{k}.grad changed"


def add_user_hooks(model: nn.Module) -> None:
    """Hooks a user may have: they must survive, in place and in order."""
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    first.register_forward_hook(lambda m, i, o: None)
    first.register_forward_pre_hook(lambda m, i: None)
    model.register_forward_hook(lambda m, i, o: None)


def prepare_state(model: nn.Module, state: str) -> None:
    """Put the model in a contract-test state: "eval", "train" or "frozen" (train, half the
    parameters frozen, the others with existing .grad, one submodule in eval), with user hooks."""
    add_user_hooks(model)
    if state == "train":
        model.train()
    elif state == "frozen":
        model.train()
        for i, p in enumerate(model.parameters()):
            if i % 2:
                p.requires_grad_(False)
            else:
                p.grad = torch.full_like(p, 0.5)
        # a mixed tree: one submodule in eval while the rest trains
        next(m for m in model.modules() if m is not model).eval()
