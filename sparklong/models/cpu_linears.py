"""CPU passes over a loaded encoder's linear layers (inference only), applied by load():

- pack_cpu_linears: float32 nn.Linear -> OneDnnLinear (oneDNN, each FFN's activation fused in);
- quantize_linears: the encoder layers' nn.Linear -> Int8Linear (int8_linear.py), each FFN's activation
  applied in place by its first linear.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .activations import ACTIVATIONS, Activation
from .encoder import Layer
from .int8_linear import Int8Linear, check_int8_matmul


class OneDnnLinear(nn.Module):
    """fp32 linear through oneDNN with an optional fused activation, dense in and dense out.

    Faster than F.linear and than an unfused linear + GELU on the CPU (docs/engine.md); equal within
    float rounding.
    """

    def __init__(self, linear: nn.Linear, post_op: tuple[str, str] = ("none", "")):
        super().__init__()
        self.weight, self.bias = linear.weight, linear.bias
        self.attr, self.algorithm = post_op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, self.attr, [], self.algorithm)


def onednn_linear_works() -> bool:
    """Whether oneDNN's fused linear (with a GELU post-op) runs and is right on this CPU."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        x, w, b = torch.ones(2, 4), torch.ones(3, 4), torch.zeros(3)
        out = torch.ops.mkldnn._linear_pointwise(x, w, b, "gelu", [], "none")
        return bool(torch.allclose(out, F.gelu(x @ w.T)))
    except (RuntimeError, AttributeError):
        return False


def pack_cpu_linears(module: nn.Module) -> nn.Module:
    """Swap fp32 nn.Linear layers for OneDnnLinear, fusing each FFN's activation into its first
    linear. A no-op where oneDNN's fused linear is unavailable."""
    if not onednn_linear_works():
        return module
    _fuse_ffn_activations(module, lambda linear, act: OneDnnLinear(linear, act.onednn))
    return _swap_linears(module, lambda linear: linear.weight.dtype == torch.float32, OneDnnLinear)


def quantize_linears(module: nn.Module) -> nn.Module:
    """Swap every encoder layer's nn.Linear (q/k/v, global q/k/v, attention output, both FFN linears)
    for Int8Linear, the FFN's activation moved into its first linear (in place); embeddings and task
    heads stay float32."""
    check_int8_matmul()
    _fuse_ffn_activations(module, lambda linear, act: Int8Linear(linear, act.inplace))
    for layer in module.modules():
        if isinstance(layer, Layer):
            _swap_linears(layer, lambda linear: True, Int8Linear)
    return module


def _fuse_ffn_activations(module: nn.Module, make: Callable[[nn.Linear, Activation], nn.Module]) -> None:
    """Each layer's plain first FFN linear -> make(linear, its activation), which applies the activation;
    the layer's own activation becomes the identity."""
    for layer in module.modules():
        if isinstance(layer, Layer) and isinstance(layer.ffn_in, nn.Linear):
            layer.ffn_in = make(layer.ffn_in, ACTIVATIONS[layer.act_name])
            layer.act = _identity


def _swap_linears(module: nn.Module, wanted: Callable[[nn.Linear], bool], make: Callable[[nn.Linear], nn.Module]):
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear) and wanted(child):
                setattr(parent, name, make(child))
    return module


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x
