"""Label scores from a classifier head's logits (numpy, in the logits' dtype), as transformers' pipelines
compute them: softmax (one label wins) or sigmoid (each label scored on its own).

Not to be confused with models/activations.py, the hidden activations inside the encoder (torch)."""
from __future__ import annotations

import numpy as np

SCORE_ACTIVATIONS = ("softmax", "sigmoid")  # the choices of the sequence classifier's `activation` param


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def activate(logits: np.ndarray, activation: str) -> np.ndarray:
    """softmax or sigmoid over the last axis."""
    return softmax(logits) if activation == "softmax" else sigmoid(logits)
