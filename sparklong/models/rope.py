"""Rotary position embeddings (RoPE), shared by the encoders that use them (ModernBERT; later others).

The "rotate half" layout, as Hugging Face's RoPE models compute it: the head dimension's first half
pairs with its second half, frequency k being theta^(-2k / D).
"""
from __future__ import annotations

import torch


def inverse_frequencies(head_dim: int, theta: float, device: torch.device | None = None) -> torch.Tensor:
    """[D / 2] float32 rotation speeds theta^(-2k / D), k = 0 .. D/2 - 1."""
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim
    return 1.0 / theta**exponents


def rope_tables(
    length: int, head_dim: int, theta: float, dtype: torch.dtype, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin), each [L, D], for positions 0 .. L-1; angles computed in float32, then cast to dtype."""
    positions = torch.arange(length, dtype=torch.float32, device=device)  # [L]
    angles = positions[:, None] * inverse_frequencies(head_dim, theta, device)[None, :]  # [L, D/2]
    angles = torch.cat([angles, angles], dim=-1)  # [L, D]: both halves turn at the same speeds
    return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """[..., D] -> [..., D]: (x1, x2) -> (-x2, x1) over the two halves of the last axis."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate queries or keys by their position; x: [..., H, D], cos, sin: the tables of x's positions,
    [..., D] (e.g. x [B, L, H, D] with tables [L, D] or [B, L, D]; rows [N, H, D] with [N, D]) -> x's shape."""
    return x * cos.unsqueeze(-2) + rotate_half(x) * sin.unsqueeze(-2)
