"""benchmarks/retrieval_quality.py: its scoring, metrics and chunk cuts, and the demo's model folders it makes (the
benchmark itself needs the demo's model package)."""
import importlib.util
import os
import sys
import types
import zipfile

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("retrieval_quality", os.path.join(ROOT, "benchmarks",
                                                                                   "retrieval_quality.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_address_scores_its_best_vector(bench):
    queries = np.array([[1.0, 0.0], [0.0, 1.0]])
    vectors = np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])
    best = bench.address_scores(queries, vectors, np.array([0, 0, 1, 2]), 3)
    np.testing.assert_allclose(best, [[1.0, 0.0, -1.0], [np.sqrt(0.5), 1.0, 0.0]], atol=1e-12)


def test_recall_and_mrr(bench):
    names = [f"d{i}" for i in range(7)]
    scores = np.array([[7, 6, 5, 4, 3, 2, 1], [1, 2, 3, 4, 5, 6, 7]], dtype=float)  # rankings d0.. and d6..
    found = bench.quality(scores, names, {"a": ["d1", "d6"], "b": ["d3"]})
    assert found["recall_at_5"] == pytest.approx((0.5 + 1.0) / 2)  # d6 is 7th for a; d3 is 4th for b
    assert found["mrr"] == pytest.approx((1 / 2 + 1 / 4) / 2)
    assert found["per_query"]["a"]["expected_ranks"] == {"d1": 2, "d6": 7}


def test_native_model_unzipped_into_the_cache_once(bench, tmp_path, monkeypatch, capsys):
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("config.json", "{}")
        zipped.writestr("1_Pooling/config.json", '{"pooling_mode_mean_tokens": true}')
    package = types.ModuleType("all_minilm_l6_v2")
    package.get_model_zip_path = lambda: str(archive)
    monkeypatch.setitem(sys.modules, "all_minilm_l6_v2", package)
    monkeypatch.setenv("SPARKLONG_CACHE", str(tmp_path / "cache"))
    folder = bench.model_folder("native")
    assert folder == str(tmp_path / "cache" / "all_minilm_l6_v2_en")
    assert os.listdir(tmp_path / "cache") == ["all_minilm_l6_v2_en"]  # renamed into place, nothing left beside it
    assert sorted(os.listdir(folder)) == ["1_Pooling", "config.json"]
    archive.unlink()
    assert bench.model_folder("native") == folder  # found, not unzipped again
    assert capsys.readouterr().out == ""  # stdout is the benchmark's JSON


def test_separate_chunks_are_late_chunks_cuts(bench, tmp_path):
    from tiny_models import corpus_texts, save_model_folder

    from sparklong.cores.batching import Batching
    from sparklong.cores.embedding_settings import EmbeddingSettings
    from sparklong.cores.late_chunks import embed_chunks
    from sparklong.udfs.model_cache import get_model, get_tokenizer

    folder = str(tmp_path / "model")
    save_model_folder(folder)
    model, tokenizer = get_model(folder, "embeddings", "torch", "cpu"), get_tokenizer(folder, False)
    texts = [t[:3000] for t in corpus_texts()[:2]]
    late = embed_chunks(model, tokenizer, bench.documents_of(texts), EmbeddingSettings(Batching(max_sentence_length=64)), 40)
    chunks, owners = bench.piece_chunk_texts(tokenizer, texts, 40)
    assert chunks == [a.result for row in late for a in row]
    assert owners == [r for r, row in enumerate(late) for _ in row]
