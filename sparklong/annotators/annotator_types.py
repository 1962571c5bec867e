"""Which annotator types a stage reads and writes (Spark NLP's inputAnnotatorTypes /
outputAnnotatorType), checked before any Spark job and when a LightPipeline is built.

Output columns carry their type in the column metadata ({"annotatorType": ...}) as in Spark NLP; an
annotation column without that metadata (built by hand, read from an old file) is accepted as is.
"""
from __future__ import annotations

from typing import Sequence

from ..annotation import is_annotation_column

_SCHEMA = "array<struct<annotatorType,begin,end,result,metadata,embeddings>>"


class AnnotatorTypes:
    """Mixin: one entry per input column (a type, or a tuple of accepted types; () accepts any) and the
    output type."""

    inputAnnotatorTypes: tuple = ()
    outputAnnotatorType: str | None = None
    variadicInputs = False  # True: the one entry of inputAnnotatorTypes applies to every input column

    def input_types(self) -> list[tuple[str, ...]]:
        types = [t if isinstance(t, tuple) else (t,) for t in self.inputAnnotatorTypes]
        return types * len(self.getInputCols()) if self.variadicInputs else types

    def output_types(self) -> dict[str, str]:
        """Annotation columns this stage adds -> their annotator type."""
        return {self.getOutputCol(): self.outputAnnotatorType} if self.outputAnnotatorType else {}

    def check_input_types(self, dataset) -> None:
        require_annotation_columns(dataset, self.getInputCols(), type(self).__name__, self.input_types())


def _names(types: Sequence[str]) -> str:
    return " or ".join(t.upper() for t in types) if types else "any"


def require_annotation_columns(dataset, columns: list[str], stage: str, types: Sequence[Sequence[str]]) -> None:
    """Fail before any Spark job when an input column is missing, is not an annotation column, or its
    metadata names another annotator type (types: one tuple of accepted types per column)."""
    fields = {f.name: f for f in dataset.schema.fields}
    if len(types) != len(columns):
        raise ValueError(f"{stage}: inputCols must be {len(types)} columns holding "
                         f"{', '.join(_names(t) for t in types)} annotations, got {columns}")
    for col, accepted in zip(columns, types):
        if col not in fields:
            raise ValueError(f"{stage}: input column '{col}' is not in the DataFrame (has {', '.join(fields)})")
        field = fields[col]
        wanted = f"{_names(accepted)} annotations"
        if not is_annotation_column(field.dataType):
            raise ValueError(f"{stage}: input column '{col}' has type {field.dataType.simpleString()}, expected an "
                             f"annotation column of {wanted} ({_SCHEMA})")
        found = (field.metadata or {}).get("annotatorType")
        if found is not None and accepted and found not in accepted:
            raise ValueError(f"{stage}: input column '{col}' holds {found} annotations, expected {wanted} "
                             f"(inputCols {columns} must hold {', '.join(_names(t) for t in types)} in this order)")


def check_pipeline_chain(stages: Sequence, input_cols: Sequence[str]) -> None:
    """LightPipeline: every declared input column is made by an earlier stage with an accepted type.
    Stages that declare nothing are trusted, and after one of them missing columns are not reported."""
    made: dict[str, str | None] = dict.fromkeys(input_cols)  # column -> annotator type (None: plain text)
    all_declared = True
    for stage in stages:
        name = type(stage).__name__
        if isinstance(stage, AnnotatorTypes) and stage.inputAnnotatorTypes:
            columns = stage.getInputCols()
            types = stage.input_types()
            if len(types) != len(columns):
                raise ValueError(f"{name}: inputCols must be {len(types)} columns, got {columns}")
            for col, accepted in zip(columns, types):
                if col not in made:
                    if all_declared:
                        raise ValueError(f"{name}: input column '{col}' is made by no earlier stage "
                                         f"(columns so far: {', '.join(made)})")
                elif made[col] is None or (accepted and made[col] not in accepted):
                    held = f"{made[col]} annotations" if made[col] else "plain text"
                    raise ValueError(f"{name}: input column '{col}' holds {held}, expected {_names(accepted)} "
                                     "annotations")
        if isinstance(stage, AnnotatorTypes):
            made.update(stage.output_types())
        else:
            all_declared = False
