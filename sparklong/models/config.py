"""Longformer configuration read from a Hugging Face `config.json`, validated up front, and the checks
every architecture's config shares (architectures.py reads a folder's config by its model_type)."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Callable, ClassVar, TypeVar

from .activations import ACTIVATIONS
from .json_files import read_json_object

T = TypeVar("T")


class ConfigError(ValueError):
    """A model folder's config.json cannot describe a model this engine can run."""


class LabelNames:
    """The label names of a config dataclass with an `id2label` field (every architecture's)."""

    id2label: dict[int, str]

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    def label(self, index: int) -> str:
        """The name of a head's output `index` (id2label, else transformers' LABEL_<index>)."""
        return self.id2label.get(index, default_label(index))

    def with_label_count(self, count: int):
        """This config with `count` default label names, for a head whose config.json names none (the
        width is read from the head's weights or from an exported graph)."""
        return dataclasses.replace(self, id2label=default_labels(count))


@dataclass(frozen=True)
class EncoderConfig(LabelNames):
    """The fields every architecture's config has (each adds its own after them), read from config.json by
    its `from_dict`."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_folder(cls, folder: str | os.PathLike):
        return config_from_folder(folder, cls.from_dict)


@dataclass(frozen=True)
class LongformerConfig(EncoderConfig):
    attention_window: tuple[int, ...]  # one full (two-sided) window per layer, each even
    type_vocab_size: int = 2  # defaults as HF's LongformerConfig
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    sep_token_id: int = 2
    id2label: dict[int, str] = field(default_factory=dict)
    model_type: str = "longformer"
    global_attention: ClassVar[bool] = True  # takes a global attention mask (task-specific global tokens)
    position_table: ClassVar[bool] = True  # positions from a table: no input longer than max_tokens

    @property
    def max_tokens(self) -> int:
        """Longest input the position table allows (RoBERTa-style: positions start after pad)."""
        return self.max_position_embeddings - self.pad_token_id - 1

    @classmethod
    def from_dict(cls, raw: dict) -> "LongformerConfig":
        layers, hidden, heads = encoder_shape(raw)
        act = activation(raw, "hidden_act")
        cfg = cls(
            vocab_size=positive_int(required(raw, "vocab_size"), "vocab_size"),
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=positive_int(raw.get("intermediate_size", 4 * hidden), "intermediate_size"),
            attention_window=_windows(raw.get("attention_window", 512), layers),
            max_position_embeddings=positive_int(required(raw, "max_position_embeddings"), "max_position_embeddings"),
            type_vocab_size=positive_int(raw.get("type_vocab_size", 2), "type_vocab_size"),
            hidden_act=act,
            layer_norm_eps=positive_float(raw.get("layer_norm_eps", 1e-12), "layer_norm_eps"),
            pad_token_id=token_id(raw.get("pad_token_id", 1), "pad_token_id"),
            bos_token_id=token_id(raw.get("bos_token_id", 0), "bos_token_id"),
            eos_token_id=token_id(raw.get("eos_token_id", 2), "eos_token_id"),
            sep_token_id=token_id(raw.get("sep_token_id", raw.get("eos_token_id", 2)), "sep_token_id"),
            id2label=labels_from_dict(raw),
            model_type=str(raw.get("model_type", "longformer")),
        )
        check_token_ids(cfg, raw, ("pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id"))
        if cfg.max_tokens < 1:
            raise ConfigError("max_position_embeddings leaves no room for tokens after the padding offset")
        return cfg


def read_config_json(folder: str | os.PathLike) -> dict:
    """The folder's config.json as a dict (ConfigError when it is missing or not a JSON object)."""
    raw = read_json_object(os.path.join(folder, "config.json"), ConfigError)
    if raw is None:
        raise ConfigError(f"{folder} has no config.json; expected a Hugging Face model folder")
    return raw


def config_from_folder(folder: str | os.PathLike, from_dict: Callable[[dict], T]) -> T:
    """from_dict(the folder's config.json), its ConfigError prefixed with the file's path."""
    raw = read_config_json(folder)
    try:
        return from_dict(raw)
    except ConfigError as exc:
        raise ConfigError(f"{os.path.join(folder, 'config.json')}: {exc}") from exc


def check_token_ids(cfg, raw: dict, names: tuple[str, ...]) -> None:
    """ConfigError when a special token id of `cfg` lies outside its vocabulary (saying when it is the
    architecture's default because config.json names none)."""
    for name in names:
        if getattr(cfg, name) >= cfg.vocab_size:
            default = ", the default: config.json names none" if raw.get(name) is None else ""
            raise ConfigError(f"{name} ({getattr(cfg, name)}{default}) is outside the vocabulary "
                              f"(size {cfg.vocab_size}); set {name} in config.json")


def encoder_shape(raw: dict) -> tuple[int, int, int]:
    """(num_hidden_layers, hidden_size, num_attention_heads) of config.json: positive, and the heads
    dividing the hidden size."""
    layers = positive_int(required(raw, "num_hidden_layers"), "num_hidden_layers")
    hidden = positive_int(required(raw, "hidden_size"), "hidden_size")
    heads = positive_int(required(raw, "num_attention_heads"), "num_attention_heads")
    if hidden % heads:
        raise ConfigError(f"hidden_size ({hidden}) is not divisible by num_attention_heads ({heads})")
    return layers, hidden, heads


def activation(raw: dict, name: str) -> str:
    """config.json's activation `name` (transformers' default "gelu"), one the engine runs."""
    act = raw.get(name, "gelu")
    if act not in ACTIVATIONS:
        raise ConfigError(f"{name} '{act}' is not supported; use one of {', '.join(ACTIVATIONS)}")
    return act


def required(raw: dict, key: str):
    """raw[key], or a ConfigError naming the missing key."""
    if key not in raw:
        raise ConfigError(f"'{key}' is missing")
    return raw[key]


def default_label(index: int) -> str:
    """transformers' name for a head output that config.json does not name."""
    return f"LABEL_{index}"


def default_labels(count: int) -> dict[int, str]:
    """id2label for `count` unnamed head outputs: LABEL_0 ... LABEL_<count-1>."""
    return {i: default_label(i) for i in range(count)}


def labels_from_dict(raw: dict) -> dict[int, str]:
    """config.json's id2label, else LABEL_i names for its num_labels, else none."""
    id2label = _id2label(raw.get("id2label"))
    if not id2label and raw.get("num_labels"):
        id2label = default_labels(positive_int(raw["num_labels"], "num_labels"))
    return id2label


def positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def positive_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _id2label(value) -> dict[int, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"id2label must be an object of label id -> name, got {value!r}")
    try:
        return {int(k): str(v) for k, v in value.items()}
    except ValueError as exc:
        raise ConfigError(f"id2label keys must be integers, got {list(value)!r}") from exc


def token_id(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _windows(value, layers: int) -> tuple[int, ...]:
    if not isinstance(value, (int, list)) or isinstance(value, bool):
        raise ConfigError(f"attention_window must be an even integer or a list of them, got {value!r}")
    windows = [value] * layers if isinstance(value, int) else value
    if len(windows) != layers:
        raise ConfigError(f"attention_window lists {len(windows)} windows for {layers} layers")
    for i, w in enumerate(windows):
        if isinstance(w, bool) or not isinstance(w, int) or w <= 0 or w % 2:
            raise ConfigError(f"attention_window for layer {i} must be a positive even integer, got {w!r}")
    return tuple(windows)
