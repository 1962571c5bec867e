"""embed_corpus: (id, text) -> (id, embedding, n_tokens), one document vector per row; with
--granularity chunks -> (id, chunk, begin, end, text, embedding, n_tokens), one row per chunk.

The pipeline, with the stages of the model's architecture (LongformerSentenceEmbeddings,
ModernBertSentenceEmbeddings, ...): DocumentAssembler -> *SentenceEmbeddings (pooled over the model's pieces:
MEAN as sentence-transformers, or CLS) -> EmbeddingsFinisher; with --pooling average/sum: DocumentAssembler ->
Tokenizer -> *Embeddings -> SentenceEmbeddings (Spark NLP's pooling over word tokens) -> EmbeddingsFinisher.
A saved PipelineModel runs as saved, finished on its last sentence-embeddings stage.
Null or blank text gives a null embedding and n_tokens 0; the row stays.

Chunks (late chunking): *SentenceEmbeddings with granularity "chunks" encodes each document once
and MEAN-pools each run of about --chunk-pieces pieces (cut at word starts); its annotations become rows.
An id's chunk rows share its key and content hash in the shard files' row index, so every guarantee
(exactly once, incremental) holds per id and so per (id, chunk). A document with no chunk (null or blank
text) keeps one row with chunk, begin, end, text and embedding null and n_tokens 0: no id is lost.
"""
from __future__ import annotations

import argparse

from ..cores.pooling import GRANULARITY, PIECES, POOLING
from .engine_flags import apply_engine_flags
from .job_error import JobError
from .model_ref import ModelRef
from .runner import JobSpec, ModelTransform

POOLING_FLAGS = tuple(strategy.lower() for strategy in POOLING)  # --pooling: mean, cls, average, sum
VECTORS = "_sparklong_vectors"


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pooling", default=None, choices=POOLING_FLAGS,
                   help="mean (over every piece, as sentence-transformers) or cls: over the model's pieces; average "
                        "or sum: over word tokens, as Spark NLP's SentenceEmbeddings (default: the checkpoint's own "
                        "sentence-transformers pooling, cls or mean, else mean; chunks: mean)")
    p.add_argument("--batch-size", type=int, default=4, help="windows per forward pass, at most (default 4)")
    p.add_argument("--max-batch-tokens", type=int, default=None,
                   help="padded tokens per forward pass (default 16384 on CPUs; on GPUs from their memory)")
    p.add_argument("--lowercase", action="store_true", help="lowercase before the model's tokenizer")
    p.add_argument("--granularity", default="document", choices=GRANULARITY,
                   help="document (default): one row per document; chunks: one row per chunk of about "
                        "--chunk-pieces pieces, pooled from the whole document's token states (late chunking)")
    p.add_argument("--prompt", default=None,
                   help="text the model reads before each document (default: the checkpoint's sentence-transformers "
                        "document prompt, e.g. 'search_document: ' for modernbert-embed-base, else none)")
    p.add_argument("--chunk-pieces", type=int, default=256,
                   help="with --granularity chunks: model pieces per chunk, at most (cut at word starts; default 256)")


def _settings(args) -> dict:
    settings = {"pooling": args.pooling, "max_sentence_length": args.max_sentence_length, "lowercase": args.lowercase}
    if args.prompt:  # only then: outputs written before prompts existed keep their manifests
        settings["prompt"] = args.prompt
    if _chunks(args):  # only then: outputs written before chunks existed keep their manifests
        settings.update(granularity=args.granularity, chunk_pieces=args.chunk_pieces)
    return settings


def _model_defaults(args, model: ModelRef | None) -> None:
    """--pooling when not given: mean for chunks and saved pipelines (as before), else the folder's
    sentence-transformers pooling where it is one the stage computes."""
    if args.pooling is None:
        own = (model.pooling or "").lower() if model is not None and not _chunks(args) else ""
        args.pooling = own if own in POOLING_FLAGS else "mean"
    if args.prompt is None:  # a prompt is read by the model stage pooling its pieces, not by a saved pipeline
        over_pieces = model is not None and POOLING[args.pooling.upper()] == PIECES
        args.prompt = model.document_prompt if over_pieces else ""


def _chunks(args) -> bool:
    return args.granularity == "chunks"


def _chunk_stage(stage, args):
    """A document vectors stage (*SentenceEmbeddings) set to this run's granularity; JobError for what cannot be."""
    from ..annotators.document_vectors_stage import DocumentVectorsStage

    if not _chunks(args):
        if isinstance(stage, DocumentVectorsStage) and stage.getGranularity() == "chunks":
            raise JobError(f"the pipeline's {type(stage).__name__} has granularity 'chunks': pass "
                           "--granularity chunks")
        return stage
    if not isinstance(stage, DocumentVectorsStage):
        raise JobError("--granularity chunks needs a *SentenceEmbeddings stage (LongformerSentenceEmbeddings, "
                       f"ModernBertSentenceEmbeddings, ...; --pooling mean); got {type(stage).__name__}")
    stage.setGranularity("chunks").setChunkPieces(args.chunk_pieces)
    stage.check_granularity()  # --pooling cls: a ValueError naming poolingStrategy
    return stage


def _built_stages(args, model: ModelRef) -> tuple[list, str, str]:
    """(stages, text input column, sentence-embeddings column) for a model folder."""
    from .. import DocumentAssembler, SentenceEmbeddings, Tokenizer
    from ..annotators.stage_families import stage_class

    document = DocumentAssembler().setInputCol("text").setOutputCol("document")
    if args.prompt and POOLING[args.pooling.upper()] != PIECES:
        raise JobError(f"--prompt is read by the model stage pooling its pieces: use --pooling mean or cls, not "
                       f"{args.pooling}")
    try:
        if POOLING[args.pooling.upper()] == PIECES:  # mean, cls: in the model stage; average, sum: after it
            model_stage = stage_class(model.model_type, "SentenceEmbeddings").loadSavedModel(model.folder) \
                .setInputCols(["document"]).setOutputCol("sentence_embeddings") \
                .setPoolingStrategy(args.pooling.upper()).setPrompt(args.prompt)
            stages = [document, model_stage]
        else:
            model_stage = stage_class(model.model_type, "Embeddings").loadSavedModel(model.folder) \
                .setInputCols(["document", "token"]).setOutputCol("embeddings")
            tokens = Tokenizer().setInputCols(["document"]).setOutputCol("token").fit(None)
            pooled = SentenceEmbeddings().setInputCols(["document", "embeddings"]) \
                .setOutputCol("sentence_embeddings").setPoolingStrategy(args.pooling.upper())
            stages = [document, tokens, model_stage, pooled]
        _chunk_stage(stages[-1], args)
        model_stage.setMaxSentenceLength(args.max_sentence_length).setBatchSize(args.batch_size) \
            .setCaseSensitive(not args.lowercase).setStorageRef(model.name)
        if args.max_batch_tokens is not None:
            model_stage.setMaxBatchTokens(args.max_batch_tokens)
    except ValueError as exc:
        raise JobError(str(exc)) from exc
    return stages, "text", "sentence_embeddings"


def _saved_stages(args, model: ModelRef) -> tuple[list, str, str]:
    from .. import DocumentAssembler, SentenceEmbeddings
    from ..annotators.document_vectors_stage import DocumentVectorsStage

    if args.prompt:
        raise JobError("--prompt applies to a model folder; a saved pipeline's *SentenceEmbeddings keeps its own "
                       "(setPrompt before saving)")
    stages = list(model.pipeline.stages)
    if not stages or not isinstance(stages[0], DocumentAssembler):
        raise JobError(f"the saved pipeline {model.name} must start with a DocumentAssembler")
    pooled = [s for s in stages if isinstance(s, (DocumentVectorsStage, SentenceEmbeddings))]
    if not pooled:
        raise JobError(f"the saved pipeline {model.name} has no *SentenceEmbeddings (LongformerSentenceEmbeddings, "
                       "ModernBertSentenceEmbeddings, ...) or SentenceEmbeddings stage to take document vectors from")
    try:
        _chunk_stage(pooled[-1], args)
    except ValueError as exc:
        raise JobError(str(exc)) from exc
    return stages, stages[0].getInputCol(), pooled[-1].getOutputCol()


def _transform(args, model: ModelRef):
    from pyspark.ml import PipelineModel

    from .. import EmbeddingsFinisher

    stages, text_col, pooled = _saved_stages(args, model) if model.pipeline is not None \
        else _built_stages(args, model)
    engines = apply_engine_flags(stages, args)
    if _chunks(args):
        pipeline = PipelineModel(stages)
        columns = _chunk_columns
    else:
        pipeline = PipelineModel(stages + [EmbeddingsFinisher().setInputCols([pooled]).setOutputCols([VECTORS])])
        columns = _document_columns

    def run(frame, carry: list[str]):
        if text_col != "text":
            frame = frame.withColumnRenamed("text", text_col)
        return columns(pipeline.transform(frame), pooled, carry)

    return ModelTransform(run, engines)


def _document_columns(frame, pooled: str, carry: list[str]):
    """One row per input row: its first vector (null when the text was null or blank)."""
    from pyspark.sql import functions as F

    meta = F.get(F.col(pooled), 0)["metadata"]
    return frame.select(
        "id", *carry,
        F.get(F.col(VECTORS), 0).alias("embedding"),
        F.coalesce(meta["pieces"], meta["tokens"], F.lit("0")).cast("int").alias("n_tokens"),
    )


def _chunk_columns(frame, pooled: str, carry: list[str]):
    """One row per chunk annotation; one row of nulls (n_tokens 0) for a row without any, so that
    removal markers and blank documents stay."""
    from pyspark.sql import functions as F

    chunk = F.col("_sparklong_chunk")
    return frame.select("id", *carry, F.explode_outer(pooled).alias("_sparklong_chunk")).select(
        "id", *carry,
        chunk["metadata"]["chunk"].cast("int").alias("chunk"),
        chunk["begin"].alias("begin"), chunk["end"].alias("end"), chunk["result"].alias("text"),
        chunk["embeddings"].alias("embedding"),
        F.coalesce(chunk["metadata"]["pieces"].cast("int"), F.lit(0)).alias("n_tokens"),
    )


def _output_schema(args):
    import pyarrow as pa

    vectors = [pa.field("embedding", pa.list_(pa.float32())), pa.field("n_tokens", pa.int32())]
    if not _chunks(args):
        return pa.schema(vectors)
    chunk = [pa.field("chunk", pa.int32()), pa.field("begin", pa.int32()), pa.field("end", pa.int32()),
             pa.field("text", pa.string())]
    return pa.schema(chunk + vectors)


SPEC = JobSpec(
    name="embed_corpus",
    description="Embed a corpus with a long-document encoder: one vector per document (or chunk), sharded, "
                "resumable.",
    columns=(("text", "--text-col", "text"),),
    add_arguments=_arguments,
    settings=_settings,
    transform=_transform,
    output_schema=_output_schema,
    tokens_column="n_tokens",
    model_defaults=_model_defaults,
)
