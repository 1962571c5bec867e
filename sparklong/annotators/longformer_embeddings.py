"""LongformerEmbeddings: [document, token] -> WORD_EMBEDDINGS, one vector per token."""
from __future__ import annotations

import os

from pyspark import keyword_only
from pyspark.ml import Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.sql import SparkSession
from pyspark.sql.functions import col

from ..models import LongformerConfig
from ..models import pretrained as registry
from ..models.tokenizer import LongformerTokenizer
from ..params import (
    HasBatchSize,
    HasCaseSensitive,
    HasDimension,
    HasEngine,
    HasInputAnnotationCols,
    HasMaxSentenceLength,
    HasOutputAnnotationCol,
    HasStorageRef,
    check_choice,
    check_range,
    set_params,
)
from ..udfs.embeddings_udf import word_embeddings_udf
from ..udfs.model_cache import get_model, get_tokenizer
from ..udfs.word_embeddings import GLOBAL_ATTENTION, EmbeddingSettings, embed_rows
from .model_stage import HasModelFolder, ModelStagePersistence, require_annotation_columns, ship_to_executors

# Arrow batches of long documents carry one vector per token; keep them small.
MAX_ARROW_RECORDS = 64


class LongformerEmbeddings(
    Model,
    HasInputAnnotationCols,
    HasOutputAnnotationCol,
    HasCaseSensitive,
    HasMaxSentenceLength,
    HasBatchSize,
    HasDimension,
    HasStorageRef,
    HasEngine,
    HasModelFolder,
    ModelStagePersistence,
):
    globalAttention = Param(
        Params._dummy(), "globalAttention", "global attention on: none, cls or sentences", TypeConverters.toString
    )
    maxBatchTokens = Param(
        Params._dummy(), "maxBatchTokens", "padded tokens per forward pass, at most", TypeConverters.toInt
    )
    INPUT_KINDS = ("document column", "token column")

    @keyword_only
    def __init__(self, *, inputCols=None, outputCol=None, caseSensitive=None, maxSentenceLength=None,
                 batchSize=None, globalAttention=None, engine=None, device=None, maxBatchTokens=None):
        super().__init__()
        self._setDefault(
            inputCols=["document", "token"], outputCol="embeddings", caseSensitive=True, maxSentenceLength=4096,
            batchSize=4, dimension=768, storageRef="longformer", globalAttention="none", engine="torch",
            device="auto", maxBatchTokens=16384,
        )
        set_params(self, self._input_kwargs)

    # -- params ------------------------------------------------------------------------------
    def max_positions(self) -> int:
        if self.isDefined(self.modelFolder):
            return LongformerConfig.from_folder(self.getModelFolder()).max_tokens
        return 4096

    def setGlobalAttention(self, value: str):
        check_choice("globalAttention", value, GLOBAL_ATTENTION)
        return self._set(globalAttention=value)

    def getGlobalAttention(self) -> str:
        return self.getOrDefault(self.globalAttention)

    def setMaxBatchTokens(self, value: int):
        check_range("maxBatchTokens", int(value), 1, 1 << 24)
        return self._set(maxBatchTokens=value)

    def getMaxBatchTokens(self) -> int:
        return self.getOrDefault(self.maxBatchTokens)

    def settings(self) -> EmbeddingSettings:
        return EmbeddingSettings(
            max_sentence_length=min(self.getMaxSentenceLength(), self.max_positions()),
            batch_size=self.getBatchSize(),
            max_batch_tokens=self.getMaxBatchTokens(),
            global_attention=self.getGlobalAttention(),
        )

    # -- model import ----------------------------------------------------------------------------
    @classmethod
    def loadSavedModel(cls, folder: str, spark: SparkSession | None = None) -> "LongformerEmbeddings":
        """Import a Hugging Face Longformer folder (config.json, weights, tokenizer files)."""
        folder = os.path.abspath(folder)
        config = LongformerConfig.from_folder(folder)  # validates before any Spark job
        LongformerTokenizer.from_folder(folder)
        stage = cls()
        stage._set(modelFolder=folder)
        stage._set(dimension=config.hidden_size, storageRef=os.path.basename(folder.rstrip("/")))
        return stage

    @classmethod
    def pretrained(cls, name: str = "longformer_base_4096", lang: str = "en", remote_loc: str | None = None):
        stage = cls.loadSavedModel(registry.resolve(name, lang, remote_loc))
        return stage._set(storageRef=name)

    # -- transform -------------------------------------------------------------------------------
    def light_transform(self, row: dict) -> None:
        """LightPipeline: the same core as the UDF, in this process."""
        folder = self.getModelFolder()
        model = get_model(folder, "embeddings", self.getEngine(), self.getDevice())
        tokenizer = get_tokenizer(folder, not self.getCaseSensitive())
        document, token = self.getInputCols()
        row[self.getOutputCol()] = embed_rows(model, tokenizer, [(row[document], row[token])], self.settings())[0]

    def _prepare(self, dataset) -> str:
        """Before any Spark job: inputs checked, model shipped, Arrow batches kept small; the model folder."""
        require_annotation_columns(dataset, self.getInputCols(), type(self).__name__)
        if len(self.getInputCols()) != len(self.INPUT_KINDS):
            raise ValueError(f"{type(self).__name__}: inputCols must be [{', '.join(self.INPUT_KINDS)}]")
        folder = self.getModelFolder()
        spark = dataset.sparkSession
        ship_to_executors(spark, folder)
        current = int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch", "10000"))
        if current > MAX_ARROW_RECORDS:
            spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(MAX_ARROW_RECORDS))
        return folder

    def _transform(self, dataset):
        folder = self._prepare(dataset)
        udf = word_embeddings_udf(
            folder, os.path.basename(folder.rstrip("/")), self.settings(), self.getCaseSensitive(),
            self.getEngine(), self.getDevice(),
        )
        document, token = self.getInputCols()
        return dataset.withColumn(self.getOutputCol(), udf(col(document), col(token)))
