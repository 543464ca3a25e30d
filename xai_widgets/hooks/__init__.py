"""The only place that registers hooks on a user's model, always inside a ``with`` block.

Two guarantees hold for everything in this package:

* ``borrowed(model)`` restores the model exactly: each module's ``training`` flag, every
  parameter's ``requires_grad`` and ``.grad`` object, and every hook dictionary. It holds even
  when the model or the caller raises (the original exception propagates). Inside the block the
  model is in eval mode and its parameters do not require grad, so autograd never records or
  computes anything for them: we only ever differentiate with respect to inputs and activations.
* ``capture``, ``record_shapes``, ``replace_output``, ``relu_rule``, ``record_calls``,
  ``watch_calls``, ``stop_after``, ``dense_gradients`` and ``observe`` remove every hook they
  register in ``finally``; ``relu_rule`` also leaves its thread-local TorchFunctionMode there.

Only forward hooks, forward pre-hooks and tensor-level autograd are used; full module backward
hooks break on in-place ReLU (torchvision ResNet/VGG), see captum #914 and pytorch-grad-cam #147.

Example::

    with borrowed(model), capture(model, ["layer4"], gradable=True) as acts:
        logits = model(x)
    layer4_output = acts["layer4"]
"""

from __future__ import annotations

from .attention import AttentionCall, attention_inputs
from .borrow import borrowed, model_lock, one_walk
from .calls import Call, Stop, StopForward, record_calls, stop_after, watch_calls
from .capture import Captured, capture, record_shapes, replace_output, rewrite_outputs
from .dense import dense_gradients
from .observe import observe
from .relu import ReluReach, relu_rule

__all__ = [
    "AttentionCall",
    "Call",
    "Captured",
    "ReluReach",
    "Stop",
    "StopForward",
    "attention_inputs",
    "borrowed",
    "capture",
    "dense_gradients",
    "model_lock",
    "observe",
    "one_walk",
    "record_calls",
    "record_shapes",
    "relu_rule",
    "replace_output",
    "rewrite_outputs",
    "stop_after",
    "watch_calls",
]
