"""The architectures the engine runs, by config.json's `model_type`: the one place a model folder's
kind is read, its config built and its task modules found.

Every config answers the questions the stages and cores ask of a model, whatever its architecture:
`max_tokens` (the longest input its positions allow), `hidden_size`, `num_labels` / `label(i)`,
`sep_token_id`, `global_attention` (whether it takes a global attention mask), `position_table` (whether
max_tokens bounds an input: a table of positions, not RoPE) and `model_type`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from . import bert, heads, modernbert
from .config import ConfigError, LongformerConfig, config_from_folder


@dataclass(frozen=True)
class Architecture:
    name: str  # in messages
    read_config: Callable[[dict], object]  # config.json (a dict) -> its config
    tasks: dict[str, type]  # task -> the module class sparklong.models.load builds for it
    # One-file architectures (modernbert.py, bert.py): the checkpoint's encoder tensors -> the module's names.
    # None: Longformer, loaded through checkpoint.engine_state_dict (encoder.py).
    encoder_state: Callable[[dict], dict] | None = None


_ROBERTA = Architecture("RoBERTa", bert.BertConfig.from_dict, bert.ROBERTA_TASKS, bert.encoder_state)
ARCHITECTURES = {
    "longformer": Architecture("Longformer", LongformerConfig.from_dict, heads.TASKS),
    modernbert.MODEL_TYPE: Architecture("ModernBERT", modernbert.ModernBertConfig.from_dict, modernbert.TASKS,
                                        modernbert.encoder_state),
    "bert": Architecture("BERT", bert.BertConfig.from_dict, bert.TASKS, bert.encoder_state),
    "roberta": _ROBERTA,
    "xlm-roberta": _ROBERTA,
}


def architecture(folder: str | os.PathLike) -> Architecture:
    """The architecture of the folder's model_type; ConfigError for one the engine does not run, naming
    those it does."""
    return config_from_folder(folder, _architecture_of)


def read_config(folder: str | os.PathLike):
    """The folder's config, read by its architecture's reader (ConfigError as `architecture` says); its
    `model_type` keys ARCHITECTURES."""
    return config_from_folder(folder, lambda raw: _architecture_of(raw).read_config(raw))


def _architecture_of(raw: dict) -> Architecture:
    """The architecture of config.json's `model_type` ("longformer" when it names none: the engine's first)."""
    kind = str(raw.get("model_type", "longformer"))
    if kind not in ARCHITECTURES:
        raise ConfigError(f"model_type {kind!r} is not supported; the engine runs {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[kind]
