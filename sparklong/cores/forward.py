"""Padded forward passes over variable-length token sequences, shared by every model core.

Sequences are sorted by length and packed under a row and token budget (cores/batching.py), padded
with the tokenizer's pad id, run through the cached model's `.module(input_ids, attention_mask,
global_attention_mask)` (torch tensors; the only call any engine must support) and scattered back
in input order as float32 numpy arrays, whatever precision the model computes in.

On a GPU one batch is in flight while the next is packed: inputs are built in pinned host memory and
copied without blocking, the batch is launched (CUDA runs it asynchronously), and only then are the
previous batch's outputs awaited, which come back as one device-to-host copy per batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..engine_options import CPU_BATCH_TOKENS
from .batching import Batching, pack_batches

Outputs = tuple[np.ndarray, ...]  # one row of each model output: [L, ...] per token or [C] per sequence

# An unset token budget on a GPU: this share of its memory, at an estimated BYTES_PER_TOKEN_PER_HIDDEN
# x hidden size x element size per padded token (a layer's q/k/v, its gathered key/value windows, the
# FFN intermediate and the block scores), never below the CPU budget nor above MAX_GPU_BATCH_TOKENS.
GPU_MEMORY_SHARE = 0.25
BYTES_PER_TOKEN_PER_HIDDEN = 48
MAX_GPU_BATCH_TOKENS = 1 << 20


def token_budget(model, asked: int | None) -> int:
    """Padded tokens per forward pass: what the user asked for, else the device's budget."""
    if asked is not None:
        return asked
    device = model.device
    if device.type != "cuda":
        return CPU_BATCH_TOKENS
    memory = torch.cuda.get_device_properties(device).total_memory
    element = next(model.module.parameters()).element_size()
    per_token = BYTES_PER_TOKEN_PER_HIDDEN * model.config.hidden_size * element
    return int(min(MAX_GPU_BATCH_TOKENS, max(CPU_BATCH_TOKENS, GPU_MEMORY_SHARE * memory // per_token)))


def run_sequences(
    model,
    pad_id: int,
    sequences: Sequence[np.ndarray],
    global_positions: Sequence[Sequence[int]] | None,
    batching: Batching,
) -> list[Outputs]:
    """Each sequence's model outputs, in input order, in batches of at most batching.batch_size rows
    and batching.max_batch_tokens padded tokens (None: the device's budget, token_budget).
    global_positions: per sequence, the positions with global attention; None passes no global mask
    at all (the model's own default)."""
    results: list[Outputs | None] = [None] * len(sequences)
    budget = token_budget(model, batching.max_batch_tokens)
    in_flight: tuple[list[int], _Launched] | None = None
    for batch in pack_batches([len(s) for s in sequences], batching.batch_size, budget):
        inputs = pad_batch(pad_id, [sequences[i] for i in batch],
                           None if global_positions is None else [global_positions[i] for i in batch],
                           pin=model.device.type == "cuda")
        launched = (batch, launch(model, inputs))
        if in_flight is not None:  # the previous batch, awaited once this one is queued behind it
            _scatter(results, *in_flight)
        in_flight = launched
    if in_flight is not None:
        _scatter(results, *in_flight)
    return results  # type: ignore[return-value]


def pad_batch(pad_id: int, sequences: Sequence[np.ndarray], global_positions: Sequence[Sequence[int]] | None,
              pin: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(input_ids, attention_mask, global_attention_mask or None), each int64 [B, L] on the host
    (pinned, for copies that do not block, when `pin`)."""
    longest = max(len(ids) for ids in sequences)
    input_ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long, pin_memory=pin)  # [B, L]
    attention = torch.zeros((len(sequences), longest), dtype=torch.long, pin_memory=pin)  # [B, L]
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.as_tensor(np.asarray(ids, dtype=np.int64))
        attention[row, : len(ids)] = 1
    global_mask = None
    if global_positions is not None:
        global_mask = torch.zeros((len(sequences), longest), dtype=torch.long, pin_memory=pin)  # [B, L]
        for row, positions in enumerate(global_positions):
            global_mask[row, list(positions)] = 1
    return input_ids, attention, global_mask


@dataclass
class _Launched:
    """A batch's outputs on their way to the host: one float32 [B, sum of per-row sizes] tensor."""

    host: torch.Tensor  # [B, F]; pinned and still being filled while `done` has not fired
    shapes: list[tuple[int, ...]]  # each output's per-row shape
    done: torch.cuda.Event | None  # None: the copy is complete (CPU)
    inputs: tuple  # the host inputs, kept alive until their non-blocking copies have run

    def wait(self) -> tuple[np.ndarray, ...]:
        if self.done is not None:
            self.done.synchronize()
        flat, outputs, start = self.host.numpy(), [], 0
        for shape in self.shapes:
            size = int(np.prod(shape))
            outputs.append(flat[:, start : start + size].reshape(flat.shape[0], *shape))
            start += size
        return tuple(outputs)


def launch(model, inputs) -> _Launched:
    """Run one padded batch; on a GPU return before it has finished (wait() gives its outputs)."""
    device = model.device
    cuda = device.type == "cuda"
    on_device = [None if t is None else t.to(device, non_blocking=cuda) for t in inputs]
    outputs = model.module(*on_device)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    batch = outputs[0].shape[0]
    parts = [out.reshape(batch, -1).float() for out in outputs]
    flat = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)  # [B, F], one copy back
    shapes = [tuple(out.shape[1:]) for out in outputs]
    if not cuda:
        return _Launched(flat, shapes, None, inputs)
    host = torch.empty(flat.shape, dtype=torch.float32, pin_memory=True)
    host.copy_(flat, non_blocking=True)
    done = torch.cuda.Event()
    done.record(torch.cuda.current_stream(device))  # the model's GPU, not this thread's current one
    return _Launched(host, shapes, done, inputs)


def _scatter(results: list, batch: list[int], launched: _Launched) -> None:
    outputs = launched.wait()
    for row, i in enumerate(batch):
        results[i] = tuple(out[row] for out in outputs)
