"""SentenceEmbeddings: [document, word embeddings] -> one SENTENCE_EMBEDDINGS vector per document, the
AVERAGE or SUM of its word vectors (cores/pooling.py)."""
from __future__ import annotations

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql.functions import col

from ..annotation import DOCUMENT, SENTENCE_EMBEDDINGS, WORD_EMBEDDINGS, annotation_column
from ..cores.pooling import WORDS, check_pooling, pool_sentences
from ..params import HasInputAnnotationCols, HasOutputAnnotationCol, HasStorageRef, set_params
from ..udfs.annotation_udf import annotation_udf
from .annotator_types import AnnotatorTypes


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
        check_pooling(value, WORDS)
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
        pooled = udf(*[col(c) for c in self.getInputCols()])
        return dataset.withColumn(out, annotation_column(pooled, out, SENTENCE_EMBEDDINGS))
