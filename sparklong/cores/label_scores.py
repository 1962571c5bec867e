"""Score activations over logits (numpy, in the logits' dtype), as transformers' pipelines apply them."""
from __future__ import annotations

import numpy as np

ACTIVATIONS = ("softmax", "sigmoid")


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def activate(logits: np.ndarray, activation: str) -> np.ndarray:
    """softmax or sigmoid over the last axis."""
    return softmax(logits) if activation == "softmax" else sigmoid(logits)
