"""Structured Streaming: the embeddings (a Longformer and a ModernBERT stage) and QA pipelines over a file-source stream (JSON files dropped
into a folder) into a parquet sink with a checkpoint. The query is stopped and started again on the
same checkpoint with more files: every input row reaches the sink exactly once, with the values of
the batch path, and the model loads once per Python worker across micro-batches."""
import json
from collections import Counter

import numpy as np
import pytest
from pyspark.ml import PipelineModel

from sparklong import (DocumentAssembler, EmbeddingsFinisher, LongformerForQuestionAnswering,
                       LongformerSentenceEmbeddings, ModernBertSentenceEmbeddings, MultiDocumentAssembler)
from test_qa_decoding import save_qa_folder
from tiny_models import corpus_texts, save_model_folder, save_modernbert_folder
from worker_loads import loads_per_worker

DOC_SCHEMA = "id string, text string"
QA_SCHEMA = "id string, question string, context string"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("streaming")
    embed, qa, modernbert = str(root / "embed_model"), str(root / "qa_model"), str(root / "modernbert_model")
    save_model_folder(embed)
    save_qa_folder(qa)
    save_modernbert_folder(modernbert)
    return root, embed, qa, modernbert


def drop_file(folder, name: str, rows: list[dict]) -> None:
    """A new JSON-lines file, written beside the folder and renamed in: the source never sees half a file."""
    folder.mkdir(exist_ok=True)
    staging = folder.parent / f".{name}"
    staging.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    staging.rename(folder / name)


def run_available(spark, pipeline, source, schema: str, columns: list, sink, checkpoint) -> None:
    """One start of the query: every file now in `source`, one file per micro-batch, then stop."""
    stream = spark.readStream.schema(schema).option("maxFilesPerTrigger", 1).json(str(source))
    query = (pipeline.transform(stream).select(*columns).writeStream.format("parquet")
             .option("path", str(sink)).option("checkpointLocation", str(checkpoint))
             .trigger(availableNow=True).start())
    query.awaitTermination(300)
    assert query.exception() is None, query.exception()


def docs(start: int, count: int) -> list[dict]:
    corpus = corpus_texts()
    return [{"id": str(i), "text": corpus[i % len(corpus)][: 200 + 40 * i] if i % 5 else None}
            for i in range(start, start + count)]


def test_embeddings_stream_restarted_on_its_checkpoint_writes_every_row_once(spark, folders):
    from pyspark.sql import functions as F

    root, model, _, modernbert = folders
    pipeline = PipelineModel([
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        LongformerSentenceEmbeddings.loadSavedModel(model).setInputCols("document")
        .setOutputCol("sentence_embeddings").setMaxSentenceLength(128),
        ModernBertSentenceEmbeddings.loadSavedModel(modernbert).setInputCols("document").setOutputCol("modernbert"),
        EmbeddingsFinisher().setInputCols("sentence_embeddings", "modernbert").setOutputCols("vector", "mb_vector"),
    ])
    source, sink, checkpoint = root / "docs_in", root / "docs_out", root / "docs_checkpoint"
    columns = ["id", F.get(F.col("vector"), 0).alias("vector"), F.get(F.col("mb_vector"), 0).alias("mb_vector")]
    drop_file(source, "a.jsonl", docs(0, 6))
    drop_file(source, "b.jsonl", docs(6, 6))
    run_available(spark, pipeline, source, DOC_SCHEMA, columns, sink, checkpoint)
    drop_file(source, "c.jsonl", docs(12, 6))  # arrives while the query is down
    run_available(spark, pipeline, source, DOC_SCHEMA, columns, sink, checkpoint)

    rows = spark.read.parquet(str(sink)).collect()
    ids = Counter(r["id"] for r in rows)
    assert sorted(ids, key=int) == [str(i) for i in range(18)] and set(ids.values()) == {1}  # exactly once
    batch = pipeline.transform(spark.createDataFrame(docs(0, 18), DOC_SCHEMA)).select(*columns).collect()
    expected = {r["id"]: r for r in batch}
    for row in rows:
        for column in ("vector", "mb_vector"):
            if expected[row["id"]][column] is None:  # blank text: no vector, the row kept
                assert row[column] is None
            else:
                np.testing.assert_allclose(row[column], expected[row["id"]][column], rtol=0, atol=1e-5)
    for folder in (model, modernbert):
        loads = loads_per_worker(spark, folder)
        assert loads and max(loads.values()) == 1, loads  # once per Python worker across every micro-batch


def test_question_answering_stream_writes_every_row_once(spark, folders):
    root, _, model, _ = folders
    pipeline = PipelineModel([
        MultiDocumentAssembler().setInputCols(["question", "context"])
        .setOutputCols(["document_question", "document_context"]),
        LongformerForQuestionAnswering.loadSavedModel(model).setInputCols(["document_question", "document_context"])
        .setOutputCol("answer").setMaxSentenceLength(96).setDocStride(24),
    ])
    contexts = [d["text"] or "" for d in docs(1, 8)]
    rows = [{"id": str(i), "question": "Who spoke to the people?", "context": c} for i, c in enumerate(contexts)]
    source, sink, checkpoint = root / "qa_in", root / "qa_out", root / "qa_checkpoint"
    columns = ["id", "answer.result"]
    drop_file(source, "a.jsonl", rows[:4])
    run_available(spark, pipeline, source, QA_SCHEMA, columns, sink, checkpoint)
    drop_file(source, "b.jsonl", rows[4:])
    run_available(spark, pipeline, source, QA_SCHEMA, columns, sink, checkpoint)

    got = {r["id"]: list(r["result"]) for r in spark.read.parquet(str(sink)).collect()}
    assert sorted(got, key=int) == [str(i) for i in range(8)]
    expected = pipeline.transform(spark.createDataFrame(rows, QA_SCHEMA)).select(*columns).collect()
    assert got == {r["id"]: list(r["result"]) for r in expected}
