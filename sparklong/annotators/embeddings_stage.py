"""The word embeddings stage of every architecture: [document, token] -> WORD_EMBEDDINGS, one vector per
token (the first-piece rule, cores/word_embeddings.py). LongformerEmbeddings, ModernBertEmbeddings, ... are
this stage with their family named."""
from __future__ import annotations

from functools import partial

from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters

from ..annotation import DOCUMENT, TOKEN, WORD_EMBEDDINGS
from ..cores.embedding_settings import EmbeddingSettings
from ..cores.global_attention import GLOBAL_ATTENTION, check_global_attention
from ..cores.word_embeddings import embed_rows
from ..params import HasDimension, HasStorageRef, check_choice, set_params
from .encoder_stage import EncoderStage


class EmbeddingsStage(EncoderStage, HasDimension, HasStorageRef):
    stage_suffix = "Embeddings"
    input_kinds = ("document column", "token column")
    inputAnnotatorTypes = (DOCUMENT, TOKEN)
    outputAnnotatorType = WORD_EMBEDDINGS

    globalAttention = Param(
        Params._dummy(), "globalAttention",
        "global attention on: none, cls or sentences (models with global attention tokens: Longformer)",
        TypeConverters.toString,
    )

    @keyword_only
    def __init__(self, *, inputCols=None, outputCol=None, caseSensitive=None, maxSentenceLength=None,
                 batchSize=None, globalAttention=None, engine=None, device=None, quantize=None, precision=None,
                 maxBatchTokens=None):
        super().__init__()
        self._setDefault(
            inputCols=["document", "token"], outputCol="embeddings", caseSensitive=True,
            maxSentenceLength=self.family.max_sentence_length, batchSize=4, dimension=768,
            storageRef=self.family.storage_ref, globalAttention="none",
        )
        set_params(self, self._input_kwargs)

    # -- params ------------------------------------------------------------------------------
    def setGlobalAttention(self, value: str):
        check_choice("globalAttention", value, GLOBAL_ATTENTION)
        if self.isDefined(self.modelFolder):
            check_global_attention(value, self.model_config())
        return self._set(globalAttention=value)

    def getGlobalAttention(self) -> str:
        return self.getOrDefault(self.globalAttention)

    def settings(self) -> EmbeddingSettings:
        check_global_attention(self.getGlobalAttention(), self.model_config())
        return EmbeddingSettings(self.batching(), global_attention=self.getGlobalAttention())

    def _on_load(self, config, name: str) -> None:
        self._set(dimension=config.hidden_size, storageRef=name)

    def core(self):
        return partial(embed_rows, settings=self.settings())
