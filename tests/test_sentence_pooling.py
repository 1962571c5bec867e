"""LongformerSentenceEmbeddings: MEAN over every piece (special tokens included, as sentence-transformers'
Pooling) and CLS, checked against the engine's hidden states and, through convert_to_long, against a
BERT with a WordPiece tokenizer.json (the layout of sentence-transformers/all-MiniLM-L6-v2) run by
transformers."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from pyspark.ml import Pipeline, PipelineModel

from sparklong import DocumentAssembler, EmbeddingsFinisher, LightPipeline, LongformerSentenceEmbeddings
from sparklong.cores.batching import owner_windows, split_windows
from sparklong.models import convert_to_long, load
from sparklong.models.piece_tokenizer import PieceTokenizer
from tiny_models import _perturb, corpus_texts, tokenizer_json_only

TEXTS = [
    "Fellow-Citizens of the Senate and of the House of Representatives.",
    "AMONG the vicissitudes incident to life, no event could have filled me with greater anxieties.",
    "the magnitude and difficulty of the trust",
]


@pytest.fixture(scope="module")
def bert_pair(tmp_path_factory):
    """(BERT folder with tokenizer.json only, its Longformer conversion, the BertModel)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    root = tmp_path_factory.mktemp("st_bert")
    src, dst = str(root / "bert"), str(root / "long")
    os.makedirs(src)
    words = sorted({w.strip(".,;:-'\"()").lower() for t in corpus_texts() for w in t[:3000].split()} - {""})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(".,;:-'\"()") + words[:250]
    vocab_file = str(root / "vocab.txt")
    with open(vocab_file, "w", encoding="utf-8") as fh:
        fh.write("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file, do_lower_case=True).save_pretrained(src)
    tokenizer_json_only(src)
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                 intermediate_size=64, max_position_embeddings=64, pad_token_id=0,
                                 hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    _perturb(model)
    model.eval()
    model.save_pretrained(src)
    convert_to_long(src, dst, max_positions=256, attention_window=128)  # window covers every short input
    return src, dst, model


def light(folder: str, **params) -> LightPipeline:
    stage = LongformerSentenceEmbeddings.loadSavedModel(folder)
    for name, value in params.items():
        getattr(stage, "set" + name[0].upper() + name[1:])(value)
    return LightPipeline(PipelineModel([DocumentAssembler().setInputCol("text"), stage]))


def pooled(pipeline: LightPipeline, text: str) -> np.ndarray:
    (annotation,) = pipeline.fullAnnotate(text)[0]["sentence_embeddings"]
    return np.asarray(annotation.embeddings)


def test_mean_and_cls_equal_transformers_bert(bert_pair):
    src, dst, bert = bert_pair
    from transformers import AutoTokenizer

    hf_tok = AutoTokenizer.from_pretrained(src)
    ours = PieceTokenizer.from_folder(dst)
    mean, cls = light(dst), light(dst, poolingStrategy="cls")
    for text in TEXTS:
        enc = hf_tok(text, return_tensors="pt")
        assert ours.encode_batch([text])[0].ids == enc["input_ids"][0].tolist()  # [CLS] ... [SEP], lowercased
        with torch.no_grad():
            hidden = bert(**enc).last_hidden_state[0]  # [L, H]
        mask = enc["attention_mask"][0, :, None].float()
        expected = (hidden * mask).sum(0) / mask.sum()  # sentence-transformers' Pooling(mean)
        assert np.abs(pooled(mean, text) - expected.numpy()).max() <= 1e-4
        assert np.abs(pooled(cls, text) - hidden[0].numpy()).max() <= 1e-4


def test_windowed_mean_is_each_piece_once(bert_pair):
    """A document longer than maxSentenceLength: the mean of <s> of the first window, every content piece
    from the window where it is most central, and </s> of the last window, on the engine's own outputs."""
    _, dst, _ = bert_pair
    text = " ".join(corpus_texts()[0].split()[:150])
    tok = PieceTokenizer.from_folder(dst)
    content = tok.encode_batch([text])[0].ids[1:-1]
    length = 40
    windows = split_windows(len(content), length - 2)
    assert len(windows) > 2
    module = load(dst)
    states = []
    for w in windows:
        ids = torch.tensor([[tok.bos_id, *content[w.start:w.stop], tok.eos_id]])
        with torch.no_grad():
            states.append(module(ids)[0].numpy())  # [len, H]
    owners = owner_windows(windows, len(content))
    pieces = [states[owners[p]][p - windows[owners[p]].start + 1] for p in range(len(content))]
    expected = np.mean([states[0][0], *pieces, states[-1][-1]], axis=0)

    (annotation,) = light(dst, maxSentenceLength=length).fullAnnotate(text)[0]["sentence_embeddings"]
    assert np.abs(np.asarray(annotation.embeddings) - expected).max() <= 1e-5
    assert annotation.metadata["pieces"] == str(len(content) + 2)
    assert annotation.metadata["windows"] == str(len(windows))


def test_spark_rows_kept_and_equal_light(spark, bert_pair):
    _, dst, _ = bert_pair
    texts = TEXTS + [None, "", "  \n"]
    df = spark.createDataFrame([(str(i), t) for i, t in enumerate(texts)], "id string, text string").repartition(2)
    stage = LongformerSentenceEmbeddings.loadSavedModel(dst)
    finisher = EmbeddingsFinisher().setInputCols("sentence_embeddings").setOutputCols("vector")
    model = Pipeline(stages=[DocumentAssembler().setInputCol("text"), stage, finisher]).fit(df)
    rows = {r["id"]: r for r in model.transform(df).select("id", "sentence_embeddings", "vector").collect()}
    assert sorted(rows) == [str(i) for i in range(len(texts))]
    mean = light(dst)
    for i, text in enumerate(texts):
        if text is None or not text.strip():
            assert rows[str(i)]["sentence_embeddings"] == [] and rows[str(i)]["vector"] == []
            continue
        (vector,) = rows[str(i)]["vector"]
        assert np.abs(np.asarray(vector) - pooled(mean, text)).max() <= 1e-5
        assert rows[str(i)]["sentence_embeddings"][0]["annotatorType"] == "sentence_embeddings"


def test_bad_params():
    with pytest.raises(ValueError, match="poolingStrategy"):
        LongformerSentenceEmbeddings().setPoolingStrategy("max")
    assert LongformerSentenceEmbeddings(poolingStrategy="cls").getPoolingStrategy() == "CLS"
    assert LongformerSentenceEmbeddings().getInputCols() == ["document"]
