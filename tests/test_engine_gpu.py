"""The same engine on CUDA: fp32 equals HF; bf16/fp16 (SDPA, FlexAttention) close to fp32. Skipped without a GPU."""
import pytest
import torch

from sparklong.models import load
from tiny_models import random_batch, save_longformer

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def folder_and_hf(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lf_gpu")
    return str(folder), save_longformer(str(folder), "embeddings", attention_window=[64, 128])


def reference(hf, ids, mask, gmask):
    with torch.no_grad():
        return hf(input_ids=ids, attention_mask=mask, global_attention_mask=gmask).last_hidden_state


@pytest.mark.parametrize("length", [1, 37, 300])
def test_cuda_fp32_equals_hf(folder_and_hf, length):
    folder, hf = folder_and_hf
    ids, mask = random_batch(3, length)
    gmask = torch.zeros_like(ids)
    gmask[:, 0] = 1
    ours = load(folder, device="cuda")(ids.cuda(), mask.cuda(), gmask.cuda()).cpu()
    ref = reference(hf, ids, mask, gmask)
    assert (ours - ref).abs()[mask.bool()].max().item() <= 1e-4


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_cuda_half_precision_close_to_fp32(folder_and_hf, dtype):
    folder, hf = folder_and_hf
    ids, mask = random_batch(2, 500)
    gmask = torch.zeros_like(ids)
    gmask[:, [0, 250]] = 1
    ours = load(folder, device="cuda", dtype=dtype)(ids.cuda(), mask.cuda(), gmask.cuda()).float().cpu()
    ref = reference(hf, ids, mask, gmask)
    keep = mask.bool()
    cosine = torch.nn.functional.cosine_similarity(ours[keep], ref[keep], dim=-1)
    assert torch.isfinite(ours[keep]).all()
    assert cosine.min().item() > 0.99


@pytest.mark.parametrize("length", [1, 37, 500])
def test_cuda_flex_bf16_close_to_fp32_sdpa(folder_and_hf, length):
    # FlexAttention (compiled on CUDA) in bf16 against the SDPA band path in fp32, padding and globals
    folder, _ = folder_and_hf
    ids, mask = random_batch(2, length)
    gmask = torch.zeros_like(ids)
    gmask[:, [0, length // 2]] = 1
    inputs = (ids.cuda(), mask.cuda(), gmask.cuda())
    flex = load(folder, device="cuda", dtype="bfloat16", attention="flex")(*inputs).float().cpu()
    sdpa = load(folder, device="cuda", attention="sdpa")(*inputs).cpu()
    keep = mask.bool()
    cosine = torch.nn.functional.cosine_similarity(flex[keep], sdpa[keep], dim=-1)
    assert torch.isfinite(flex[keep]).all()
    assert cosine.min().item() >= 0.99
