"""CPU passes over a loaded encoder's linear layers (inference only), applied by load() to every
architecture:

- pack_cpu_linears: float32 or bfloat16 nn.Linear -> OneDnnLinear (oneDNN, each FFN's activation fused
  in where the layer allows it);
- quantize_linears: the encoder layers' nn.Linear -> Int8Linear (int8_linear.py), each FFN's activation
  applied in place by its first linear where the layer allows it.

An architecture's layer takes part through EncoderLayer: its nn.Linear descendants are the encoder's
linears, and fuse_ffn_activation hands over its first FFN linear with the activation that follows it
(Longformer's Layer), or does nothing where no activation applies to a whole linear's output
(ModernBERT's GeGLU: act(input half) * gate half; its linears are swapped, the activation stays).
"""
from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from .activations import Activation
from .int8_linear import Int8Linear, check_int8_matmul

# make(linear, activation) -> a module computing activation(linear(x)) (OneDnnLinear, Int8Linear)
FusedLinear = Callable[[nn.Linear, Activation], nn.Module]


@runtime_checkable
class EncoderLayer(Protocol):
    """What the CPU passes need of an encoder layer (structural: a layer module defines the method)."""

    def fuse_ffn_activation(self, make: FusedLinear) -> None:
        """Replace the first FFN linear, while it is a plain nn.Linear, by make(linear, the activation that
        follows it), and from then on apply no activation of its own; a no-op where none can fuse."""


class OneDnnLinear(nn.Module):
    """fp32 or bf16 linear through oneDNN with an optional fused activation, dense in and dense out.

    Faster than F.linear and than an unfused linear + GELU on the CPU (docs/engine.md); equal within
    float rounding. In bf16 it also skips F.linear's copy of the bias into every output (addmm).
    """

    def __init__(self, linear: nn.Linear, post_op: tuple[str, str] = ("none", "")):
        super().__init__()
        self.weight, self.bias = linear.weight, linear.bias
        self.attr, self.algorithm = post_op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, self.attr, [], self.algorithm)


def onednn_linear_works(dtype: torch.dtype = torch.float32) -> bool:
    """Whether oneDNN's fused linear (with a GELU post-op) runs in `dtype` and is right on this CPU."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        x, w, b = torch.ones(2, 4, dtype=dtype), torch.ones(3, 4, dtype=dtype), torch.zeros(3, dtype=dtype)
        out = torch.ops.mkldnn._linear_pointwise(x, w, b, "gelu", [], "none")
        want = F.gelu(x.float() @ w.float().T)  # 4.0 - 1.3e-4: bf16 rounds it to 4.0, so compare within its eps
        return out.dtype == dtype and bool(torch.allclose(out.float(), want, rtol=torch.finfo(dtype).eps, atol=0))
    except (RuntimeError, AttributeError):
        return False


def pack_cpu_linears(module: nn.Module, dtype: torch.dtype = torch.float32) -> nn.Module:
    """Swap the nn.Linear layers in `dtype` (float32 or bfloat16; all of them, heads included) for
    OneDnnLinear, fusing each FFN's activation into its first linear where the layer allows it. A no-op
    where oneDNN's fused linear is unavailable in that dtype."""
    if not onednn_linear_works(dtype):
        return module
    _fuse_ffn_activations(module, lambda linear, act: OneDnnLinear(linear, act.onednn))
    return _swap_linears(module, lambda linear: linear.weight.dtype == dtype, OneDnnLinear)


def quantize_linears(module: nn.Module) -> nn.Module:
    """Swap every encoder layer's nn.Linear (Longformer: q/k/v, global q/k/v, attention output, both FFN
    linears; ModernBERT: Wqkv, Wo, the MLP's Wi and Wo) for Int8Linear, the FFN's activation moved into
    its first linear (in place) where the layer allows it; embeddings and task heads stay float32."""
    check_int8_matmul()
    _fuse_ffn_activations(module, lambda linear, act: Int8Linear(linear, act.inplace))
    for layer in encoder_layers(module):
        _swap_linears(layer, lambda linear: True, Int8Linear)
    return module


def encoder_layers(module: nn.Module) -> list[nn.Module]:
    """The module's encoder layers (EncoderLayer), in order."""
    return [m for m in module.modules() if isinstance(m, EncoderLayer)]


def _fuse_ffn_activations(module: nn.Module, make: FusedLinear) -> None:
    for layer in encoder_layers(module):
        layer.fuse_ffn_activation(make)


def _swap_linears(module: nn.Module, wanted: Callable[[nn.Linear], bool], make: Callable[[nn.Linear], nn.Module]):
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear) and wanted(child):
                setattr(parent, name, make(child))
    return module
