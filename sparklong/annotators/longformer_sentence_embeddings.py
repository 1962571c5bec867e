"""LongformerSentenceEmbeddings: [document] -> one SENTENCE_EMBEDDINGS vector per DOCUMENT annotation,
pooled over the model's pieces (MEAN, as sentence-transformers; or CLS) — the document-level annotator
that Spark NLP offers as BertSentenceEmbeddings / E5Embeddings, on LongformerEmbeddings' model and params."""
from __future__ import annotations

import os

from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.sql.functions import col

from ..annotation import SENTENCE_EMBEDDINGS
from ..params import check_choice, set_params
from ..udfs.embeddings_udf import sentence_embeddings_udf
from ..udfs.model_cache import get_model, get_tokenizer
from ..udfs.sentence_embeddings import SENTENCE_POOLING, embed_documents
from .longformer_embeddings import LongformerEmbeddings


class LongformerSentenceEmbeddings(LongformerEmbeddings):
    poolingStrategy = Param(
        Params._dummy(), "poolingStrategy",
        "MEAN: mean over every piece, special tokens included (sentence-transformers); CLS: the first token",
        TypeConverters.toString,
    )
    INPUT_KINDS = ("document column",)

    @keyword_only
    def __init__(self, *, inputCols=None, outputCol=None, caseSensitive=None, maxSentenceLength=None,
                 batchSize=None, globalAttention=None, engine=None, device=None, maxBatchTokens=None,
                 poolingStrategy=None):
        kwargs = self._input_kwargs  # the parent's keyword_only __init__ replaces it
        super().__init__()
        self._setDefault(inputCols=["document"], outputCol="sentence_embeddings", poolingStrategy="MEAN")
        set_params(self, kwargs)

    def setPoolingStrategy(self, value: str):
        value = str(value).upper()
        check_choice("poolingStrategy", value, SENTENCE_POOLING)
        return self._set(poolingStrategy=value)

    def getPoolingStrategy(self) -> str:
        return self.getOrDefault(self.poolingStrategy)

    def light_transform(self, row: dict) -> None:
        folder = self.getModelFolder()
        model = get_model(folder, "embeddings", self.getEngine(), self.getDevice())
        tokenizer = get_tokenizer(folder, not self.getCaseSensitive())
        (document,) = self.getInputCols()
        row[self.getOutputCol()] = embed_documents(model, tokenizer, [row[document]], self.settings(),
                                                   self.getPoolingStrategy())[0]

    def _transform(self, dataset):
        folder = self._prepare(dataset)
        udf = sentence_embeddings_udf(
            folder, os.path.basename(folder.rstrip("/")), self.settings(), self.getPoolingStrategy(),
            self.getCaseSensitive(), self.getEngine(), self.getDevice(),
        )
        out = self.getOutputCol()
        vectors = udf(col(self.getInputCols()[0])).alias(out, metadata={"annotatorType": SENTENCE_EMBEDDINGS})
        return dataset.withColumn(out, vectors)
