"""Token-budget batching and window selection in the word-embeddings core, seen from the model's
side: what each forward pass receives."""
import numpy as np
import pytest
import torch

from sparklong.annotation import DOCUMENT, TOKEN, Annotation
from sparklong.cores.batching import Batching
from sparklong.cores.embedding_settings import EmbeddingSettings
from sparklong.cores.word_embeddings import embed_rows
from sparklong.models import load
from sparklong.models.piece_tokenizer import PieceTokenizer
from tiny_models import corpus_texts, save_model_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("budget") / "tiny")
    save_model_folder(path)
    return path


class RecordingModel:
    """The loaded model, recording the [B, L] shape of every forward pass."""

    def __init__(self, folder):
        module = load(folder)
        self.config, self.device, self.shapes = module.config, torch.device("cpu"), []
        self._module = module

    def module(self, input_ids, *args):
        self.shapes.append(tuple(input_ids.shape))
        return self._module(input_ids, *args)


def rows_for(texts):
    rows = []
    for text in texts:
        tokens, pos = [], 0
        for word in text.split():
            begin = text.index(word, pos)
            tokens.append(Annotation(TOKEN, begin, begin + len(word) - 1, word, {"sentence": "0"}))
            pos = begin + len(word)
        rows.append(([Annotation(DOCUMENT, 0, len(text) - 1, text, {"sentence": "0"})], tokens))
    return rows


def test_budget_smaller_than_one_document_runs_each_window_alone_with_the_same_vectors(folder):
    texts = [corpus_texts()[i][:700] for i in range(3)]  # one window each
    tokenizer = PieceTokenizer.from_folder(folder)
    tight, roomy = RecordingModel(folder), RecordingModel(folder)
    alone = embed_rows(tight, tokenizer, rows_for(texts), EmbeddingSettings(Batching(batch_size=64, max_batch_tokens=1)))
    together = embed_rows(roomy, tokenizer, rows_for(texts), EmbeddingSettings(Batching(batch_size=64)))
    assert [b for b, _ in tight.shapes] == [1, 1, 1] and roomy.shapes[0][0] == 3
    for a, b in zip(alone, together):
        assert [x.result for x in a] == [x.result for x in b] and len(a) > 50
        np.testing.assert_allclose([x.embeddings for x in a], [x.embeddings for x in b], atol=1e-5)


def test_windows_owning_no_token_piece_are_not_run(folder):
    text = "start " + "x" * 20_000  # two tokens; the second is one long run of pieces
    model = RecordingModel(folder)
    [out] = embed_rows(model, PieceTokenizer.from_folder(folder), rows_for([text]),
                       EmbeddingSettings(Batching(max_sentence_length=256)))
    assert [a.result[:5] for a in out] == ["start", "xxxxx"] and int(out[1].metadata["windows"]) > 100
    assert len(model.shapes) == 1  # both first pieces sit in window 0: the other windows are skipped
