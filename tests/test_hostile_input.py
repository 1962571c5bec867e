"""Hostile input through DocumentAssembler -> Tokenizer -> LongformerEmbeddings -> SentenceEmbeddings ->
EmbeddingsFinisher, on a DataFrame (one job for every row) and in a LightPipeline: junk gives an empty
result or real vectors, never a failed job or a lost row; wrong columns and types fail before any job."""
import numpy as np
import pytest
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from sparklong import (DocumentAssembler, EmbeddingsFinisher, LightPipeline, LongformerEmbeddings,
                       SentenceEmbeddings, Tokenizer)
from tiny_models import corpus_texts, save_model_folder

HIDDEN = 16
PROSE = " ".join(corpus_texts())

# name -> text (str), or bytes that reach Spark from a file; blank ones must give empty results
CASES = {
    "null": None,
    "empty": "",
    "whitespace": " \t\r\n \x0b\x0c  ",
    "one_megabyte_of_185k_tokens": (PROSE * (1 + 1_000_000 // len(PROSE)))[:1_000_000],
    "megabyte_without_spaces": "x" * 1_000_000,
    "invalid_utf8_file": b"caf\xc3\xa9 \xff\xfe broken \xc3( bytes, then more text.",
    "lone_surrogates_file": b"left \xed\xa0\x80 middle \xed\xbf\xbf right \xf0\x9f end.",
    "control_characters": "tab\there\x00nul \x07bell \x1b[31mred\x1b[0m \u200b\u200e\u202e zero-width \ufeffbom \x7fdel",
    "right_to_left": "مرحبا بالعالم. שלום עולם! Mixed עברית and English, ١٢٣ digits.",
    "emoji_and_cjk": "👩‍👩‍👧‍👦 family 🇺🇳 flag 東京都は日本の首都です。 한국어 텍스트 🙂👍🏽 end",
}
BLANK = {"null", "empty", "whitespace"}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("hostile") / "micro_longformer")
    # one small layer and a 2,000-piece BPE (1 MB of prose: 251k pieces, not 660k with 300): the test is
    # about what the pipeline does with the input, not about the model
    save_model_folder(folder, hidden_size=HIDDEN, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                      attention_window=[32], vocab_size=2000)
    return PipelineModel([
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        Tokenizer().setInputCols("document").setOutputCol("token").fit(None),
        LongformerEmbeddings.loadSavedModel(folder).setInputCols("document", "token").setOutputCol("embeddings")
        .setMaxSentenceLength(512).setBatchSize(32),
        SentenceEmbeddings().setInputCols("document", "embeddings").setOutputCol("sentence_embeddings"),
        EmbeddingsFinisher().setInputCols("sentence_embeddings").setOutputCols("vector"),
    ])


def hostile_frame(spark, folder):
    """Every case in one DataFrame: strings through createDataFrame, byte cases read from files."""
    strings = [(name, text) for name, text in CASES.items() if not isinstance(text, bytes)]
    paths = []
    for name, raw in CASES.items():
        if isinstance(raw, bytes):
            path = folder / f"{name}.txt"
            path.write_bytes(raw)
            paths.append(str(path))
    files = spark.read.text(paths, wholetext=True).select(
        F.regexp_extract(F.input_file_name(), r"([^/]+)\.txt$", 1).alias("id"), F.col("value").alias("text"))
    return spark.createDataFrame(strings, "id string, text string").unionByName(files).repartition(3)


def light_input(raw, errors="replace"):
    """A file's text as Python reads it: errors="replace" decodes invalid UTF-8 as Spark does (U+FFFD for
    each maximal invalid sequence); "surrogateescape" gives lone surrogates instead."""
    return raw.decode("utf-8", errors=errors) if isinstance(raw, bytes) else raw


def summary_columns():
    """Per row, computed in Spark: counts, the vectors' dimension check, and a few vectors."""
    return [
        "id", F.col("document")[0]["result"].alias("document_text"), F.size("token").alias("tokens"),
        F.size("embeddings").alias("vectors"),
        F.forall("embeddings", lambda e: F.size(e["embeddings"]) == HIDDEN).alias("dims_ok"),
        F.slice("embeddings", 1, 3).alias("head"), F.slice("embeddings", -3, 3).alias("tail"), "vector",
    ]


def test_every_hostile_row_comes_back_once_as_lightpipeline_sees_it(spark, pipeline, tmp_path):
    rows = pipeline.transform(hostile_frame(spark, tmp_path)).select(*summary_columns()).collect()
    assert sorted(r["id"] for r in rows) == sorted(CASES)  # one job, every row exactly once
    light = LightPipeline(pipeline)
    for row in rows:
        name = row["id"]
        [expected] = light.fullAnnotate(light_input(CASES[name]))
        assert row["vectors"] == row["tokens"] == len(expected["embeddings"]), name
        assert row["dims_ok"] is not False, name
        if name in BLANK:
            assert row["vectors"] == 0 and row["vector"] == [] and expected["sentence_embeddings"] == [], name
            continue
        assert row["vectors"] > 0 and len(row["vector"]) == 1, name
        assert row["document_text"] == expected["document"][0].result, name  # invalid bytes -> U+FFFD alike
        for got, want in zip(row["head"] + row["tail"], expected["embeddings"][:3] + expected["embeddings"][-3:]):
            assert (got["begin"], got["end"], got["result"]) == (want.begin, want.end, want.result), name
            assert row["document_text"][got["begin"]: got["end"] + 1] == got["result"], name
            np.testing.assert_allclose(got["embeddings"], want.embeddings, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(row["vector"][0], expected["sentence_embeddings"][0].embeddings, atol=1e-5)
    sizes = {r["id"]: r["tokens"] for r in rows}
    assert sizes["one_megabyte_of_185k_tokens"] == 185_003 and sizes["megabyte_without_spaces"] == 1


def test_lightpipeline_annotate_on_junk_keeps_every_input(pipeline):
    light = LightPipeline(pipeline, parse_embeddings=True)
    texts = [None, "", "  ", "ok then", light_input(CASES["lone_surrogates_file"], "surrogateescape")]
    out = light.annotate(texts)
    assert len(out) == len(texts)
    assert [len(o["token"]) for o in out[:3]] == [0, 0, 0] and out[3]["token"] == ["ok", "then"]
    assert "\ud800" not in out[4]["document"][0] and out[4]["document"][0].count("\ufffd") == 8
    assert [len(v) for v in out[4]["sentence_embeddings"]] == [HIDDEN]


def _stages(pipeline):
    return {type(s).__name__: s for s in pipeline.stages}


# (what is wrong, how to build the stage list from the good one, the error both paths give)
WRONG_COLUMNS = [
    ("missing column", lambda s: [s["DocumentAssembler"].copy().setInputCol("body")], "'body' is not in the DataFrame"),
    ("embeddings fed [token, document]",
     lambda s: [s["DocumentAssembler"], s["TokenizerModel"],
                s["LongformerEmbeddings"].copy().setInputCols("token", "document")],
     "'token' holds token annotations, expected DOCUMENT"),
    ("sentence embeddings fed tokens",
     lambda s: [s["DocumentAssembler"], s["TokenizerModel"],
                SentenceEmbeddings().setInputCols("document", "token")],
     "'token' holds token annotations, expected WORD_EMBEDDINGS"),
    ("tokenizer fed its own output",
     lambda s: [s["DocumentAssembler"], s["TokenizerModel"],
                Tokenizer().setInputCols("token").setOutputCol("token2").fit(None)],
     "'token' holds token annotations, expected DOCUMENT"),
    ("finisher fed documents",
     lambda s: [s["DocumentAssembler"], EmbeddingsFinisher().setInputCols("document")],
     "'document' holds document annotations, expected WORD_EMBEDDINGS or SENTENCE_EMBEDDINGS"),
]


@pytest.mark.parametrize("what, build, message", WRONG_COLUMNS, ids=[w[0] for w in WRONG_COLUMNS])
def test_wrong_columns_fail_before_any_job_and_when_the_lightpipeline_is_built(spark, pipeline, what, build,
                                                                                message):
    stages = build(_stages(pipeline))
    df = spark.createDataFrame([("1", "some text")], "id string, text string")
    sc = spark.sparkContext
    sc.setJobGroup("wrong-columns", what)
    try:
        with pytest.raises(ValueError, match=message):
            PipelineModel(stages).transform(df)
        assert sc.statusTracker().getJobIdsForGroup("wrong-columns") == []  # no Spark job started
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    if what != "missing column":  # LightPipeline feeds its own input column, it cannot be missing
        with pytest.raises(ValueError, match=message.split(", expected")[0]):
            LightPipeline(PipelineModel(stages))


def test_numeric_text_fails_before_any_job_and_in_the_lightpipeline(spark, pipeline):
    df = spark.createDataFrame([("1", 42)], "id string, text int")
    with pytest.raises(ValueError, match="'text' has type int, expected string"):
        pipeline.transform(df)
    with pytest.raises(ValueError, match="expected a string or a list of strings, got int"):
        LightPipeline(pipeline).annotate(42)
