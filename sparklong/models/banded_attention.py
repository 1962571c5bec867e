"""Longformer attention as pure functions: a sliding window plus a few global tokens.

Semantics (equal to Hugging Face's LongformerSelfAttention):
- a local query i attends to keys j with |i - j| <= w (w = attention_window // 2) that are neither
  padding nor global, plus every global key, all through the local q/k/v projections;
- a global query attends to every non-padding key through query_global/key_global/value_global.

Cost is linear in L: queries are cut into blocks of `c` rows and each block sees only its own and
`r = ceil(w / c)` neighbouring key blocks per side, (2r + 1) * c keys instead of L, and no L x L
matrix exists. Softmax runs fused inside scaled_dot_product_attention. Two ways to give each block
its keys:
- strided (eager CPU): an overlapping strided view of the keys (no copy; the fused CPU kernel reads
  the windows in place), the blocks at both ends gathered as below; global keys are attended apart
  and merged by log-sum-exp;
- gathered (GPU, or an export): each block's keys (the global slots, then its window) are gathered
  by one row index (BandPlan.key_rows), so no stride is baked into a traced graph and one graph serves
  every length; they attend through block_attention.py (SDPA, or onnxruntime's fused
  MultiHeadAttention in an export).
flex_band.py computes the same rows through FlexAttention instead (load(..., attention="flex")).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .block_attention import block_attention

# Largest query block in GPU runs and exports: 128 (fewer wasted scores than c = w).
MAX_BLOCK = 128
# ... and in eager CPU runs (strided windows): 64, 576 keys a block for w = 256 instead of 640, which
# makes the whole CPU forward faster (docs/engine.md).
CPU_MAX_BLOCK = 64
# Queries per segment: bounds the (2r + 1)-fold key/value windows to one segment's worth of memory.
SEGMENT_QUERIES = 4096
# Global slots are rounded up to a multiple of this where key rows are gathered (aligned rows for the
# fused GPU kernels and onnxruntime's); the eager CPU path takes the exact count (global_layout).
GATHERED_SLOT_ALIGN = 8


def max_block(eager_cpu: bool) -> int:
    """The largest query block of a forward: CPU_MAX_BLOCK in an eager CPU run, MAX_BLOCK elsewhere."""
    return CPU_MAX_BLOCK if eager_cpu else MAX_BLOCK


def segment_queries(export: bool) -> int | None:
    """Queries per segment of a forward: SEGMENT_QUERIES, or None (one segment) in a traced export, which
    must not loop over the length."""
    return None if export else SEGMENT_QUERIES


@dataclass(frozen=True)
class GlobalLayout:
    """Where the global tokens are, as fixed-width slots per batch row."""

    index: torch.Tensor  # [B, G] positions of global tokens, in order; spare slots hold 0
    valid: torch.Tensor  # [B, G] bool, False for spare slots of rows with fewer global tokens
    rows: torch.Tensor  # [N] batch row of each real global token
    slots: torch.Tensor  # [N] its slot
    positions: torch.Tensor  # [N] its position
    # [G'] the slots every local window carries in front: G' = G, but 0 when no row of the batch has one
    # (a spare slot would make every block's keys one more, 641 instead of 640 at w = 256: slower)
    window_slots: torch.Tensor


@dataclass(frozen=True)
class BandPlan:
    """Everything about one window size that does not depend on the layer's activations."""

    one_sided: int  # w
    block: int  # c
    reach: int  # r, neighbour blocks per side
    num_blocks: int  # nb = ceil(L / c)
    # [B, nb, G' + S] row of each block's keys in k flattened to [B L, H, D]: G' global slots (the layout's
    # window_slots), then the S = (2r + 1) c window keys (outside [0, L): row 0 of the batch row, masked)
    key_rows: torch.Tensor
    # [B, nb c] row of each block's queries in q flattened likewise (past L: row 0 of the batch row)
    query_rows: torch.Tensor
    mask: torch.Tensor  # [B, nb, 1, c, G' + S] additive (0 or -inf)
    dense: torch.Tensor | None = None  # [B, 1, L, L] additive, for L <= dense_limit(w) (eager runs)

    @property
    def global_slots(self) -> int:
        """G', the global keys in front of every block's window (eager runs: a Python int)."""
        return self.key_rows.shape[2] - (2 * self.reach + 1) * self.block


def global_layout(is_global: torch.Tensor, align: int = GATHERED_SLOT_ALIGN) -> GlobalLayout:
    """is_global: [B, L] bool -> slot layout with G = the most global tokens in any row, rounded up to
    a multiple of `align` (never past L). Every slot costs as much as a real global token, so eager
    CPU runs take align = 1 (AttentionContext.eager_cpu; measured in docs/engine.md).

    No Python ints are read from the data, so a traced graph takes G from its inputs. G >= 1: with no
    global token the one slot is spare (an ONNX Reshape reads a 0 in its shape as "keep this axis"),
    and the local windows carry none (window_slots).
    """
    batch, length = is_global.shape
    counts = is_global.sum(dim=1)  # [B]
    used = torch.clamp((counts.max() + align - 1) // align * align, max=length)  # 0-dim, 0 without global tokens
    width = torch.clamp(used, min=1)
    positions = torch.arange(length, device=is_global.device)  # [L]
    slot_ids = positions[positions < width]  # [G]
    # Global token number k of a row goes to slot k; the others to a spare column G, then dropped.
    target = torch.where(is_global, torch.cumsum(is_global.long(), dim=1) - 1, width)  # [B, L]
    index = torch.zeros(batch, slot_ids.shape[0] + 1, dtype=torch.long, device=is_global.device)
    index = index.scatter(1, target, positions.expand(batch, -1))[:, :-1]  # [B, G]; spare slots hold 0
    valid = slot_ids[None, :] < counts[:, None]  # [B, G] bool, False for spare slots
    rows, slots = valid.nonzero(as_tuple=True)
    return GlobalLayout(index, valid, rows, slots, index[rows, slots], slot_ids[slot_ids < used])


def plan_band(
    key_valid: torch.Tensor,
    is_global: torch.Tensor,
    layout: GlobalLayout | None,
    window: int,
    dtype: torch.dtype,
    dense: bool = False,
    max_block: int = MAX_BLOCK,
) -> BandPlan:
    """Build the additive mask and the key/query row indexes of one window size. key_valid, is_global:
    [B, L] bool. dense=True (eager runs only: a traced graph must not branch on L) also builds the
    whole-sequence mask for short inputs. Query blocks are min(w, max_block) rows."""
    batch, length = key_valid.shape
    device = key_valid.device
    w = window // 2
    c = min(w, max_block)
    r = -(-w // c)
    nb = (length + c - 1) // c  # ceil; not -(-L // c): exported integer division truncates
    span = window_span(w, max_block)
    # Slot s of block b holds key (b - r) c + s; row q holds query b c + q: in band iff |q + r c - s| <= w.
    rows = torch.arange(c, device=device)[:, None]
    cols = torch.arange(span, device=device)[None, :]
    window_pos = torch.arange(nb, device=device)[:, None] * c + cols - r * c  # [nb, S]
    inside = (window_pos >= 0) & (window_pos < length)  # [nb, S]
    window_pos = torch.where(inside, window_pos, 0)
    # Keys a local query may see inside its window: real, not padding, not global (globals come once,
    # through their own slots in front).
    window_keys = inside & (key_valid & ~is_global)[:, window_pos]  # [B, nb, S]
    band = (cols - rows - r * c).abs() <= w  # [c, S]
    allowed = band[None, None] & window_keys[:, :, None, :]  # [B, nb, c, S]
    key_pos = window_pos.expand(batch, nb, span)  # [B, nb, S]
    if layout is not None:
        front = layout.index[:, layout.window_slots]  # [B, G']
        slots = layout.valid[:, None, None, layout.window_slots].expand(batch, nb, c, front.shape[1])
        allowed = torch.cat([slots, allowed], dim=3)  # [B, nb, c, G' + S]
        key_pos = torch.cat([front[:, None, :].expand(batch, nb, front.shape[1]), key_pos], dim=2)
    first_rows = torch.arange(batch, device=device)[:, None] * length  # [B, 1]
    key_rows = key_pos + first_rows[:, :, None]  # [B, nb, G' + S]
    query_pos = torch.arange(nb * c, device=device)
    query_rows = torch.where(query_pos < length, query_pos, 0)[None, :] + first_rows  # [B, nb c]
    # A row that may see nothing (padding) sees everything instead: finite garbage, never NaN.
    allowed = allowed | ~allowed.any(dim=3, keepdim=True)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill_(~allowed, -math.inf)
    short = dense and length <= dense_limit(w)
    whole = _dense_mask(key_valid, is_global, w, dtype) if short else None
    return BandPlan(w, c, r, nb, key_rows, query_rows, mask[:, :, None], whole)


def window_span(w: int, max_block: int) -> int:
    """S = (2r + 1) c: the keys each query block of c = min(w, max_block) rows is scored against."""
    c = min(w, max_block)
    return (2 * -(-w // c) + 1) * c


def dense_limit(w: int) -> int:
    """Longest input attended in one SDPA call over [L, L]: the window of a block of MAX_BLOCK rows,
    which spans the whole input anyway (w = 256: 640): up to there one call beats blocks of
    CPU_MAX_BLOCK (measured at w = 256 only: docs/engine.md)."""
    return window_span(w, MAX_BLOCK)


def _dense_mask(key_valid: torch.Tensor, is_global: torch.Tensor, w: int, dtype: torch.dtype) -> torch.Tensor:
    """[B, 1, L, L] additive mask of the same attention over the whole sequence: query i sees key j when
    j is real and either global or within w of i. Used for L <= dense_limit(w), where one SDPA call over
    [L, L] scores does no more work than blocks of MAX_BLOCK."""
    length = key_valid.shape[1]
    positions = torch.arange(length, device=key_valid.device)
    band = (positions[:, None] - positions[None, :]).abs() <= w  # [L, L]
    allowed = key_valid[:, None, :] & (band[None] | is_global[:, None, :])  # [B, L, L]
    allowed = allowed | ~allowed.any(dim=2, keepdim=True)  # rows that see nothing see everything (padding)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=key_valid.device).masked_fill_(~allowed, -math.inf)
    return mask[:, None]


def local_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    plan: BandPlan,
    segment: int | None = SEGMENT_QUERIES,
    strided: bool = False,
) -> torch.Tensor:
    """Sliding-window attention of every query, plus the global keys of the plan's layout (seen by
    all, through the local projection); q, k, v: [B, L, H, D] -> [B, L, H, D].

    strided=True (eager CPU): each block's keys are a strided view of k and v, no copy. Otherwise they
    are gathered, with queries in segments of about `segment` rows, so the (2r + 1)-fold key windows
    exist for one segment at a time (None: one segment and no Python arithmetic on L, for exports).
    """
    if plan.dense is not None:  # short input: its global keys are among the L keys, the mask admits them
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                             attn_mask=plan.dense, scale=q.shape[-1] ** -0.5)  # [B, H, L, D]
        return out.transpose(1, 2)
    if strided:
        return _strided_local_attention(q, k, v, plan)
    batch, length, heads, dim = q.shape
    c, nb = plan.block, plan.num_blocks
    if segment is None:
        return _segment(q, k, v, plan, 0, nb)[:, :length]
    step = max(1, segment // c)  # blocks per segment
    out = q.new_empty(batch, nb * c, heads, dim)
    for b0 in range(0, nb, step):
        b1 = min(nb, b0 + step)
        out[:, b0 * c : b1 * c] = _segment(q, k, v, plan, b0, b1)
    return out[:, :length]


def _strided_local_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plan: BandPlan) -> torch.Tensor:
    """local_attention reading each block's key window from an overlapping strided view of k and v
    themselves, no copy; q, k, v: [B, L, H, D] (last dim dense; batch and length axes mergeable, as in
    the encoder's unbind of [B, L, 3, H, D], else the global keys' and the edges' reshape copies)
    -> [B, L, H, D].

    Interior blocks (whose whole window lies inside [0, L)) take the view; the r blocks at each end
    reach past the edges and take the gathered path. Global keys, when the plan has any, are attended
    separately and merged by log-sum-exp (_merge_global_keys).
    """
    batch, length, heads, dim = q.shape
    c, r, nb = plan.block, plan.reach, plan.num_blocks
    lo = min(r, nb)
    hi = max(lo, length // c - r)  # interior blocks [lo, hi)
    out = q.new_empty(batch, nb * c, heads, dim)
    for b0, b1 in ((0, lo), (hi, nb)):  # the edges, every batch row at once
        if b1 > b0:
            out[:, b0 * c : b1 * c] = _segment(q, k, v, plan, b0, b1)
    n, span, slots = hi - lo, (2 * r + 1) * c, plan.global_slots
    for row in range(batch if n else 0):  # a view cannot merge rows and blocks into SDPA's one batch axis

        def windows(x: torch.Tensor) -> torch.Tensor:  # [B, L, H, D] -> [n, H, S, D], overlapping
            seq, head = x.stride(1), x.stride(2)
            first = x.storage_offset() + row * x.stride(0) + (lo - r) * c * seq
            return x.as_strided((n, heads, span, dim), (c * seq, head, seq, 1), first)

        q_blocks = q[row, lo * c : hi * c].unflatten(0, (n, c)).transpose(1, 2)  # [n, H, c, D], a view
        mask = plan.mask[row, lo:hi]  # [n, 1, c, G + S]
        if not slots:
            attn = F.scaled_dot_product_attention(q_blocks, windows(k), windows(v), attn_mask=mask)
        else:
            global_rows = plan.key_rows[row, 0, :slots]  # [G], the same in every block
            global_k, global_v = (x.reshape(batch * length, heads, dim)[global_rows] for x in (k, v))  # [G, H, D]
            attn, lse = _attention_with_lse(q_blocks, windows(k), windows(v), mask[..., slots:])
            attn = _merge_global_keys(attn, lse, q_blocks, global_k, global_v, mask[..., :slots])
        out[row, lo * c : hi * c] = attn.transpose(1, 2).reshape(n * c, heads, dim)  # [n, H, c, D] -> [n c, H, D]
    return out[:, :length]


def _attention_with_lse(q, k, v, mask):
    """Attention that also returns each query's log-sum-exp of scores; q: [N, H, c, D], k, v: [N, H, S, D],
    mask: [N, 1, c, S] -> ([N, H, c, D], [N, H, c] float32). A row whose keys are all masked gives
    zeros and log-sum-exp 0 (local rows that only see global keys: global or padding queries, whose
    outputs are replaced or ignored). Through torch's fused CPU kernel where it works (a private op,
    probed once), else from the scores."""
    if _fused_lse_works():
        return _fused_lse(q, k, v, mask)
    return _lse_from_scores(q, k, v, mask)


def _fused_lse(q, k, v, mask):
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, attn_mask=mask, scale=q.shape[-1] ** -0.5)


def _lse_from_scores(q, k, v, mask):
    """_attention_with_lse through public ops; materializes the [N, H, c, S] scores."""
    scores = (q @ k.transpose(-1, -2)).float() * q.shape[-1] ** -0.5 + mask  # [N, H, c, S]
    lse = torch.logsumexp(scores, dim=-1)  # [N, H, c]; -inf where every key is masked
    lse = torch.where(torch.isfinite(lse), lse, 0.0)
    probs = torch.exp(scores - lse[..., None])  # 0 at masked keys and in all-masked rows
    return (probs @ v.float()).to(q.dtype), lse


@functools.cache
def _fused_lse_works() -> bool:
    """Whether this torch has the fused CPU kernel with the signature and results _fused_lse expects."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 4, 8, generator=gen) for _ in range(3))
    mask = torch.zeros(1, 1, 4, 4).masked_fill_(torch.eye(4, dtype=torch.bool)[None, None], -math.inf)
    mask[..., 0, :] = -math.inf  # one row sees no key
    try:
        out, lse = _fused_lse(q, k, v, mask)
    except (RuntimeError, AttributeError, TypeError, ValueError):
        return False
    want_out, want_lse = _lse_from_scores(q, k, v, mask)
    return bool(torch.allclose(out, want_out, atol=1e-5) and torch.allclose(lse.float(), want_lse, atol=1e-5))


def _merge_global_keys(local, lse, q, global_k, global_v, global_mask):
    """Add the global keys to attention computed over the local keys only, as one softmax over both.

    local: [N, H, c, D] softmax-weighted local values (overwritten when float32: the merge lands in
    them, in their own memory layout), lse: [N, H, c] their log-sum-exp; q: [N, H, c, D];
    global_k, global_v: [G, H, D]; global_mask: [N, 1, c, G] additive -> [N, H, c, D].
    The merge runs in float32 (the fused kernel's lse is float32 for half inputs too), then casts back.
    """
    scores = (q @ global_k.permute(1, 2, 0)).float() * q.shape[-1] ** -0.5 + global_mask  # [N, H, c, G]
    top = torch.maximum(lse, scores.amax(dim=-1))  # [N, H, c], finite: lse is
    local_weight = torch.exp(lse - top)[..., None]  # [N, H, c, 1]
    global_weights = torch.exp(scores - top[..., None])  # [N, H, c, G]; 0 at masked slots
    total = local_weight + global_weights.sum(dim=-1, keepdim=True)  # [N, H, c, 1], > 0
    merged = local.float().mul_(local_weight).add_(global_weights @ global_v.transpose(0, 1).float())
    return merged.div_(total).to(q.dtype)


def _segment(q, k, v, plan: BandPlan, b0, b1) -> torch.Tensor:
    """Attention of query blocks [b0, b1) over their gathered keys; q, k, v: [B, L, H, D] -> [B, (b1 - b0) c, H, D].

    One index gather per q, k and v (an ONNX Gather from a view of their rows, no copy before it),
    instead of padding, slicing and concatenating the neighbour blocks and the global slots: on
    longformer-base at L = 4096 those copies took 0.28 s of a 5.0 s onnxruntime call, the gathers
    0.07 s (2-core AMD EPYC).
    """
    batch, length, heads, dim = q.shape
    c, n = plan.block, b1 - b0

    def gather(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:  # rows [B, n, m] -> [B n, m, H, D]
        return x.reshape(batch * length, heads, dim).index_select(0, rows.reshape(-1)).view(batch * n, -1, heads, dim)

    q_blocks = gather(q, plan.query_rows[:, b0 * c : b1 * c])  # [B n, c, H, D]
    k_blocks, v_blocks = (gather(x, plan.key_rows[:, b0:b1]) for x in (k, v))  # [B n, G + S, H, D]
    mask = plan.mask[:, b0:b1].reshape(batch * n, 1, c, -1)  # [B n, 1, c, G + S]
    out = block_attention(q_blocks, k_blocks, v_blocks, mask)  # [B n, c, H, D]
    return out.reshape(batch, n * c, heads, dim)


def global_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_valid: torch.Tensor
) -> torch.Tensor:
    """Global queries over all keys; q: [B, G, H, D], k, v: [B, L, H, D], key_valid: [B, L] -> [B, G, H, D]."""
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
        attn_mask=_key_bias(key_valid, q.dtype)[:, None, None, :], scale=q.shape[-1] ** -0.5,
    )  # [B, H, G, D]
    return out.transpose(1, 2)


def global_attention_unprojected(
    q: torch.Tensor, x: torch.Tensor, kv_weight: torch.Tensor, kv_bias: torch.Tensor, key_valid: torch.Tensor
) -> torch.Tensor:
    """global_attention without projecting every row to a global key and value: q.(x Wk + bk) = (q Wk).x
    plus a per-query constant that softmax drops, and sum p (x Wv + bv) = (sum p x) Wv + bv. It costs
    ~4 H G E L FLOPs against 4 E^2 L for the projection, so it is cheaper while G < D, and next to
    nothing without global tokens, which a traced graph (it cannot branch on G) needs.

    q: [B, G, H, D]; x: [B, L, E] the layer input; kv_weight [2E, E], kv_bias [2E]: the global key and
    value projection (keys first); key_valid: [B, L] -> [B, G, H, D].
    """
    batch, slots, heads, dim = q.shape
    length, hidden = x.shape[1], x.shape[2]
    w_k, w_v = kv_weight.view(2, heads, dim, hidden).unbind(0)  # each [H, D, E]
    # Heads and slots share one matrix axis, so x is read as it is (a broadcast over heads would copy it).
    q_x = (q.transpose(1, 2) @ w_k).reshape(batch, heads * slots, hidden)  # [B, H G, E]
    scores = (q_x @ x.transpose(1, 2)).view(batch, heads, slots, length) * dim**-0.5  # [B, H, G, L]
    probs = torch.softmax(scores + _key_bias(key_valid, q.dtype)[:, None, None, :], dim=-1)
    pooled = (probs.view(batch, heads * slots, length) @ x).view(batch, heads, slots, hidden)  # [B, H, G, E]
    out = pooled @ w_v.transpose(1, 2) + kv_bias.view(2, heads, 1, dim)[1]  # [B, H, G, D]
    return out.transpose(1, 2)


def _key_bias(key_valid: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, L] additive mask: 0 for real keys, -inf for padding; an all-padding row sees all (no NaN)."""
    visible = key_valid | ~key_valid.any(dim=1, keepdim=True)
    return torch.zeros(visible.shape, dtype=dtype, device=key_valid.device).masked_fill_(~visible, -math.inf)
