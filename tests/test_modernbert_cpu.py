"""The CPU passes on ModernBERT (models/cpu_linears.py, the same passes as Longformer's): float32 linears
through oneDNN still equal transformers; int8 (the encoder layers' linears) and bfloat16 stay close to
float32 on a tiny model with full and sliding layers."""
import pytest
import torch
import torch.nn.functional as F

from sparklong.models import load
from sparklong.models.cpu_linears import OneDnnLinear, onednn_linear_works
from sparklong.models.int8_linear import Int8Linear
from test_modernbert_parity import TOL, _batch, _max_diff_on_tokens, _save

LENGTH = 100  # past the sliding window (16): layers 1 and 2 run the banded kernel
ENCODER_LINEARS = ("attn.Wqkv", "attn.Wo", "mlp.Wi", "mlp.Wo")


@pytest.fixture(scope="module")
def token_folder(tmp_path_factory):
    """A token-classification checkpoint: its encoder serves "embeddings", its head the task."""
    folder = str(tmp_path_factory.mktemp("modernbert_cpu"))
    hf = _save(folder, "ModernBertForTokenClassification", num_labels=3, norm_bias=True, attention_bias=True,
               mlp_bias=True, classifier_bias=True)
    return folder, hf


def _layer_linears(module) -> list[torch.nn.Module]:
    return [layer.get_submodule(name) for layer in module.model.layers for name in ENCODER_LINEARS]


@pytest.mark.skipif(not onednn_linear_works(), reason="oneDNN's fused linear does not run on this CPU")
def test_fp32_linears_run_through_onednn_and_still_equal_transformers(token_folder):
    folder, hf = token_folder
    ids, mask = _batch(LENGTH)
    with torch.no_grad():
        ref = hf.model(input_ids=ids, attention_mask=mask).last_hidden_state  # [B, L, E]
    packed = load(folder)
    assert all(isinstance(m, OneDnnLinear) for m in _layer_linears(packed))
    assert _max_diff_on_tokens(packed(ids, mask), ref, mask) <= TOL
    assert all(type(m) is torch.nn.Linear for m in _layer_linears(load(folder, fast_cpu=False)))


@pytest.mark.parametrize("options", [dict(quantize="int8"), dict(dtype="bfloat16")], ids=["int8", "bf16"])
def test_int8_and_bf16_are_close_to_fp32(token_folder, options):
    folder, _ = token_folder
    ids, mask = _batch(LENGTH)
    full, other = load(folder)(ids, mask), load(folder, **options)(ids, mask).float()  # [B, L, E]
    cosine = F.cosine_similarity(full, other, dim=-1)[mask.bool()]  # per token
    assert cosine.min() >= 0.99 and not torch.equal(full, other)


def test_int8_quantizes_the_encoder_layers_linears_not_embeddings_or_head(token_folder):
    module = load(token_folder[0], task="token_classification", quantize="int8")
    assert all(isinstance(m, Int8Linear) for m in _layer_linears(module))
    assert module.model.embeddings.tok_embeddings.weight.dtype == torch.float32
    for head in (module.head.dense, module.classifier):
        assert isinstance(head, OneDnnLinear | torch.nn.Linear)
