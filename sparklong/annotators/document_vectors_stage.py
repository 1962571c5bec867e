"""The document vectors stage of every architecture (LongformerSentenceEmbeddings, ModernBertSentenceEmbeddings,
...): [document] -> one SENTENCE_EMBEDDINGS vector per DOCUMENT annotation, pooled over the model's pieces
(MEAN, as sentence-transformers; or CLS) — the document-level annotator that Spark NLP offers as
BertSentenceEmbeddings / E5Embeddings, on the word embeddings stage's model and params. A checkpoint saved by
sentence-transformers sets the default pooling its Pooling module does (1_Pooling/config.json).

granularity "chunks" (late chunking, cores/late_chunks.py): each document is still encoded once with its
full context, then pooled per chunk: per sentence with inputCols [document, sentence] (a SentenceDetector's
output), else per run of about chunkPieces pieces cut at word starts. One annotation per chunk."""
from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial

from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters

from ..annotation import DOCUMENT, SENTENCE_EMBEDDINGS
from ..cores.document_embeddings import embed_documents
from ..cores.late_chunks import embed_chunks
from ..cores.pooling import GRANULARITY, PIECES, check_pooling, pooling_choices
from ..models.sentence_transformers import pooling_mode
from ..params import check_choice, check_range, set_params
from .embeddings_stage import EmbeddingsStage

log = logging.getLogger("sparklong")


class DocumentVectorsStage(EmbeddingsStage):
    stage_suffix = "SentenceEmbeddings"
    input_kinds = ("document column", "sentence column (granularity chunks)")
    inputAnnotatorTypes = (DOCUMENT, DOCUMENT)
    optional_inputs = 1
    outputAnnotatorType = SENTENCE_EMBEDDINGS

    poolingStrategy = Param(
        Params._dummy(), "poolingStrategy",
        "MEAN: mean over every piece, special tokens included (sentence-transformers; granularity chunks: over "
        "the chunk's own pieces, special tokens excluded); CLS: the first token",
        TypeConverters.toString,
    )
    granularity = Param(
        Params._dummy(), "granularity",
        "document: one vector per DOCUMENT annotation; chunks: the document encoded once, then one MEAN vector "
        "per chunk (per sentence of the second input column, else per run of about chunkPieces pieces)",
        TypeConverters.toString,
    )
    prompt = Param(
        Params._dummy(), "prompt",
        "text the model reads before each document, as sentence-transformers' prompts (e.g. 'search_document: ' "
        "for modernbert-embed-base); offsets and chunks stay the document's own", TypeConverters.toString,
    )
    chunkPieces = Param(
        Params._dummy(), "chunkPieces", "granularity chunks without a sentence column: model pieces per chunk, "
        "at most (cut at word starts; one longer word is one chunk)", TypeConverters.toInt,
    )

    @keyword_only
    def __init__(self, *, inputCols=None, outputCol=None, caseSensitive=None, maxSentenceLength=None,
                 batchSize=None, globalAttention=None, engine=None, device=None, quantize=None, precision=None,
                 maxBatchTokens=None, poolingStrategy=None, granularity=None, chunkPieces=None, prompt=None):
        kwargs = self._input_kwargs  # the parent's keyword_only __init__ replaces it
        super().__init__()
        self._setDefault(inputCols=["document"], outputCol="sentence_embeddings", poolingStrategy="MEAN",
                         granularity="document", chunkPieces=256, prompt="")
        set_params(self, kwargs)

    def setPoolingStrategy(self, value: str):
        value = str(value).upper()
        check_pooling(value, PIECES)
        return self._set(poolingStrategy=value)

    def getPoolingStrategy(self) -> str:
        return self.getOrDefault(self.poolingStrategy)

    def setGranularity(self, value: str):
        value = str(value).lower()
        check_choice("granularity", value, GRANULARITY)
        return self._set(granularity=value)

    def getGranularity(self) -> str:
        return self.getOrDefault(self.granularity)

    def setChunkPieces(self, value: int):
        check_range("chunkPieces", int(value), 1, 1 << 20)
        return self._set(chunkPieces=int(value))

    def getChunkPieces(self) -> int:
        return self.getOrDefault(self.chunkPieces)

    @classmethod
    def loadSavedModel(cls, folder: str, spark=None):
        """As every model stage; the poolingStrategy becomes the checkpoint's own where it was saved by
        sentence-transformers (CLS or MEAN; any other mode is logged and MEAN kept)."""
        stage = super().loadSavedModel(folder, spark)
        mode = pooling_mode(stage.getModelFolder())
        if mode in pooling_choices(PIECES):
            stage._set(poolingStrategy=mode)
        elif mode is not None:
            log.warning("sparklong: %s pools with %s in sentence-transformers; %s computes %s only (poolingStrategy "
                        "stays %s)", folder, mode, cls.__name__, " or ".join(pooling_choices(PIECES)),
                        stage.getPoolingStrategy())
        return stage

    def setPrompt(self, value: str):
        return self._set(prompt=value)

    def getPrompt(self) -> str:
        return self.getOrDefault(self.prompt)

    def settings(self):
        return replace(super().settings(), prompt=self.getPrompt())

    def check_granularity(self) -> None:
        """The params that only make sense together: a ValueError naming them."""
        if self.getGranularity() == "document" and len(self.getInputCols()) > 1:
            raise ValueError(f"inputCols {self.getInputCols()}: a sentence column needs granularity 'chunks' "
                             "(setGranularity('chunks')); granularity 'document' reads [document]")
        check_pooling(self.getPoolingStrategy(), PIECES, self.getGranularity())

    def check_input_types(self, dataset) -> None:
        self.check_granularity()  # before any Spark job
        super().check_input_types(dataset)

    def core(self):
        self.check_granularity()
        if self.getGranularity() == "document":
            return partial(embed_documents, settings=self.settings(), strategy=self.getPoolingStrategy())
        return partial(embed_chunks, settings=self.settings(), chunk_pieces=self.getChunkPieces())
