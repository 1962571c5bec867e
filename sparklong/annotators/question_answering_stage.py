"""The question answering stage of every architecture (LongformerForQuestionAnswering,
ModernBertForQuestionAnswering, ...): [document_question, document_context] -> one CHUNK answer per row."""
from __future__ import annotations

from functools import partial

from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters

from ..annotation import CHUNK, DOCUMENT
from ..cores.question_answering import QASettings, answer_rows, check_doc_stride
from ..params import check_range, set_params
from ..udfs.model_cache import get_tokenizer
from .encoder_stage import EncoderStage


class QuestionAnsweringStage(EncoderStage):
    """Extractive QA over contexts of any length: windows of maxSentenceLength tokens sharing
    docStride context pieces, decoded as transformers' question-answering pipeline decodes."""

    stage_suffix = "ForQuestionAnswering"
    task = "question_answering"
    input_kinds = ("question DOCUMENT column", "context DOCUMENT column")
    inputAnnotatorTypes = (DOCUMENT, DOCUMENT)
    outputAnnotatorType = CHUNK

    docStride = Param(Params._dummy(), "docStride", "context pieces shared by consecutive windows",
                      TypeConverters.toInt)
    maxAnswerLength = Param(Params._dummy(), "maxAnswerLength", "pieces per answer, at most", TypeConverters.toInt)
    handleImpossibleAnswer = Param(Params._dummy(), "handleImpossibleAnswer",
                                   "return an empty answer when the null score wins (SQuAD 2.0 models)",
                                   TypeConverters.toBoolean)

    @keyword_only
    def __init__(self, *, inputCols=None, outputCol=None, caseSensitive=None, maxSentenceLength=None,
                 docStride=None, maxAnswerLength=None, handleImpossibleAnswer=None, batchSize=None,
                 maxBatchTokens=None, engine=None, device=None, quantize=None, precision=None):
        super().__init__()
        self._setDefault(
            inputCols=["document_question", "document_context"], outputCol="answer", caseSensitive=True,
            maxSentenceLength=self.family.max_sentence_length, docStride=128, maxAnswerLength=30,
            handleImpossibleAnswer=False, batchSize=8,
        )
        set_params(self, self._input_kwargs)

    # -- params ------------------------------------------------------------------------------
    def setDocStride(self, value: int):
        check_range("docStride", int(value), 0, self.max_sentence_length_limit())
        return self._set(docStride=value)

    def getDocStride(self) -> int:
        return self.getOrDefault(self.docStride)

    def setMaxAnswerLength(self, value: int):
        check_range("maxAnswerLength", int(value), 1, self.max_sentence_length_limit())
        return self._set(maxAnswerLength=value)

    def getMaxAnswerLength(self) -> int:
        return self.getOrDefault(self.maxAnswerLength)

    def setHandleImpossibleAnswer(self, value: bool):
        return self._set(handleImpossibleAnswer=value)

    def getHandleImpossibleAnswer(self) -> bool:
        return self.getOrDefault(self.handleImpossibleAnswer)

    def settings(self) -> QASettings:
        return QASettings(
            self.batching(),
            doc_stride=self.getDocStride(),
            max_answer_length=self.getMaxAnswerLength(),
            handle_impossible_answer=self.getHandleImpossibleAnswer(),
        )

    def core(self):
        return partial(answer_rows, settings=self.settings())

    def _prepare(self, dataset) -> str:
        shipped = super()._prepare(dataset)
        tokenizer = get_tokenizer(self.getModelFolder(), not self.getCaseSensitive())
        check_doc_stride(self.window_length(), tokenizer, self.getDocStride())
        return shipped
