"""convert_to_long: tiny BERT / RoBERTa checkpoints -> Longformer folders that reproduce them."""
from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from sparklong.models import load
from sparklong.models.convert import convert_to_long
from sparklong.models.convert_tokenizer import TOKENIZER_FILES
from tiny_models import CORPUS_DIR, TINY, _perturb, to_pytorch_bin

MAX_POSITIONS = 256
WINDOW = 128  # one-sided 64: covers every input the short models accept (<= 64 tokens)
SHORT = {k: v for k, v in TINY.items() if k not in ("vocab_size", "max_position_embeddings")}  # the sizes


def _corpus_lines(n: int = 12) -> list[str]:
    with open(os.path.join(CORPUS_DIR, "1789-Washington.txt"), encoding="utf-8") as fh:
        return [line.strip() for line in fh if line.strip()][:n]


def _make_bert(folder: str):
    """BertModel (with pooler, .bin weights) + a slow BERT tokenizer (vocab.txt only)."""
    from transformers import BertConfig, BertModel, BertTokenizer

    os.makedirs(folder)
    words = sorted({w.strip(".,;:-'\"()").lower() for line in _corpus_lines() for w in line.split()} - {""})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(".,;:-'\"()") + words[:150]
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(vocab) + "\n")
    BertTokenizer(os.path.join(folder, "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(vocab), max_position_embeddings=64, pad_token_id=0, **SHORT))
    _perturb(model)
    model.eval()
    model.save_pretrained(folder)
    to_pytorch_bin(folder)  # pytorch_model.bin, keys with pooler.*
    return model, 0


def _make_roberta(folder: str):
    """RobertaForMaskedLM (keys 'roberta.*' + 'lm_head.*', safetensors) + a byte-level BPE tokenizer."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaForMaskedLM, RobertaTokenizerFast

    os.makedirs(folder)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        _corpus_lines(), vocab_size=300, min_frequency=1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False,
    )
    bpe.save_model(folder)
    RobertaTokenizerFast(
        vocab_file=os.path.join(folder, "vocab.json"), merges_file=os.path.join(folder, "merges.txt")
    ).save_pretrained(folder)
    torch.manual_seed(1)
    cfg = RobertaConfig(
        vocab_size=bpe.get_vocab_size(), max_position_embeddings=66, pad_token_id=1, bos_token_id=0,
        eos_token_id=2, type_vocab_size=1, **SHORT,
    )
    mlm = RobertaForMaskedLM(cfg)
    _perturb(mlm)
    mlm.eval()
    mlm.save_pretrained(folder)
    return mlm.roberta, 1


MAKERS = {"bert": _make_bert, "roberta": _make_roberta}


@pytest.fixture(scope="module", params=sorted(MAKERS))
def converted(request, tmp_path_factory):
    """(family, short HF model, pad id, src folder, dst folder)."""
    base = tmp_path_factory.mktemp(request.param)
    src, dst = str(base / "short"), str(base / "long")
    model, pad_id = MAKERS[request.param](src)
    assert convert_to_long(src, dst, max_positions=MAX_POSITIONS, attention_window=WINDOW) == dst
    return request.param, model, pad_id, src, dst


@pytest.fixture(scope="module")
def hf_long(converted):
    from transformers import LongformerModel

    return LongformerModel.from_pretrained(converted[4]).eval()


def _batch(lengths, vocab: int, pad_id: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (len(lengths), max(lengths)), generator=g)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, n:] = pad_id
        mask[row, :n] = 1
    return ids, mask


def _max_diff(a, b, mask):
    keep = mask.bool()
    return (a[keep] - b[keep]).abs().max().item()


def test_reproduces_short_model(converted, hf_long):
    _, short, pad_id, _, dst = converted
    ids, mask = _batch([64, 40, 5], short.config.vocab_size, pad_id)
    with torch.no_grad():
        want = short(input_ids=ids, attention_mask=mask).last_hidden_state
        ours = load(dst)(ids, mask)
        theirs = hf_long(input_ids=ids, attention_mask=mask).last_hidden_state
    assert ours.shape == want.shape
    assert _max_diff(ours, want, mask) < 1e-4
    assert _max_diff(theirs, want, mask) < 1e-4
    # global projections start as copies of the local ones, so a global token changes nothing yet
    glob = torch.zeros_like(ids)
    glob[:, 0] = 1
    with torch.no_grad():
        assert _max_diff(load(dst)(ids, mask, glob), want, mask) < 1e-4


def test_longer_than_source_positions(converted, hf_long):
    _, short, pad_id, _, dst = converted
    ids, mask = _batch([200, 131], short.config.vocab_size, pad_id, seed=1)
    glob = torch.zeros_like(ids)
    glob[:, 0] = 1
    module = load(dst)
    with torch.no_grad():
        for g in (None, glob):
            ours = module(ids, mask, g)
            theirs = hf_long(input_ids=ids, attention_mask=mask, global_attention_mask=g).last_hidden_state
            assert torch.isfinite(ours).all()
            assert _max_diff(ours, theirs, mask) < 1e-4
    # the full new table is usable
    ids, mask = _batch([MAX_POSITIONS], short.config.vocab_size, pad_id, seed=2)
    with torch.no_grad():
        assert _max_diff(module(ids, mask), hf_long(input_ids=ids, attention_mask=mask).last_hidden_state, mask) < 1e-4


def test_config_and_weights(converted):
    from safetensors.torch import load_file

    family, short, pad_id, src, dst = converted
    with open(os.path.join(dst, "config.json"), encoding="utf-8") as fh:
        cfg = json.load(fh)
    assert cfg["model_type"] == "longformer" and cfg["architectures"] == ["LongformerModel"]
    assert cfg["attention_window"] == WINDOW
    assert cfg["max_position_embeddings"] == MAX_POSITIONS + pad_id + 1
    assert cfg["layer_norm_eps"] == short.config.layer_norm_eps
    assert cfg["hidden_act"] == short.config.hidden_act
    assert cfg["type_vocab_size"] == short.config.type_vocab_size
    if family == "bert":  # [PAD]=0, [CLS]=2, [SEP]=3 in the test vocab
        assert (cfg["pad_token_id"], cfg["bos_token_id"], cfg["eos_token_id"], cfg["sep_token_id"]) == (0, 2, 3, 3)
    else:
        assert (cfg["pad_token_id"], cfg["bos_token_id"], cfg["eos_token_id"], cfg["sep_token_id"]) == (1, 0, 2, 2)

    state = load_file(os.path.join(dst, "model.safetensors"))
    assert all(k.startswith(("embeddings.", "encoder.")) for k in state), sorted(state)[:5]
    for i in range(short.config.num_hidden_layers):
        att = f"encoder.layer.{i}.attention.self."
        for proj in ("query", "key", "value"):
            for part in ("weight", "bias"):
                assert torch.equal(state[f"{att}{proj}_global.{part}"], state[f"{att}{proj}.{part}"])
    table = state["embeddings.position_embeddings.weight"]
    source = short.embeddings.position_embeddings.weight.detach()
    offset = pad_id + 1
    trained = source[offset:] if family == "roberta" else source
    assert table.shape == (MAX_POSITIONS + offset, short.config.hidden_size)
    for t in (0, 1, trained.shape[0] - 1, trained.shape[0], 2 * trained.shape[0] + 3, MAX_POSITIONS - 1):
        assert torch.equal(table[offset + t], trained[t % trained.shape[0]])
    if family == "roberta":
        assert torch.equal(table[:offset], source[:offset])


def test_tokenizer_carried_over(converted):
    from transformers import AutoTokenizer

    _, _, _, src, dst = converted
    # What save_pretrained wrote: transformers 4.x the vocabulary files and special_tokens_map.json, 5.x
    # tokenizer.json alone (beside tokenizer_config.json, checked below); each is carried over as it is.
    expected = [name for name in TOKENIZER_FILES
                if name != "tokenizer_config.json" and os.path.isfile(os.path.join(src, name))]
    assert "tokenizer.json" in expected or "vocab.txt" in expected
    for name in expected:
        with open(os.path.join(src, name), "rb") as a, open(os.path.join(dst, name), "rb") as b:
            assert a.read() == b.read(), name
    with open(os.path.join(dst, "tokenizer_config.json"), encoding="utf-8") as fh:
        assert json.load(fh)["model_max_length"] == MAX_POSITIONS
    text = "Fellow-Citizens of the Senate, among the vicissitudes incident to life."
    want = AutoTokenizer.from_pretrained(src)(text)["input_ids"]
    assert AutoTokenizer.from_pretrained(dst)(text)["input_ids"] == want
    assert AutoTokenizer.from_pretrained(dst).model_max_length == MAX_POSITIONS
    # the byte-offset tokenizer the annotators use reads the folder's tokenizer.json the same way
    from tokenizers import Tokenizer

    assert Tokenizer.from_file(os.path.join(dst, "tokenizer.json")).encode(text).ids == want


@pytest.fixture(scope="module")
def bert_src(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("bert_src") / "short")
    _make_bert(folder)
    return folder


@pytest.mark.parametrize(
    "kwargs, param",
    [
        (dict(max_positions=0), "max_positions"),
        (dict(max_positions=-5), "max_positions"),
        (dict(max_positions=1.5), "max_positions"),
        (dict(attention_window=127), "attention_window"),
        (dict(attention_window=0), "attention_window"),
        (dict(attention_window=-2), "attention_window"),
    ],
)
def test_bad_params(bert_src, tmp_path, kwargs, param):
    with pytest.raises(ValueError, match=param):
        convert_to_long(bert_src, str(tmp_path / "long"), **kwargs)
    assert not os.path.exists(tmp_path / "long")


def test_unsupported_model_type(tmp_path):
    src = tmp_path / "gpt"
    src.mkdir()
    (src / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2}))
    with pytest.raises(ValueError, match="model_type"):
        convert_to_long(str(src), str(tmp_path / "long"))


def test_existing_dst(bert_src, tmp_path):
    dst = tmp_path / "long"
    dst.mkdir()  # empty: fine
    convert_to_long(bert_src, str(dst), max_positions=32, attention_window=8)
    (dst / "stale.txt").write_text("old")
    with pytest.raises(ValueError, match="overwrite"):
        convert_to_long(bert_src, str(dst), max_positions=64, attention_window=8)
    assert json.loads((dst / "config.json").read_text())["max_position_embeddings"] == 33
    convert_to_long(bert_src, str(dst), max_positions=64, attention_window=8, overwrite=True)
    assert json.loads((dst / "config.json").read_text())["max_position_embeddings"] == 65
    assert not (dst / "stale.txt").exists()
    assert sorted(os.listdir(tmp_path)) == ["long"]  # no staging or replaced folders left behind


def test_failure_leaves_nothing(bert_src, tmp_path, monkeypatch):
    from sparklong.models import convert

    def boom(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(convert, "_save_weights", boom)
    with pytest.raises(OSError, match="disk full"):
        convert_to_long(bert_src, str(tmp_path / "long"))
    assert os.listdir(tmp_path) == []


def test_unsupported_activation_fails_before_writing(bert_src, tmp_path):
    """The long config is read back through LongformerConfig: an activation the engine lacks fails
    at convert time, naming it and the source's config.json, and nothing is written."""
    src = tmp_path / "short"
    shutil.copytree(bert_src, src)
    cfg = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(json.dumps({**cfg, "hidden_act": "quick_gelu"}))
    with pytest.raises(ValueError, match=r"config\.json: hidden_act 'quick_gelu' is not supported"):
        convert_to_long(str(src), str(tmp_path / "long"))
    assert sorted(os.listdir(tmp_path)) == ["short"]
