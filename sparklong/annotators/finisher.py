"""Finisher: annotation columns -> plain string columns (arrays of results, or one joined string), as
Spark NLP's Finisher. Spark SQL expressions over the annotation arrays: it runs in the JVM, no Python."""
from __future__ import annotations

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column
from pyspark.sql import functions as F

from ..annotation import SENTENCE_EMBEDDINGS, WORD_EMBEDDINGS, Annotation, is_annotation_column
from ..params import HasInputAnnotationCols, _columns, set_params
from .annotator_types import AnnotatorTypes


def _flag(name: str, doc: str) -> Param:
    return Param(Params._dummy(), name, doc, TypeConverters.toBoolean)


def _symbol(name: str, doc: str) -> Param:
    return Param(Params._dummy(), name, doc, TypeConverters.toString)


class Finisher(Transformer, HasInputAnnotationCols, DefaultParamsReadable, DefaultParamsWritable, AnnotatorTypes):
    inputAnnotatorTypes = ((),)  # any annotation type
    variadicInputs = True
    outputCols = Param(Params._dummy(), "outputCols", "one output column per input (default finished_<input>)",
                       TypeConverters.toListString)
    outputAsArray = _flag("outputAsArray", "array<string> of results (False: one string joined by annotationSplitSymbol)")
    includeMetadata = _flag("includeMetadata", "add the metadata: <output>_metadata columns, or inside the string")
    cleanAnnotations = _flag("cleanAnnotations", "drop every annotation column from the output")
    parseEmbeddingsVectors = _flag("parseEmbeddingsVectors", "embeddings annotations give their vector as the result")
    annotationSplitSymbol = _symbol("annotationSplitSymbol", "separates annotations in a string output")
    valueSplitSymbol = _symbol("valueSplitSymbol", "separates values (metadata entries, vector values) in a string")

    @keyword_only
    def __init__(self, *, inputCols=None, outputCols=None, outputAsArray=None, includeMetadata=None,
                 cleanAnnotations=None, parseEmbeddingsVectors=None, annotationSplitSymbol=None,
                 valueSplitSymbol=None):
        super().__init__()
        self._setDefault(outputAsArray=True, includeMetadata=False, cleanAnnotations=True,
                         parseEmbeddingsVectors=False, annotationSplitSymbol="@", valueSplitSymbol="#")
        set_params(self, self._input_kwargs)

    # -- params ------------------------------------------------------------------------------------
    def setOutputCols(self, *cols):
        return self._set(outputCols=_columns(cols))

    def getOutputCols(self) -> list[str]:
        if self.isDefined(self.outputCols):
            return self.getOrDefault(self.outputCols)
        return [f"finished_{c}" for c in self.getInputCols()]

    def setOutputAsArray(self, value: bool):
        return self._set(outputAsArray=value)

    def getOutputAsArray(self) -> bool:
        return self.getOrDefault(self.outputAsArray)

    def setIncludeMetadata(self, value: bool):
        return self._set(includeMetadata=value)

    def getIncludeMetadata(self) -> bool:
        return self.getOrDefault(self.includeMetadata)

    def setCleanAnnotations(self, value: bool):
        return self._set(cleanAnnotations=value)

    def getCleanAnnotations(self) -> bool:
        return self.getOrDefault(self.cleanAnnotations)

    def setParseEmbeddingsVectors(self, value: bool):
        return self._set(parseEmbeddingsVectors=value)

    def getParseEmbeddingsVectors(self) -> bool:
        return self.getOrDefault(self.parseEmbeddingsVectors)

    def setAnnotationSplitSymbol(self, value: str):
        return self._set(annotationSplitSymbol=_text("annotationSplitSymbol", value))

    def getAnnotationSplitSymbol(self) -> str:
        return self.getOrDefault(self.annotationSplitSymbol)

    def setValueSplitSymbol(self, value: str):
        return self._set(valueSplitSymbol=_text("valueSplitSymbol", value))

    def getValueSplitSymbol(self) -> str:
        return self.getOrDefault(self.valueSplitSymbol)

    def output_types(self) -> dict[str, str]:
        return {}  # strings, not annotations

    # -- running -----------------------------------------------------------------------------------
    def light_transform(self, row: dict) -> None:
        """As Spark NLP's LightPipeline: a Finisher keeps only its input columns' annotations."""
        keep = set(self.getInputCols())
        for column in [c for c, v in row.items() if c not in keep and _is_annotation_list(v)]:
            del row[column]

    def _transform(self, dataset):
        if not self.isDefined(self.inputCols):
            raise ValueError("Finisher: inputCols must be set (the annotation columns to finish)")
        inputs, outputs = self.getInputCols(), self.getOutputCols()
        if len(inputs) != len(outputs):
            raise ValueError(f"Finisher: {len(inputs)} inputCols but {len(outputs)} outputCols; they must match")
        self.check_input_types(dataset)
        as_array, metadata = self.getOutputAsArray(), self.getIncludeMetadata()
        finished, metadata_cols = {}, {}  # the metadata columns after every output, as Spark NLP
        for source, target in zip(inputs, outputs):
            annotations = F.col(source)
            if as_array:
                finished[target] = _or_empty(F.transform(annotations, self._result(" ")), "array<string>")
                if metadata:
                    metadata_cols[f"{target}_metadata"] = _or_empty(
                        F.transform(annotations, lambda a: a["metadata"]), "array<map<string,string>>")
            else:
                one = self._detail if metadata else self._result(self.getValueSplitSymbol())
                joined = F.array_join(F.transform(annotations, one), self.getAnnotationSplitSymbol())
                finished[target] = F.coalesce(joined, F.lit(""))
        dataset = dataset.withColumns({**finished, **metadata_cols})
        if self.getCleanAnnotations():
            dataset = dataset.drop(*[f.name for f in dataset.schema.fields if is_annotation_column(f.dataType)])
        return dataset

    def _result(self, separator: str):
        """annotation -> its result, or (parseEmbeddingsVectors) an embeddings annotation's vector joined."""
        def result(a: Column) -> Column:
            if not self.getParseEmbeddingsVectors():
                return a["result"]
            return F.when(_is_embeddings(a), _vector(a, separator)).otherwise(a["result"])
        return result

    def _detail(self, a: Column) -> Column:
        """annotation -> "key->value" for each metadata entry, then result (and embeddings), joined."""
        entries = F.transform(F.map_entries(F.coalesce(a["metadata"], F.create_map().cast("map<string,string>"))),
                              lambda e: F.concat(e["key"], F.lit("->"), e["value"]))
        entries = F.concat(entries, F.array(F.concat(F.lit("result->"), F.coalesce(a["result"], F.lit("")))))
        if self.getParseEmbeddingsVectors():
            vector = F.when(_is_embeddings(a), F.array(F.concat(F.lit("embeddings->"),
                                                                _vector(a, self.getValueSplitSymbol()))))
            entries = F.concat(entries, _or_empty(vector, "array<string>"))
        return F.array_join(entries, self.getValueSplitSymbol())


def _is_embeddings(a: Column) -> Column:
    return a["annotatorType"].isin(WORD_EMBEDDINGS, SENTENCE_EMBEDDINGS)


def _vector(a: Column, separator: str) -> Column:
    values = F.transform(_or_empty(a["embeddings"], "array<float>"), lambda v: v.cast("string"))
    return F.array_join(values, separator)


def _or_empty(value: Column, array_type: str) -> Column:
    """A null annotation array gives an empty array, so the row keeps a value."""
    return F.coalesce(value, F.array().cast(array_type))


def _text(name: str, value) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {value!r}")
    return value


def _is_annotation_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, Annotation) for v in value)
