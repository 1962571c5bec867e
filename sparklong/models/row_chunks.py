"""Row-local (position-wise) work of an encoder layer in chunks of rows, shared by every architecture:
the projections, norms and feed-forward of a token depend on that token's row alone, so they can run
a chunk of rows at a time, with the same outputs in a fraction of the memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

# Rows per chunk of the position-wise layers on the CPU: 512 rows of the 4x-wide FFN intermediate
# (6 MB at hidden 768) stay in cache, faster than whole 4,096-token inputs (docs/engine.md).
CPU_CHUNK_ROWS = 512


@dataclass
class RowChunks:
    """How one forward runs its row-local work. eager_cpu: an eager run on the CPU (chunks of
    CPU_CHUNK_ROWS rows into buffers every layer reuses); segment: rows per chunk elsewhere, which
    bounds memory (None: all rows at once, for a traced export)."""

    eager_cpu: bool
    segment: int | None
    # Eager CPU: outputs every layer writes again, by name (see rows); empty elsewhere.
    workspace: dict[str, torch.Tensor] = field(default_factory=dict, kw_only=True)

    def rows(self, fn, inputs: tuple[torch.Tensor, ...], width: int, name: str) -> torch.Tensor:
        """fn over the rows of inputs ([B, L, *] each, row-local) -> [B, L, width], in chunks: on the CPU
        of CPU_CHUNK_ROWS rows, so each chunk's products stay in cache, elsewhere of `segment` rows.

        On the CPU the chunks land in workspace[name], the same memory in every layer: a fresh output
        above glibc's mmap threshold (32 MB; a 4,096-token q/k/v at hidden 768 is 37.7 MB) is fresh,
        zeroed pages in every layer, page faults that one reused buffer avoids (docs/engine.md). Each
        chunk reads its own rows before they are written, so the buffer may be one of the inputs (the
        previous layer's output)."""
        first = inputs[0]
        count = first.shape[0] * first.shape[1]
        chunk = min(self.segment, CPU_CHUNK_ROWS) if self.eager_cpu else self.segment
        if chunk is None or count <= chunk:  # as is: an exported graph keeps [B, L, E] MatMuls
            return fn(*inputs)
        flat = [t.reshape(count, t.shape[-1]) for t in inputs]  # [B*L, *]
        if not self.eager_cpu:
            out = first.new_empty(count, width)
        else:
            out = self.workspace.get(name)
            if out is None or out.shape != (count, width) or out.dtype != first.dtype:
                out = self.workspace[name] = first.new_empty(count, width)
        for start in range(0, count, chunk):
            part = slice(start, start + chunk)
            out[part] = fn(*(t[part] for t in flat))
        return out.view(*first.shape[:2], width)
