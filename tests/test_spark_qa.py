"""LongformerForQuestionAnswering in Spark and LightPipeline: every row kept, the same answers on
both paths, persistence, and errors before any Spark job."""
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.sql import functions as F

from sparklong import LightPipeline, LongformerForQuestionAnswering, MultiDocumentAssembler
from sparklong.models import CheckpointError
from test_qa_decoding import folder  # noqa: F401 (the tiny QA checkpoint fixture)
from tiny_models import corpus_texts, save_model_folder

LONG = corpus_texts()[0][:700]  # ~440 pieces: 8 windows at maxSentenceLength 96
ROWS = [
    ("0", "Who took the oath of office?", LONG),
    ("1", None, "The Senate met."),
    ("2", "Who met?", None),
    ("3", "", "The Senate met."),
    ("4", "Who met?", "   "),
    ("5", "Who met?", "The Senate and the House met in New York on the thirtieth of April."),
    ("6", "Qui a prêté serment ?", "naïve café — 東京 🙂 the oath was taken."),
]


def pipeline(folder, **params):
    assembler = MultiDocumentAssembler().setInputCols("question", "context") \
        .setOutputCols("document_question", "document_context")
    qa = LongformerForQuestionAnswering.loadSavedModel(folder).setInputCols(
        ["document_question", "document_context"]).setOutputCol("answer")
    for name, value in params.items():
        getattr(qa, "set" + name[0].upper() + name[1:])(value)
    return Pipeline(stages=[assembler, qa])


def comparable(answer):
    """Annotation fields, scores to 1e-5 relative (batches pad rows differently: float rounding)."""
    meta = {k: pytest.approx(float(v), rel=1e-5) if k.endswith("score") else v for k, v in answer.metadata.items()}
    return answer.begin, answer.end, answer.result, meta


def frame(spark, rows=ROWS):
    return spark.createDataFrame(rows, "id string, question string, context string").repartition(2)


def test_every_row_kept_and_answers_equal_lightpipeline(spark, folder):
    df = frame(spark)
    model = pipeline(folder, maxSentenceLength=96, docStride=24, batchSize=3).fit(df)
    out = {r["id"]: r["answer"] for r in model.transform(df).select("id", "answer").collect()}
    assert sorted(out) == [r[0] for r in ROWS]  # no row lost or duplicated
    light = LightPipeline(model)
    for id_, question, context in ROWS:
        expected = light.fullAnnotate(question, context)[0]["answer"]
        got = out[id_]
        assert [comparable(a) for a in got] == [comparable(a) for a in expected]
        answerable = bool(question and question.strip() and context and context.strip())
        assert len(got) == (1 if answerable else 0)
        for a in got:
            assert a.annotatorType == "chunk" and context[a.begin : a.end + 1] == a.result
            assert set(a.metadata) >= {"score", "start_score", "end_score", "start", "end", "sentence", "chunk"}
    assert int(out["0"][0].metadata["windows"]) >= 3
    again = {r["id"]: r["answer"] for r in light.transform(df).select("id", "answer").collect()}  # as Spark NLP's
    assert {k: [comparable(a) for a in v] for k, v in again.items()} == \
        {k: [comparable(a) for a in v] for k, v in out.items()}


def test_lightpipeline_annotate_question_and_context(spark, folder):
    model = pipeline(folder, maxSentenceLength=96, docStride=24).fit(frame(spark))
    light = LightPipeline(model)
    one = light.annotate("Who met?", ROWS[5][2])
    assert set(one) == {"document_question", "document_context", "answer"}
    assert one["document_question"] == ["Who met?"] and len(one["answer"]) == 1
    assert one["answer"][0] in ROWS[5][2]
    many = light.annotate(["Who met?", None], [ROWS[5][2], ROWS[5][2]])
    assert many[0] == one and many[1]["answer"] == []
    with pytest.raises(ValueError, match="reads 2 text column"):
        light.annotate("Who met?")


def test_saved_pipeline_loads_with_its_weights_and_answers_the_same(spark, folder, tmp_path):
    df = frame(spark)
    model = pipeline(folder, maxSentenceLength=96, docStride=24, handleImpossibleAnswer=True).fit(df)
    path = str(tmp_path / "qa_pipeline")
    model.write().save(path)
    loaded = PipelineModel.load(path)
    qa = loaded.stages[1]
    assert isinstance(qa, LongformerForQuestionAnswering) and not qa.getModelFolder().startswith(folder)
    assert (qa.getDocStride(), qa.getMaxSentenceLength(), qa.getHandleImpossibleAnswer()) == (24, 96, True)
    before = model.transform(df).select("id", "answer.result", "answer.metadata").orderBy("id").collect()
    after = loaded.transform(df).select("id", "answer.result", "answer.metadata").orderBy("id").collect()
    assert before == after


def test_defaults_and_param_errors(folder):
    qa = LongformerForQuestionAnswering.loadSavedModel(folder)
    assert (qa.getMaxSentenceLength(), qa.getCaseSensitive(), qa.getDocStride(), qa.getMaxAnswerLength(),
            qa.getBatchSize(), qa.getHandleImpossibleAnswer()) == (4096, True, 128, 30, 8, False)
    assert qa.getInputCols() == ["document_question", "document_context"] and qa.getOutputCol() == "answer"
    with pytest.raises(ValueError, match="maxAnswerLength must be between 1 and"):
        qa.setMaxAnswerLength(0)
    with pytest.raises(ValueError, match="docStride must be between 0 and"):
        qa.setDocStride(-1)


def test_errors_before_any_spark_job(spark, folder, tmp_path):
    df = MultiDocumentAssembler().setInputCols("question", "context") \
        .setOutputCols("document_question", "document_context").transform(frame(spark))
    qa = LongformerForQuestionAnswering.loadSavedModel(folder)
    with pytest.raises(ValueError, match="docStride must be between 0 and 58 for windows of 64 tokens"):
        qa.setMaxSentenceLength(64).setDocStride(59).transform(df)
    qa.setDocStride(16)
    with pytest.raises(ValueError, match="inputCols must be \\[question DOCUMENT column, context DOCUMENT column\\]"):
        qa.setInputCols("document_question").transform(df)
    with pytest.raises(ValueError, match="'question' has type string, expected an annotation column"):
        qa.setInputCols("question", "document_context").transform(df)
    embeddings_only = str(tmp_path / "embeddings_only")
    save_model_folder(embeddings_only, "embeddings")
    with pytest.raises(CheckpointError, match="has no 'qa_outputs' weights, needed for task 'question_answering'"):
        LongformerForQuestionAnswering.loadSavedModel(embeddings_only)
    assert df.select(F.size("document_context")).count() == len(ROWS)
