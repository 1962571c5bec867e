"""SentenceEmbeddings: [document, word embeddings] -> one SENTENCE_EMBEDDINGS vector per document."""
from __future__ import annotations

import numpy as np
from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql.functions import col

from ..annotation import DOCUMENT, SENTENCE_EMBEDDINGS, WORD_EMBEDDINGS, Annotation, by_document
from ..params import HasInputAnnotationCols, HasOutputAnnotationCol, HasStorageRef, check_choice, set_params
from ..udfs.annotation_udf import annotation_udf
from .annotator_types import AnnotatorTypes

POOLING = ("AVERAGE", "SUM")


def pool_sentences(documents: list[Annotation], words: list[Annotation], strategy: str) -> list[Annotation]:
    """Average or sum the word vectors inside each document's span; documents without vectors are skipped."""
    out = []
    for s, (doc, mine) in enumerate(zip(documents, by_document(documents, words))):
        vectors = [w.embeddings for w in mine if len(w.embeddings)]
        if not vectors:
            continue
        stacked = np.asarray(vectors, dtype=np.float32)  # [T, E]
        pooled = stacked.mean(axis=0) if strategy == "AVERAGE" else stacked.sum(axis=0)
        meta = {"sentence": str(s), "token": doc.result, "pieceId": "-1", "isWordStart": "true",
                "tokens": str(len(vectors))}
        out.append(Annotation(SENTENCE_EMBEDDINGS, doc.begin, doc.end, doc.result, meta, pooled))
    return out


class SentenceEmbeddings(
    Transformer, HasInputAnnotationCols, HasOutputAnnotationCol, HasStorageRef,
    DefaultParamsReadable, DefaultParamsWritable, AnnotatorTypes,
):
    inputAnnotatorTypes = (DOCUMENT, WORD_EMBEDDINGS)
    outputAnnotatorType = SENTENCE_EMBEDDINGS
    poolingStrategy = Param(Params._dummy(), "poolingStrategy", "AVERAGE or SUM", TypeConverters.toString)

    @keyword_only
    def __init__(self, *, inputCols=None, outputCol=None, poolingStrategy=None, storageRef=None):
        super().__init__()
        self._setDefault(inputCols=["document", "embeddings"], outputCol="sentence_embeddings",
                         poolingStrategy="AVERAGE", storageRef="longformer")
        set_params(self, self._input_kwargs)

    def setPoolingStrategy(self, value: str):
        check_choice("poolingStrategy", value, POOLING)
        return self._set(poolingStrategy=value)

    def getPoolingStrategy(self) -> str:
        return self.getOrDefault(self.poolingStrategy)

    def light_transform(self, row: dict) -> None:
        documents, words = (row[c] for c in self.getInputCols())
        row[self.getOutputCol()] = pool_sentences(documents, words, self.getPoolingStrategy())

    def _transform(self, dataset):
        self.check_input_types(dataset)
        strategy = self.getPoolingStrategy()
        udf = annotation_udf(lambda docs, words: pool_sentences(docs, words, strategy))
        out = self.getOutputCol()
        pooled = udf(*[col(c) for c in self.getInputCols()]).alias(out, metadata={"annotatorType": SENTENCE_EMBEDDINGS})
        return dataset.withColumn(out, pooled)
