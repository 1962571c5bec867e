"""What every model annotator shares: the model folder it runs, how it is saved inside a pipeline
path (self-contained, any Hadoop-compatible path), and how executors find it."""
from __future__ import annotations

import os
import tempfile
from urllib.parse import urlparse

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter

from ..annotation import is_annotation_column
from ..models.onnx_files import ensure_onnx
from ..params import HasEngine
from ..udfs.model_cache import check_engine

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


def ship_to_executors(spark, folder: str) -> None:
    """Make the folder reachable by executors that do not share this filesystem (not needed locally)."""
    sc = spark.sparkContext
    if sc.master.startswith("local"):
        return
    shipped = getattr(sc, "_sparklong_shipped", set())
    if folder not in shipped:
        sc.addFile(folder, recursive=True)
        shipped.add(folder)
        sc._sparklong_shipped = shipped


def prepare_engine(stage) -> None:
    """On the driver, before any Spark job or save: check engine and quantize, and for engine 'onnx'
    export the graph of `stage.task` into the model folder once, so that executors and a saved pipeline
    find it there and never export it themselves."""
    if not isinstance(stage, HasEngine):
        return
    check_engine(stage.getEngine(), stage.getQuantize())
    if stage.getEngine() == "onnx":
        ensure_onnx(stage.getModelFolder(), stage.task, stage.getQuantize())


def require_annotation_columns(dataset, columns: list[str], stage: str) -> None:
    """Fail before any Spark job when an input column is missing or is not an annotation column."""
    fields = {f.name: f.dataType for f in dataset.schema.fields}
    for col in columns:
        if col not in fields:
            raise ValueError(f"{stage}: input column '{col}' is not in the DataFrame (has {', '.join(fields)})")
        if not is_annotation_column(fields[col]):
            raise ValueError(
                f"{stage}: input column '{col}' has type {fields[col].simpleString()}, expected an annotation "
                "column (array<struct<annotatorType,begin,end,result,metadata,embeddings>>)"
            )


def _hadoop_fs(spark, path: str):
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath, jvm


def _is_local(path: str) -> bool:
    return urlparse(path).scheme in ("", "file")


class ModelStageWriter(MLWriter):
    """Params as Spark's DefaultParamsWriter writes them, plus the model folder under path/model
    (with its exported ONNX graph when the engine is 'onnx')."""

    def __init__(self, instance):
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        prepare_engine(self.instance)
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
