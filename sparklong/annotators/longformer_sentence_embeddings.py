"""LongformerSentenceEmbeddings: [document] -> one SENTENCE_EMBEDDINGS vector per DOCUMENT annotation,
pooled over the model's pieces (MEAN, as sentence-transformers; or CLS) — the document-level annotator
that Spark NLP offers as BertSentenceEmbeddings / E5Embeddings, on LongformerEmbeddings' model and params."""
from __future__ import annotations

from functools import partial

from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters

from ..annotation import DOCUMENT, SENTENCE_EMBEDDINGS
from ..params import check_choice, set_params
from ..udfs.sentence_embeddings import SENTENCE_POOLING, embed_documents
from .longformer_embeddings import LongformerEmbeddings


class LongformerSentenceEmbeddings(LongformerEmbeddings):
    input_kinds = ("document column",)
    inputAnnotatorTypes = (DOCUMENT,)
    outputAnnotatorType = SENTENCE_EMBEDDINGS

    poolingStrategy = Param(
        Params._dummy(), "poolingStrategy",
        "MEAN: mean over every piece, special tokens included (sentence-transformers); CLS: the first token",
        TypeConverters.toString,
    )

    @keyword_only
    def __init__(self, *, inputCols=None, outputCol=None, caseSensitive=None, maxSentenceLength=None,
                 batchSize=None, globalAttention=None, engine=None, device=None, quantize=None, precision=None,
                 maxBatchTokens=None, poolingStrategy=None):
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

    def core(self):
        return partial(embed_documents, settings=self.settings(), strategy=self.getPoolingStrategy())
