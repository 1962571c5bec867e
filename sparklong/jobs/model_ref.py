"""A job's --model: a pretrained name (resolved through $SPARKLONG_CACHE), a Hugging Face model folder of an
architecture the stages run (Longformer, ModernBERT, the BERT family), or a saved PipelineModel; with the name and version (the
content hash of its model folders) written into the output."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from ..storage.hadoop_folder import is_local
from .inputs import first_line
from .job_error import JobError


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str  # "sha256:<16 hex>" of the model files (weights, config, tokenizer): two outputs can be told apart
    folder: str | None = None  # an HF-layout model folder
    model_type: str | None = None  # the folder's config.json model_type
    pooling: str | None = None  # the folder's sentence-transformers pooling ("CLS", "MEAN", another mode), if any
    document_prompt: str = ""  # the folder's sentence-transformers prompts for documents and queries, if any
    query_prompt: str = ""
    pipeline: object | None = None  # a loaded PipelineModel


def is_saved_pipeline(path: str) -> bool:
    if not is_local(path):
        return True  # model folders must be local; a remote path can only be a saved pipeline
    return os.path.isdir(os.path.join(path, "metadata")) and os.path.isdir(os.path.join(path, "stages"))


def resolve_folder(arg: str) -> ModelRef:
    """A pretrained name or an HF folder -> ModelRef; JobError with the fix when it is neither."""
    from ..models import pretrained
    from ..annotators.stage_families import family_of
    from ..models.architectures import read_config
    from ..models.config import ConfigError
    from ..models.json_files import read_json_object
    from ..models.sentence_transformers import document_prompt, pooling_mode, query_prompt

    if os.path.isdir(arg):
        folder = os.path.abspath(arg)
        name = os.path.basename(folder.rstrip("/"))
    elif os.sep in arg or arg.startswith("."):
        raise JobError(f"model folder {arg} does not exist")
    else:
        try:
            folder = pretrained.resolve(arg)
        except (ValueError, RuntimeError) as exc:
            raise JobError(first_line(exc)) from exc
        name = arg
    config = read_json_object(os.path.join(folder, "config.json"), JobError)
    if config is None:
        raise JobError(f"{folder} has no config.json: expected a Hugging Face model folder or a saved PipelineModel")
    try:
        kind = read_config(folder).model_type
    except ConfigError as exc:
        raise JobError(str(exc)) from exc
    if family_of(kind) is None:
        raise JobError(f"{folder}: no stage runs model_type {kind!r}")
    return ModelRef(name, model_version([folder]), folder=folder, model_type=kind, pooling=pooling_mode(folder),
                    document_prompt=document_prompt(folder), query_prompt=query_prompt(folder))


def default_max_sentence_length(model: ModelRef | None) -> int:
    """--max-sentence-length when not given: the length the model's family was trained on (a saved
    pipeline's stages keep their own; the number recorded for it stays Longformer's, as before)."""
    from ..annotators.stage_families import LONGFORMER, family_of

    family = family_of(model.model_type) if model is not None and model.model_type else LONGFORMER
    return family.max_sentence_length


def load_pipeline(path: str) -> ModelRef:
    from pyspark.ml import PipelineModel

    try:
        model = PipelineModel.load(path)
    except Exception as exc:
        raise JobError(f"cannot load a saved PipelineModel from {path}: {first_line(exc)}") from exc
    folders = [s.getModelFolder() for s in model.stages if hasattr(s, "getModelFolder")]
    if not folders:
        raise JobError(f"the saved pipeline {path} has no model stage")
    return ModelRef(os.path.basename(path.rstrip("/")), model_version(folders), pipeline=model)


def model_version(folders: list[str]) -> str:
    """The folders' content hashes (models/fingerprint.py) in one, shortened to 16 hex digits: equal
    files give an equal version wherever they lie (a saved pipeline's copy, an executor's)."""
    from ..models.fingerprint import content_hash  # sparklong.models imports torch: not at job start

    digest = hashlib.sha256(" ".join(content_hash(folder) for folder in folders).encode())
    return "sha256:" + digest.hexdigest()[:16]
