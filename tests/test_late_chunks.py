"""LongformerSentenceEmbeddings with granularity "chunks" (late chunking): each chunk's vector is the mean
of the engine's own states of its pieces (read from their owning windows), offsets exact, chunks tiling the
document's pieces and cut at word starts, sentence chunks equal to SentenceDetector's sentences, and the
Spark path equal to LightPipeline."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from pyspark.ml import Pipeline, PipelineModel

from sparklong import DocumentAssembler, LightPipeline, LongformerSentenceEmbeddings, SentenceDetector
from sparklong.cores.batching import owner_windows, split_windows
from sparklong.cores.late_chunks import piece_runs, word_starts
from sparklong.models import load
from sparklong.models.piece_tokenizer import PieceTokenizer
from tiny_models import corpus_texts

TEXT = " ".join(corpus_texts()[0].split()[:60])  # one window
LONG = " ".join(corpus_texts()[1].split()[:160])  # several windows of 40 tokens
WINDOW = 40


def stage(folder: str, **params) -> LongformerSentenceEmbeddings:
    out = LongformerSentenceEmbeddings.loadSavedModel(folder).setGranularity("chunks")
    for name, value in params.items():
        getattr(out, "set" + name[0].upper() + name[1:])(value)
    return out


def light(folder: str, **params) -> LightPipeline:
    return LightPipeline(PipelineModel([DocumentAssembler().setInputCol("text"), stage(folder, **params)]))


def chunks_of(pipeline: LightPipeline, text: str, column: str = "sentence_embeddings"):
    return pipeline.fullAnnotate(text)[0][column]


def content_encoding(folder: str, text: str):
    """(content piece ids [P], spans [P, 2]) as the tokenizer encodes the text, specials removed."""
    enc = PieceTokenizer.from_folder(folder).encode_batch([text])[0]
    content = [i for i, special in enumerate(enc.special_mask) if not special]
    return [enc.ids[i] for i in content], np.asarray([enc.offsets[i] for i in content])


def engine_states(folder: str, text: str, window: int = 512) -> np.ndarray:
    """[P, E] each content piece's state from its owning window, computed with the engine directly."""
    tok, module = PieceTokenizer.from_folder(folder), load(folder)
    ids, _ = content_encoding(folder, text)
    windows = split_windows(len(ids), window - 2)
    states = []
    for w in windows:
        with torch.no_grad():
            states.append(module(torch.tensor([[tok.bos_id, *ids[w.start : w.stop], tok.eos_id]]))[0].numpy())
    owners = owner_windows(windows, len(ids))
    return np.stack([states[owners[p]][p - windows[owners[p]].start + 1] for p in range(len(ids))])


def assert_tiles_and_means(chunks, text: str, states: np.ndarray, spans: np.ndarray) -> list[int]:
    """Chunk c covers pieces [starts[c], starts[c] + pieces): no gap or overlap, offsets exact, vector
    the mean of those pieces' states; returns the starts."""
    starts = np.cumsum([0] + [int(a.metadata["pieces"]) for a in chunks])
    assert starts[-1] == len(states)  # every piece in exactly one chunk
    for c, a in enumerate(chunks):
        lo, hi = starts[c], starts[c + 1]
        assert hi > lo and a.metadata["chunk"] == str(c) and a.metadata["sentence"] == "0"
        assert text[a.begin : a.end + 1] == a.result == a.metadata["token"]
        assert np.abs(np.asarray(a.embeddings) - states[lo:hi].mean(axis=0)).max() <= 1e-6
    return starts[:-1].tolist()


@pytest.fixture(scope="module")
def folder(tiny_folder):
    return tiny_folder


def test_piece_chunks_equal_means_of_engine_states(folder):
    chunks = chunks_of(light(folder, chunkPieces=16), TEXT)
    _, spans = content_encoding(folder, TEXT)
    assert len(chunks) > 3
    starts = assert_tiles_and_means(chunks, TEXT, engine_states(folder, TEXT), spans)
    starts_word = word_starts(spans)
    for a, start in zip(chunks, starts):
        assert starts_word[start] and (a.begin == 0 or TEXT[a.begin - 1].isspace())  # cut at a word start
        assert a.begin == spans[start, 0] and int(a.metadata["pieces"]) <= 16
        assert a.metadata["windows"] == "1" and a.annotatorType == "sentence_embeddings"


def test_multi_window_chunks_read_each_piece_from_its_owning_window(folder):
    chunks = chunks_of(light(folder, chunkPieces=24, maxSentenceLength=WINDOW), LONG)
    ids, spans = content_encoding(folder, LONG)
    assert len(split_windows(len(ids), WINDOW - 2)) > 2
    assert_tiles_and_means(chunks, LONG, engine_states(folder, LONG, WINDOW), spans)
    assert chunks[0].metadata["windows"] == str(len(split_windows(len(ids), WINDOW - 2)))


def test_sentence_chunks_equal_the_sentence_detectors_sentences(folder):
    text = "The Senate met at noon. It adjourned at two!  Nobody   objected. Then the House met."
    pipeline = LightPipeline(PipelineModel([
        DocumentAssembler().setInputCol("text"), SentenceDetector().setInputCols("document").setOutputCol("sentence"),
        stage(folder).setInputCols(["document", "sentence"]),
    ]))
    out = pipeline.fullAnnotate(text)[0]
    sentences, chunks = out["sentence"], out["sentence_embeddings"]
    assert len(sentences) == 4
    assert [(a.begin, a.end, a.result) for a in chunks] == [(s.begin, s.end, s.result) for s in sentences]
    _, spans = content_encoding(folder, text)
    starts = assert_tiles_and_means(chunks, text, engine_states(folder, text), spans)
    for a, start in zip(chunks, starts):
        assert spans[start, 0] == a.begin  # each sentence starts at its own first piece


def test_piece_runs_never_cut_inside_a_word():
    # words (pieces): "ab"(2) "c"(1) "defghij"(7: longer than the limit) "k"(1) "lm"(2)
    spans = np.array([[0, 1], [1, 2], [3, 4], [5, 6], [6, 7], [7, 8], [8, 9], [9, 10], [10, 11], [11, 12],
                      [13, 14], [15, 16], [16, 17]])
    assert word_starts(spans).nonzero()[0].tolist() == [0, 2, 3, 10, 11]
    assert piece_runs(spans, 3).tolist() == [0, 3, 10]  # [ab c] [defghij] [k lm]
    assert piece_runs(spans, 100).tolist() == [0]


def test_blank_documents_give_no_chunks_and_bad_params(folder):
    pipeline = light(folder)
    for text in ("", "  \n\t "):
        assert chunks_of(pipeline, text) == []
    with pytest.raises(ValueError, match="granularity"):
        LongformerSentenceEmbeddings().setGranularity("paragraphs")
    with pytest.raises(ValueError, match="chunkPieces"):
        LongformerSentenceEmbeddings().setChunkPieces(0)
    with pytest.raises(ValueError, match="poolingStrategy"):
        light(folder, poolingStrategy="CLS").fullAnnotate(TEXT)
    with pytest.raises(ValueError, match="granularity"):
        LongformerSentenceEmbeddings.loadSavedModel(folder).setInputCols(["document", "sentence"]).core()
    defaults = LongformerSentenceEmbeddings()
    assert (defaults.getGranularity(), defaults.getChunkPieces()) == ("document", 256)


def test_spark_equals_light_pipeline(spark, folder):
    texts = [TEXT, LONG, None, " ", "One sentence here. And a second one."]
    df = spark.createDataFrame([(str(i), t) for i, t in enumerate(texts)], "id string, text string").repartition(2)
    stages = [
        DocumentAssembler().setInputCol("text"), SentenceDetector().setInputCols("document").setOutputCol("sentence"),
        stage(folder, chunkPieces=20, maxSentenceLength=WINDOW).setOutputCol("pieces"),
        stage(folder, maxSentenceLength=WINDOW).setInputCols(["document", "sentence"]).setOutputCol("sentences"),
    ]
    model = Pipeline(stages=stages).fit(df)
    rows = {r["id"]: r for r in model.transform(df).select("id", "pieces", "sentences").collect()}
    assert sorted(rows) == [str(i) for i in range(len(texts))]  # rows kept
    pipeline = LightPipeline(model)
    for i, text in enumerate(texts):
        expected = pipeline.fullAnnotate(text or "")[0]
        for column in ("pieces", "sentences"):
            got = rows[str(i)][column]
            assert [(a["begin"], a["end"], a["result"], a["metadata"]) for a in got] == \
                [(a.begin, a.end, a.result, a.metadata) for a in expected[column]]
            for a, b in zip(got, expected[column]):
                assert np.abs(np.asarray(a["embeddings"]) - np.asarray(b.embeddings)).max() <= 1e-5
        assert (len(rows[str(i)]["pieces"]) > 0) == bool(text and text.strip())
