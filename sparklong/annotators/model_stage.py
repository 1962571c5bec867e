"""What every model annotator shares: the model folder it runs, how it is saved inside a pipeline
path (self-contained, any Hadoop-compatible path), and how executors find it."""
from __future__ import annotations

import os
import tempfile
from urllib.parse import urlparse

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter

from ..udfs.model_shipping import ship_to_executors  # noqa: F401 (model annotators import these from here)
from .annotator_types import require_annotation_columns  # noqa: F401

MODEL_SUBDIR = "model"


class HasModelFolder(Params):
    modelFolder = Param(Params._dummy(), "modelFolder", "local path of the HF model folder", TypeConverters.toString)

    def getModelFolder(self) -> str:
        if not self.isDefined(self.modelFolder):
            raise ValueError(
                f"{type(self).__name__} has no model: use {type(self).__name__}.pretrained() or "
                f".loadSavedModel(folder, spark)"
            )
        return self.getOrDefault(self.modelFolder)


def _hadoop_fs(spark, path: str):
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath, jvm


def _is_local(path: str) -> bool:
    return urlparse(path).scheme in ("", "file")


class ModelStageWriter(MLWriter):
    """Params as Spark's DefaultParamsWriter writes them, plus the model folder under path/model."""

    def __init__(self, instance):
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        DefaultParamsWriter.saveMetadata(self.instance, path, self.sparkSession.sparkContext)
        fs, target, jvm = _hadoop_fs(self.sparkSession, path.rstrip("/") + "/" + MODEL_SUBDIR)
        fs.copyFromLocalFile(False, True, jvm.org.apache.hadoop.fs.Path(self.instance.getModelFolder()), target)


class ModelStageReader(MLReader):
    def __init__(self, cls):
        super().__init__()
        self.cls = cls

    def load(self, path: str):
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession.sparkContext)
        instance = self.cls()
        instance._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(instance, metadata)
        source = path.rstrip("/") + "/" + MODEL_SUBDIR
        if _is_local(source):
            folder = urlparse(source).path if source.startswith("file:") else source
        else:  # remote: copy next to the driver; executors get it through addFile
            folder = os.path.join(tempfile.mkdtemp(prefix="sparklong-"), MODEL_SUBDIR)
            fs, src, jvm = _hadoop_fs(self.sparkSession, source)
            fs.copyToLocalFile(False, src, jvm.org.apache.hadoop.fs.Path(folder), True)
        instance._set(modelFolder=os.path.abspath(folder))
        return instance


class ModelStagePersistence(MLReadable, MLWritable):
    def write(self):
        return ModelStageWriter(self)

    @classmethod
    def read(cls):
        return ModelStageReader(cls)
