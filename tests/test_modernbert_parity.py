"""The ModernBERT engine equals transformers' ModernBertModel (the oracle) on every non-padding position,
fp32; its config reads both spellings of config.json; its sliding layers run through the banded kernel."""
import json
import os
import re

import pytest
import torch
import torch.nn.functional as F

from sparklong.models import banded_attention as band
from sparklong.models import load, row_chunks
from sparklong.models.config import ConfigError
from sparklong.models.modernbert import FULL, SLIDING, ModernBertConfig

TOL = 1e-4
VOCAB = 100
WINDOW = 16  # local_attention: 8 on each side
# 4 layers, a global one every 3rd: layers 0 and 3 full attention, 1 and 2 sliding.
TINY = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=48,
            local_attention=WINDOW, global_attn_every_n_layers=3, max_position_embeddings=256,
            pad_token_id=0, bos_token_id=1, cls_token_id=1, eos_token_id=2, sep_token_id=2, reference_compile=False)


def _perturb(model: torch.nn.Module) -> None:
    """Move every parameter off its initial value (norms at 1 and biases at 0 would test nothing)."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)


def _save(folder, model_class="ModernBertModel", **overrides):
    import transformers

    torch.manual_seed(0)
    cfg = transformers.ModernBertConfig(**{**TINY, **overrides}, attn_implementation="sdpa")
    model = getattr(transformers, model_class)(cfg).eval()
    _perturb(model)
    model.save_pretrained(folder)
    return model


def _batch(length: int):
    """Batch 2: row 0 all tokens, row 1 padded after two thirds of the length."""
    gen = torch.Generator().manual_seed(length)
    ids = torch.randint(3, VOCAB, (2, length), generator=gen)
    mask = torch.ones(2, length, dtype=torch.long)
    mask[1, max(1, 2 * length // 3):] = 0
    ids[1][mask[1] == 0] = 0
    return ids, mask


def _max_diff_on_tokens(ours: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor) -> float:
    return (ours - ref).abs()[mask.bool()].max().item()  # [tokens, E] -> scalar


@pytest.fixture(scope="module", params=["no_bias", "biases"])
def model_folder(request, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp(f"modernbert_{request.param}"))
    biases = dict(norm_bias=True, attention_bias=True, mlp_bias=True) if request.param == "biases" else {}
    return folder, _save(folder, **biases)


@pytest.mark.parametrize("chunk_rows", [row_chunks.CPU_CHUNK_ROWS, 16])  # 16: a layer's rows in many chunks
@pytest.mark.parametrize("length", [5, 37, 100])  # below the window, not multiples of it
def test_hidden_states_equal_transformers(model_folder, length, chunk_rows, monkeypatch):
    monkeypatch.setattr(row_chunks, "CPU_CHUNK_ROWS", chunk_rows)  # rows through the buffers every layer reuses
    folder, hf = model_folder
    ids, mask = _batch(length)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask).last_hidden_state  # [B, L, E]
    diff = _max_diff_on_tokens(load(folder)(ids, mask), ref, mask)
    print(f"max abs diff, L={length}: {diff:.2e}")
    assert diff <= TOL


def test_masked_lm_checkpoint_loads_its_encoder(tmp_path):
    """ModernBertForMaskedLM saves the encoder behind "model." next to its head; the head is left out."""
    hf = _save(str(tmp_path), "ModernBertForMaskedLM")
    ids, mask = _batch(37)
    with torch.no_grad():
        ref = hf.model(input_ids=ids, attention_mask=mask).last_hidden_state
    assert _max_diff_on_tokens(load(str(tmp_path))(ids, mask), ref, mask) <= TOL


def test_options_not_run_yet_are_refused_by_name(model_folder):
    with pytest.raises(NotImplementedError, match="flex"):
        load(model_folder[0], attention="flex")


def _hub_config() -> dict:
    return dict(model_type="modernbert", vocab_size=VOCAB, hidden_size=32, num_hidden_layers=7,
                num_attention_heads=2, intermediate_size=48, local_attention=WINDOW,
                global_attn_every_n_layers=3, global_rope_theta=160000.0, local_rope_theta=10000.0,
                pad_token_id=0, cls_token_id=1, sep_token_id=2)


def _transformers5_config() -> dict:
    """The same model as transformers 5 writes it: layer_types and rope_parameters per layer type."""
    raw = {k: v for k, v in _hub_config().items()
           if k not in ("global_attn_every_n_layers", "global_rope_theta", "local_rope_theta")}
    pattern = ["full_attention", "sliding_attention", "sliding_attention"]
    raw["layer_types"] = (pattern * 3)[:7]
    raw["rope_parameters"] = {"full_attention": {"rope_type": "default", "rope_theta": 160000.0},
                              "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}
    return raw


def test_transformers5_spelling_equals_hub_spelling(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(_transformers5_config()))
    ours = ModernBertConfig.from_folder(tmp_path)
    assert ours == ModernBertConfig.from_dict(_hub_config())
    assert ours.layer_types == (FULL, SLIDING, SLIDING, FULL, SLIDING, SLIDING, FULL)
    assert (ours.global_rope_theta, ours.local_rope_theta) == (160000.0, 10000.0)


@pytest.mark.parametrize("field, value", [("layer_types", ["full_attention", "dense"]),
                                          ("local_attention", 0), ("global_rope_theta", -1.0)])
def test_bad_field_is_named(field, value):
    raw = {**_hub_config(), field: value}
    with pytest.raises(ConfigError, match=field):
        ModernBertConfig.from_dict(raw)


def test_sliding_layers_build_no_length_by_length_scores(tmp_path, monkeypatch):
    """A model of sliding layers only at L = 200: every attention call is over one query block and its
    window (never L queries against L keys), and the banded kernel runs once per layer."""
    length = 200
    _save(str(tmp_path), num_hidden_layers=2)
    raw = json.loads((tmp_path / "config.json").read_text())
    raw.update(layer_types=["sliding_attention"] * 2, global_attn_every_n_layers=1000)
    (tmp_path / "config.json").write_text(json.dumps(raw))
    shapes, kernel_calls = [], []
    sdpa, local = F.scaled_dot_product_attention, band.local_attention

    def recording_sdpa(q, k, v, *args, **kwargs):
        shapes.append((q.shape[-2], k.shape[-2]))
        return sdpa(q, k, v, *args, **kwargs)

    def recording_local(*args, **kwargs):
        kernel_calls.append(1)
        return local(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", recording_sdpa)
    monkeypatch.setattr(band, "local_attention", recording_local)
    ids, mask = _batch(length)
    load(str(tmp_path))(ids, mask)
    assert len(kernel_calls) == 2
    assert shapes and all(q < length and k < length for q, k in shapes)
