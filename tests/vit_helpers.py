"""A tiny seeded torchvision ViT and a plain re-implementation of its forward pass that asks
``nn.MultiheadAttention`` for its weights (``need_weights=True``): the oracle of test_vit.py."""

from __future__ import annotations

import torch
from torch import nn

from xai_widgets.zoo.vit import small_vit


def make_vit(stem: tuple[int, ...] = (), classes: int = 4) -> nn.Module:
    """torchvision VisionTransformer, 32 x 32 RGB, 8 x 8 patches (a 4 x 4 grid), 3 blocks of
    2 heads, width 16; a random (non-zero) head so class scores depend on the patches."""
    torch.manual_seed(0)
    model = small_vit(3, classes, image_size=32, patch=8, layers=3, heads=2, dim=16, mlp=32)
    if stem:
        model = small_vit(3, classes, 32, 8, 3, 2, 16, 32, stem=stem)
    nn.init.normal_(model.heads.head.weight, std=0.5)
    with torch.no_grad():
        model.encoder.pos_embedding.normal_(std=0.5)
        model.class_token.normal_(std=0.5)
    return model.eval()


@torch.no_grad()
def plain_weights(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Each block's attention weights (N, heads, L, L), from the module itself with
    need_weights=True, average_attn_weights=False, along torchvision's own forward."""
    tokens = model._process_input(x)
    tokens = torch.cat([model.class_token.expand(x.shape[0], -1, -1), tokens], 1)
    tokens = tokens + model.encoder.pos_embedding
    found = []
    for block in model.encoder.layers:
        y = block.ln_1(tokens)
        out, weights = block.self_attention(y, y, y, need_weights=True, average_attn_weights=False)
        found.append(weights)
        tokens = tokens + out
        tokens = tokens + block.mlp(block.ln_2(tokens))
    return found


def plain_rollout(weights: list[torch.Tensor], fusion: str = "mean", discard: float = 0.0):
    """Abnar & Zuidema 2020 as in Gildenblat's vit-explain (``rollout`` in
    vit_rollout.py), one sample at a time: fuse heads, drop the lowest ``discard`` fraction
    (never entry 0), I added and halved, rows renormalised, multiplied through the blocks;
    the class token's row over the patches."""
    maps = []
    for n in range(weights[0].shape[0]):
        result = torch.eye(weights[0].shape[-1], dtype=torch.float64)
        for attention in weights:
            a = attention[n].double()
            fused = {"mean": a.mean(0), "max": a.max(0).values, "min": a.min(0).values}[fusion]
            flat = fused.view(-1)
            _, indices = flat.topk(int(flat.size(-1) * discard), -1, False)
            indices = indices[indices != 0]
            flat[indices] = 0
            eye = torch.eye(fused.size(-1), dtype=torch.float64)
            a = (fused + 1.0 * eye) / 2
            a = a / a.sum(dim=-1, keepdim=True)
            result = a @ result
        maps.append(result[0, 1:])
    return torch.stack(maps)
