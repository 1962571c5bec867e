"""The kernel's two ways of reading key windows (strided view in eager CPU, gathered copy when tracing)
agree exactly, for any length, batch with padding and window."""
import pytest
import torch

from sparklong.models import banded_attention as band


@pytest.mark.parametrize("length", [1, 7, 64, 130, 300, 700])
@pytest.mark.parametrize("window", [8, 32, 512])
def test_strided_windows_equal_gathered_windows(monkeypatch, length, window):
    torch.manual_seed(length + window)
    batch, heads, dim = 3, 2, 8
    # views of one fused projection, as the encoder makes them: strides, not contiguous tensors
    q, k, v = torch.randn(batch, length, 3, heads, dim).unbind(2)  # each [B, L, H, D]
    valid = torch.ones(batch, length, dtype=torch.bool)
    valid[1, max(1, length // 2):] = False  # a padded row
    plan = band.plan_band(valid, torch.zeros_like(valid), None, window, torch.float32)

    strided = band.local_attention(q, k, v, plan)
    monkeypatch.setattr(band, "tracing", lambda: True)
    gathered = band.local_attention(q, k, v, plan, segment=64)

    assert strided.shape == (batch, length, heads, dim)
    torch.testing.assert_close(strided[valid], gathered[valid], rtol=0, atol=1e-6)
