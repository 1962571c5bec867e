"""Finisher on hand-made annotation columns: every param, null and empty arrays keep their rows, a
pyspark.ml Pipeline saved and loaded, and what a LightPipeline does with it (Spark NLP's rule)."""
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.sql.types import StringType, StructField, StructType

from sparklong import DocumentAssembler, Finisher, LightPipeline, NerConverter, TokenizerModel
from sparklong.annotation import CHUNK, TOKEN, WORD_EMBEDDINGS, Annotation, annotation_array_type, to_dicts

TOKENS = [Annotation(TOKEN, 0, 3, "John", {"sentence": "0"}), Annotation(TOKEN, 5, 9, "lives", {"sentence": "0"})]
CHUNKS = [Annotation(CHUNK, 0, 3, "John", {"entity": "PER", "sentence": "0", "chunk": "0"})]
VECTORS = [Annotation(WORD_EMBEDDINGS, 0, 3, "John", {"token": "John"}, [0.5, -2.0]),
           Annotation(WORD_EMBEDDINGS, 5, 9, "lives", {"token": "lives"}, [1.0, 0.25])]
ANNOTATION_COLS = ("token", "chunk", "embeddings")


@pytest.fixture(scope="module")
def df(spark):
    schema = StructType([StructField("id", StringType()), StructField("text", StringType())]
                        + [StructField(c, annotation_array_type()) for c in ANNOTATION_COLS])
    rows = [("0", "John lives", to_dicts(TOKENS), to_dicts(CHUNKS), to_dicts(VECTORS)),
            ("1", None, None, None, None),  # null annotation arrays
            ("2", "", [], [], [])]
    return spark.createDataFrame(rows, schema).repartition(2)


def run(df, finisher):
    out = finisher.transform(df)
    return out, {r["id"]: r.asDict() for r in out.collect()}


def test_defaults_arrays_of_results_and_annotation_columns_dropped(df):
    finisher = Finisher().setInputCols("token", "chunk")
    assert (finisher.getOutputCols(), finisher.getOutputAsArray(), finisher.getIncludeMetadata(),
            finisher.getCleanAnnotations(), finisher.getAnnotationSplitSymbol(), finisher.getValueSplitSymbol(),
            finisher.getParseEmbeddingsVectors()) == (
        ["finished_token", "finished_chunk"], True, False, True, "@", "#", False)
    out, rows = run(df, finisher)
    assert out.columns == ["id", "text", "finished_token", "finished_chunk"]  # every annotation column dropped
    assert out.schema["finished_token"].dataType.simpleString() == "array<string>"
    assert rows["0"]["finished_token"] == ["John", "lives"] and rows["0"]["finished_chunk"] == ["John"]
    assert rows["1"]["finished_token"] == [] and rows["2"]["finished_token"] == []  # rows kept
    assert out.count() == 3


def test_output_cols_and_clean_annotations_false(df):
    out, rows = run(df, Finisher(inputCols=["chunk"], outputCols=["entities"], cleanAnnotations=False))
    assert out.columns == ["id", "text", *ANNOTATION_COLS, "entities"]
    assert rows["0"]["entities"] == ["John"]
    with pytest.raises(ValueError, match="2 inputCols but 1 outputCols"):
        Finisher().setInputCols(["token", "chunk"]).setOutputCols("x").transform(df)


def test_string_output(df):
    out, rows = run(df, Finisher().setInputCols("token").setOutputAsArray(False))
    assert out.schema["finished_token"].dataType.simpleString() == "string"
    assert [rows[i]["finished_token"] for i in "012"] == ["John@lives", "", ""]
    _, rows = run(df, Finisher().setInputCols("token").setOutputAsArray(False).setAnnotationSplitSymbol(" | "))
    assert rows["0"]["finished_token"] == "John | lives"


def test_include_metadata_array(df):
    out, rows = run(df, Finisher().setInputCols("token", "chunk").setIncludeMetadata(True))
    assert out.columns == ["id", "text", "finished_token", "finished_chunk", "finished_token_metadata",
                           "finished_chunk_metadata"]
    assert out.schema["finished_chunk_metadata"].dataType.simpleString() == "array<map<string,string>>"
    assert rows["0"]["finished_chunk_metadata"] == [{"entity": "PER", "sentence": "0", "chunk": "0"}]
    assert rows["0"]["finished_token_metadata"] == [{"sentence": "0"}, {"sentence": "0"}]  # one per result
    assert rows["1"]["finished_chunk_metadata"] == [] and rows["2"]["finished_chunk_metadata"] == []


def test_include_metadata_string(df):
    finisher = Finisher().setInputCols("chunk", "token").setOutputAsArray(False).setIncludeMetadata(True)
    out, rows = run(df, finisher)
    assert "finished_chunk_metadata" not in out.columns  # the metadata is inside the string
    *entries, result = rows["0"]["finished_chunk"].split("#")  # the map's own order, then the result
    assert sorted(entries) == ["chunk->0", "entity->PER", "sentence->0"] and result == "result->John"
    assert rows["0"]["finished_token"] == "sentence->0#result->John@sentence->0#result->lives"
    _, rows = run(df, finisher.setValueSplitSymbol(";"))
    assert rows["0"]["finished_token"] == "sentence->0;result->John@sentence->0;result->lives"
    assert rows["1"]["finished_token"] == "" and rows["2"]["finished_token"] == ""


def test_parse_embeddings_vectors(df):
    _, rows = run(df, Finisher().setInputCols("embeddings", "token").setParseEmbeddingsVectors(True))
    assert rows["0"]["finished_embeddings"] == ["0.5 -2.0", "1.0 0.25"]
    assert rows["0"]["finished_token"] == ["John", "lives"]  # other annotations keep their result
    _, rows = run(df, Finisher().setInputCols("embeddings").setParseEmbeddingsVectors(True).setOutputAsArray(False))
    assert rows["0"]["finished_embeddings"] == "0.5#-2.0@1.0#0.25"
    finisher = Finisher().setInputCols("embeddings").setParseEmbeddingsVectors(True).setOutputAsArray(False) \
        .setIncludeMetadata(True)
    assert run(df, finisher)[1]["0"]["finished_embeddings"] == \
        "token->John#result->John#embeddings->0.5#-2.0@token->lives#result->lives#embeddings->1.0#0.25"
    assert run(df, Finisher().setInputCols("embeddings"))[1]["0"]["finished_embeddings"] == ["John", "lives"]


def test_bad_input(df):
    with pytest.raises(ValueError, match="inputCols must be set"):
        Finisher().transform(df)
    with pytest.raises(ValueError, match="input column 'text' has type string"):
        Finisher().setInputCols("text").transform(df)
    with pytest.raises(ValueError, match="'missing' is not in the DataFrame"):
        Finisher().setInputCols("missing").transform(df)
    with pytest.raises(ValueError, match="annotationSplitSymbol must be a string"):
        Finisher().setAnnotationSplitSymbol(1)


def test_pipeline_save_load(df, tmp_path):
    """NerConverter then Finisher in a pyspark.ml Pipeline, saved and loaded back."""
    ner = [Annotation("named_entity", 0, 3, "B-PER", {"B-PER": "0.75"}),
           Annotation("named_entity", 5, 9, "O", {"O": "0.5"})]
    document = [Annotation("document", 0, 9, "John lives", {"sentence": "0"})]
    schema = StructType([StructField("id", StringType())]
                        + [StructField(c, annotation_array_type()) for c in ("document", "token", "ner")])
    frame = df.sparkSession.createDataFrame(
        [("0", to_dicts(document), to_dicts(TOKENS), to_dicts(ner)), ("1", None, None, None)], schema)
    stages = [NerConverter().setOutputCol("entities"),
              Finisher().setInputCols("entities").setOutputCols("names").setIncludeMetadata(True)]
    model = Pipeline(stages=stages).fit(frame)
    model.write().save(str(tmp_path / "pipeline"))
    loaded = PipelineModel.load(str(tmp_path / "pipeline"))
    assert loaded.stages[1].getOutputCols() == ["names"] and loaded.stages[1].getIncludeMetadata()
    rows = {r["id"]: r.asDict() for r in loaded.transform(frame).collect()}
    assert sorted(rows["0"]) == ["id", "names", "names_metadata"]
    assert rows["0"]["names"] == ["John"]
    assert rows["0"]["names_metadata"] == [{"entity": "PER", "sentence": "0", "chunk": "0", "confidence": "0.75"}]
    assert rows["1"]["names"] == [] and rows["1"]["names_metadata"] == []


def test_light_pipeline_keeps_only_the_finishers_input_columns():
    stages = [DocumentAssembler().setInputCol("text").setOutputCol("document"),
              TokenizerModel().setInputCols(["document"]).setOutputCol("token"),
              Finisher().setInputCols("token")]
    light = LightPipeline(PipelineModel(stages))
    [full] = light.fullAnnotate("John lives")
    assert list(full) == ["token"] and [a.result for a in full["token"]] == ["John", "lives"]
    assert light.annotate("John lives") == {"token": ["John", "lives"]}
    with pytest.raises(ValueError, match="'chunk' is made by no earlier stage"):
        LightPipeline(PipelineModel(stages[:2] + [Finisher().setInputCols("chunk")]))
    with pytest.raises(ValueError, match="'text' holds plain text"):
        LightPipeline(PipelineModel(stages[:2] + [Finisher().setInputCols("text")]))
