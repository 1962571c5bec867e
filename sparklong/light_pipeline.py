"""LightPipeline: run a fitted PipelineModel on plain strings in this process, without a Spark job.

Every sparklong stage implements `light_transform(row)`: given a dict of column -> value (annotation
lists for annotation columns), it adds its output column using the same core as its Spark UDF, so
results equal the DataFrame path.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .annotation import Annotation
from .annotators.annotator_types import check_pipeline_chain


class LightPipeline:
    def __init__(self, pipeline_model, parse_embeddings: bool = False):
        self.stages = list(getattr(pipeline_model, "stages", [pipeline_model]))
        for stage in self.stages:
            if not hasattr(stage, "light_transform"):
                raise ValueError(f"LightPipeline: stage {type(stage).__name__} cannot run without Spark")
        self.parse_embeddings = parse_embeddings
        self.input_col = self._input_col()
        check_pipeline_chain(self.stages, self.input_col)  # wrong or missing inputCols fail here

    def _input_col(self) -> str:
        first = self.stages[0]
        return first.getInputCol() if hasattr(first, "getInputCol") else "text"

    def _run(self, text: str | None) -> dict[str, Any]:
        if text is not None and not isinstance(text, str):
            raise ValueError(f"LightPipeline: expected a string or a list of strings, got {type(text).__name__}")
        row: dict[str, Any] = {self.input_col: text}
        for stage in self.stages:
            stage.light_transform(row)
        return row

    def fullAnnotate(self, target: str | list[str]):
        """{output column: [Annotation, ...]} for a string; a list of those for a list of strings."""
        if isinstance(target, (list, tuple)):
            return [self.fullAnnotate(t) for t in target]
        row = self._run(target)
        return {k: v for k, v in row.items() if k != self.input_col and _is_annotations(v)}

    def annotate(self, target: str | list[str]):
        """{output column: [result strings]} (plus vectors when parse_embeddings), as Spark NLP's."""
        if isinstance(target, (list, tuple)):
            return [self.annotate(t) for t in target]
        full = self.fullAnnotate(target)
        out: dict[str, list] = {}
        for column, annotations in full.items():
            if self.parse_embeddings and any(len(a.embeddings) for a in annotations):
                out[column] = [np.asarray(a.embeddings, dtype=np.float32).tolist() for a in annotations]
            else:
                out[column] = [a.result for a in annotations]
        return out


def _is_annotations(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, Annotation) for v in value)
