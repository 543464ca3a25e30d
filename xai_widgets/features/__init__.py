"""Look inside a CNN: activations, filters, receptive fields, dataset exemplars, activation
space, deconvnet projections, activation maximization, DeepDream and concepts (Deep
Feature Factorization).

Pure functions on a ``torch.nn.Module``: each borrows the model (eval mode, no parameter
gradients, hooks only inside the call) and leaves it bit-identical, computes on the model's
device, runs the model only up to the layer it reads, and returns tensors (or a matplotlib
figure from :func:`plot_activation_space`). Layers are dotted ``named_modules()`` names or
submodules.

Example::

    from xai_widgets import features as xf
    a = xf.activations(model, x, "features.3")              # (N, C, h, w)
    box = xf.receptive_field(model, "features.3", x, (4, 4))  # (top, left, bottom, right)
    ex = xf.top_activating(model, loader, "features.3", channel=5, k=9)
    for step, image, objective in xf.optimize(model, "features.3", channel=5, tv=0.05): ...
"""

from .activations import (
    Filters,
    FilterSummary,
    PostActivation,
    activations,
    filters,
    post_activation,
    top_filters,
)
from .concepts import Concepts, concepts
from .deconv import deconvnet_reconstruction
from .dream import dream
from .exemplars import Exemplars, top_activating
from .optimize import FeatVisSettings, Step, optimize
from .receptive import Geometry, receptive_field, receptive_geometry
from .space import ActivationSpace, activation_space, plot_activation_space

__all__ = [
    "ActivationSpace",
    "Concepts",
    "Exemplars",
    "FeatVisSettings",
    "FilterSummary",
    "Filters",
    "Geometry",
    "PostActivation",
    "Step",
    "activation_space",
    "activations",
    "concepts",
    "deconvnet_reconstruction",
    "dream",
    "filters",
    "optimize",
    "plot_activation_space",
    "post_activation",
    "receptive_field",
    "receptive_geometry",
    "top_activating",
    "top_filters",
]
