"""answer_questions: (id, question, context) -> (id, answer, begin, end, score), one answer per row.

The pipeline: MultiDocumentAssembler(question, context) -> the model architecture's question answering
stage (LongformerForQuestionAnswering, ModernBertForQuestionAnswering; one CHUNK
annotation per row: result = the answer, begin/end = inclusive character offsets into the context,
metadata score). A saved PipelineModel runs as saved, finished on its last question-answering stage.
A row whose question or context is null or blank gets null answer, begin, end and score; the row stays.
"""
from __future__ import annotations

import argparse

from .engine_flags import apply_engine_flags
from .job_error import JobError
from .model_ref import ModelRef
from .runner import JobSpec, ModelTransform

ANSWER = "answer"


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--doc-stride", type=int, default=128, help="context pieces shared by consecutive windows (128)")
    p.add_argument("--batch-size", type=int, default=4, help="windows per forward pass, at most (default 4)")


def _settings(args) -> dict:
    return {"max_sentence_length": args.max_sentence_length, "doc_stride": args.doc_stride}


def _stages(args, model: ModelRef) -> tuple[list, list[str], str]:
    """(stages, [question input column, context input column], answer column)."""
    from .. import MultiDocumentAssembler
    from ..annotators.question_answering_stage import QuestionAnsweringStage
    from ..annotators.stage_families import stage_class

    if model.pipeline is not None:
        stages = list(model.pipeline.stages)
        answers = [s for s in stages if isinstance(s, QuestionAnsweringStage)]
        if not stages or not isinstance(stages[0], MultiDocumentAssembler) or not answers:
            raise JobError(f"the saved pipeline {model.name} must start with a MultiDocumentAssembler and hold a "
                           "question answering stage (LongformerForQuestionAnswering, ...)")
        return stages, stages[0].getInputCols(), answers[-1].getOutputCol()
    documents = MultiDocumentAssembler().setInputCols(["question", "context"]) \
        .setOutputCols(["document_question", "document_context"])
    try:
        qa = stage_class(model.model_type, "ForQuestionAnswering").loadSavedModel(model.folder) \
            .setInputCols(["document_question", "document_context"]).setOutputCol(ANSWER) \
            .setMaxSentenceLength(args.max_sentence_length).setDocStride(args.doc_stride) \
            .setBatchSize(args.batch_size)
    except ValueError as exc:
        raise JobError(str(exc)) from exc
    return [documents, qa], ["question", "context"], ANSWER


def _transform(args, model: ModelRef):
    from pyspark.ml import PipelineModel
    from pyspark.sql import functions as F

    stages, inputs, answer = _stages(args, model)
    engines = apply_engine_flags(stages, args)
    pipeline = PipelineModel(stages)

    def run(frame, carry: list[str]):
        for canonical, column in zip(("question", "context"), inputs):
            if canonical != column:
                frame = frame.withColumnRenamed(canonical, column)
        best = F.get(F.col(answer), 0)  # null when there is no answer
        return pipeline.transform(frame).select(
            "id", *carry, best["result"].alias("answer"), best["begin"].alias("begin"), best["end"].alias("end"),
            best["metadata"]["score"].cast("float").alias("score"),
        )

    return ModelTransform(run, engines)


def _output_schema(args):
    import pyarrow as pa

    return pa.schema([pa.field("answer", pa.string()), pa.field("begin", pa.int32()), pa.field("end", pa.int32()),
                      pa.field("score", pa.float32())])


SPEC = JobSpec(
    name="answer_questions",
    description="Answer questions over long contexts with a long-document encoder: one answer per row, sharded, "
                "resumable.",
    columns=(("question", "--question-col", "question"), ("context", "--context-col", "context")),
    add_arguments=_arguments,
    settings=_settings,
    transform=_transform,
    output_schema=_output_schema,
)
