"""Per-Python-worker LRU cache of loaded models: a model loads once per worker, not per task or batch.

`ModelCache` is the cache; `WORKER_CACHE` is this process's one instance (a Spark Python worker's, or
the driver's for LightPipeline), read through `get_model` and `get_tokenizer`. It is held by this
module because nothing else outlives a task in a worker: Spark reuses Python workers between tasks
(spark.python.worker.reuse, on by default) but unpickles each task's UDF afresh.

Models are keyed by the folder's fingerprint (models/fingerprint.py) + task + engine + device (cuda:N:
a worker reused for a task on another GPU loads the model there) + dtype + quantize; tokenizers by
fingerprint + lowercase, so a folder whose files were rewritten (a new conversion, weights replaced by
an older-dated copy) is loaded again. Engine "onnx" caches an onnxruntime session (OnnxModule) with as
many intra-op threads as the task has cores, behind the same call signature as the torch module.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Callable

import torch

from ..engine_options import check_engine, cpu_only
from ..models.architectures import read_config
from ..models.devices import cpu_bf16_native, resolve_device, resolve_precision, slow_cpu_precision
from ..models.loading import load
from ..models.fingerprint import cached_per_fingerprint, fingerprint
from ..models.piece_tokenizer import PieceTokenizer
from .task_resources import task_cores, task_gpus

log = logging.getLogger("sparklong")

MAX_MODELS = 2  # models one worker keeps loaded
MAX_TOKENIZERS = 8


@dataclass(frozen=True)
class LoadedModel:
    module: torch.nn.Module
    config: object  # the model's config, of its architecture (architectures.read_config)
    device: torch.device  # where its inputs go (the CPU for onnxruntime, which moves them itself)
    placement: str = ""  # where it runs and in what precision, in words (logged on load)


def _read_tokenizer(folder: str, lowercase: bool) -> PieceTokenizer:
    return PieceTokenizer.from_folder(folder, lowercase=lowercase)


class ModelCache:
    """An LRU of loaded models (the `max_models` last used) and of tokenizers, shared by a worker's threads.

    `loads` counts the loads (cache misses) per model fingerprint: how often this process read each
    model's weights."""

    def __init__(self, max_models: int = MAX_MODELS, max_tokenizers: int = MAX_TOKENIZERS):
        self.max_models = max_models
        self.loads: Counter[str] = Counter()
        self._models: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._tokenizers = cached_per_fingerprint(max_tokenizers)(_read_tokenizer)

    def model(self, folder: str, task: str, engine: str = "torch", device: str = "auto", precision: str = "auto",
              quantize: str = "none") -> LoadedModel:
        """The cached model for this key, loading it (and evicting the least recently used) on a miss.
        In a Spark task, 'auto' and 'cuda' mean the GPU Spark assigned the task (task_resources.task_gpus)."""
        check_engine(engine, quantize, device, precision)
        key, load_model = _placed(folder, task, engine, device, precision, quantize)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            loaded = self._models[key] = load_model()
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
            self.loads[key[0]] += 1
            return loaded

    def tokenizer(self, folder: str, lowercase: bool) -> PieceTokenizer:
        """The folder's tokenizer, read once per state of its files."""
        return self._tokenizers(folder, lowercase)

    def clear(self) -> None:
        """Drop every cached model and tokenizer (to free memory); `loads` keeps counting."""
        with self._lock:
            self._models.clear()
        self._tokenizers.cache_clear()


WORKER_CACHE = ModelCache()  # this process's one cache: it must outlive the tasks a worker runs (module docstring)


def get_model(folder: str, task: str, engine: str = "torch", device: str = "auto", precision: str = "auto",
              quantize: str = "none") -> LoadedModel:
    """The model from this process's cache (ModelCache.model)."""
    return WORKER_CACHE.model(folder, task, engine, device, precision, quantize)


def get_tokenizer(folder: str, lowercase: bool) -> PieceTokenizer:
    """The tokenizer from this process's cache (ModelCache.tokenizer)."""
    return WORKER_CACHE.tokenizer(folder, lowercase)


def planned_precision(engine: str = "torch", device: str = "auto", precision: str = "auto",
                      quantize: str = "none") -> str:
    """The dtype ('float32', 'bfloat16' or 'float16') a model with these engine settings computes in when this
    process loads it now (in a Spark task: placed on the GPU Spark assigned the task): what ModelCache.model
    loads, without loading it."""
    check_engine(engine, quantize, device, precision)
    return _placement(engine, device, precision, quantize, task_gpus())[1]


def _placement(engine: str, device: str, precision: str, quantize: str, gpus) -> tuple[object, str]:
    """(where, dtype) for these settings: onnxruntime's OnnxPlacement or the torch device, and the dtype."""
    if engine == "onnx":
        from ..models.onnx_runtime import place

        placement = place(device, precision, quantize, gpus)
        return placement, placement.dtype
    # int8 linears run on the CPU: 'auto' means the CPU there, as for onnxruntime's int8
    target = torch.device("cpu") if cpu_only(quantize) else resolve_device(device, gpus)
    return target, resolve_precision(precision, target)


def _placed(folder: str, task: str, engine: str, device: str, precision: str,
            quantize: str) -> tuple[tuple, Callable[[], LoadedModel]]:
    """(cache key, loader) of the model placed for this task: on the GPU Spark assigned it, if any."""
    gpus = task_gpus()
    where, dtype = _placement(engine, device, precision, quantize, gpus)
    if engine == "onnx":
        key = (fingerprint(folder), task, engine, where.device, dtype, quantize)
        return key, lambda: _load_onnx(folder, task, where)
    key = (fingerprint(folder), task, engine, str(where), dtype, quantize)
    return key, lambda: _load_torch(folder, task, where, dtype, quantize, gpus)


def _load_torch(folder: str, task: str, target: torch.device, dtype: str, quantize: str, gpus) -> LoadedModel:
    module = load(folder, task=task, device=str(target), dtype=dtype, quantize=quantize)
    where = f"{target}" + (f" (Spark task GPU {gpus[0]})" if gpus and target.type == "cuda" else "")
    numerics = dtype + (", int8 linear layers" if quantize == "int8" else "")
    loaded = LoadedModel(module, module.config, target, f"torch on {where}, {numerics}")
    log.info("sparklong: %s", loaded.placement)
    slow = slow_cpu_precision(dtype, target, cpu_bf16_native())
    if slow:
        log.warning(slow)
    return loaded


def _load_onnx(folder: str, task: str, placement) -> LoadedModel:
    """Export the graph if this folder has none yet (under a file lock), then open a session on it.
    Inputs and outputs stay torch CPU tensors; onnxruntime moves them to the GPU itself."""
    from ..models.onnx_files import ensure_onnx
    from ..models.onnx_runtime import OnnxModule

    path = ensure_onnx(folder, task, placement.quantize, placement.dtype)
    threads = task_cores()
    module = OnnxModule(path, read_config(folder), task, placement.providers(), threads)
    (log.warning if placement.fallback else log.info)(
        "sparklong: onnxruntime %s, %d intra-op thread(s), %s", placement.reason, threads, path
    )
    return LoadedModel(module, module.config, torch.device("cpu"), f"onnxruntime {placement.reason}")

