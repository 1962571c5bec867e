"""Longformer attention as pure functions: a sliding window plus a few global tokens.

Semantics (equal to Hugging Face's LongformerSelfAttention):
- a local query i attends to keys j with |i - j| <= w (w = attention_window // 2) that are neither
  padding nor global, plus every global key, all through the local q/k/v projections;
- a global query attends to every non-padding key through query_global/key_global/value_global.

Cost is linear in L: queries are cut into blocks of `c` rows and each block sees only its own and
`r = ceil(w / c)` neighbouring key blocks per side, (2r + 1) * c keys instead of L, and no L x L
matrix exists. Softmax runs fused inside scaled_dot_product_attention. Two ways to give each block
its keys:
- eager CPU, no global tokens: an overlapping strided view of the padded keys (no copy; the fused CPU
  kernel reads the windows in place);
- otherwise (global keys to prepend, GPU, or a traced export): the neighbour blocks are gathered by
  slicing and concatenating a padded tensor, so no stride is baked into a traced graph and one
  graph serves every length.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Largest query block; 128 measured fastest for w = 256 on CPU (fewer wasted scores than c = w).
MAX_BLOCK = 128
# Queries per segment: bounds the (2r + 1)-fold key/value windows to one segment's worth of memory.
SEGMENT_QUERIES = 4096


@dataclass(frozen=True)
class GlobalLayout:
    """Where the global tokens are, as fixed-width slots per batch row."""

    index: torch.Tensor  # [B, G] positions of global tokens, in order; spare slots hold any position
    valid: torch.Tensor  # [B, G] bool, False for spare slots of rows with fewer global tokens
    rows: torch.Tensor  # [N] batch row of each real global token
    slots: torch.Tensor  # [N] its slot
    positions: torch.Tensor  # [N] its position


@dataclass(frozen=True)
class BandPlan:
    """Everything about one window size that does not depend on the layer's activations."""

    one_sided: int  # w
    block: int  # c
    reach: int  # r, neighbour blocks per side
    num_blocks: int  # nb = ceil(L / c)
    mask: torch.Tensor  # [B, nb, 1, c, G + (2r + 1) * c] additive (0 or -inf)


def global_layout(is_global: torch.Tensor) -> GlobalLayout:
    """is_global: [B, L] bool -> slot layout with G = the most global tokens in any row."""
    counts = is_global.sum(dim=1)  # [B]
    # Round up to 8 (aligned key rows for the fused GPU kernels), never past L.
    width = min(-(-int(counts.max()) // 8) * 8, is_global.shape[1])
    order = torch.argsort((~is_global).to(torch.int8), dim=1, stable=True)  # global positions first
    index = order[:, :width]  # [B, G]
    valid = torch.arange(width, device=is_global.device)[None, :] < counts[:, None]  # [B, G]
    rows, slots = valid.nonzero(as_tuple=True)
    return GlobalLayout(index, valid, rows, slots, index[rows, slots])


def plan_band(
    key_valid: torch.Tensor,
    is_global: torch.Tensor,
    layout: GlobalLayout | None,
    window: int,
    dtype: torch.dtype,
) -> BandPlan:
    """Build the additive mask of one window size. key_valid, is_global: [B, L] bool."""
    batch, length = key_valid.shape
    w = window // 2
    c = min(w, MAX_BLOCK)
    r = -(-w // c)
    nb = -(-length // c)
    span = (2 * r + 1) * c
    # Keys a local query may see inside its window: real, not padding, not global (globals come once,
    # through their own slots in front).
    local_keys = key_valid & ~is_global  # [B, L]
    padded = F.pad(local_keys, (r * c, nb * c - length + r * c), value=False).view(batch, nb + 2 * r, c)
    window_keys = torch.cat([padded[:, i : i + nb] for i in range(2 * r + 1)], dim=2)  # [B, nb, S]
    # Slot s of block b holds key (b - r) * c + s; row q holds query b * c + q: in band iff |q + r c - s| <= w.
    rows = torch.arange(c, device=key_valid.device)[:, None]
    cols = torch.arange(span, device=key_valid.device)[None, :]
    band = (cols - rows - r * c).abs() <= w  # [c, S]
    allowed = band[None, None] & window_keys[:, :, None, :]  # [B, nb, c, S]
    if layout is not None:
        slots = layout.valid[:, None, None, :].expand(batch, nb, c, layout.valid.shape[1])
        allowed = torch.cat([slots, allowed], dim=3)  # [B, nb, c, G + S]
    # A row that may see nothing (padding) sees everything instead: finite garbage, never NaN.
    allowed = allowed | ~allowed.any(dim=3, keepdim=True)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=key_valid.device).masked_fill_(~allowed, -math.inf)
    return BandPlan(w, c, r, nb, mask[:, :, None])


def _blocks(x: torch.Tensor, start: int, stop: int, block: int) -> torch.Tensor:
    """Rows [start, stop) of x [B, L, H, D] as blocks [B, n, H, c, D]; rows outside [0, L) are zeros."""
    length = x.shape[1]
    inside = x[:, max(start, 0) : min(stop, length)]
    padded = F.pad(inside, (0, 0, 0, 0, max(-start, 0), max(stop - length, 0)))
    batch, _, heads, dim = x.shape
    return padded.view(batch, -1, block, heads, dim).transpose(2, 3)


def local_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    plan: BandPlan,
    global_k: torch.Tensor | None = None,
    global_v: torch.Tensor | None = None,
    segment: int | None = SEGMENT_QUERIES,
) -> torch.Tensor:
    """Sliding-window attention of every query; q, k, v: [B, L, H, D] -> [B, L, H, D].

    global_k, global_v: [B, G, H, D] local-projection keys/values of the global slots, seen by all.
    Queries run in segments of about `segment` rows, so the (2r + 1)-fold key windows exist for one
    segment at a time (None: one segment, e.g. for a traced export).
    """
    if global_k is None and q.device.type == "cpu" and not _tracing():
        return _strided_local_attention(q, k, v, plan)
    batch, length, heads, dim = q.shape
    c, r, nb = plan.block, plan.reach, plan.num_blocks
    step = nb if segment is None else max(1, segment // c)  # blocks per segment
    out = q.new_empty(batch, nb * c, heads, dim)
    for b0 in range(0, nb, step):
        b1 = min(nb, b0 + step)
        n = b1 - b0
        q_blocks = _blocks(q, b0 * c, b1 * c, c).reshape(batch * n, heads, c, dim)  # [B*n, H, c, D]

        def windows(x: torch.Tensor, front: torch.Tensor | None) -> torch.Tensor:
            blocks = _blocks(x, (b0 - r) * c, (b1 + r) * c, c)  # [B, n + 2r, H, c, D]
            parts = [blocks[:, i : i + n] for i in range(2 * r + 1)]
            if front is not None:  # [B, G, H, D] -> [B, n, H, G, D], the same slots for every block
                parts.insert(0, front.transpose(1, 2)[:, None].expand(batch, n, heads, front.shape[1], dim))
            return torch.cat(parts, dim=3).view(batch * n, heads, -1, dim)  # [B*n, H, G + S, D]

        mask = plan.mask[:, b0:b1].reshape(batch * n, 1, c, -1)  # [B*n, 1, c, G + S]
        seg = F.scaled_dot_product_attention(q_blocks, windows(k, global_k), windows(v, global_v), attn_mask=mask)
        out[:, b0 * c : b1 * c] = seg.view(batch, n, heads, c, dim).transpose(2, 3).reshape(batch, n * c, heads, dim)
    return out[:, :length]


def _tracing() -> bool:
    """True while torch.jit / torch.onnx / torch.export record a graph (strides must not be baked in)."""
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling()


def _strided_local_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plan: BandPlan) -> torch.Tensor:
    """local_attention without global keys, reading each block's key window from an overlapping
    strided view instead of a (2r + 1)-fold copy; q, k, v: [B, L, H, D] -> [B, L, H, D]."""
    batch, length, heads, dim = q.shape
    c, r, nb = plan.block, plan.reach, plan.num_blocks
    span = (2 * r + 1) * c
    out = q.new_empty(batch, nb * c, heads, dim)
    for row in range(batch):  # a view cannot merge rows and blocks into SDPA's one batch axis

        def windows(x: torch.Tensor) -> torch.Tensor:  # [L, H, D] -> [nb, H, S, D], overlapping, no copy
            padded = F.pad(x[row], (0, 0, 0, 0, r * c, (nb + r) * c - length))  # [(nb + 2r) c, H, D]
            return padded.as_strided((nb, heads, span, dim), (c * heads * dim, dim, heads * dim, 1))

        q_blocks = F.pad(q[row], (0, 0, 0, 0, 0, nb * c - length)).view(nb, c, heads, dim).transpose(1, 2)
        attn = F.scaled_dot_product_attention(q_blocks, windows(k), windows(v), attn_mask=plan.mask[row])
        out[row] = attn.transpose(1, 2).reshape(nb * c, heads, dim)  # [nb, H, c, D] -> [nb c, H, D]
    return out[:, :length]


def global_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_valid: torch.Tensor
) -> torch.Tensor:
    """Global queries over all keys; q: [B, G, H, D], k, v: [B, L, H, D], key_valid: [B, L] -> [B, G, H, D]."""
    visible = key_valid | ~key_valid.any(dim=1, keepdim=True)  # an all-padding row sees all: no NaN
    mask = torch.zeros(visible.shape, dtype=q.dtype, device=q.device).masked_fill_(~visible, -math.inf)
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask[:, None, None, :]
    )  # [B, H, G, D]
    return out.transpose(1, 2)
