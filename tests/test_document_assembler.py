"""DocumentAssembler / MultiDocumentAssembler: Spark NLP's cleanup modes and null handling in the pure
core, and the DataFrame path (column expressions) equal to it."""
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.sql.types import ArrayType, IntegerType, MapType, StringType, StructField, StructType

from sparklong.annotation import DOCUMENT, Annotation, annotation_array_type, from_column
from sparklong.annotators import DocumentAssembler, MultiDocumentAssembler
from sparklong.annotators.document_assembler import CLEANUP_MODES, assemble, assemble_value, clean

MESSY = "  a\tb\n\nc \\n d\\t \\r\\n e  \n"  # real tabs/newlines and "stringified" ones (backslash + letter)


@pytest.mark.parametrize("mode, expected", [
    ("disabled", MESSY),
    ("inplace", "  a b  c \\n d\\t \\r\\n e   "),
    ("inplace_full", "  a b  c   d    e   "),
    ("shrink", "a b c \\n d\\t \\r\\n e"),
    ("shrink_full", "a b c   d    e"),
    ("each", "  a\tb c \\n d\\t \\r\\n e  "),  # Spark NLP's regex: only whitespace + newline/tab pairs
    ("each_full", "  a\tb c  d\\t  e  "),
    ("delete_full", "a\tb\n\nc  d  e"),
])
def test_cleanup_modes_as_spark_nlp_regexes(mode, expected):
    assert clean(MESSY, mode) == expected
    [doc] = assemble(MESSY, mode)
    assert (doc.begin, doc.end, doc.result) == (0, len(expected) - 1, expected)


def test_java_whitespace_and_trim_semantics():
    # Java's \s is ASCII: a no-break space survives shrink; trim drops every char <= U+0020
    assert clean("\x01 a\u00a0 \x0b b\x1f", "shrink") == "a\u00a0 b"
    assert clean(" \u3000x ", "shrink") == "\u3000x"


@pytest.mark.parametrize("text", [None, "", "   ", " \t\n "])
def test_null_empty_whitespace_give_one_document(text):
    [doc] = assemble(text)
    if text:  # whitespace-only text is kept as is unless a cleanup mode removes it
        assert (doc.begin, doc.end, doc.result) == (0, len(text) - 1, text)
    else:
        assert doc == Annotation(DOCUMENT, 0, -1, "", {"sentence": "0"})
    [shrunk] = assemble(text, "shrink")
    assert (shrunk.begin, shrunk.end, shrunk.result) == (0, -1, "")


@pytest.mark.parametrize("text", ["naïve café", "東京タワー", "emoji 🙂👍🏽 end", "e\u0301 combining"])
def test_unicode_offsets_are_code_points(text):
    [doc] = assemble(text)
    assert doc.end == len(text) - 1 and text[doc.begin : doc.end + 1] == doc.result


def test_id_metadata_and_arrays_as_spark_nlp():
    [doc] = assemble_value("hi", id_value=7, has_id=True, metadata={"src": "x", "sentence": "9"})
    assert doc.metadata == {"src": "x", "id": "7", "sentence": "0"}
    docs = assemble_value(["one", None, "three"])
    assert [(d.result, d.end, d.metadata["sentence"]) for d in docs] == [("one", 2, "0"), ("", -1, "1"), ("three", 4, "2")]


def test_params_setters_and_validation():
    stage = DocumentAssembler().setInputCol("text").setOutputCol("doc").setCleanupMode(" Shrink ").setIdCol("id")
    assert (stage.getInputCol(), stage.getOutputCol(), stage.getCleanupMode(), stage.getIdCol()) == (
        "text", "doc", "shrink", "id")
    assert DocumentAssembler(inputCol="t", cleanupMode="each").getCleanupMode() == "each"
    assert DocumentAssembler().getOutputCol() == "document" and DocumentAssembler().getCleanupMode() == "disabled"
    with pytest.raises(ValueError, match="cleanupMode.*'disabled'.*'delete_full'"):
        DocumentAssembler().setCleanupMode("trim")
    with pytest.raises(ValueError, match="inputCol"):
        DocumentAssembler().getInputCol()
    multi = MultiDocumentAssembler().setInputCols("question", "context")
    assert multi.getOutputCols() == ["finished_question", "finished_context"]
    assert [a[0].result for a in multi.annotate_local("q?", " c ")] == ["q?", " c "]


def test_light_transform_matches_annotate_local():
    stage = DocumentAssembler().setInputCol("text").setCleanupMode("shrink")
    row = {"text": "  x  y "}
    stage.light_transform(row)
    assert row["document"] == stage.annotate_local("  x  y ") == assemble("x y")


# -- Spark -----------------------------------------------------------------------------------------
TEXTS = [MESSY, None, "", "   ", "naïve café\t東京 🙂\n", "Hello, world!"]


def test_dataframe_equals_core_for_every_mode(spark):
    schema = StructType([StructField("id", IntegerType()), StructField("text", StringType()),
                         StructField("meta", MapType(StringType(), StringType()))])
    rows = [(i, t, {"src": "s", "id": "old"} if i % 2 else None) for i, t in enumerate(TEXTS)]
    df = spark.createDataFrame(rows, schema)
    for mode in CLEANUP_MODES:
        stage = DocumentAssembler(inputCol="text", outputCol=f"doc_{mode}", cleanupMode=mode)
        df = stage.setIdCol("id").setMetadataCol("meta").transform(df)
    out_field = df.schema["doc_shrink"]
    assert out_field.dataType == annotation_array_type()
    assert out_field.metadata == {"annotatorType": DOCUMENT}
    for row in df.collect():  # one job for every mode
        for mode in CLEANUP_MODES:
            expected = assemble_value(row["text"], mode, row["id"], True, row["meta"])
            assert from_column(row[f"doc_{mode}"]) == expected, (mode, row["text"])


def test_multi_assembler_arrays_and_persistence(spark, tmp_path):
    schema = StructType([StructField("q", StringType()), StructField("c", StringType()),
                         StructField("parts", ArrayType(StringType()))])
    df = spark.createDataFrame([("Who?", " Me. ", ["a", None]), (None, "x", None)], schema)
    multi = MultiDocumentAssembler(inputCols=["q", "c"], outputCols=["dq", "dc"], cleanupMode="shrink")
    arrays = DocumentAssembler(inputCol="parts", outputCol="dp")
    path = str(tmp_path / "assemblers")
    Pipeline(stages=[multi, arrays]).fit(df).write().save(path)
    rows = PipelineModel.load(path).transform(df).collect()
    assert [from_column(r["dq"])[0].result for r in rows] == ["Who?", ""]
    assert [from_column(r["dc"])[0].result for r in rows] == ["Me.", "x"]
    assert [[(a.result, a.metadata["sentence"]) for a in from_column(r["dp"])] for r in rows] == [
        [("a", "0"), ("", "1")], []]


def test_bad_columns_fail_before_any_job(spark):
    df = spark.createDataFrame([(1, "a")], "n int, text string")
    with pytest.raises(ValueError, match="'n' has type int, expected string"):
        DocumentAssembler().setInputCol("n").transform(df)
    with pytest.raises(ValueError, match="'missing' is not in the DataFrame"):
        DocumentAssembler().setInputCol("missing").transform(df)
    with pytest.raises(ValueError, match="metadataCol 'text' must be a map"):
        DocumentAssembler().setInputCol("text").setMetadataCol("text").transform(df)
    with pytest.raises(ValueError, match="inputCols \\(2\\) and outputCols \\(1\\)"):
        MultiDocumentAssembler().setInputCols("text", "text").setOutputCols("a").transform(df)
