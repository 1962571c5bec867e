"""The settings of the cores that read a document's windows (cores/windows.py): word embeddings and token
classification (per token), document and chunk embeddings (pooled)."""
from __future__ import annotations

from dataclasses import dataclass

from .batching import Batching


@dataclass(frozen=True)
class EmbeddingSettings:
    batching: Batching = Batching()  # window length and batch bounds
    global_attention: str = "none"  # a GLOBAL_ATTENTION mode (cores/global_attention.py)
    prompt: str = ""  # document and chunk vectors: text the model reads before each document (windows.encode_units)
