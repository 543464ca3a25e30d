"""The images of :func:`~xai_widgets.evaluate.benchmark`, batch by batch, with bounded memory.

``images`` is either the model's input as one tensor (N, C, H, W) (``masks`` (N, H, W) beside
it), or a DataLoader / any iterable of batches: each batch a tensor of images or a tuple /
list ``(images, labels[, masks])`` like ``xw.data.dataset`` and a DataLoader over its
``TensorDataset`` yield; labels are not used (the target is the predicted class unless
``target`` says otherwise) and a third item is the batch's ground-truth masks. One batch is
in memory at a time (a tensor is cut in ``batch`` images; a loader's batches are its own).
An error raised by the loader, or a batch of the wrong form, is reported with its index.

Example::

    loader = DataLoader(TensorDataset(x, labels, masks), batch_size=50)
    for index, xb, mb in stream(loader, None):
        ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

from ..datasource import DataError, numbered

__all__ = ["DataError", "count", "is_stream", "stream"]

Batch = tuple[int, torch.Tensor, torch.Tensor | None]


def is_stream(images: object) -> bool:
    """True for a DataLoader or other iterable of batches (not one tensor)."""
    if isinstance(images, (torch.Tensor, str, bytes, dict)):
        return False
    return isinstance(images, Iterable)


def count(images: object) -> int | None:
    """The number of source batches, when the source knows it (a DataLoader does)."""
    if isinstance(images, torch.Tensor):
        return 1
    try:
        return len(images)  # type: ignore[arg-type]
    except TypeError:
        return None


def _split(item: object, index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    where = f"benchmark: parameter 'images': batch {index}"
    if isinstance(item, torch.Tensor):
        return item, None
    if isinstance(item, (tuple, list)) and item and isinstance(item[0], torch.Tensor):
        mask = item[2] if len(item) >= 3 else None
        if mask is not None and not isinstance(mask, torch.Tensor):
            raise TypeError(f"{where} has a {type(mask).__name__} as masks (third item)")
        return item[0], mask
    raise TypeError(
        f"{where} is a {type(item).__name__}; a batch must be a tensor of images or a tuple / "
        "list (images, labels[, masks])"
    )


def stream(images: object, masks: torch.Tensor | None, batch: int = 0) -> Iterator[Batch]:
    """``(batch index, images, masks or None)``: a tensor (with ``masks``) cut in chunks of
    ``batch``, a loader's batches as they come."""
    if isinstance(images, torch.Tensor):
        for index, start in enumerate(range(0, images.shape[0], batch)):
            part = slice(start, start + batch)
            yield index, images[part], (masks[part] if masks is not None else None)
        return
    for index, item in numbered(images, "benchmark", "images"):  # type: ignore[arg-type]
        xb, mb = _split(item, index)
        yield index, xb, mb
