"""The attention weights of ``nn.MultiheadAttention`` recomputed from its input, and attention
rollout: plain tensor functions, no hooks.

``attention_weights`` gives what ``mha(query, key, value, need_weights=True,
average_attn_weights=False)[1]`` returns, softmax(q k^T / sqrt(d) + mask) per head, without
calling the module (which a ViT calls with ``need_weights=False``, the fused path):
q = query W_q^T + b_q and k = key W_k^T + b_k from the module's own ``in_proj_weight``
(or ``q_proj_weight``/``k_proj_weight``) and ``in_proj_bias``.

Example::

    weights = attention_weights(block.self_attention, x, x, {})     # (N, heads, L, L)
    grid = rollout([w.mean(1) for w in per_block], discard_ratio=0.0)   # (N, L, L)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["attention_weights", "fuse_heads", "rollout", "unsupported"]

FUSIONS = ("mean", "max", "min")


def unsupported(mha: nn.MultiheadAttention) -> str:
    """Why the weights of ``mha`` cannot be recomputed here ("" when they can)."""
    if mha.bias_k is not None or mha.add_zero_attn:
        return "attention with add_bias_kv or add_zero_attn is not supported"
    return ""


def _batch_first(mha: nn.MultiheadAttention, t: torch.Tensor) -> torch.Tensor:
    if t.dim() == 2:  # unbatched (L, E)
        return t[None]
    return t if mha.batch_first else t.transpose(0, 1)


def _mask(masks: dict[str, Any], n: int, heads: int, lq: int, lk: int, like: torch.Tensor):
    """The additive mask (N, heads, Lq, Lk) from attn_mask, key_padding_mask and is_causal."""
    total = torch.zeros((), dtype=like.dtype, device=like.device)
    attn = masks.get("attn_mask")
    if attn is not None:
        if attn.dtype == torch.bool:
            attn = torch.zeros_like(attn, dtype=like.dtype).masked_fill(attn, float("-inf"))
        attn = attn.to(like.dtype)
        total = total + (attn.view(n, heads, lq, lk) if attn.dim() == 3 else attn)
    pad = masks.get("key_padding_mask")
    if pad is not None:
        if pad.dtype == torch.bool:
            pad = torch.zeros_like(pad, dtype=like.dtype).masked_fill(pad, float("-inf"))
        total = total + pad.to(like.dtype).view(n, 1, 1, lk)
    if masks.get("is_causal") and attn is None:
        causal = torch.ones(lq, lk, dtype=torch.bool, device=like.device).triu(1)
        total = total + torch.zeros(lq, lk, dtype=like.dtype, device=like.device).masked_fill(
            causal, float("-inf")
        )
    return total


def attention_weights(
    mha: nn.MultiheadAttention,
    query: torch.Tensor,
    key: torch.Tensor,
    masks: dict[str, Any] | None = None,
    rows: slice | None = None,
) -> torch.Tensor:
    """softmax(q k^T / sqrt(d_head) + mask), (N, heads, Lq, Lk), for the query rows ``rows``
    (all by default; ``slice(0, 1)``: the class token's row only)."""
    query, key = _batch_first(mha, query), _batch_first(mha, key)
    e, heads = mha.embed_dim, mha.num_heads
    if mha._qkv_same_embed_dim:
        w_q, w_k = mha.in_proj_weight[:e], mha.in_proj_weight[e : 2 * e]
    else:
        w_q, w_k = mha.q_proj_weight, mha.k_proj_weight
    b_q = b_k = None
    if mha.in_proj_bias is not None:
        b_q, b_k = mha.in_proj_bias[:e], mha.in_proj_bias[e : 2 * e]
    lq = query.shape[1]
    if rows is not None:
        query = query[:, rows]
    n, lk, d = query.shape[0], key.shape[1], e // heads
    if query is key and mha._qkv_same_embed_dim and b_q is not None:
        # self-attention over all rows: q and k from one projection
        qk = F.linear(query, mha.in_proj_weight[: 2 * e], mha.in_proj_bias[: 2 * e])
        q, k = qk.view(n, lk, 2, heads, d).unbind(2)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
    else:
        q = F.linear(query, w_q, b_q).view(n, -1, heads, d).transpose(1, 2)
        k = F.linear(key, w_k, b_k).view(n, lk, heads, d).transpose(1, 2)
    scores = (q * (1.0 / math.sqrt(d))) @ k.transpose(-2, -1)
    if not masks:
        return torch.softmax(scores, dim=-1)
    mask = _mask(masks, n, heads, lq, lk, scores)
    if mask.dim() and rows is not None:
        mask = mask[..., rows, :] if mask.shape[-2] == lq else mask
    return torch.softmax(scores + mask, dim=-1)


def fuse_heads(weights: torch.Tensor, fusion: str | int) -> torch.Tensor:
    """(N, heads, ...) -> (N, ...): one head by index, or the heads' mean, max or min."""
    if not isinstance(fusion, str):
        return weights[:, fusion]
    if fusion == "mean":
        return weights.mean(1)
    if fusion == "max":
        return weights.amax(1)
    if fusion == "min":
        return weights.amin(1)
    raise ValueError(f"head fusion must be one of {', '.join(FUSIONS)} or a head index")


def _prepared(a: torch.Tensor, discard_ratio: float, rows: slice | None = None) -> torch.Tensor:
    """norm(A + I) of one block: A (N, Lq, L) with its lowest ``discard_ratio`` of entries set
    to 0 (never the class token's attention to itself; Gildenblat's vit-explain), the identity's
    ``rows`` added (all: a full matrix), rows renormalised."""
    n, lq, length = a.shape
    if discard_ratio > 0:
        flat = a.reshape(n, -1).clone()
        drop = int(flat.shape[1] * discard_ratio)
        if drop:
            lowest = flat.topk(drop, dim=1, largest=False).indices
            keep = lowest == 0  # entry (0, 0): the class token's own attention
            flat.scatter_(1, lowest, torch.where(keep, flat.gather(1, lowest), 0.0))
        a = flat.view(n, lq, length)
    eye = torch.eye(length, dtype=a.dtype, device=a.device)
    a = a + (eye if rows is None else eye[rows])
    return a / a.sum(-1, keepdim=True)


def rollout(
    fused: Sequence[torch.Tensor], discard_ratio: float = 0.0, row: int | None = None
) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020): R = prod_l norm(A_l + I), the first block on
    the right, each A_l (N, L, L) with its lowest ``discard_ratio`` of entries set to 0 (never
    the class token's attention to itself; Gildenblat's vit-explain), rows renormalised after
    the identity (the residual connection) is added: (N, L, L).

    ``row``: only R's row ``row`` (N, 1, L), multiplied from the left as a row vector through
    the blocks (L^2 per block instead of L^3); then the last block may be given as that row
    alone, (N, 1, L), when nothing is discarded (a discard ranks the whole matrix).
    """
    if not fused:
        raise ValueError("attention rollout needs at least one attention block")
    if row is None:
        result = None
        for a in fused:
            a = _prepared(a, discard_ratio)
            result = a if result is None else a @ result
        return result  # type: ignore[return-value]
    last = fused[-1]
    whole = last.shape[-2] == last.shape[-1]
    if not whole and discard_ratio > 0:
        raise ValueError("a discard ranks a block's whole attention matrix; give it whole")
    if whole and discard_ratio > 0:
        vector = _prepared(last, discard_ratio)[:, row : row + 1]
    else:
        vector = _prepared(last[:, row : row + 1] if whole else last, 0.0, slice(row, row + 1))
    for a in reversed(fused[:-1]):
        if discard_ratio > 0:
            vector = vector @ _prepared(a, discard_ratio)
        else:  # v norm(A + I) = w A + w with w = v / rowsum(A + I): no L x L temporaries
            w = vector / (a.sum(-1) + 1.0).unsqueeze(1)
            vector = torch.baddbmm(w, w, a)
    return vector
