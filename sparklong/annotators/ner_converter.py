"""NerConverter: [document, token, named_entity] -> one CHUNK per entity, from IOB, IOB2 or BIOES tags.

Per DOCUMENT annotation (a document, or a sentence after a sentence detector) its tokens are read in
order, each with the tag of the NAMED_ENTITY annotation that begins where it begins ("O" when none).
One rule set reads every scheme, so none is configured: a chunk starts at B- or S-, at an I-/E- (or a
tag without a prefix) that does not continue the open chunk's entity, and ends at O, after E- or S-,
and at the end of the sentence, so no chunk crosses a sentence boundary.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql.functions import col

from ..annotation import CHUNK, DOCUMENT, NAMED_ENTITY, NO_ENTITY, TOKEN, Annotation, annotation_column
from ..params import HasInputAnnotationCols, HasOutputAnnotationCol, _columns, set_params
from ..udfs.annotation_udf import annotation_udf
from .annotator_types import AnnotatorTypes

_CONTINUES = frozenset({"I", "E", ""})  # "" : a tag without a prefix
_ENDS = frozenset({"E", "S"})


@dataclass(frozen=True)
class ConverterSettings:
    white_list: frozenset = frozenset()  # entities kept; empty: all
    preserve_position: bool = True  # result: the text span (else the tokens' results joined by spaces)
    ner_has_no_schema: bool = False  # tags are bare entity names, without B-/I-/E-/S-


def split_tag(tag: str, no_schema: bool = False) -> tuple[str, str]:
    """(prefix, entity): prefix B, I, E or S, or "" for a tag without one (read as I-)."""
    if not no_schema and len(tag) > 2 and tag[1] == "-" and tag[0] in "BIES":
        return tag[0], tag[2:]
    return "", tag


def tag_runs(tags: list[str], no_schema: bool = False) -> list[tuple[int, int, str]]:
    """(first, last, entity) for each chunk of one sentence's tags; indices inclusive."""
    runs: list[tuple[int, int, str]] = []
    current = None  # [first, last, entity] of the open chunk
    for i, tag in enumerate(tags):
        if not tag or tag == NO_ENTITY:
            prefix, entity = None, None
        else:
            prefix, entity = split_tag(tag, no_schema)
        if current is not None and prefix in _CONTINUES and current[2] == entity:
            current[1] = i
        else:
            if current is not None:
                runs.append(tuple(current))
            current = None if entity is None else [i, i, entity]
        if current is not None and prefix in _ENDS:
            runs.append(tuple(current))
            current = None
    if current is not None:
        runs.append(tuple(current))
    return runs


def _score(tag: Annotation) -> float | None:
    """A token's confidence, where Spark NLP reads it: metadata "confidence", else the score of its own
    label (our token classifier writes every label's score)."""
    value = tag.metadata.get("confidence", tag.metadata.get(tag.result))
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _sentence_tokens(doc: Annotation, tokens: list[Annotation], begins: list[int]) -> list[Annotation]:
    """The tokens (sorted by begin) lying inside the document's span."""
    out = []
    for tok in tokens[bisect_left(begins, doc.begin):]:
        if tok.begin > doc.end:
            break
        if tok.end <= doc.end:
            out.append(tok)
    return out


def convert(documents: list[Annotation], tokens: list[Annotation], tags: list[Annotation],
            settings: ConverterSettings) -> list[Annotation]:
    """CHUNK annotations for one row; `chunk` numbers them across the row after the white list."""
    tokens = sorted(tokens, key=lambda t: t.begin)
    begins = [t.begin for t in tokens]
    tag_at: dict[int, Annotation] = {}
    for tag in tags:
        tag_at.setdefault(tag.begin, tag)
    out = []
    for s, doc in enumerate(documents):
        words = _sentence_tokens(doc, tokens, begins)
        labels = [tag_at[w.begin].result if w.begin in tag_at else NO_ENTITY for w in words]
        for first, last, entity in tag_runs(labels, settings.ner_has_no_schema):
            if settings.white_list and entity not in settings.white_list:
                continue
            span = words[first:last + 1]
            if settings.preserve_position:
                text = (doc.result or "")[span[0].begin - doc.begin:span[-1].end - doc.begin + 1]
            else:
                text = " ".join(w.result for w in span)
            metadata = {"entity": entity, "sentence": str(s), "chunk": str(len(out))}
            scores = [x for x in (_score(tag_at[w.begin]) for w in span) if x is not None]
            if scores:
                metadata["confidence"] = str(sum(scores) / len(scores))
            out.append(Annotation(CHUNK, span[0].begin, span[-1].end, text, metadata))
    return out


class NerConverter(
    Transformer, HasInputAnnotationCols, HasOutputAnnotationCol, DefaultParamsReadable, DefaultParamsWritable,
    AnnotatorTypes,
):
    inputAnnotatorTypes = (DOCUMENT, TOKEN, NAMED_ENTITY)
    outputAnnotatorType = CHUNK
    whiteList = Param(Params._dummy(), "whiteList", "entities kept, without the B-/I- prefix (empty: all)",
                      TypeConverters.toListString)
    preservePosition = Param(
        Params._dummy(), "preservePosition",
        "result is the text span of the chunk's tokens (False: their results joined by spaces)",
        TypeConverters.toBoolean,
    )
    nerHasNoSchema = Param(Params._dummy(), "nerHasNoSchema", "tags are entity names without B-/I-/E-/S- prefixes",
                           TypeConverters.toBoolean)

    @keyword_only
    def __init__(self, *, inputCols=None, outputCol=None, whiteList=None, preservePosition=None,
                 nerHasNoSchema=None):
        super().__init__()
        self._setDefault(inputCols=["document", "token", "ner"], outputCol="ner_chunk", whiteList=[],
                         preservePosition=True, nerHasNoSchema=False)
        set_params(self, self._input_kwargs)

    def setWhiteList(self, *entities):
        return self._set(whiteList=_columns(entities))

    def getWhiteList(self) -> list[str]:
        return self.getOrDefault(self.whiteList)

    def setPreservePosition(self, value: bool):
        return self._set(preservePosition=value)

    def getPreservePosition(self) -> bool:
        return self.getOrDefault(self.preservePosition)

    def setNerHasNoSchema(self, value: bool):
        return self._set(nerHasNoSchema=value)

    def getNerHasNoSchema(self) -> bool:
        return self.getOrDefault(self.nerHasNoSchema)

    def settings(self) -> ConverterSettings:
        return ConverterSettings(frozenset(self.getWhiteList()), self.getPreservePosition(), self.getNerHasNoSchema())

    def light_transform(self, row: dict) -> None:
        documents, tokens, tags = (row[c] for c in self.getInputCols())
        row[self.getOutputCol()] = convert(documents, tokens, tags, self.settings())

    def _transform(self, dataset):
        self.check_input_types(dataset)
        settings = self.settings()
        udf = annotation_udf(lambda docs, tokens, tags: convert(docs, tokens, tags, settings))
        out = self.getOutputCol()
        chunks = udf(*[col(c) for c in self.getInputCols()])
        return dataset.withColumn(out, annotation_column(chunks, out, CHUNK))
