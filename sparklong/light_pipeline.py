"""LightPipeline: run a fitted PipelineModel on plain strings in this process, without a Spark job.

Every sparklong stage implements `light_transform(row)`: given a dict of column -> value (annotation
lists for annotation columns), it adds its output column using the same core as its Spark UDF, so
results equal the DataFrame path.
"""
from __future__ import annotations

from typing import Any

from .annotation import Annotation
from .annotators.annotator_types import check_pipeline_chain


_MISSING = object()


class LightPipeline:
    def __init__(self, pipeline_model, parse_embeddings: bool = False):
        self.stages = list(getattr(pipeline_model, "stages", [pipeline_model]))
        for stage in self.stages:
            if not hasattr(stage, "light_transform"):
                raise ValueError(f"LightPipeline: stage {type(stage).__name__} cannot run without Spark")
        self.parse_embeddings = parse_embeddings
        self.input_cols = self._input_cols()
        check_pipeline_chain(self.stages, self.input_cols)  # wrong or missing inputCols fail here

    def _input_cols(self) -> list[str]:
        """The text columns the first stage reads: one (DocumentAssembler), or one per input column
        of a MultiDocumentAssembler (question and context for QA)."""
        from .annotators.document_assembler import MultiDocumentAssembler

        first = self.stages[0]
        if isinstance(first, MultiDocumentAssembler):
            return list(first.getInputCols())
        return [first.getInputCol() if hasattr(first, "getInputCol") else "text"]

    def _run(self, texts: list) -> dict[str, Any]:
        if len(texts) != len(self.input_cols):
            raise ValueError(f"LightPipeline: the pipeline reads {len(self.input_cols)} text column(s) "
                             f"({', '.join(self.input_cols)}), got {len(texts)} text(s)")
        for text in texts:
            if text is not None and not isinstance(text, str):
                raise ValueError(f"LightPipeline: expected a string or a list of strings, got {type(text).__name__}")
        row: dict[str, Any] = dict(zip(self.input_cols, texts))
        for stage in self.stages:
            stage.light_transform(row)
        return row

    def fullAnnotate(self, target, optional_target=_MISSING) -> list[dict[str, list[Annotation]]]:
        """[{output column: [Annotation, ...]}], one dict per input, as Spark NLP's: a list of one dict
        for a string (or a question and a context, for a pipeline that starts with a
        MultiDocumentAssembler), a list of dicts for lists of strings."""
        texts = [target] if optional_target is _MISSING else [target, optional_target]
        if isinstance(target, (list, tuple)):
            if any(not isinstance(t, (list, tuple)) or len(t) != len(target) for t in texts):
                raise ValueError("LightPipeline: target and optional_target must be lists of the same length")
            return [self._annotations(list(row)) for row in zip(*texts)]
        return [self._annotations(texts)]

    def annotate(self, target, optional_target=_MISSING):
        """{output column: [result strings]} (plus vectors when parse_embeddings) for a string, a list
        of those for lists of strings, as Spark NLP's."""
        full = [self._results(f) for f in self.fullAnnotate(target, optional_target)]
        return full if isinstance(target, (list, tuple)) else full[0]

    def transform(self, dataset):
        """The pipeline over a DataFrame, as Spark NLP's LightPipeline.transform: the Spark path."""
        from pyspark.ml import PipelineModel

        return PipelineModel(self.stages).transform(dataset)

    def _annotations(self, texts: list) -> dict[str, list[Annotation]]:
        row = self._run(texts)
        return {k: v for k, v in row.items() if k not in self.input_cols and _is_annotations(v)}

    def _results(self, full: dict[str, list[Annotation]]) -> dict[str, list]:
        out: dict[str, list] = {}
        for column, found in full.items():
            if self.parse_embeddings and any(len(a.embeddings) for a in found):
                out[column] = [a.embeddings_list() for a in found]
            else:
                out[column] = [a.result for a in found]
        return out


def _is_annotations(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, Annotation) for v in value)
