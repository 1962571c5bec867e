"""LongformerEmbeddings -> SentenceEmbeddings -> EmbeddingsFinisher on Spark: rows kept, values equal
the core, models loaded once per worker, pipelines persisted with their weights."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.sql.types import StringType, StructField, StructType

from sparklong import (EmbeddingsFinisher, LightPipeline, LongformerEmbeddings, ModernBertSentenceEmbeddings,
                       SentenceEmbeddings)
from sparklong.annotation import DOCUMENT, TOKEN, Annotation, annotation_array_type, to_dicts
from tiny_models import corpus_texts, save_model_folder, save_modernbert_folder
from worker_loads import loads_per_worker

TEXTS = [
    "Fellow-Citizens of the Senate and of the House of Representatives.",
    None,
    "",
    "   \t\n ",
    "naïve café, 東京 and 🙂 — done.",
]


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("spark_embed") / "tiny_longformer")
    os.makedirs(folder)
    save_model_folder(folder)
    return folder


class AnnotateByHand:
    """document + whitespace tokens, standing in for DocumentAssembler/Tokenizer (tested on their own)."""

    def light_transform(self, row):
        text = row["text"]
        row["document"], row["token"] = annotate_by_hand(text)


def annotate_by_hand(text):
    if not text:
        return [Annotation(DOCUMENT, 0, -1, "", {"sentence": "0"})], []
    tokens, pos = [], 0
    for word in text.split():
        begin = text.index(word, pos)
        tokens.append(Annotation(TOKEN, begin, begin + len(word) - 1, word, {"sentence": "0"}))
        pos = begin + len(word)
    return [Annotation(DOCUMENT, 0, len(text) - 1, text, {"sentence": "0"})], tokens


def frame(spark, texts, partitions=2):
    schema = StructType([
        StructField("id", StringType()), StructField("text", StringType()),
        StructField("document", annotation_array_type()), StructField("token", annotation_array_type()),
    ])
    rows = [(str(i), t, *map(to_dicts, annotate_by_hand(t))) for i, t in enumerate(texts)]
    return spark.createDataFrame(rows, schema).repartition(partitions)


def stages(folder, **params):
    embeddings = LongformerEmbeddings.loadSavedModel(folder).setInputCols("document", "token")
    for name, value in params.items():
        getattr(embeddings, "set" + name[0].upper() + name[1:])(value)
    pooled = SentenceEmbeddings().setInputCols(["document", "embeddings"]).setOutputCol("sentence_embeddings")
    finisher = EmbeddingsFinisher().setInputCols("sentence_embeddings").setOutputCols("vector")
    return [embeddings, pooled, finisher]


def by_id(df, *cols):
    return {r["id"]: r for r in df.select("id", *cols).collect()}


def test_every_row_kept_and_values_equal_lightpipeline(spark, model_folder):
    texts = TEXTS + [corpus_texts()[1][:5000]]  # the last one needs windows at maxSentenceLength 256
    model = Pipeline(stages=stages(model_folder, maxSentenceLength=256)).fit(frame(spark, texts))
    out = by_id(model.transform(frame(spark, texts)), "embeddings", "vector")
    assert sorted(out) == [str(i) for i in range(len(texts))]  # no row lost or duplicated
    light = LightPipeline(_with_hand_annotation(model))
    for i, text in enumerate(texts):
        row = out[str(i)]
        assert_equal_annotations(row["embeddings"], light.fullAnnotate(text)[0]["embeddings"])
        blank = not (text and text.strip())
        assert (len(row["embeddings"]) == 0) == blank and (len(row["vector"]) == 0) == blank
    long_row = out[str(len(texts) - 1)]["embeddings"]
    assert int(long_row[0].metadata["windows"]) > 1 and all(len(a.embeddings) == 32 for a in long_row)
    # Spark NLP's LightPipeline shapes: fullAnnotate(str) a list of one dict, annotate(str) a dict,
    # lists for lists (transform(df): tests/test_spark_qa.py)
    full, one = light.fullAnnotate(texts[0]), light.annotate(texts[0])
    assert isinstance(full, list) and len(full) == 1 and isinstance(one, dict)
    assert one["embeddings"] == [a.result for a in full[0]["embeddings"]]
    assert len(light.fullAnnotate(texts[:2])) == len(light.annotate(texts[:2])) == 2


def _with_hand_annotation(model):
    return PipelineModel([AnnotateByHand(), *model.stages])


def assert_equal_annotations(got, want):
    assert [(a.begin, a.end, a.result) for a in got] == [(a.begin, a.end, a.result) for a in want]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.embeddings, b.embeddings, atol=1e-5)
        assert dict(a.metadata) == dict(b.metadata)


def test_transform_leaves_the_sessions_arrow_batch_size_and_bounds_its_own(spark, model_folder):
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key)
    spark.conf.set(key, "10000")  # Spark's default, as in a session the user made
    try:
        texts = [f"Row {i} of one Arrow batch, " * (1 + i % 5) for i in range(150)]  # > 64 rows, one partition
        model = PipelineModel(stages(model_folder))
        out = by_id(model.transform(frame(spark, texts, partitions=1)), "embeddings")
        assert spark.conf.get(key) == "10000"
    finally:
        spark.conf.set(key, before)
    light = LightPipeline(_with_hand_annotation(model))
    for i in (0, 63, 64, 127, 128, 149):  # each side of the UDF's 64-row slices
        assert_equal_annotations(out[str(i)]["embeddings"], light.fullAnnotate(texts[i])[0]["embeddings"])


def test_workers_are_forked_from_a_daemon_that_imported_torch(spark):
    """sparklong.start()'s worker daemon (udfs/preload_daemon.py): a worker's parent process has torch's
    library mapped, so no worker pays the import itself."""
    def parent_has_torch(batches):
        import os

        with open(f"/proc/{os.getppid()}/maps", encoding="utf-8") as fh:
            mapped = "libtorch_cpu" in fh.read()
        for batch in batches:
            yield batch.assign(mapped=mapped)

    rows = spark.range(2).repartition(2).mapInPandas(parent_has_torch, "id long, mapped boolean").collect()
    assert len(rows) == 2 and all(r["mapped"] for r in rows)


def test_model_loads_once_per_worker_across_tasks_and_batches(spark, model_folder):
    texts = [f"Document number {i} of the corpus. " * (1 + i % 7) for i in range(400)]
    df = frame(spark, texts, partitions=8)  # 8 tasks on 2 cores; 64-row Arrow batches -> many batches
    embeddings = stages(model_folder, batchSize=3)[0]
    assert embeddings.transform(df).select("embeddings").count() == 400
    assert embeddings.transform(df).filter("size(embeddings) > 0").count() == 400
    loads = loads_per_worker(spark, model_folder)
    assert loads and max(loads.values()) == 1, loads


def test_saved_pipeline_loads_in_a_fresh_process_with_identical_vectors(spark, model_folder, tmp_path):
    # a Longformer stage and a ModernBERT one in one pipeline: each architecture's weights travel inside it
    texts = TEXTS + ["Washington took the oath of office."]
    df = frame(spark, texts)
    modernbert_folder = str(tmp_path / "tiny_modernbert")
    save_modernbert_folder(modernbert_folder)
    modernbert = (ModernBertSentenceEmbeddings.loadSavedModel(modernbert_folder).setInputCols(["document"])
                  .setOutputCol("modernbert_vector"))
    model = Pipeline(stages=[*stages(model_folder), modernbert]).fit(df)
    path = str(tmp_path / "saved_pipeline")
    model.write().save(path)
    for stage in ("LongformerEmbeddings", "ModernBertSentenceEmbeddings"):
        [stage_dir] = [d for d in os.listdir(os.path.join(path, "stages")) if stage in d]
        assert os.path.isfile(os.path.join(path, "stages", stage_dir, "model", "model.safetensors"))
    df.write.parquet(str(tmp_path / "input"))
    expected = vectors_by_id(model.transform(df).collect())
    script = textwrap.dedent(f"""
        import json, sparklong
        from pyspark.ml import PipelineModel
        spark = sparklong.start("local[1]")
        model = PipelineModel.load({path!r})
        df = spark.read.parquet({str(tmp_path / "input")!r})
        rows = model.transform(df).select("id", "vector", "modernbert_vector").collect()
        print(json.dumps({{r["id"]: [[list(map(float, v)) for v in r["vector"]],
                                     [list(map(float, a.embeddings)) for a in r["modernbert_vector"]]]
                          for r in rows}}))
    """)
    moved = [str(tmp_path / "elsewhere"), str(tmp_path / "elsewhere_modernbert")]
    os.rename(model_folder, moved[0])  # the saved pipeline must need neither original folder
    os.rename(modernbert_folder, moved[1])
    try:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    finally:
        os.rename(moved[0], model_folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got.keys() == expected.keys()
    for key in expected:
        for ours, want in zip(got[key], expected[key]):  # Longformer's vectors, then ModernBERT's
            np.testing.assert_allclose(np.array(ours).reshape(-1), np.array(want).reshape(-1), atol=1e-6)
    assert any(got[key][1] for key in got)  # the ModernBERT stage embedded the documents with text


def vectors_by_id(rows) -> dict[str, list]:
    """Rows with the finisher's `vector` and ModernBERT's `modernbert_vector` annotations -> id -> both."""
    return {r["id"]: [[list(v) for v in r["vector"]], [list(a.embeddings) for a in r["modernbert_vector"]]]
            for r in rows}


@pytest.mark.parametrize(
    "setter, value, message",
    [
        ("setMaxSentenceLength", 0, "maxSentenceLength must be between 1 and 4096"),
        ("setMaxSentenceLength", 5000, "maxSentenceLength must be between 1 and 4096"),
        ("setBatchSize", 0, "batchSize must be between 1 and 4096"),
        ("setGlobalAttention", "all", "globalAttention must be one of 'none', 'cls', 'sentences'"),
        ("setEngine", "tensorflow", "engine must be one of"),
        ("setDevice", "tpu", "device must be one of 'auto', 'cpu', 'cuda'"),
    ],
)
def test_param_errors_name_the_param_and_range(model_folder, setter, value, message):
    stage = LongformerEmbeddings.loadSavedModel(model_folder)
    with pytest.raises(ValueError, match=message):
        getattr(stage, setter)(value)


def test_wrong_input_columns_fail_before_any_job(spark, model_folder):
    from pyspark.sql import functions as F

    df = frame(spark, ["x"]).select("document", F.lit(1).alias("token"))
    stage = LongformerEmbeddings.loadSavedModel(model_folder)
    with pytest.raises(ValueError, match="'sentence' is not in the DataFrame"):
        stage.setInputCols("sentence", "token").transform(df)
    with pytest.raises(ValueError, match="'token' has type int, expected an annotation column"):
        stage.setInputCols("document", "token").transform(df)
