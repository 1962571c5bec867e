"""What every model annotator shares: the model folder it runs, how it is saved inside a pipeline
path (self-contained, any Hadoop-compatible path), and how executors find it."""
from __future__ import annotations

import os
import re

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter

from ..engine_choice import prepare_engine
from ..storage.hadoop_folder import Storage, local_path
from ..storage.save_beside import save_beside_then_swap
from .private_model_copy import private_copy, private_folder

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


class ModelStageWriter(MLWriter):
    """Params as Spark's DefaultParamsWriter writes them, plus the model folder under path/model
    (with its exported ONNX graph when the engine is 'onnx'). Written beside the path, then swapped
    in (save_beside), never pyspark's delete-then-write: a failed save leaves the path as it was."""

    def __init__(self, instance):
        super().__init__()
        self.instance = instance

    def save(self, path: str) -> None:
        folder = self.instance.getModelFolder()
        if not os.path.isdir(folder):
            raise FileNotFoundError(
                f"{type(self.instance).__name__}: its model folder {folder} is gone (for example, a pipeline "
                f"overwrite-saved onto a folder holding it: pyspark deletes that before the stage is written)")
        keep_model_clear_of(self.instance, path)
        save_beside_then_swap(self.sparkSession, path, self.saveImpl, self.shouldOverwrite)

    def saveImpl(self, path: str) -> None:
        prepare_engine(self.instance)
        DefaultParamsWriter.saveMetadata(self.instance, path, self.sparkSession.sparkContext)
        storage = Storage(self.sparkSession, path)
        storage.upload(self.instance.getModelFolder(), MODEL_SUBDIR)
        require_whole(storage, self.instance.getModelFolder())


def require_whole(storage: Storage, folder: str) -> None:
    """The stage written to `storage` has its metadata and every file of the local model folder (same
    size): a copy cut short (another save deleting a folder above it) is refused, never swapped in."""
    if not any(name.startswith("part-") for name in storage.file_sizes("metadata")):
        raise OSError(f"{storage.path('metadata')} was not written whole")
    for parent, _, files in os.walk(folder):
        relative = os.path.relpath(parent, folder).replace(os.sep, "/")
        saved = MODEL_SUBDIR if relative == "." else f"{MODEL_SUBDIR}/{relative}"
        sizes = storage.file_sizes(saved)
        for name in files:
            if sizes.get(name) != os.path.getsize(os.path.join(parent, name)):
                raise OSError(f"{storage.path(saved)}/{name} was not copied whole from {folder}")


def keep_model_clear_of(stage, path: str) -> None:
    """A stage whose model folder is the save's path, lies inside it or holds it (an imported folder
    saved over itself, its parent or into itself) first takes a private copy of the folder, so the
    save neither copies the folder into itself nor takes away the files the stage reads."""
    target = local_path(path)
    if target is None:  # a remote path never holds a stage's (local) model folder
        return
    folder, target = os.path.realpath(stage.getModelFolder()), os.path.realpath(target)
    if os.path.commonpath([folder, target]) in (folder, target):
        stage._set(modelFolder=private_copy(folder))


class ModelStageReader(MLReader):
    """The stage's model folder becomes a private copy of the saved one (private_model_copy), so
    overwriting or deleting the saved path (or any folder above it) never takes its weights away."""

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
        saved = local_path(path.rstrip("/") + "/" + MODEL_SUBDIR)
        if saved is not None:
            require_inside(saved, os.path.dirname(saved))
            folder = private_copy(saved)
        else:  # remote: copied next to the driver; executors get it shipped
            folder = private_folder(MODEL_SUBDIR)
            Storage(self.sparkSession, path).download(MODEL_SUBDIR, folder)
            require_inside(folder, os.path.dirname(folder))
        instance._set(modelFolder=folder)  # never the path recorded in the metadata
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
