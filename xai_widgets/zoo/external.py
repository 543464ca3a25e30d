"""Models that do not ship with the package: torchvision's ImageNet classifiers and ONNX files.

``imagenet(name)`` returns the model (eval mode); ``imagenet_card(name)`` returns its
:class:`ModelCard` (the 1000 class names from torchvision's weight metadata, which ship with
torchvision, and the ImageNet mean/std). The weights come from the torch hub cache
(``$TORCH_HOME/hub/checkpoints``); nothing is downloaded unless ``download=True`` is passed,
so a lecture without network fails early with a message that says how to fetch them.

Example::

    >>> model = imagenet("resnet18")                 # cached weights, or a clear error
    >>> c = imagenet_card("resnet18")
    >>> x = prepare(sample_images()["chelsea"], c)   # (1, 3, 224, 224)
    >>> c.classes[int(model(x).argmax())]
    'tabby'
    >>> onnx_model = from_onnx("model.onnx")         # needs `pip install xai_widgets[onnx]`
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import torch
from torch import nn

from .card import ModelCard

__all__ = ["from_onnx", "imagenet", "imagenet_card", "imagenet_weights_path"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FALLBACK_OPSET = 17  # from_onnx retries at this opset when onnx2torch lacks a converter


def _weights(name: str):
    import torchvision.models as tvm

    available = tvm.list_models(module=tvm)
    if name not in available:
        raise ValueError(
            f"unknown torchvision classification model {name!r}; e.g. resnet18, resnet50, "
            f"vgg16, mobilenet_v3_small, efficientnet_b0 (all: {len(available)} in "
            "torchvision.models.list_models(module=torchvision.models))"
        )
    return tvm.get_model_weights(name).DEFAULT


def imagenet_weights_path(name: str = "resnet18") -> Path:
    """Where torch hub keeps (or would keep) the default ImageNet weights of ``name``."""
    weights = _weights(name)
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def imagenet_card(name: str = "resnet18") -> ModelCard:
    """Card of torchvision model ``name`` with its default ImageNet weights (works offline)."""
    weights = _weights(name)
    metrics = weights.meta.get("_metrics", {}).get("ImageNet-1K", {})
    crop = int(getattr(weights.transforms(), "crop_size", [224])[0])
    top1 = metrics.get("acc@1")
    params = weights.meta.get("num_params", 0)
    return ModelCard(
        name=name,
        classes=tuple(weights.meta["categories"]),
        dataset=None,
        input_size=(crop, crop),
        channels=3,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        accuracy=None if top1 is None else round(top1 / 100, 5),
        architecture=f"torchvision.models.{name} ({params:,} parameters)",
        description=f"ImageNet-1K classifier, weights {weights}; accuracy is torchvision's top-1",
        source=weights.url,
    )


def imagenet(
    name: str = "resnet18", device: torch.device | str | None = None, download: bool = False
) -> nn.Module:
    """torchvision model ``name`` with its default ImageNet weights, in eval mode.

    Loads from the torch hub cache; with ``download=True`` fetches the weights if missing.
    Otherwise a missing file raises FileNotFoundError naming the expected path and the
    one-line command that fetches it. Class names and preprocessing: :func:`imagenet_card`.
    """
    import torchvision.models as tvm

    weights = _weights(name)
    path = imagenet_weights_path(name)
    if not path.is_file() and not download:
        raise FileNotFoundError(
            f"the ImageNet weights of {name!r} are not in the torch hub cache: expected "
            f"{path} (torch hub dir from $TORCH_HOME, default ~/.cache/torch). Fetch them once "
            "where there is network (a laptop, Binder) with\n"
            '    python -c "from xai_widgets.zoo import imagenet; '
            f'imagenet({name!r}, download=True)"\n'
            f"or download {weights.url} to that path."
        )
    model = tvm.get_model(name, weights=weights)  # reads the cached file, or downloads
    return model.to(device or "cpu").eval()


def from_onnx(path: str | PathLike[str], device: torch.device | str | None = None) -> nn.Module:
    """An ONNX image classifier as a torch module (eval mode), converted by onnx2torch.

    Needs the optional extra: ``pip install "xai_widgets[onnx]"`` (onnx, onnx2torch). A
    model using an operator version onnx2torch lacks is converted to opset 17 first (onnx's
    version converter); if that fails too, NotImplementedError says how to re-export.
    """
    try:
        import onnx
        from onnx2torch import convert
    except ImportError as err:
        raise ImportError(
            f"from_onnx needs onnx and onnx2torch ({err.name} is missing); install them with "
            'pip install "xai_widgets[onnx]"'
        ) from err
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX file at {path}")
    proto = onnx.load(str(path))
    try:
        model = convert(proto)
    except NotImplementedError as err:
        # onnx2torch lags behind new opsets (e.g. AveragePool-19 from torch's default export):
        # retry once at an opset it covers.
        try:
            from onnx import version_converter

            model = convert(version_converter.convert_version(proto, FALLBACK_OPSET))
        except Exception:
            raise NotImplementedError(
                f"onnx2torch cannot convert {path.name}: {err}. Re-export the model with an "
                f"older opset, e.g. torch.onnx.export(..., opset_version={FALLBACK_OPSET})"
            ) from err
    return model.to(device or "cpu").eval()
