"""What a sentence-transformers model folder says about its sentence vectors: the pooling its Pooling module
does (modules.json names the module's folder, usually 1_Pooling/, whose config.json sets the mode), and the
prompts it was trained with (config_sentence_transformers.json: {"query": "search_query: ", ...}).
Read as JSON data only."""
from __future__ import annotations

import os

from .json_files import read_json, read_json_object

POOLING_MODULE = "sentence_transformers.models.Pooling"
DEFAULT_POOLING_FOLDER = "1_Pooling"
# Pooling config flags -> the poolingStrategy that computes the same vector
STRATEGIES = {"pooling_mode_cls_token": "CLS", "pooling_mode_mean_tokens": "MEAN"}


def pooling_mode(folder: str) -> str | None:
    """The pooling the folder's sentence-transformers Pooling module does: "CLS", "MEAN", another mode's
    flag name (max, last token, ... which no stage computes), or None when the folder has no Pooling module."""
    config = read_json_object(os.path.join(folder, _pooling_folder(folder), "config.json"))
    if not config:
        return None
    modes = [flag for flag, on in config.items() if flag.startswith("pooling_mode_") and on is True]
    if len(modes) == 1 and modes[0] in STRATEGIES:
        return STRATEGIES[modes[0]]
    return "+".join(modes) or None


def prompts(folder: str) -> dict[str, str]:
    """The folder's prompts by name ("query", "document", "passage", ...); {} when it names none."""
    config = read_json_object(os.path.join(folder, "config_sentence_transformers.json")) or {}
    named = config.get("prompts")
    if not isinstance(named, dict):
        return {}
    return {k: v for k, v in named.items() if isinstance(k, str) and isinstance(v, str)}


def document_prompt(folder: str) -> str:
    """The prompt the model wants before documents ("document", or "passage" as e5 names it); "" if none."""
    named = prompts(folder)
    return named.get("document", named.get("passage", ""))


def query_prompt(folder: str) -> str:
    """The prompt the model wants before queries; "" if none."""
    return prompts(folder).get("query", "")


def _pooling_folder(folder: str) -> str:
    for module in read_json(os.path.join(folder, "modules.json"), list) or []:
        if isinstance(module, dict) and module.get("type") == POOLING_MODULE and isinstance(module.get("path"), str):
            path = os.path.normpath(module["path"])
            if not os.path.isabs(path) and not path.startswith(".."):  # inside the model folder only
                return path
    return DEFAULT_POOLING_FOLDER
