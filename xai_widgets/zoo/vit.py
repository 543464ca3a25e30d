"""A small vision transformer for the zoo: torchvision's own ``VisionTransformer`` (Dosovitskiy
et al. 2021, "An Image is Worth 16x16 Words"), so what works on it works on the ImageNet ViTs
users bring, with a patch embedding for grey images.

The image is cut into ``patch`` x ``patch`` patches, each embedded by ``conv_proj``: one
``patch`` x ``patch`` convolution, or with ``stem`` widths a convolutional stem of stride-2
3x3 conv-BN-ReLU layers and a 1x1 conv (torchvision's ``conv_stem_configs``, Xiao et al. 2021,
"Early Convolutions Help Transformers See Better"), or with ``hybrid`` widths a VGG-style
stem (3x3 conv-ReLU, 2x2 max-pool between) and a 1x1 conv: the "hybrid" ViT of Dosovitskiy et
al. (Sec. 3.1), whose stem :func:`init_stem` copies from a trained CNN (the zoo's ``shapes``
``features``), as the paper's hybrids start from a trained ResNet. On 2 CPU cores the plain
patch embedding stayed at chance for epochs. A class
token is prepended, position embeddings added, and ``layers`` encoder blocks (``encoder.layers.
encoder_layer_i``: LayerNorm, ``nn.MultiheadAttention``, LayerNorm, MLP, two residual adds) mix
the (N, 1 + h*w, D) tokens; the head reads the class token only.

Example::

    >>> model = small_vit(in_channels=1, classes=2, image_size=64, patch=8)
    >>> model(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 2])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn
from torchvision.models import VisionTransformer
from torchvision.models.vision_transformer import ConvStemConfig

__all__ = ["describe_vit", "init_stem", "small_vit"]


def small_vit(
    in_channels: int = 1,
    classes: int = 2,
    image_size: int = 64,
    patch: int = 8,
    layers: int = 4,
    heads: int = 4,
    dim: int = 64,
    mlp: int = 128,
    stem: Sequence[int] = (),
    hybrid: Sequence[int] = (),
) -> VisionTransformer:
    """torchvision ``VisionTransformer`` with a ``conv_proj`` for ``in_channels`` channels
    (initialised as torchvision initialises its own: truncated normal, std sqrt(1 / fan_in)).
    ``stem``: widths of a convolutional stem, one stride-2 layer each (2**len(stem) == patch);
    ``hybrid``: widths of a VGG-style stem, a max-pool between layers (2**(len - 1) == patch)."""
    if stem and 2 ** len(stem) != patch:
        raise ValueError(f"stem: {len(stem)} stride-2 layers do not make patches of {patch}")
    configs = [ConvStemConfig(width, 3, 2) for width in stem] or None
    model = VisionTransformer(
        image_size=image_size,
        patch_size=patch,
        num_layers=layers,
        num_heads=heads,
        hidden_dim=dim,
        mlp_dim=mlp,
        num_classes=classes,
        conv_stem_configs=configs,
    )
    if hybrid:
        if 2 ** (len(hybrid) - 1) != patch:
            raise ValueError(f"hybrid: {len(hybrid) - 1} max-pools do not make patches of {patch}")
        layers: list[nn.Module] = []
        previous = in_channels
        for i, width in enumerate(hybrid):
            layers += [nn.Conv2d(previous, width, 3, padding=1), nn.ReLU(inplace=True)]
            if i < len(hybrid) - 1:
                layers.append(nn.MaxPool2d(2))
            previous = width
        model.conv_proj = nn.Sequential(*layers, nn.Conv2d(previous, dim, 1))
        return model
    if stem:
        first = nn.Conv2d(in_channels, stem[0], 3, 2, 1, bias=False)
        nn.init.kaiming_normal_(first.weight, mode="fan_out", nonlinearity="relu")
        model.conv_proj.conv_bn_relu_0[0] = first
        return model
    proj = nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch)
    nn.init.trunc_normal_(proj.weight, std=math.sqrt(1 / (in_channels * patch * patch)))
    nn.init.zeros_(proj.bias)
    model.conv_proj = proj
    return model


def init_stem(model: VisionTransformer, source: nn.Module) -> int:
    """Copy the convolutions of ``source.features`` (a trained CNN) into the matching leading
    convolutions of a hybrid ``model.conv_proj``; returns how many were copied."""
    ours = [m for m in model.conv_proj.modules() if isinstance(m, nn.Conv2d)]
    theirs = [m for m in source.features.modules() if isinstance(m, nn.Conv2d)]
    copied = 0
    for a, b in zip(ours, theirs, strict=False):
        if a.weight.shape != b.weight.shape:
            break
        a.load_state_dict(b.state_dict())
        copied += 1
    return copied


def describe_vit(model: VisionTransformer) -> str:
    """One line: patch size, grid, blocks, heads, width."""
    grid = model.image_size // model.patch_size
    block = model.encoder.layers[0]
    stem = [m.out_channels for m in model.conv_proj.modules() if isinstance(m, nn.Conv2d)]
    pools = any(isinstance(m, nn.MaxPool2d) for m in model.conv_proj.modules())
    kind = "3x3 conv-relu, maxpool2 between" if pools else "3x3/2 conv-bn-relu"
    embed = (
        f"conv stem {'-'.join(map(str, stem[:-1]))} ({kind}) + 1x1 conv"
        if len(stem) > 1
        else f"patch {model.patch_size}x{model.patch_size} conv"
    )
    return (
        f"conv_proj {embed} -> {grid}x{grid} tokens + class "
        f"token -> {len(model.encoder.layers)} encoder blocks (heads "
        f"{block.self_attention.num_heads}, width {model.hidden_dim}, mlp "
        f"{model.mlp_dim}) -> heads.head on the class token"
    )
