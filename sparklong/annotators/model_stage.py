"""What every model annotator shares: the model folder it runs, how it is saved inside a pipeline
path (self-contained, any Hadoop-compatible path), and how executors find it."""
from __future__ import annotations

import os
import re
import tempfile
from urllib.parse import urlparse

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter

from ..models.onnx_files import ensure_onnx
from ..params import HasEngine
from ..udfs.model_cache import check_engine

MODEL_SUBDIR = "model"
_UID = re.compile(r"\w+")


class HasModelFolder(Params):
    modelFolder = Param(Params._dummy(), "modelFolder", "local path of the HF model folder", TypeConverters.toString)

    def getModelFolder(self) -> str:
        if not self.isDefined(self.modelFolder):
            raise ValueError(
                f"{type(self).__name__} has no model: use {type(self).__name__}.pretrained() or "
                f".loadSavedModel(folder, spark)"
            )
        return self.getOrDefault(self.modelFolder)


def prepare_engine(stage) -> None:
    """On the driver, before any Spark job or save: check engine and quantize, and for engine 'onnx'
    export the graph of `stage.task` into the model folder once, so that executors and a saved pipeline
    find it there and never export it themselves."""
    if not isinstance(stage, HasEngine):
        return
    check_engine(stage.getEngine(), stage.getQuantize())
    if stage.getEngine() == "onnx":
        ensure_onnx(stage.getModelFolder(), stage.task, stage.getQuantize())


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
        uid = metadata.get("uid")
        if not isinstance(uid, str) or not _UID.fullmatch(uid):  # uids name folders when saved again
            raise ValueError(f"{path}: stage uid {uid!r} is not a plain identifier; refusing a tampered stage")
        instance = self.cls()
        instance._resetUid(uid)
        DefaultParamsReader.getAndSetParams(instance, metadata)
        source = path.rstrip("/") + "/" + MODEL_SUBDIR
        if _is_local(source):
            folder = urlparse(source).path if source.startswith("file:") else source
            stage_root = os.path.dirname(folder)
        else:  # remote: copy next to the driver; executors get it shipped
            stage_root = tempfile.mkdtemp(prefix="sparklong-")
            folder = os.path.join(stage_root, MODEL_SUBDIR)
            fs, src, jvm = _hadoop_fs(self.sparkSession, source)
            fs.copyToLocalFile(False, src, jvm.org.apache.hadoop.fs.Path(folder), True)
        require_inside(folder, stage_root)
        instance._set(modelFolder=os.path.abspath(folder))  # never the path recorded in the metadata
        return instance


def require_inside(folder: str, root: str) -> None:
    """A saved stage's model folder, and everything in it, must resolve inside the stage's folder:
    a symlink out of it (to another model, or any file) is refused."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(folder)
    if not os.path.isdir(real) or os.path.commonpath([real, real_root]) != real_root:
        raise ValueError(f"{folder} is not a folder inside the saved stage {root}")
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            target = os.path.realpath(os.path.join(parent, name))
            if os.path.commonpath([target, real]) != real:
                raise ValueError(f"{os.path.join(parent, name)} points outside the saved model folder ({target})")


class ModelStagePersistence(MLReadable, MLWritable):
    def write(self):
        return ModelStageWriter(self)

    @classmethod
    def read(cls):
        return ModelStageReader(cls)
