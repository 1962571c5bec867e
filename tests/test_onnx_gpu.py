"""onnxruntime's CUDA provider: float32 equals transformers, float16 stays close. Skipped without a
CUDA device or without onnxruntime-gpu (pip install sparklong[gpu])."""
import pytest
import torch

from sparklong.models import LongformerConfig
from sparklong.models.onnx_files import ensure_onnx
from sparklong.models.onnx_runtime import CUDA_EP, OnnxModule, place
from sparklong.udfs.model_cache import get_model
from tiny_models import random_batch, save_longformer

ort = pytest.importorskip("onnxruntime")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(CUDA_EP not in ort.get_available_providers(), reason="needs onnxruntime-gpu"),
]


@pytest.fixture(scope="module")
def folder_and_hf(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("onnx_gpu"))
    return folder, save_longformer(folder, "embeddings", attention_window=[64, 128])


def test_auto_places_on_cuda_and_says_so(folder_and_hf):
    placement = place("auto", "float16", "none")
    assert placement.provider == CUDA_EP and placement.dtype == "float16" and "CUDA" in placement.reason
    assert place("auto", "float32", "int8").provider == "CPUExecutionProvider"  # int8 is a CPU path
    loaded = get_model(folder_and_hf[0], "embeddings", engine="onnx", device="cuda")
    assert loaded.module.providers[0] == CUDA_EP


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_cuda_provider_matches_transformers(folder_and_hf, dtype):
    folder, hf = folder_and_hf
    graph = ensure_onnx(folder, "embeddings", dtype=dtype)
    onnx = OnnxModule(graph, LongformerConfig.from_folder(folder), "embeddings", place("cuda", dtype, "none").providers())
    ids, mask = random_batch(3, 300)
    glob = torch.zeros_like(ids)
    glob[:, [0, 150]] = 1
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, global_attention_mask=glob).last_hidden_state
    ours = onnx(ids, mask, glob).float()
    keep = mask.bool()
    if dtype == "float32":
        assert (ours - ref).abs()[keep].max().item() <= 1e-4
    else:
        assert torch.nn.functional.cosine_similarity(ours[keep], ref[keep], dim=-1).min().item() > 0.99
