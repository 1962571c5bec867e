"""Per-Python-worker LRU cache of loaded models: a model loads once per worker, not per task or batch.

Spark reuses Python workers between tasks (spark.python.worker.reuse, on by default), so a module-level
cache lives as long as the worker. Keyed by model id + task + engine + device + dtype.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import torch

from ..models.config import LongformerConfig
from ..models.loading import load, resolve_device
from ..models.tokenizer import LongformerTokenizer

MAX_MODELS = 2
# Test hook: when set, every load appends "<pid> <model id>" to this file, so a driver can count loads per worker.
LOAD_LOG_ENV = "SPARKLONG_LOAD_LOG"


@dataclass(frozen=True)
class LoadedModel:
    module: torch.nn.Module
    config: LongformerConfig
    device: torch.device


_models: "OrderedDict[tuple, LoadedModel]" = OrderedDict()
_lock = threading.Lock()
_loads = 0


def load_count() -> int:
    """How many models this process has loaded (cache misses)."""
    return _loads


def get_model(folder: str, task: str, engine: str = "torch", device: str = "auto", dtype: str = "float32"):
    """The cached model for this key, loading it (and evicting the least recently used) on a miss."""
    global _loads
    target = resolve_device(device)
    if target.type == "cpu":
        dtype = "float32"  # half precision only pays on GPUs
    key = (model_id(folder), task, engine, str(target), dtype)
    with _lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
        module = load(folder, task=task, device=str(target), dtype=dtype)
        loaded = LoadedModel(module, module.config, target)
        _models[key] = loaded
        while len(_models) > MAX_MODELS:
            _models.popitem(last=False)
        _loads += 1
        _log_load(key[0])
        return loaded


@lru_cache(maxsize=8)
def get_tokenizer(folder: str, lowercase: bool) -> LongformerTokenizer:
    return LongformerTokenizer.from_folder(folder, lowercase=lowercase)


def model_id(folder: str) -> str:
    """Same folder, same weights file state -> same id."""
    real = os.path.realpath(folder)
    stamp = max(os.stat(os.path.join(real, f)).st_mtime_ns for f in os.listdir(real))
    return f"{real}@{stamp}"


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
