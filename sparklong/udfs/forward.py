"""Padded forward passes over variable-length token sequences, shared by every model core.

Sequences are sorted by length and packed under a row and token budget (udfs/batching.py), padded
with the tokenizer's pad id, run through the cached model's `.module(input_ids, attention_mask,
global_attention_mask)` (torch tensors; the only call any engine must support) and scattered back
in input order as float32 numpy arrays.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .batching import pack_batches

Outputs = tuple[np.ndarray, ...]  # one row of each model output: [L, ...] per token or [C] per sequence


def run_sequences(
    model,
    pad_id: int,
    sequences: Sequence[np.ndarray],
    global_positions: Sequence[Sequence[int]] | None,
    batch_size: int,
    max_batch_tokens: int,
) -> list[Outputs]:
    """Each sequence's model outputs, in input order. global_positions: per sequence, the positions
    with global attention; None passes no global mask at all (the model's own default)."""
    results: list[Outputs | None] = [None] * len(sequences)
    for batch in pack_batches([len(s) for s in sequences], batch_size, max_batch_tokens):
        outputs = forward_padded(
            model, pad_id, [sequences[i] for i in batch],
            None if global_positions is None else [global_positions[i] for i in batch],
        )
        for row, i in enumerate(batch):
            results[i] = tuple(out[row] for out in outputs)
    return results  # type: ignore[return-value]


def forward_padded(model, pad_id: int, sequences: Sequence[np.ndarray],
                   global_positions: Sequence[Sequence[int]] | None) -> tuple[np.ndarray, ...]:
    """One forward pass over right-padded sequences; every output as float32 numpy, batch first."""
    longest = max(len(ids) for ids in sequences)
    input_ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)  # [B, L]
    attention = torch.zeros((len(sequences), longest), dtype=torch.long)  # [B, L]
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.as_tensor(np.asarray(ids, dtype=np.int64))
        attention[row, : len(ids)] = 1
    global_mask = None
    if global_positions is not None:
        global_mask = torch.zeros((len(sequences), longest), dtype=torch.long)  # [B, L]
        for row, positions in enumerate(global_positions):
            global_mask[row, list(positions)] = 1
    device = model.device
    outputs = model.module(
        input_ids.to(device), attention.to(device), None if global_mask is None else global_mask.to(device)
    )
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    return tuple(out.float().cpu().numpy() for out in outputs)
