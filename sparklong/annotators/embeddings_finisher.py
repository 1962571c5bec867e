"""EmbeddingsFinisher: annotation columns -> arrays of vectors (Spark ML vectors or array<float>)."""
from __future__ import annotations

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.functions import array_to_vector
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import functions as F

from ..annotation import SENTENCE_EMBEDDINGS, WORD_EMBEDDINGS, is_annotation_column
from ..params import HasInputAnnotationCols, set_params
from .annotator_types import AnnotatorTypes


class EmbeddingsFinisher(Transformer, HasInputAnnotationCols, DefaultParamsReadable, DefaultParamsWritable,
                         AnnotatorTypes):
    inputAnnotatorTypes = ((WORD_EMBEDDINGS, SENTENCE_EMBEDDINGS),)
    variadicInputs = True
    outputCols = Param(Params._dummy(), "outputCols", "one output column per input", TypeConverters.toListString)
    outputAsVector = Param(
        Params._dummy(), "outputAsVector", "Spark ML vectors instead of array<float>", TypeConverters.toBoolean
    )
    cleanAnnotations = Param(
        Params._dummy(), "cleanAnnotations", "drop every annotation column from the output", TypeConverters.toBoolean
    )

    @keyword_only
    def __init__(self, *, inputCols=None, outputCols=None, outputAsVector=None, cleanAnnotations=None):
        super().__init__()
        self._setDefault(inputCols=["sentence_embeddings"], outputAsVector=False, cleanAnnotations=False)
        set_params(self, self._input_kwargs)

    def setOutputCols(self, *cols):
        cols = cols[0] if len(cols) == 1 and isinstance(cols[0], (list, tuple)) else cols
        return self._set(outputCols=list(cols))

    def getOutputCols(self) -> list[str]:
        if self.isDefined(self.outputCols):
            return self.getOrDefault(self.outputCols)
        return [f"finished_{c}" for c in self.getInputCols()]

    def setOutputAsVector(self, value: bool):
        return self._set(outputAsVector=value)

    def getOutputAsVector(self) -> bool:
        return self.getOrDefault(self.outputAsVector)

    def setCleanAnnotations(self, value: bool):
        return self._set(cleanAnnotations=value)

    def getCleanAnnotations(self) -> bool:
        return self.getOrDefault(self.cleanAnnotations)

    def output_types(self) -> dict[str, str]:
        return {}  # vectors, not annotations

    def light_transform(self, row: dict) -> None:
        for source, target in zip(self.getInputCols(), self.getOutputCols()):
            row[target] = [a.embeddings_list() for a in row.get(source) or []]

    def _transform(self, dataset):
        inputs, outputs = self.getInputCols(), self.getOutputCols()
        self.check_input_types(dataset)
        if len(inputs) != len(outputs):
            raise ValueError(f"EmbeddingsFinisher: {len(inputs)} inputCols but {len(outputs)} outputCols")
        as_vector = self.getOutputAsVector()
        for source, target in zip(inputs, outputs):
            vectors = F.transform(F.col(source), lambda a: a["embeddings"])  # array<array<float>>
            if as_vector:
                vectors = F.transform(vectors, lambda v: array_to_vector(v))
            dataset = dataset.withColumn(target, F.coalesce(vectors, F.array()))
        if self.getCleanAnnotations():
            dataset = dataset.drop(*[f.name for f in dataset.schema.fields if is_annotation_column(f.dataType)])
        return dataset
