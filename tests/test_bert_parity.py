"""The BERT-family engine (models/bert.py) equals transformers' BertModel, RobertaModel and XLMRobertaModel
and their QuestionAnswering, SequenceClassification and TokenClassification models (the oracles), fp32,
on every non-padding position, loaded from what save_pretrained writes; its config refuses what it cannot
run and its inputs stop at the position table."""
import json

import pytest
import torch
import torch.nn.functional as F

from sparklong.models import load
from sparklong.models.bert import BertConfig, encoder_state
from sparklong.models.config import ConfigError
from test_modernbert_parity import TOL, _max_diff_on_tokens, _perturb
from tiny_models import random_batch

VOCAB = 120  # above BERT's default [SEP] (102), which the tiny BERT config does not name
LABELS = 3
TINY = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
            max_position_embeddings=64)
# model_type -> (the transformers class prefix, config overrides): RoBERTa-style pad 1, eos 2; XLM-R with
# another activation, so hidden_act is read.
FAMILIES = {
    "bert": ("Bert", dict(pad_token_id=0)),
    "roberta": ("Roberta", dict(pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1)),
    "xlm-roberta": ("XLMRoberta", dict(pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1,
                                      hidden_act="gelu_new")),
}
# load()'s task -> the transformers class suffix
HF_TASKS = {"embeddings": "Model", "question_answering": "ForQuestionAnswering",
            "sequence_classification": "ForSequenceClassification", "token_classification": "ForTokenClassification"}


def _oracle(family: str, task: str = "embeddings", attn: str = "sdpa"):
    """The perturbed tiny transformers model of `family` and `task` (the same weights for either attn)."""
    import transformers

    prefix, overrides = FAMILIES[family]
    torch.manual_seed(0)
    labels = 2 if task == "question_answering" else LABELS  # transformers' qa_outputs has num_labels outputs
    cfg = getattr(transformers, f"{prefix}Config")(**TINY, **overrides, num_labels=labels, attn_implementation=attn)
    model = getattr(transformers, prefix + HF_TASKS[task])(cfg).eval()
    _perturb(model)
    return model


def _batch(family: str, length: int):
    """Batch 2: row 0 all tokens, row 1 padded (with the family's pad id) for its last third."""
    return random_batch(2, length, VOCAB, pad_id=FAMILIES[family][1]["pad_token_id"], seed=length)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(family, task) -> (folder, the transformers model saved there), each written once."""
    cache = {}

    def get(family: str, task: str = "embeddings"):
        if (family, task) not in cache:
            folder = str(tmp_path_factory.mktemp(f"{family}_{task}"))
            cache[family, task] = folder, _oracle(family, task)
            cache[family, task][1].save_pretrained(folder)
        return cache[family, task]

    return get


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("length", [5, 37])
def test_hidden_states_equal_transformers_sdpa_and_eager(saved, family, length):
    folder, hf = saved(family)
    ids, mask = _batch(family, length)
    ours = load(folder)(ids, mask, torch.ones_like(ids))  # a global mask is accepted and ignored
    for oracle in (hf, _oracle(family, attn="eager")):
        with torch.no_grad():
            ref = oracle(input_ids=ids, attention_mask=mask).last_hidden_state  # [B, L, E]
        diff = _max_diff_on_tokens(ours, ref, mask)
        print(f"{family} {oracle.config._attn_implementation} L={length}: max abs diff {diff:.2e}")
        assert diff <= TOL


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("task", ["question_answering", "sequence_classification", "token_classification"])
def test_heads_equal_transformers(saved, family, task):
    folder, hf = saved(family, task)
    ids, mask = _batch(family, 37)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask)
    model = load(folder, task=task)
    ours = model(ids, mask)
    if task == "question_answering":
        diffs = [_max_diff_on_tokens(ours[0], ref.start_logits, mask),
                 _max_diff_on_tokens(ours[1], ref.end_logits, mask)]
    elif task == "token_classification":
        assert ours.shape == (2, 37, LABELS)
        diffs = [_max_diff_on_tokens(ours, ref.logits, mask)]
    else:
        assert ours.shape == (2, LABELS)
        diffs = [(ours - ref.logits).abs().max().item()]
    print(f"{family} {task}: max abs diff {max(diffs):.2e}")
    assert max(diffs) <= TOL


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_input_up_to_max_tokens_runs_and_longer_is_refused(saved, family):
    folder, hf = saved(family)
    model = load(folder)
    longest = model.config.max_tokens
    assert longest == (64 if family == "bert" else 64 - 1 - 1)  # RoBERTa: positions start after pad (1)
    ids, mask = _batch(family, longest)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask).last_hidden_state
    assert _max_diff_on_tokens(model(ids, mask), ref, mask) <= TOL
    ids, mask = _batch(family, longest + 1)
    with pytest.raises(ValueError, match=f"at most {longest}"):
        model(ids, mask)


def test_bfloat16_follows_float32(saved):
    folder, _ = saved("roberta")
    ids, mask = _batch("roberta", 37)
    ref = load(folder)(ids, mask)
    ours = load(folder, dtype="bfloat16")(ids, mask)
    assert ours.dtype == torch.bfloat16
    cosine = F.cosine_similarity(ours.float(), ref, dim=-1)[mask.bool()]  # per real token
    print(f"bf16 vs fp32 per-token cosine: min {cosine.min().item():.5f}")
    assert cosine.min().item() >= 0.99


def _config(family: str, **changes) -> dict:
    return {"model_type": family, **TINY, **FAMILIES[family][1], **changes}


@pytest.mark.parametrize("missing", ["hidden_size", "num_hidden_layers", "max_position_embeddings"])
def test_config_with_a_missing_key_is_refused(tmp_path, missing):
    raw = _config("bert")
    del raw[missing]
    (tmp_path / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match=f"'{missing}' is missing"):
        load(str(tmp_path))


@pytest.mark.parametrize("field, value", [("position_embedding_type", "relative_key"), ("hidden_act", "mish"),
                                          ("is_decoder", True)])
def test_config_the_engine_cannot_run_is_refused(field, value):
    with pytest.raises(ConfigError, match=field.replace("is_decoder", "is_decoder models")):
        BertConfig.from_dict(_config("roberta", **{field: value}))


def test_separator_defaults_by_family():
    assert BertConfig.from_dict(_config("bert")).sep_token_id == 102  # [SEP] in Google's vocabularies
    assert BertConfig.from_dict(_config("xlm-roberta")).sep_token_id == 2  # </s>: eos_token_id
    assert BertConfig.from_dict(_config("bert", sep_token_id=7)).sep_token_id == 7
    with pytest.raises(ConfigError, match="sep_token_id .*config.json names none"):
        BertConfig.from_dict(_config("bert", vocab_size=100))


def test_encoder_state_drops_buffers_and_heads_and_reads_tf_norm_names():
    t = torch.zeros(1)
    hf = {"bert.embeddings.LayerNorm.gamma": t, "bert.encoder.layer.0.output.LayerNorm.beta": t,
          "bert.embeddings.position_ids": t, "bert.pooler.dense.weight": t, "cls.predictions.bias": t}
    assert set(encoder_state(hf)) == {"model.embeddings.LayerNorm.weight",
                                      "model.encoder.layer.0.output.LayerNorm.bias"}


def test_options_not_built_are_refused_by_name(saved):
    with pytest.raises(NotImplementedError, match="attention"):
        load(saved("bert")[0], attention="flex")


def test_cpu_passes_onednn_equal_and_int8_close(saved):
    """The Longformer CPU passes on BERT: float32 linears through oneDNN (FFN activation fused) still equal
    transformers; int8 swaps every encoder layer's linears and stays close to float32."""
    from sparklong.models.cpu_linears import OneDnnLinear, onednn_linear_works
    from sparklong.models.int8_linear import Int8Linear

    folder, hf = saved("bert")
    ids, mask = _batch("bert", 37)
    packed, int8 = load(folder), load(folder, quantize="int8")
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask).last_hidden_state  # [B, L, E]
        full, quantized = packed(ids, mask), int8(ids, mask)
    if onednn_linear_works():
        assert all(isinstance(layer.intermediate.dense, OneDnnLinear) for layer in packed.model.encoder.layer)
    assert _max_diff_on_tokens(full, ref, mask) <= TOL
    encoder = [m for m in int8.model.encoder.modules() if isinstance(m, (torch.nn.Linear, Int8Linear, OneDnnLinear))]
    assert len(encoder) == 6 * len(int8.model.encoder.layer) and all(isinstance(m, Int8Linear) for m in encoder)
    cosine = F.cosine_similarity(full, quantized, dim=-1)[mask.bool()]  # per token
    assert cosine.min() >= 0.99 and not torch.equal(full, quantized)
