"""SentenceDetector: DOCUMENT annotations -> one DOCUMENT annotation per sentence, as Spark NLP's
(rule-based, pragmatic; the rules are in cores/sentence_rules.py).

Each input DOCUMENT annotation (every input column, in order) is split; offsets point into the row's
text (the document's begin added), result == the document's text at those offsets, metadata = the
document's metadata plus `sentence`, the sentence's index within the row (from 0). splitLength cuts
long sentences between words; sentences shorter than minLength or longer than maxLength are dropped
(Spark NLP's filter). explodeSentences turns the DataFrame into one row per sentence.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Iterable

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import functions as F

from ..annotation import DOCUMENT, Annotation, annotation_column
from ..cores.sentence_rules import SentenceRules, cut_at_words, sentence_spans, validate_rules
from ..params import HasInputAnnotationCols, HasOutputAnnotationCol, check_range, set_params
from .annotator_types import AnnotatorTypes

MAX_INT = 2**31 - 1


@dataclass(frozen=True)
class SentenceSettings:
    rules: SentenceRules = SentenceRules()
    split_length: int | None = None
    min_length: int = 0
    max_length: int = 99999


def detect_sentences(documents: Iterable[Annotation],
                     settings: SentenceSettings = SentenceSettings()) -> list[Annotation]:
    """The sentences of the DOCUMENT annotations given, indexed from 0 across all of them."""
    out: list[Annotation] = []
    for doc in documents:
        if doc.annotatorType != DOCUMENT:
            continue
        text = doc.result or ""
        for begin, end in sentence_spans(text, settings.rules):
            pieces = cut_at_words(text, begin, end, settings.split_length) if settings.split_length else [(begin, end)]
            for b, e in pieces:
                if settings.min_length <= e - b + 1 <= settings.max_length:
                    meta = {**doc.metadata, "sentence": str(len(out))}
                    out.append(Annotation(DOCUMENT, doc.begin + b, doc.begin + e, text[b : e + 1], meta))
    return out


def _detect_columns(settings: SentenceSettings, *columns: list[Annotation]) -> list[Annotation]:
    return detect_sentences([a for annotations in columns for a in annotations], settings)


class SentenceDetector(
    Transformer, HasInputAnnotationCols, HasOutputAnnotationCol, DefaultParamsReadable, DefaultParamsWritable,
    AnnotatorTypes,
):
    inputAnnotatorTypes = (DOCUMENT,)
    variadicInputs = True  # every input column holds DOCUMENT annotations
    outputAnnotatorType = DOCUMENT

    useAbbreviations = Param(Params._dummy(), "useAbbreviations", "whether to apply abbreviations at sentence "
                             "detection", TypeConverters.toBoolean)
    detectLists = Param(Params._dummy(), "detectLists", "whether to take lists into consideration at sentence "
                        "detection", TypeConverters.toBoolean)
    customBounds = Param(Params._dummy(), "customBounds", "regexes that also mark sentence bounds",
                         TypeConverters.toListString)
    useCustomBoundsOnly = Param(Params._dummy(), "useCustomBoundsOnly", "only split at customBounds (when set)",
                                TypeConverters.toBoolean)
    customBoundsStrategy = Param(Params._dummy(), "customBoundsStrategy",
                                 "what becomes of a matched custom bound: none (dropped), prepend (starts the next "
                                 "sentence) or append (ends the previous one)", TypeConverters.toString)
    explodeSentences = Param(Params._dummy(), "explodeSentences", "one DataFrame row per sentence",
                             TypeConverters.toBoolean)
    splitLength = Param(Params._dummy(), "splitLength", "length at which sentences are cut (between words)",
                        TypeConverters.toInt)
    minLength = Param(Params._dummy(), "minLength", "shorter sentences are dropped", TypeConverters.toInt)
    maxLength = Param(Params._dummy(), "maxLength", "longer sentences are dropped", TypeConverters.toInt)

    @keyword_only
    def __init__(self, *, inputCols=None, outputCol=None, useAbbreviations=None, detectLists=None, customBounds=None,
                 useCustomBoundsOnly=None, customBoundsStrategy=None, explodeSentences=None, splitLength=None,
                 minLength=None, maxLength=None):
        super().__init__()
        self._setDefault(inputCols=["document"], outputCol="sentence", useAbbreviations=True, detectLists=True,
                         customBounds=[], useCustomBoundsOnly=False, customBoundsStrategy="none",
                         explodeSentences=False, minLength=0, maxLength=99999)
        set_params(self, self._input_kwargs)

    # setters and getters, Spark NLP's names
    def setUseAbbreviations(self, value: bool):
        return self._set(useAbbreviations=value)

    def getUseAbbreviations(self) -> bool:
        return self.getOrDefault(self.useAbbreviations)

    def setDetectLists(self, value: bool):
        return self._set(detectLists=value)

    def getDetectLists(self) -> bool:
        return self.getOrDefault(self.detectLists)

    def setCustomBounds(self, value: list[str]):
        value = TypeConverters.toListString(list(value) if isinstance(value, tuple) else value)
        validate_rules(replace(self.rules(), custom_bounds=tuple(value)))
        return self._set(customBounds=value)

    def getCustomBounds(self) -> list[str]:
        return list(self.getOrDefault(self.customBounds))

    def setUseCustomBoundsOnly(self, value: bool):
        return self._set(useCustomBoundsOnly=value)

    def getUseCustomBoundsOnly(self) -> bool:
        return self.getOrDefault(self.useCustomBoundsOnly)

    def setCustomBoundsStrategy(self, value: str):
        validate_rules(replace(self.rules(), custom_bounds_strategy=value))
        return self._set(customBoundsStrategy=value)

    def getCustomBoundsStrategy(self) -> str:
        return self.getOrDefault(self.customBoundsStrategy)

    def setExplodeSentences(self, value: bool):
        return self._set(explodeSentences=value)

    def getExplodeSentences(self) -> bool:
        return self.getOrDefault(self.explodeSentences)

    def setSplitLength(self, value: int):
        check_range("splitLength", int(value), 1, MAX_INT)
        return self._set(splitLength=value)

    def getSplitLength(self) -> int | None:
        return self.getOrDefault(self.splitLength) if self.isDefined(self.splitLength) else None

    def setMinLength(self, value: int):
        check_range("minLength", int(value), 0, MAX_INT)
        return self._set(minLength=value)

    def getMinLength(self) -> int:
        return self.getOrDefault(self.minLength)

    def setMaxLength(self, value: int):
        check_range("maxLength", int(value), self.getMinLength(), MAX_INT)  # Spark NLP: maxLength >= minLength
        return self._set(maxLength=value)

    def getMaxLength(self) -> int:
        return self.getOrDefault(self.maxLength)

    def rules(self) -> SentenceRules:
        return SentenceRules(
            use_abbreviations=self.getUseAbbreviations(), detect_lists=self.getDetectLists(),
            custom_bounds=tuple(self.getCustomBounds()), use_custom_bounds_only=self.getUseCustomBoundsOnly(),
            custom_bounds_strategy=self.getCustomBoundsStrategy(),
        )

    def settings(self) -> SentenceSettings:
        """The validated settings (minLength set after maxLength is checked here)."""
        rules = self.rules()
        validate_rules(rules)
        check_range("maxLength", self.getMaxLength(), self.getMinLength(), MAX_INT)
        return SentenceSettings(rules, self.getSplitLength(), self.getMinLength(), self.getMaxLength())

    def light_transform(self, row: dict) -> None:
        """LightPipeline: every sentence in the row's list (explodeSentences has no rows to make here)."""
        columns = [row.get(c) or [] for c in self.getInputCols()]
        row[self.getOutputCol()] = _detect_columns(self.settings(), *columns)

    def _transform(self, dataset):
        from ..udfs.annotation_udf import annotation_udf

        self.check_input_types(dataset)  # DOCUMENT columns, before any Spark job
        udf = annotation_udf(partial(_detect_columns, self.settings()))
        out = self.getOutputCol()
        sentences = udf(*[F.col(c) for c in self.getInputCols()])
        result = dataset.withColumn(out, annotation_column(sentences, out, DOCUMENT))
        return _explode(result, out) if self.getExplodeSentences() else result


def _explode(dataset, out: str):
    """One row per sentence, every other column copied; the sentence column holds that one sentence.
    A row without sentences is kept with an empty array (Spark NLP's explode drops it)."""
    tmp = "__sentence"
    others = [F.col(f"`{c}`") for c in dataset.columns if c != out]
    rows = dataset.select(*others, F.explode_outer(F.col(f"`{out}`")).alias(tmp))
    one = F.filter(F.array(F.col(tmp)), lambda a: a.isNotNull())
    return rows.withColumn(out, annotation_column(one, out, DOCUMENT)).drop(tmp)
