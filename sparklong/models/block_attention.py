"""block_attention: attention of query blocks over their gathered key windows, in the [rows, heads, dim]
layout; torch's SDPA when run, onnxruntime's fused MultiHeadAttention (contrib domain com.microsoft)
when traced into an ONNX graph (onnx_export.py).

Why the contrib op: spelled in standard ONNX, the same attention is MatMul, Add (mask), Softmax and
MatMul over materialized [N, H, c, S] scores, with Transpose nodes around them. onnxruntime's
MultiHeadAttention takes the blocks as they lie in memory ([N, rows, H * D]) and the mask as its
attention_bias, in one node. With a bias its CPU kernel takes the unfused path (its flash kernel
admits none), so the scores still exist, one block at a time (measured in docs/engine.md).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

CONTRIB_DOMAIN = "com.microsoft"


def block_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """q: [N, c, H, D], k, v: [N, S, H, D], mask: [N, 1, c, S] additive -> [N, c, H, D]."""
    # H and D as Python ints: a trace records sizes as values, but these two are the model's own, static
    return _BlockAttention.apply(q, k, v, mask, int(q.shape[2]), int(q.shape[3]))


class _BlockAttention(torch.autograd.Function):
    """Inference only: forward is the value, symbolic the ONNX node (no backward)."""

    @staticmethod
    def forward(ctx, q, k, v, mask, heads, dim):
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask, scale=dim**-0.5
        )  # [N, H, c, D]
        return out.transpose(1, 2)

    @staticmethod
    def symbolic(g, q, k, v, mask, heads, dim):
        flat = g.op("Constant", value_t=torch.tensor([0, 0, heads * dim]))
        rows = [g.op("Reshape", x, flat) for x in (q, k, v)]  # [N, rows, H * D]
        none = g.op("prim::Constant")
        none.setType(torch._C.OptionalType.ofTensor())  # an omitted optional input
        out = g.op(
            f"{CONTRIB_DOMAIN}::MultiHeadAttention", *rows, none, none, mask, num_heads_i=heads, scale_f=dim**-0.5
        )  # inputs: query, key, value, (qkv bias), (key padding mask), attention_bias
        out.setType(rows[0].type())
        return g.op("Reshape", out, g.op("Constant", value_t=torch.tensor([0, 0, heads, dim])))  # [N, c, H, D]

