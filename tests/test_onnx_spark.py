"""Model annotators with setEngine("onnx"): the same rows, vectors and answers as engine torch, int8
close to them, the graph exported once on the driver and carried by a saved pipeline, threads per task."""
import os

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel

from sparklong import LongformerEmbeddings
from sparklong.udfs.task_resources import task_cores
from test_qa_decoding import folder as qa_folder  # noqa: F401 (the tiny QA checkpoint fixture)
from test_spark_embeddings import TEXTS, by_id, frame, stages
from test_spark_qa import ROWS, comparable
from test_spark_qa import frame as qa_frame
from test_spark_qa import pipeline as qa_pipeline
from tiny_models import corpus_texts, save_model_folder

pytest.importorskip("onnxruntime")

# the last text needs several windows at maxSentenceLength 256
DOCS = TEXTS + ["Washington took the oath of office.", corpus_texts()[2][:4000]]


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("onnx_spark") / "tiny_longformer")
    os.makedirs(folder)
    save_model_folder(folder, attention_window=[16, 32])
    return folder


@pytest.fixture(scope="module")
def torch_rows(spark, model_folder):
    model = Pipeline(stages=stages(model_folder, maxSentenceLength=256)).fit(frame(spark, DOCS))
    return by_id(model.transform(frame(spark, DOCS)), "embeddings", "vector")


def vectors(row):
    return np.array([a.embeddings for a in row["embeddings"]], dtype=np.float32).reshape(-1, 32)


def test_engine_onnx_equals_engine_torch(spark, model_folder, torch_rows):
    model = Pipeline(stages=stages(model_folder, maxSentenceLength=256, engine="onnx")).fit(frame(spark, DOCS))
    got = by_id(model.transform(frame(spark, DOCS)), "embeddings", "vector")
    assert sorted(got) == sorted(torch_rows) == [str(i) for i in range(len(DOCS))]
    for key, want in torch_rows.items():
        assert [(a.begin, a.end, dict(a.metadata)) for a in got[key]["embeddings"]] == [
            (a.begin, a.end, dict(a.metadata)) for a in want["embeddings"]
        ]
        np.testing.assert_allclose(vectors(got[key]), vectors(want), atol=1e-4)
        np.testing.assert_allclose(np.array(got[key]["vector"]), np.array(want["vector"]), atol=1e-4)
    assert os.path.isfile(os.path.join(model_folder, "onnx", "embeddings.onnx"))  # exported on the driver


def test_int8_keeps_rows_and_stays_close(spark, model_folder, torch_rows):
    stage = stages(model_folder, maxSentenceLength=256, engine="onnx", quantize="int8")
    got = by_id(Pipeline(stages=stage).fit(frame(spark, DOCS)).transform(frame(spark, DOCS)), "embeddings")
    assert sorted(got) == sorted(torch_rows)
    for key, want in torch_rows.items():
        a, b = vectors(got[key]), vectors(want)
        assert a.shape == b.shape
        if len(a):
            cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
            assert cosine.min() >= 0.99


def test_saved_pipeline_carries_the_onnx_graph(spark, model_folder, torch_rows, tmp_path):
    df = frame(spark, DOCS)
    model = Pipeline(stages=stages(model_folder, maxSentenceLength=256, engine="onnx")).fit(df)
    path = str(tmp_path / "saved")
    model.write().save(path)
    [stage_dir] = [d for d in os.listdir(os.path.join(path, "stages")) if "LongformerEmbeddings" in d]
    graph = os.path.join(path, "stages", stage_dir, "model", "onnx", "embeddings.onnx")
    stamp = os.stat(graph).st_mtime_ns
    loaded = PipelineModel.load(path)
    held = loaded.stages[0].getModelFolder()  # the stage's own copy of the saved folder
    assert loaded.stages[0].getEngine() == "onnx" and not held.startswith(model_folder)
    got = by_id(loaded.transform(df), "vector")
    for key, want in torch_rows.items():
        np.testing.assert_allclose(np.array(got[key]["vector"]), np.array(want["vector"]), atol=1e-4)
    assert os.stat(os.path.join(held, "onnx", "embeddings.onnx")).st_mtime_ns == stamp  # not exported again


def test_int8_on_a_gpu_is_an_error_before_any_job(spark, model_folder):
    stage = LongformerEmbeddings.loadSavedModel(model_folder).setInputCols("document", "token").setQuantize("int8")
    stage.setDevice("cuda")
    with pytest.raises(ValueError, match="quantize='int8' runs on the CPU"):
        stage.transform(frame(spark, ["x"]))
    with pytest.raises(ValueError, match="quantize must be one of 'none', 'int8'"):
        stage.setQuantize("int4")
    assert LongformerEmbeddings(engine="onnx", quantize="int8").getQuantize() == "int8"
    assert LongformerEmbeddings().getQuantize() == "none"


def test_onnx_threads_follow_the_task_cores(spark):
    assert spark.sparkContext.parallelize([0], 1).map(lambda _: task_cores()).collect() == [1]  # spark.task.cpus
    assert task_cores() == len(os.sched_getaffinity(0))  # on the driver: this process's cores


def test_question_answering_on_onnx_equals_torch(spark, qa_folder):  # noqa: F811
    df = qa_frame(spark)
    answers = {}
    for engine in ("torch", "onnx"):
        model = qa_pipeline(qa_folder, maxSentenceLength=96, docStride=24, engine=engine).fit(df)
        answers[engine] = {r["id"]: r["answer"] for r in model.transform(df).select("id", "answer").collect()}
    assert sorted(answers["onnx"]) == [r[0] for r in ROWS]
    for key, want in answers["torch"].items():
        assert [comparable(a) for a in answers["onnx"][key]] == [comparable(a) for a in want]
    assert os.path.isfile(os.path.join(qa_folder, "onnx", "question_answering.onnx"))


def test_half_precision_onnx_stage_exports_its_float16_graph_on_the_driver(tmp_path):
    from sparklong import LongformerSentenceEmbeddings
    from sparklong.engine_choice import prepare_engine
    from sparklong.models.onnx_files import onnx_path
    from tiny_models import save_model_folder

    folder = str(tmp_path / "tiny")
    save_model_folder(folder)
    stage = LongformerSentenceEmbeddings.loadSavedModel(folder).setEngine("onnx").setPrecision("bfloat16")
    prepare_engine(stage)
    assert os.path.isfile(onnx_path(folder, "embeddings")) and os.path.isfile(
        onnx_path(folder, "embeddings", dtype="float16"))
