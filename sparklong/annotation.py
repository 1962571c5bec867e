"""Spark NLP's annotation schema, and an `Annotation` value type for local (driver-side) use.

An annotation column is array<struct<annotatorType, begin, end, result, metadata, embeddings>>;
begin and end are inclusive character offsets into the document.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

DOCUMENT = "document"
TOKEN = "token"
WORD_EMBEDDINGS = "word_embeddings"
SENTENCE_EMBEDDINGS = "sentence_embeddings"
CHUNK = "chunk"
CATEGORY = "category"
NAMED_ENTITY = "named_entity"


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


def is_annotation_column(data_type) -> bool:
    """True when a DataFrame column type has the annotation fields (nullability aside)."""
    from pyspark.sql.types import ArrayType, StructType

    if not isinstance(data_type, ArrayType) or not isinstance(data_type.elementType, StructType):
        return False
    names = {f.name for f in data_type.elementType.fields}
    return {f.name for f in annotation_struct().fields} <= names


@dataclass(frozen=True)
class Annotation:
    annotatorType: str
    begin: int
    end: int
    result: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    embeddings: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The plain structure a pandas UDF returns for one annotation."""
        return {
            "annotatorType": self.annotatorType,
            "begin": self.begin,
            "end": self.end,
            "result": self.result,
            "metadata": dict(self.metadata),
            "embeddings": list(self.embeddings),
        }

    @classmethod
    def from_any(cls, value: Any) -> "Annotation":
        """From a Spark Row, a dict (as pandas UDFs receive them) or an Annotation."""
        if isinstance(value, Annotation):
            return value
        get = value.__getitem__
        metadata = get("metadata")
        if metadata is not None and not isinstance(metadata, Mapping):  # Arrow map -> list of pairs
            metadata = dict(metadata)
        embeddings = get("embeddings")
        if embeddings is None:
            embeddings = ()
        elif hasattr(embeddings, "tolist"):  # numpy, as pandas UDFs receive it: C-speed conversion
            embeddings = tuple(embeddings.tolist())
        else:
            embeddings = tuple(float(x) for x in embeddings)
        return cls(get("annotatorType"), int(get("begin")), int(get("end")), get("result"),
                   dict(metadata or {}), embeddings)


def to_dicts(annotations: Iterable[Annotation]) -> list[dict[str, Any]]:
    return [a.as_dict() for a in annotations]


def from_column(value: Any) -> list[Annotation]:
    """A cell of an annotation column (None, list, numpy array) -> annotations."""
    if value is None:
        return []
    return [Annotation.from_any(v) for v in value]
