"""Reading a user's data source batch by batch, with a fault named by its batch.

A DataLoader over a real data set can fail mid-way (a corrupt file, a worker that dies); the
error the user sees should say which batch, keep the original as its cause, and leave the
model as it was (the functions that read batches borrow the model per batch, so it is).
:func:`numbered` is the one loop every streaming function (``top_activating``, ``zscores``,
``evaluate.benchmark``) runs over its source.

Example::

    for index, batch in numbered(loader, "top_activating", "images"):
        ...   # an exception inside loader's __next__ becomes DataError("... batch 3 ...")
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["DataError", "numbered"]


class DataError(RuntimeError):
    """The data source raised while producing a batch (the original error is the cause)."""


def numbered(source: Iterable[object], owner: str, parameter: str) -> Iterator[tuple[int, object]]:
    """``(batch index, batch)`` over ``source``; an exception raised by the source itself
    becomes :class:`DataError` naming ``owner``, ``parameter`` and the batch index."""
    iterator = iter(source)
    index = 0
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except Exception as exc:
            raise DataError(
                f"{owner}: parameter '{parameter}': the data source raised at batch {index} "
                f"({type(exc).__name__}: {exc}); the model is untouched"
            ) from exc
        yield index, item
        index += 1
