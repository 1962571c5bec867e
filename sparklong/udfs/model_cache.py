"""Per-Python-worker LRU cache of loaded models: a model loads once per worker, not per task or batch.

Spark reuses Python workers between tasks (spark.python.worker.reuse, on by default), so a module-level
cache lives as long as the worker. Keyed by the folder's fingerprint (models/fingerprint.py) + task +
engine + device (cuda:N: a worker reused for a task on another GPU loads the model there) + dtype +
quantize; tokenizers by fingerprint + lowercase, so a folder whose files
were rewritten (a new conversion, weights replaced by an older-dated copy) is loaded again.
Engine "onnx" caches an onnxruntime session (OnnxModule) with as many intra-op threads as the task
has cores, behind the same call signature as the torch module.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import torch

from ..engine_options import ENGINES, QUANTIZE
from ..models.config import LongformerConfig
from ..models.devices import resolve_device, resolve_precision
from ..models.loading import load
from ..models.fingerprint import cached_per_fingerprint, fingerprint
from ..models.tokenizer import LongformerTokenizer
from ..param_checks import check_choice
from .task_resources import task_cores, task_gpus

log = logging.getLogger("sparklong")

MAX_MODELS = 2
# Test hook: when set, every load appends "<pid> <fingerprint>" to this file, so a driver can count loads per worker.
LOAD_LOG_ENV = "SPARKLONG_LOAD_LOG"


@dataclass(frozen=True)
class LoadedModel:
    module: torch.nn.Module
    config: LongformerConfig
    device: torch.device  # where its inputs go (the CPU for onnxruntime, which moves them itself)
    placement: str = ""  # where it runs and in what precision, in words (logged on load)


_models: "OrderedDict[tuple, LoadedModel]" = OrderedDict()
_lock = threading.Lock()
_loads = 0


def load_count() -> int:
    """How many models this process has loaded (cache misses)."""
    return _loads


def get_model(folder: str, task: str, engine: str = "torch", device: str = "auto", precision: str = "auto",
              quantize: str = "none") -> LoadedModel:
    """The cached model for this key, loading it (and evicting the least recently used) on a miss.
    In a Spark task, 'auto' and 'cuda' mean the GPU Spark assigned the task (task_resources.task_gpus)."""
    global _loads
    check_engine(engine, quantize, device, precision)
    gpus = task_gpus()
    if engine == "onnx":
        from ..models.onnx_runtime import place

        placement = place(device, precision, quantize, gpus)
        key = (fingerprint(folder), task, engine, placement.device, placement.dtype, quantize)
    else:
        # int8 linears run on the CPU: 'auto' means the CPU there, as for onnxruntime's int8
        target = torch.device("cpu") if quantize == "int8" else resolve_device(device, gpus)
        dtype = resolve_precision(precision, target)
        key = (fingerprint(folder), task, engine, str(target), dtype, quantize)
    with _lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
        if engine == "onnx":
            loaded = _load_onnx(folder, task, placement)
        else:
            module = load(folder, task=task, device=str(target), dtype=dtype, quantize=quantize)
            where = f"{target}" + (f" (Spark task GPU {gpus[0]})" if gpus and target.type == "cuda" else "")
            numerics = dtype + (", int8 linear layers" if quantize == "int8" else "")
            loaded = LoadedModel(module, module.config, target, f"torch on {where}, {numerics}")
            log.info("sparklong: %s", loaded.placement)
        _models[key] = loaded
        while len(_models) > MAX_MODELS:
            _models.popitem(last=False)
        _loads += 1
        _log_load(key[0])
        return loaded


def check_engine(engine: str, quantize: str, device: str = "auto", precision: str = "auto") -> None:
    """The combinations no engine serves, as errors on the driver (before any Spark job)."""
    check_choice("engine", engine, ENGINES)
    check_choice("quantize", quantize, QUANTIZE)
    if quantize == "int8" and str(device).startswith("cuda"):
        raise ValueError(f"quantize='int8' runs on the CPU (engine {engine!r}); use device='cpu' or 'auto', "
                         "or precision='bfloat16' on a GPU")
    if quantize == "int8" and precision not in ("auto", "float32"):
        raise ValueError(f"quantize='int8' runs on the CPU in float32 (engine {engine!r}), got precision="
                         f"{precision!r}; leave precision 'auto' or set 'float32', or use quantize='none'")


def _load_onnx(folder: str, task: str, placement) -> LoadedModel:
    """Export the graph if this folder has none yet (under a file lock), then open a session on it.
    Inputs and outputs stay torch CPU tensors; onnxruntime moves them to the GPU itself."""
    from ..models.onnx_files import ensure_onnx
    from ..models.onnx_runtime import OnnxModule

    path = ensure_onnx(folder, task, placement.quantize, placement.dtype)
    threads = task_cores()
    module = OnnxModule(path, LongformerConfig.from_folder(folder), task, placement.providers(), threads)
    (log.warning if placement.fallback else log.info)(
        "sparklong: onnxruntime %s, %d intra-op thread(s), %s", placement.reason, threads, path
    )
    return LoadedModel(module, module.config, torch.device("cpu"), f"onnxruntime {placement.reason}")


@cached_per_fingerprint(maxsize=8)
def get_tokenizer(folder: str, lowercase: bool) -> LongformerTokenizer:
    return LongformerTokenizer.from_folder(folder, lowercase=lowercase)


def _log_load(model: str) -> None:
    path = os.environ.get(LOAD_LOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {model}\n")


def clear() -> None:
    """Drop every cached model (tests, or to free memory)."""
    with _lock:
        _models.clear()
    get_tokenizer.cache_clear()
