"""LongformerForTokenClassification: [document, token] -> NAMED_ENTITY per token."""
from __future__ import annotations

from functools import partial

from pyspark import keyword_only

from ..annotation import DOCUMENT, NAMED_ENTITY, TOKEN
from ..cores.embedding_settings import EmbeddingSettings
from ..cores.token_classification import tag_rows
from ..params import set_params
from .longformer_stage import HasClasses, LongformerModelStage


class LongformerForTokenClassification(LongformerModelStage, HasClasses):
    """One label per TOKEN annotation from the logits of its first BPE piece (no global attention,
    as transformers' LongformerForTokenClassification)."""

    task = "token_classification"
    input_kinds = ("document column", "token column")
    inputAnnotatorTypes = (DOCUMENT, TOKEN)
    outputAnnotatorType = NAMED_ENTITY
    default_pretrained = None  # the hub has no Longformer fine-tuned for CoNLL-03 (docs/pretrained.md)

    @keyword_only
    def __init__(self, *, inputCols=None, outputCol=None, caseSensitive=None, maxSentenceLength=None,
                 batchSize=None, maxBatchTokens=None, engine=None, device=None, quantize=None, precision=None):
        super().__init__()
        self._setDefault(
            inputCols=["document", "token"], outputCol="ner", caseSensitive=True, maxSentenceLength=4096,
            batchSize=8,
        )
        set_params(self, self._input_kwargs)

    def settings(self) -> EmbeddingSettings:
        return EmbeddingSettings(self.batching())

    def core(self):
        return partial(tag_rows, settings=self.settings())
