"""Local (banded) attention through FlexAttention: the sliding window and the global keys as one BlockMask.

A second kernel for what banded_attention.local_attention computes, chosen by
`load(..., attention="flex")`. The mask is attention-gym's "global + sliding window": a local query i
sees key j iff |i - j| <= w (w = attention_window // 2) and j is real and not global, or j is a real
global token. No key blocks are gathered: FlexAttention skips the key blocks the BlockMask marks empty
and the global keys stay where they are in k and v. Global query rows are still computed by
banded_attention.global_attention.

flex_attention is a fused kernel only under torch.compile; eager, it materializes every L x L score
(and create_block_mask every L x L mask bit). So on CUDA both run through torch.compile, made lazily
on first use; on the CPU they run eager, which is slow but exact (for tests and checks).
"""
from __future__ import annotations

import functools

import torch
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention


def band_mask_mod(key_valid: torch.Tensor, is_global: torch.Tensor, window: int):
    """The mask_mod (b, h, q_idx, kv_idx) -> bool of one window size; key_valid, is_global: [B, L] bool."""
    w = window // 2
    local_keys = key_valid & ~is_global  # [B, L]
    global_keys = key_valid & is_global  # [B, L]

    def mask_mod(b, h, q_idx, kv_idx):
        return (((q_idx - kv_idx).abs() <= w) & local_keys[b, kv_idx]) | global_keys[b, kv_idx]

    return mask_mod


def block_mask(key_valid: torch.Tensor, is_global: torch.Tensor, window: int) -> BlockMask:
    """The BlockMask of one window size, shared by every head; key_valid, is_global: [B, L] bool.

    A query that sees no key (padding far from any real token) gets zeros, never NaN: flex_attention's
    rule for empty rows.
    """
    batch, length = key_valid.shape
    make = _compiled(create_block_mask) if key_valid.is_cuda else create_block_mask
    return make(band_mask_mod(key_valid, is_global, window), batch, None, length, length, device=key_valid.device)


def local_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: BlockMask) -> torch.Tensor:
    """Sliding-window + global-key attention of every query; q, k, v: [B, L, H, D] -> [B, L, H, D]."""
    # inside a caller's own torch.compile, flex_attention is traced as is
    attend = _compiled(flex_attention) if q.is_cuda and not torch.compiler.is_compiling() else flex_attention
    out = attend(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), block_mask=mask, scale=q.shape[-1] ** -0.5
    )  # [B, H, L, D]
    return out.transpose(1, 2)


@functools.cache
def _compiled(fn):
    """torch.compile(fn), made once per process on first use (CUDA only; the CPU runs eager)."""
    return torch.compile(fn)
