"""The sequence classification stage of every architecture (LongformerForSequenceClassification,
ModernBertForSequenceClassification, ...): [document(, token)] -> CATEGORY per document (or per row)."""
from __future__ import annotations

from functools import partial

from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters

from ..annotation import CATEGORY, DOCUMENT, TOKEN
from ..cores.label_scores import SCORE_ACTIVATIONS
from ..cores.sequence_classification import ClassificationSettings, classify_rows
from ..params import check_choice, check_range, set_params
from .encoder_stage import EncoderStage, HasClasses


class SequenceClassificationStage(EncoderStage, HasClasses):
    """One label per DOCUMENT annotation (or per row with coalesceSentences); `<s>` global where the model
    has global attention (Longformer). The TOKEN
    column Spark NLP pipelines pass is accepted and not needed: the model's own tokenizer reads the text."""

    stage_suffix = "ForSequenceClassification"
    task = "sequence_classification"
    input_kinds = ("document column", "token column")
    inputAnnotatorTypes = (DOCUMENT, TOKEN)
    outputAnnotatorType = CATEGORY
    optional_inputs = 1

    activation = Param(Params._dummy(), "activation", "softmax (one label) or sigmoid (every label above threshold)",
                       TypeConverters.toString)
    threshold = Param(Params._dummy(), "threshold", "sigmoid: labels scoring above it are returned",
                      TypeConverters.toFloat)
    coalesceSentences = Param(Params._dummy(), "coalesceSentences",
                              "one result per row: the average of its documents' scores", TypeConverters.toBoolean)

    @keyword_only
    def __init__(self, *, inputCols=None, outputCol=None, caseSensitive=None, maxSentenceLength=None,
                 batchSize=None, maxBatchTokens=None, activation=None, threshold=None, coalesceSentences=None,
                 engine=None, device=None, quantize=None, precision=None):
        super().__init__()
        self._setDefault(
            inputCols=["document", "token"], outputCol="class", caseSensitive=True,
            maxSentenceLength=self.family.max_sentence_length,
            batchSize=8, activation="softmax", threshold=0.5, coalesceSentences=False,
        )
        set_params(self, self._input_kwargs)

    def setActivation(self, value: str):
        check_choice("activation", value, SCORE_ACTIVATIONS)
        return self._set(activation=value)

    def getActivation(self) -> str:
        return self.getOrDefault(self.activation)

    def setThreshold(self, value: float):
        check_range("threshold", float(value), 0.0, 1.0)
        return self._set(threshold=value)

    def getThreshold(self) -> float:
        return self.getOrDefault(self.threshold)

    def setCoalesceSentences(self, value: bool):
        return self._set(coalesceSentences=value)

    def getCoalesceSentences(self) -> bool:
        return self.getOrDefault(self.coalesceSentences)

    def settings(self) -> ClassificationSettings:
        return ClassificationSettings(
            self.batching(),
            activation=self.getActivation(),
            threshold=self.getThreshold(),
            coalesce_sentences=self.getCoalesceSentences(),
        )

    def core(self):
        return partial(classify_rows, settings=self.settings())
