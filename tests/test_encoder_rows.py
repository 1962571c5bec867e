"""RowChunks.rows (AttentionContext's): row-local layers in chunks, on the CPU into buffers every layer reuses."""
import torch

from sparklong.models import row_chunks
from sparklong.models.encoder import AttentionContext


def context(length: int, export: bool = False) -> AttentionContext:
    ones = torch.ones(2, length, dtype=torch.long)
    return AttentionContext.build(ones, torch.zeros_like(ones), [4], torch.float32, "auto", export)


def test_cpu_chunks_land_in_one_buffer_per_name_even_when_it_is_the_input(monkeypatch):
    monkeypatch.setattr(row_chunks, "CPU_CHUNK_ROWS", 16)  # 2 x 45 rows: six chunks, the last one short
    ctx = context(45)
    weight = torch.randn(8, 8)
    layer = lambda x: torch.tanh(x @ weight) + x  # noqa: E731  row-local, reads its input after the product
    x = torch.randn(2, 45, 8)
    first = ctx.rows(layer, (x,), 8, "hidden")
    torch.testing.assert_close(first, layer(x))
    want = layer(first.clone())
    second = ctx.rows(layer, (first,), 8, "hidden")  # the buffer is its own input, as from layer to layer
    assert second.data_ptr() == first.data_ptr()
    torch.testing.assert_close(second, want)
    wide = ctx.rows(lambda x: torch.cat([x, x], dim=-1), (x,), 16, "qkv")  # another name, another buffer
    assert wide.shape == (2, 45, 16) and wide.data_ptr() != first.data_ptr()


def test_short_inputs_and_exports_run_in_one_piece():
    x = torch.randn(2, 5, 8)
    short = context(5)
    assert short.rows(lambda t: t * 2, (x,), 8, "hidden").data_ptr() != x.data_ptr()
    assert not short.workspace  # nothing kept for inputs of one chunk
    export = context(700, export=True)
    assert not export.eager_cpu and export.segment is None
    big = torch.randn(2, 700, 8)
    torch.testing.assert_close(export.rows(lambda t: t + 1, (big,), 8, "hidden"), big + 1)
    assert not export.workspace  # an export keeps no buffer
