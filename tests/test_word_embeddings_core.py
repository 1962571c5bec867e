"""The word-embeddings core without Spark: alignment, long documents, global attention modes."""
import numpy as np
import pytest
import torch

from sparklong.annotation import DOCUMENT, TOKEN, Annotation
from sparklong.cores.batching import Batching
from sparklong.cores.embedding_settings import EmbeddingSettings
from sparklong.cores.word_embeddings import embed_rows
from sparklong.models import load
from sparklong.models.piece_tokenizer import PieceTokenizer
from sparklong.udfs.model_cache import LoadedModel
from tiny_models import corpus_texts, save_model_folder


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("tiny_embed"))
    save_model_folder(folder, "embeddings")
    return folder


def whitespace_tokens(text):
    out, pos = [], 0
    for word in text.split():
        begin = text.index(word, pos)
        out.append(Annotation(TOKEN, begin, begin + len(word) - 1, word, {"sentence": "0"}))
        pos = begin + len(word)
    return out


def row(text):
    return [Annotation(DOCUMENT, 0, len(text) - 1, text, {"sentence": "0"})], whitespace_tokens(text)


def run(folder, texts, **settings):
    module = load(folder)
    model = LoadedModel(module, module.config, torch.device("cpu"))
    return embed_rows(model, PieceTokenizer.from_folder(folder), [row(t) for t in texts], EmbeddingSettings(**settings))


def test_each_token_gets_its_first_piece_vector(model_folder):
    text = "Fellow-Citizens of the Senate, naïve café 東京 🙂 end."
    [out] = run(model_folder, [text])
    tokens = whitespace_tokens(text)
    assert [(a.begin, a.end, a.result) for a in out] == [(t.begin, t.end, t.result) for t in tokens]
    tok = PieceTokenizer.from_folder(model_folder)
    enc = tok.encode_batch([text])[0]
    hidden = load(model_folder)(torch.tensor([enc.ids]))[0].numpy()  # the model on its own tokenization
    for ann in out:
        first = next(i for i, (s, e) in enumerate(enc.offsets) if e > s and s <= ann.end and e > ann.begin)
        np.testing.assert_allclose(ann.embeddings, hidden[first], atol=1e-5)
        assert ann.metadata["pieceId"] == str(enc.ids[first]) and ann.metadata["isOOV"] == "false"
        assert ann.metadata["token"] == ann.result and ann.metadata["sentence"] == "0"
        assert len(ann.embeddings) == 32


def test_batching_and_padding_do_not_change_vectors(model_folder):
    texts = corpus_texts()[0][:300], "Short one.", corpus_texts()[2][:900]
    together = run(model_folder, list(texts), batching=Batching(batch_size=3))
    for text, expected in zip(texts, together):
        [alone] = run(model_folder, [text])
        np.testing.assert_allclose([a.embeddings for a in alone], [a.embeddings for a in expected], atol=1e-4)


def test_long_document_is_covered_by_windows(model_folder):
    text = corpus_texts()[1][:6000]  # ~1,500+ pieces, maxSentenceLength 128 -> many windows
    [out] = run(model_folder, [text], batching=Batching(max_sentence_length=128))
    assert len(out) == len(whitespace_tokens(text))  # nothing silently cut
    assert int(out[0].metadata["windows"]) > 5
    assert {a.metadata["window"] for a in out} == {str(i) for i in range(int(out[0].metadata["windows"]))}
    assert all(np.isfinite(a.embeddings).all() and any(a.embeddings) for a in out)


def test_window_covering_the_document_changes_nothing(model_folder):
    text = corpus_texts()[0][:700]
    [whole] = run(model_folder, [text], batching=Batching(max_sentence_length=512))
    assert "windows" not in whole[0].metadata


@pytest.mark.parametrize("mode", ["cls", "sentences"])
def test_global_attention_modes_run_and_differ(model_folder, mode):
    text = corpus_texts()[0][:800]
    [plain] = run(model_folder, [text])
    [glob] = run(model_folder, [text], global_attention=mode)
    assert len(plain) == len(glob)
    assert not np.allclose([a.embeddings for a in plain], [a.embeddings for a in glob])


def test_blank_and_empty_documents_give_no_vectors(model_folder):
    rows = [([], []), ([Annotation(DOCUMENT, 0, -1, "", {})], []), ([Annotation(DOCUMENT, 0, 2, "   ", {})], [])]
    module = load(model_folder)
    out = embed_rows(LoadedModel(module, module.config, torch.device("cpu")),
                     PieceTokenizer.from_folder(model_folder), rows, EmbeddingSettings())
    assert out == [[], [], []]
