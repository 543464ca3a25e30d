"""Attribution methods, one small file per family, each registered by name.

Importing this package registers: saliency, input_x_gradient, smoothgrad,
integrated_gradients, guided_backprop, deconvnet, layer_visualization, cam, grad_cam,
grad_cam_pp, score_cam, guided_grad_cam, occlusion, lrp, sg_lrp, area_occlusion, lime,
kernel_shap, rise, attention, attention_rollout. :func:`from_captum` registers any Captum
attribution class.
"""

# registration order is the order of the lists in the UI: gradients, guided, CAM, perturbation
from . import gradients, guided  # noqa: F401, I001
from . import cam, cam_guided, occlusion  # noqa: F401
from . import lrp  # noqa: F401
from . import regions, lime, shap, rise  # noqa: F401
from . import attention  # noqa: F401
from .captum_adapter import from_captum
from .card import MethodCard, method_card
from .card_table import MethodTable, method_table
from .forward import Forward
from .registry import Method, ParamSpec, get_method, list_methods, method_label, method_params

__all__ = [
    "Forward",
    "Method",
    "MethodCard",
    "MethodTable",
    "ParamSpec",
    "from_captum",
    "get_method",
    "list_methods",
    "method_card",
    "method_label",
    "method_params",
    "method_table",
]
