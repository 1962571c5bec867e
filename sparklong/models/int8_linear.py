"""Int8Linear: a linear layer with int8 weights and int8 activations, for the CPU.

Weights: int8 per output channel (symmetric), made once at load. Activations: int8 per token
(symmetric, each row's own scale = its max |value| / 127), quantized at run time. The product runs
as int8 x int8 -> int32 through torch._int_mm (the kernel torchao's int8 layers use; torch's
quantized-tensor API, torch.ao, is deprecated), then is scaled back to float32.

Why per token: one scale per tensor lets a few large rows or channels (the FFN's second input,
after GELU) crush every other row's resolution. On all-MiniLM-L6-v2 made long (corpus text, L = 512,
2048 and 4096, 0 or 1 global tokens) per-token int8 in every encoder linear gave a per-token cosine
to float32 of min 0.991-0.996 (benchmarks/onnx_int8_quality.py); simulated with one scale per tensor
it fell to 0.972.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

# Rows per int8 product: the int8 copy of the input and the int32 result of 512 rows stay in cache,
# where whole 4,096-row inputs do not (docs/engine.md, "int8 on the CPU").
CHUNK_ROWS = 512


class Int8Linear(nn.Module):
    """act(x W^T + b) with W and x in int8; x: [..., K] float32 -> [..., N] float32. `activation` (an
    in-place function, the FFN's first linear only) runs on each block of rows while it is in cache,
    which saves a pass over the output (docs/engine.md)."""

    def __init__(self, linear: nn.Linear, activation: Callable[[torch.Tensor], torch.Tensor] | None = None):
        super().__init__()
        weight = linear.weight.detach().float()  # [N, K]
        scale = weight.abs().amax(dim=1).clamp_min(1e-12) / 127  # [N]
        self.register_buffer("weight_int8", torch.round(weight / scale[:, None]).to(torch.int8))  # [N, K]
        self.register_buffer("weight_scale", scale)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float())  # [N]
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.activation = activation

    @property
    def weight(self) -> torch.Tensor:
        """The float32 weight [N, K] the int8 one stands for, made on each read: for code that needs the
        matrix itself, as nn.Linear's (global attention through unprojected keys, banded_attention)."""
        return self.weight_int8.float() * self.weight_scale[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)  # [M, K]
        out = rows.new_empty(rows.shape[0], self.out_features)  # [M, N]
        for start in range(0, rows.shape[0], CHUNK_ROWS):
            part = slice(start, start + CHUNK_ROWS)
            self._rows(rows[part], out[part])
        return out.view(*x.shape[:-1], self.out_features)

    def _rows(self, x: torch.Tensor, out: torch.Tensor) -> None:
        """out = act(x W^T + b); x: [M, K], out: [M, N] (a block of whole rows, written in place)."""
        peak = torch.maximum(x.amax(dim=1, keepdim=True), x.amin(dim=1, keepdim=True).neg_())  # max |x|, no |x| copy
        scale = peak.clamp_min_(1e-12).div_(127)  # [M, 1]
        q = torch.mul(x, scale.reciprocal()).round_().to(torch.int8)  # [M, K], |q| <= 127
        # Exact int32 sums to float32 by copy_, not by an int32 x float32 product (which casts through a
        # temporary), then each column's and each row's scale.
        out.copy_(torch._int_mm(q, self.weight_int8.t())).mul_(self.weight_scale)
        if self.bias is None:
            out.mul_(scale)
        else:
            torch.addcmul(self.bias, out, scale, out=out)  # b + out * scale, in place
        if self.activation is not None:
            self.activation(out)

    def extra_repr(self) -> str:
        act = f", {getattr(self.activation, '__name__', self.activation)}" if self.activation is not None else ""
        return f"in_features={self.in_features}, out_features={self.out_features}, int8{act}"


def check_int8_matmul() -> None:
    """Fail with a clear error where this torch build has no int8 matrix product on the CPU."""
    a = torch.ones(2, 8, dtype=torch.int8)
    try:
        ok = bool(torch.equal(torch._int_mm(a, a.t()), torch.full((2, 2), 8, dtype=torch.int32)))
    except (RuntimeError, AttributeError) as exc:
        raise RuntimeError(f"quantize='int8' needs torch's int8 matrix product (torch._int_mm) on the CPU: {exc}") from exc
    if not ok:
        raise RuntimeError("quantize='int8': torch._int_mm gave a wrong result on this CPU")
