"""The token classification stage of every architecture (LongformerForTokenClassification,
ModernBertForTokenClassification, ...): [document, token] -> NAMED_ENTITY per token."""
from __future__ import annotations

from functools import partial

from pyspark import keyword_only

from ..annotation import DOCUMENT, NAMED_ENTITY, TOKEN
from ..cores.embedding_settings import EmbeddingSettings
from ..cores.token_classification import tag_rows
from ..params import set_params
from .encoder_stage import EncoderStage, HasClasses


class TokenClassificationStage(EncoderStage, HasClasses):
    """One label per TOKEN annotation from the logits of its first piece (no global attention, as
    transformers' LongformerForTokenClassification)."""

    stage_suffix = "ForTokenClassification"
    task = "token_classification"
    input_kinds = ("document column", "token column")
    inputAnnotatorTypes = (DOCUMENT, TOKEN)
    outputAnnotatorType = NAMED_ENTITY

    @keyword_only
    def __init__(self, *, inputCols=None, outputCol=None, caseSensitive=None, maxSentenceLength=None,
                 batchSize=None, maxBatchTokens=None, engine=None, device=None, quantize=None, precision=None):
        super().__init__()
        self._setDefault(
            inputCols=["document", "token"], outputCol="ner", caseSensitive=True,
            maxSentenceLength=self.family.max_sentence_length,
            batchSize=8,
        )
        set_params(self, self._input_kwargs)

    def settings(self) -> EmbeddingSettings:
        return EmbeddingSettings(self.batching())

    def core(self):
        return partial(tag_rows, settings=self.settings())
