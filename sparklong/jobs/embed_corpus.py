"""embed_corpus: (id, text) -> (id, embedding, n_tokens), one document vector per row.

The pipeline: DocumentAssembler -> LongformerSentenceEmbeddings (pooled over the model's pieces: MEAN as
sentence-transformers, or CLS) -> EmbeddingsFinisher; with --pooling average/sum: DocumentAssembler ->
Tokenizer -> LongformerEmbeddings -> SentenceEmbeddings (Spark NLP's pooling over word tokens) ->
EmbeddingsFinisher. A saved PipelineModel runs as saved, finished on its last sentence-embeddings stage.
Null or blank text gives a null embedding and n_tokens 0; the row stays.
"""
from __future__ import annotations

import argparse

from .engine_flags import apply_engine_flags
from .inputs import JobError
from .model_ref import ModelRef
from .runner import JobSpec

POOLING = ("mean", "cls", "average", "sum")
VECTORS = "_sparklong_vectors"


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pooling", default="mean", choices=POOLING,
                   help="mean (default; over every piece, as sentence-transformers) or cls: over the model's "
                        "pieces; average or sum: over word tokens, as Spark NLP's SentenceEmbeddings")
    p.add_argument("--max-sentence-length", type=int, default=4096, help="tokens per model window (default 4096)")
    p.add_argument("--batch-size", type=int, default=4, help="windows per forward pass, at most (default 4)")
    p.add_argument("--max-batch-tokens", type=int, default=None,
                   help="padded tokens per forward pass (default 16384 on CPUs; on GPUs from their memory)")
    p.add_argument("--lowercase", action="store_true", help="lowercase before the model's tokenizer")


def _settings(args) -> dict:
    return {"pooling": args.pooling, "max_sentence_length": args.max_sentence_length, "lowercase": args.lowercase}


def _built_stages(args, model: ModelRef) -> tuple[list, str, str]:
    """(stages, text input column, sentence-embeddings column) for a model folder."""
    from .. import (DocumentAssembler, LongformerEmbeddings, LongformerSentenceEmbeddings, SentenceEmbeddings,
                    Tokenizer)

    document = DocumentAssembler().setInputCol("text").setOutputCol("document")
    try:
        if args.pooling in ("mean", "cls"):
            model_stage = LongformerSentenceEmbeddings.loadSavedModel(model.folder) \
                .setInputCols(["document"]).setOutputCol("sentence_embeddings") \
                .setPoolingStrategy(args.pooling.upper())
            stages = [document, model_stage]
        else:
            model_stage = LongformerEmbeddings.loadSavedModel(model.folder) \
                .setInputCols(["document", "token"]).setOutputCol("embeddings")
            tokens = Tokenizer().setInputCols(["document"]).setOutputCol("token").fit(None)
            pooled = SentenceEmbeddings().setInputCols(["document", "embeddings"]) \
                .setOutputCol("sentence_embeddings").setPoolingStrategy(args.pooling.upper())
            stages = [document, tokens, model_stage, pooled]
        model_stage.setMaxSentenceLength(args.max_sentence_length).setBatchSize(args.batch_size) \
            .setCaseSensitive(not args.lowercase).setStorageRef(model.name)
        if args.max_batch_tokens is not None:
            model_stage.setMaxBatchTokens(args.max_batch_tokens)
    except ValueError as exc:
        raise JobError(str(exc)) from exc
    return stages, "text", "sentence_embeddings"


def _saved_stages(model: ModelRef) -> tuple[list, str, str]:
    from .. import DocumentAssembler, LongformerSentenceEmbeddings, SentenceEmbeddings

    stages = list(model.pipeline.stages)
    if not stages or not isinstance(stages[0], DocumentAssembler):
        raise JobError(f"the saved pipeline {model.name} must start with a DocumentAssembler")
    pooled = [s for s in stages if isinstance(s, (LongformerSentenceEmbeddings, SentenceEmbeddings))]
    if not pooled:
        raise JobError(f"the saved pipeline {model.name} has no LongformerSentenceEmbeddings or SentenceEmbeddings "
                       "stage to take document vectors from")
    return stages, stages[0].getInputCol(), pooled[-1].getOutputCol()


def _transform(args, model: ModelRef):
    from pyspark.ml import PipelineModel
    from pyspark.sql import functions as F

    from .. import EmbeddingsFinisher

    stages, text_col, pooled = _saved_stages(model) if model.pipeline is not None else _built_stages(args, model)
    apply_engine_flags(stages, args)
    finisher = EmbeddingsFinisher().setInputCols([pooled]).setOutputCols([VECTORS])
    pipeline = PipelineModel(stages + [finisher])

    def run(frame, carry: list[str]):
        if text_col != "text":
            frame = frame.withColumnRenamed("text", text_col)
        meta = F.get(F.col(pooled), 0)["metadata"]
        return pipeline.transform(frame).select(
            "id", *carry,
            F.get(F.col(VECTORS), 0).alias("embedding"),  # null when the text was null or blank
            F.coalesce(meta["pieces"], meta["tokens"], F.lit("0")).cast("int").alias("n_tokens"),
        )

    return run


def _output_schema():
    import pyarrow as pa

    return pa.schema([pa.field("embedding", pa.list_(pa.float32())), pa.field("n_tokens", pa.int32())])


SPEC = JobSpec(
    name="embed_corpus",
    description="Embed a corpus with a Longformer: one vector per document, sharded, resumable.",
    columns=(("text", "--text-col", "text"),),
    add_arguments=_arguments,
    settings=_settings,
    transform=_transform,
    output_schema=_output_schema,
    tokens_column="n_tokens",
)
