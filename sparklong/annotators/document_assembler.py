"""DocumentAssembler / MultiDocumentAssembler: text column(s) -> one DOCUMENT annotation per row.

Pure core: `clean` and `assemble` (LightPipeline and tests call them on plain strings). Spark layer:
plain column expressions, no Python worker. Both run Spark NLP's cleanup regexes, written so that
Java's regex engine (`regexp_replace`) and Python's `re` read them alike: `\\s` is spelled out as
Java's ASCII class, and trimming is Java's `String.trim` (every char <= U+0020 at both ends).
Offsets count Unicode code points (`len`, Spark's `length`), so `text[begin:end + 1] == result`.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, FloatType, MapType, StringType

from ..annotation import DOCUMENT, Annotation, annotation_column
from ..params import HasInputAnnotationCols, HasOutputAnnotationCol, _columns, check_choice, set_params
from .annotator_types import AnnotatorTypes

CLEANUP_MODES = ("disabled", "inplace", "inplace_full", "shrink", "shrink_full", "each", "each_full", "delete_full")

_WS = r"[ \t\n\x0B\f\r]"  # Java's \s; Python's would also take Unicode spaces
_STR_NL = r"(?:\\r)?(?:\\n)"  # a "stringified" newline: the characters backslash, n (maybe after \r)
_STR_TAB = r"(?:\\t)"
# mode -> (trim first, pattern, replacement): Spark NLP's DocumentAssembler.assemble, one for one
_CLEANUP: dict[str, tuple[bool, str | None, str]] = {
    "disabled": (False, None, ""),
    "inplace": (False, _WS, " "),
    "inplace_full": (False, rf"{_WS}|{_STR_NL}|{_STR_TAB}", " "),
    "shrink": (True, rf"{_WS}+", " "),
    "shrink_full": (True, rf"{_WS}+|(?:\\r)*(?:\\n)+|(?:\\t)+", " "),
    "each": (False, rf"{_WS}[\n\t]", " "),
    "each_full": (False, rf"{_WS}(?:\n|\t|{_STR_NL}|{_STR_TAB})", " "),
    "delete_full": (True, rf"{_STR_NL}|{_STR_TAB}", ""),
}
_JAVA_TRIM_CHARS = "".join(map(chr, range(0x21)))
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_JAVA_TRIM_REGEX = r"^[\x00-\x20]+|[\x00-\x20]+$"


# -- pure core -------------------------------------------------------------------------------------
def clean(text: str | None, mode: str = "disabled") -> str:
    """Spark NLP's cleanupMode applied to one text; null becomes "". Lone surrogates (bytes that were not
    UTF-8, decoded with errors="surrogateescape") become U+FFFD one for one, so offsets do not move; the
    Spark side replaces invalid UTF-8 with U+FFFD too (make_valid_utf8)."""
    check_choice("cleanupMode", mode, CLEANUP_MODES)
    text = "" if text is None else _LONE_SURROGATE.sub("\ufffd", text)
    trim, pattern, replacement = _CLEANUP[mode]
    if trim:
        text = text.strip(_JAVA_TRIM_CHARS)
    return re.sub(pattern, replacement, text) if pattern else text


def assemble(text: str | None, cleanup_mode: str = "disabled", metadata: Mapping[str, Any] | None = None):
    """One DOCUMENT annotation: begin 0, end len-1 (-1 for null or empty text), result the cleaned text."""
    cleaned = clean(text, cleanup_mode)
    meta = {"sentence": "0"} if metadata is None else dict(metadata)
    return [Annotation(DOCUMENT, 0, len(cleaned) - 1, cleaned, meta)]


def assemble_value(value, cleanup_mode: str = "disabled", id_value=None, has_id: bool = False,
                   metadata: Mapping[str, Any] | None = None) -> list[Annotation]:
    """A cell of the input column: a string (plus id/metadata as Spark NLP merges them), or a list of
    strings (one DOCUMENT each, metadata {"sentence": index}; id and metadata ignored, as Spark NLP)."""
    if isinstance(value, (list, tuple)) or (value is not None and hasattr(value, "tolist")):
        texts = list(value.tolist() if hasattr(value, "tolist") else value)
        return [a for i, t in enumerate(texts) for a in assemble(t, cleanup_mode, {"sentence": str(i)})]
    meta = dict(metadata or {})
    if has_id:
        meta["id"] = None if id_value is None else str(id_value)
    meta["sentence"] = "0"
    return assemble(value, cleanup_mode, meta)


# -- Spark layer -----------------------------------------------------------------------------------
def _clean_column(text, mode: str):
    trim, pattern, replacement = _CLEANUP[mode]
    # invalid UTF-8 (e.g. read from files) becomes U+FFFD here, before lengths are taken and before
    # Arrow hands the text to Python workers, which would fail on it
    text = F.coalesce(F.make_valid_utf8(text), F.lit(""))
    if trim:
        text = F.regexp_replace(text, _JAVA_TRIM_REGEX, "")
    return F.regexp_replace(text, pattern, replacement) if pattern else text


def _document_struct(text, mode: str, metadata):
    cleaned = _clean_column(text, mode)
    return F.struct(
        F.lit(DOCUMENT).alias("annotatorType"),
        F.lit(0).alias("begin"),
        (F.length(cleaned) - 1).alias("end"),
        cleaned.alias("result"),
        metadata.alias("metadata"),
        F.array().cast(ArrayType(FloatType(), False)).alias("embeddings"),
    )


def _string_map(*pairs):
    return F.create_map(*[F.lit(p) if isinstance(p, str) else p for pair in pairs for p in pair])


def check_text_column(dataset, column: str, stage: str) -> None:
    """Fail before any Spark job when the column is missing or holds neither strings nor string arrays."""
    fields = {f.name: f.dataType for f in dataset.schema.fields}
    if column not in fields:
        raise ValueError(f"{stage}: input column '{column}' is not in the DataFrame (has {', '.join(fields)})")
    kind = fields[column]
    if not (isinstance(kind, StringType) or (isinstance(kind, ArrayType) and isinstance(kind.elementType, StringType))):
        raise ValueError(
            f"{stage}: input column '{column}' has type {kind.simpleString()}, expected string or array<string>"
        )


class _AssemblerParams(Params):
    idCol = Param(Params._dummy(), "idCol", "id column for row reference", TypeConverters.toString)
    metadataCol = Param(Params._dummy(), "metadataCol", "map<string,string> column merged into metadata",
                        TypeConverters.toString)
    cleanupMode = Param(Params._dummy(), "cleanupMode", "possible values: " + ", ".join(CLEANUP_MODES),
                        TypeConverters.toString)

    def setIdCol(self, value: str):
        return self._set(idCol=value)

    def getIdCol(self) -> str:
        return self.getOrDefault(self.idCol)

    def setMetadataCol(self, value: str):
        return self._set(metadataCol=value)

    def getMetadataCol(self) -> str:
        return self.getOrDefault(self.metadataCol)

    def setCleanupMode(self, value: str):
        mode = str(value).strip().lower()
        check_choice("cleanupMode", mode, CLEANUP_MODES)
        return self._set(cleanupMode=mode)

    def getCleanupMode(self) -> str:
        return self.getOrDefault(self.cleanupMode)

    def _stage_name(self) -> str:
        return type(self).__name__

    def _extras(self, dataset):
        """The metadata map column, merged as Spark NLP does: metadataCol ++ {id, sentence: 0}."""
        fields = {f.name: f.dataType for f in dataset.schema.fields}
        pairs = []
        base = F.create_map().cast(MapType(StringType(), StringType()))
        if self.isDefined(self.metadataCol):
            name = self.getMetadataCol()
            kind = fields.get(name)
            if not (isinstance(kind, MapType) and isinstance(kind.keyType, StringType)):
                found = "missing" if kind is None else kind.simpleString()
                raise ValueError(f"{self._stage_name()}: metadataCol '{name}' must be a map<string,string> column, "
                                 f"got {found}")
            given = F.coalesce(F.col(name).cast(MapType(StringType(), StringType())), base)
            base = F.map_filter(given, lambda k, v: ~k.isin("id", "sentence"))
        if self.isDefined(self.idCol):
            name = self.getIdCol()
            if name not in fields:
                raise ValueError(f"{self._stage_name()}: idCol '{name}' is not in the DataFrame")
            pairs.append(("id", F.col(name).cast(StringType())))
        pairs.append(("sentence", "0"))
        return F.map_concat(base, _string_map(*pairs))

    def _document_column(self, dataset, column: str, out: str):
        check_text_column(dataset, column, self._stage_name())
        mode = self.getCleanupMode()
        kind = dataset.schema[column].dataType
        if isinstance(kind, ArrayType):  # one DOCUMENT per element, sentence = its index
            docs = F.transform(
                F.coalesce(F.col(column), F.array().cast(kind)),
                lambda text, i: _document_struct(text, mode, _string_map(("sentence", i.cast(StringType())))),
            )
        else:
            docs = F.array(_document_struct(F.col(column), mode, self._extras(dataset)))
        return annotation_column(docs, out, DOCUMENT)

    def _local(self, row: dict, column: str) -> list[Annotation]:
        has_id = self.isDefined(self.idCol) and self.getIdCol() in row
        metadata = row.get(self.getMetadataCol()) if self.isDefined(self.metadataCol) else None
        return assemble_value(row.get(column), self.getCleanupMode(),
                              row.get(self.getIdCol()) if has_id else None, has_id, metadata)


class DocumentAssembler(Transformer, _AssemblerParams, HasOutputAnnotationCol, DefaultParamsReadable,
                        DefaultParamsWritable, AnnotatorTypes):
    """Entry point of every pipeline: a string (or array<string>) column -> DOCUMENT annotations."""

    outputAnnotatorType = DOCUMENT

    inputCol = Param(Params._dummy(), "inputCol", "input text column", TypeConverters.toString)

    @keyword_only
    def __init__(self, *, inputCol=None, outputCol=None, idCol=None, metadataCol=None, cleanupMode=None):
        super().__init__()
        self._setDefault(outputCol=DOCUMENT, cleanupMode="disabled")
        set_params(self, self._input_kwargs)

    def setInputCol(self, value: str):
        return self._set(inputCol=value)

    def getInputCol(self) -> str:
        if not self.isDefined(self.inputCol):
            raise ValueError("DocumentAssembler: inputCol is not set (use setInputCol('text'))")
        return self.getOrDefault(self.inputCol)

    def annotate_local(self, text, id=None, metadata: Mapping[str, Any] | None = None) -> list[Annotation]:
        """The DOCUMENT annotations for one plain string (or list of strings), as the DataFrame path."""
        has_id = self.isDefined(self.idCol) or id is not None
        return assemble_value(text, self.getCleanupMode(), id, has_id, metadata)

    def light_transform(self, row: dict) -> None:
        row[self.getOutputCol()] = self._local(row, self.getInputCol())

    def _transform(self, dataset):
        column = self.getInputCol()
        return dataset.withColumn(self.getOutputCol(), self._document_column(dataset, column, self.getOutputCol()))


class MultiDocumentAssembler(Transformer, _AssemblerParams, HasInputAnnotationCols, DefaultParamsReadable,
                             DefaultParamsWritable, AnnotatorTypes):
    """Several text columns -> one DOCUMENT column each (e.g. question and context for QA)."""

    outputAnnotatorType = DOCUMENT

    outputCols = Param(Params._dummy(), "outputCols", "output annotation columns, one per input column",
                       TypeConverters.toListString)

    @keyword_only
    def __init__(self, *, inputCols=None, outputCols=None, idCol=None, metadataCol=None, cleanupMode=None):
        super().__init__()
        self._setDefault(cleanupMode="disabled")
        set_params(self, self._input_kwargs)

    def setOutputCols(self, *cols):
        return self._set(outputCols=_columns(cols))

    def getOutputCols(self) -> list[str]:
        """Spark NLP's default: "finished_" + each input column."""
        if self.isDefined(self.outputCols):
            return self.getOrDefault(self.outputCols)
        return ["finished_" + c for c in self.getInputCols()]

    def getInputCols(self) -> list[str]:
        if not self.isDefined(self.inputCols):
            raise ValueError("MultiDocumentAssembler: inputCols is not set (use setInputCols('question', 'context'))")
        return self.getOrDefault(self.inputCols)

    def _pairs(self) -> list[tuple[str, str]]:
        inputs, outputs = self.getInputCols(), self.getOutputCols()
        if len(inputs) != len(outputs):
            raise ValueError(f"MultiDocumentAssembler: inputCols ({len(inputs)}) and outputCols ({len(outputs)}) "
                             "must have the same length")
        return list(zip(inputs, outputs))

    def output_types(self) -> dict[str, str]:
        return {out: DOCUMENT for out in self.getOutputCols()}

    def annotate_local(self, *texts) -> list[list[Annotation]]:
        """One DOCUMENT annotation list per input text, in inputCols order."""
        return [assemble_value(t, self.getCleanupMode()) for t in texts]

    def light_transform(self, row: dict) -> None:
        for column, out in self._pairs():
            row[out] = self._local(row, column)

    def _transform(self, dataset):
        pairs = self._pairs()
        columns = {out: self._document_column(dataset, column, out) for column, out in pairs}
        return dataset.withColumns(columns)
