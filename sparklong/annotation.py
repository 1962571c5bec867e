"""Spark NLP's annotation schema, and an `Annotation` value type for local (driver-side) use.

An annotation column is array<struct<annotatorType, begin, end, result, metadata, embeddings>>;
begin and end are inclusive character offsets into the document.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

DOCUMENT = "document"
TOKEN = "token"
WORD_EMBEDDINGS = "word_embeddings"
SENTENCE_EMBEDDINGS = "sentence_embeddings"
CHUNK = "chunk"
CATEGORY = "category"
NAMED_ENTITY = "named_entity"
NO_ENTITY = "O"  # the NAMED_ENTITY result of a token outside every entity (IOB's outside tag)


def annotation_struct():
    """The Spark StructType of one annotation (pyspark imported lazily: cores run without Spark)."""
    from pyspark.sql.types import (
        ArrayType,
        FloatType,
        IntegerType,
        MapType,
        StringType,
        StructField,
        StructType,
    )

    return StructType(
        [
            StructField("annotatorType", StringType(), True),
            StructField("begin", IntegerType(), False),
            StructField("end", IntegerType(), False),
            StructField("result", StringType(), True),
            StructField("metadata", MapType(StringType(), StringType(), True), True),
            StructField("embeddings", ArrayType(FloatType(), False), True),
        ]
    )


def annotation_array_type():
    from pyspark.sql.types import ArrayType

    return ArrayType(annotation_struct(), True)


def annotation_column(column, name: str, annotator_type: str):
    """`column` (an array of annotation structs) as the output column `name` of a stage, typed as Spark
    NLP types it: annotation_array_type(), the column itself nullable (its printSchema says `array
    (nullable = true)`, whether the array comes from a UDF or is built in SQL), and the annotator type
    in the column metadata, where Spark NLP keeps it."""
    from pyspark.sql import functions as F

    typed = column.cast(annotation_array_type())
    # "null stays null": Spark types this CASE nullable (an array built by F.array is not); the optimizer
    # folds it back to `typed`, so it costs nothing at run time
    nullable = F.when(typed.isNull(), F.lit(None)).otherwise(typed)
    return nullable.alias(name, metadata={"annotatorType": annotator_type})


def is_annotation_column(data_type) -> bool:
    """True when a DataFrame column type has the annotation fields (nullability aside)."""
    from pyspark.sql.types import ArrayType, StructType

    if not isinstance(data_type, ArrayType) or not isinstance(data_type.elementType, StructType):
        return False
    names = {f.name for f in data_type.elementType.fields}
    return {f.name for f in annotation_struct().fields} <= names


@dataclass(frozen=True, eq=False)
class Annotation:
    """One annotation. `embeddings` is () when there is no vector, else a read-only float32 numpy
    array [E]: 4 bytes a value, where a tuple of Python floats takes ~32 (a batch of 64 documents of
    4,096 tokens holds ~150M values)."""

    annotatorType: str
    begin: int
    end: int
    result: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    embeddings: Any = ()

    def __post_init__(self):
        object.__setattr__(self, "embeddings", _vector(self.embeddings))

    def __eq__(self, other) -> bool:
        if not isinstance(other, Annotation):
            return NotImplemented
        return (self.annotatorType, self.begin, self.end, self.result, dict(self.metadata)) == (
            other.annotatorType, other.begin, other.end, other.result, dict(other.metadata)
        ) and np.array_equal(self.embeddings, other.embeddings)

    def as_dict(self) -> dict[str, Any]:
        """The plain structure Spark takes for one annotation (createDataFrame rows); the vector as a list of floats."""
        return {
            "annotatorType": self.annotatorType,
            "begin": self.begin,
            "end": self.end,
            "result": self.result,
            "metadata": dict(self.metadata),
            "embeddings": self.embeddings_list(),
        }

    def embeddings_list(self) -> list[float]:
        """The vector as a list of Python floats ([] when there is none)."""
        return self.embeddings.tolist() if len(self.embeddings) else []

    @classmethod
    def from_any(cls, value: Any) -> "Annotation":
        """From a Spark Row, a dict of the annotation's fields or an Annotation."""
        if isinstance(value, Annotation):
            return value
        get = value.__getitem__
        metadata = get("metadata")
        if metadata is not None and not isinstance(metadata, Mapping):  # Arrow map -> list of pairs
            metadata = dict(metadata)
        return cls(get("annotatorType"), int(get("begin")), int(get("end")), get("result"),
                   dict(metadata or {}), get("embeddings"))


def _vector(values: Any) -> Any:
    """() for no vector, else a read-only float32 array; float32 numpy input (such as a view of an Arrow
    buffer) is not copied."""
    if isinstance(values, np.ndarray):
        if not values.size:
            return ()
        vector = values.view() if values.dtype == np.float32 else values.astype(np.float32)
    elif not values:  # None, (), []
        return ()
    else:
        vector = np.asarray(values, dtype=np.float32)
    vector.flags.writeable = False  # on our own view: the caller's array stays writable
    return vector


def to_dicts(annotations: Iterable[Annotation]) -> list[dict[str, Any]]:
    return [a.as_dict() for a in annotations]


def from_column(value: Any) -> list[Annotation]:
    """A cell of an annotation column (None, list, numpy array) -> annotations."""
    if value is None:
        return []
    return [Annotation.from_any(v) for v in value]


def by_document(documents: Sequence[Annotation], items: Sequence[Annotation]) -> list[list[Annotation]]:
    """Per document, the items (tokens, sentences, vectors) that begin inside it, document.begin <=
    item.begin <= document.end, in the items' order. One sort of the items by begin (linear when they
    come sorted, as a tokenizer writes them), then a binary search per document; documents may overlap."""
    order = np.argsort(np.fromiter((i.begin for i in items), np.int64, len(items)), kind="stable")  # [N]
    begins = np.fromiter((items[i].begin for i in order), np.int64, len(items))  # [N] ascending
    lo = np.searchsorted(begins, [d.begin for d in documents], side="left")  # [D]
    hi = np.searchsorted(begins, [d.end for d in documents], side="right")  # [D]
    return [[items[i] for i in np.sort(order[a:b])] for a, b in zip(lo.tolist(), hi.tolist())]
