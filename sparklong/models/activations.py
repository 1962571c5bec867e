"""The hidden activations the engine supports: config.json's `hidden_act` -> the torch function and the
oneDNN post-op (attr, algorithm) fused into the FFN's first linear on the CPU. One table: config.py
validates against it, encoder.py runs from it."""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F


class Activation(NamedTuple):
    fn: Callable[[torch.Tensor], torch.Tensor]
    onednn: tuple[str, str]  # torch.ops.mkldnn._linear_pointwise's (attr, algorithm)


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


ACTIVATIONS: dict[str, Activation] = {
    "gelu": Activation(F.gelu, ("gelu", "none")),
    "gelu_new": Activation(_gelu_tanh, ("gelu", "tanh")),
    "gelu_pytorch_tanh": Activation(_gelu_tanh, ("gelu", "tanh")),
    "gelu_fast": Activation(_gelu_tanh, ("gelu", "tanh")),
    "relu": Activation(F.relu, ("relu", "")),
    "silu": Activation(F.silu, ("swish", "")),
    "swish": Activation(F.silu, ("swish", "")),
    "tanh": Activation(torch.tanh, ("tanh", "")),
}
