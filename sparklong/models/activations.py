"""The hidden activations the engine supports: config.json's `hidden_act` -> the torch function, the
oneDNN post-op (attr, algorithm) fused into the FFN's first linear on the CPU, and the in-place form the
int8 FFN's first linear applies to its own output. One table: config.py validates against it,
encoder.py runs from it."""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F


class Activation(NamedTuple):
    fn: Callable[[torch.Tensor], torch.Tensor]
    onednn: tuple[str, str]  # torch.ops.mkldnn._linear_pointwise's (attr, algorithm)
    inplace: Callable[[torch.Tensor], torch.Tensor]  # fn(x) written over x, equal to fn's


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


# The in-place forms, as plain functions so modules holding them pickle (an aten op does not).
def _gelu_(x: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten.gelu_(x)


def _gelu_tanh_(x: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten.gelu_(x, approximate="tanh")


def _relu_(x: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten.relu_(x)


def _silu_(x: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten.silu_(x)


def _tanh_(x: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten.tanh_(x)


def identity(x: torch.Tensor) -> torch.Tensor:
    """A layer's activation once its first FFN linear applies the real one (cpu_linears.EncoderLayer)."""
    return x


ACTIVATIONS: dict[str, Activation] = {
    "gelu": Activation(F.gelu, ("gelu", "none"), _gelu_),
    "gelu_new": Activation(_gelu_tanh, ("gelu", "tanh"), _gelu_tanh_),
    "gelu_pytorch_tanh": Activation(_gelu_tanh, ("gelu", "tanh"), _gelu_tanh_),
    "gelu_fast": Activation(_gelu_tanh, ("gelu", "tanh"), _gelu_tanh_),
    "relu": Activation(F.relu, ("relu", ""), _relu_),
    "silu": Activation(F.silu, ("swish", ""), _silu_),
    "swish": Activation(F.silu, ("swish", ""), _silu_),
    "tanh": Activation(torch.tanh, ("tanh", ""), _tanh_),
}
