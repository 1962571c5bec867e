"""Checkpoint I/O: read a Hugging Face folder's weights safely and map HF key names to the engine's.

Safetensors are read through a memory map; `pytorch_model.bin` only with `weights_only=True`, so a
pickle that would run code is refused. Either may be sharded, its shards named by an index file.
Nothing from a model folder is ever executed.
"""
from __future__ import annotations

import os
import pickle
import re
import zipfile

import torch

from .config import LongformerConfig
from .json_files import read_json_object

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_BIN = "pytorch_model.bin"
TORCH_BIN_INDEX = "pytorch_model.bin.index.json"
WEIGHT_FILES = (SAFETENSORS, SAFETENSORS_INDEX, TORCH_BIN, TORCH_BIN_INDEX)  # first found wins

# Prefixes before the encoder's keys, for the loader and convert_to_long alike: HF task and LM models
# put their base model's name there (XLM-R and CamemBERT save as "roberta."), wrappers their attribute's
# ("model."). No unprefixed Longformer, BERT or RoBERTa key (encoder or head) starts with one.
ENCODER_PREFIXES = ("longformer.", "roberta.", "bert.", "model.")


class CheckpointError(ValueError):
    """A model folder's weights are missing, unreadable, unsafe or do not fit its config."""


def weights_file(folder: str) -> str:
    """The folder's weights file, or the index of its shards."""
    for name in WEIGHT_FILES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise CheckpointError(f"{folder} has no weights: expected {SAFETENSORS} or {TORCH_BIN} (or a shard index)")


def weight_files(folder: str) -> list[str]:
    """The files holding the folder's tensors: its one weights file, or the shards its index names."""
    path = weights_file(folder)
    return _shard_paths(folder, path) if path.endswith(".json") else [path]


def read_state_dict(folder: str) -> dict[str, torch.Tensor]:
    """All tensors of the folder's checkpoint under their original (HF) names."""
    state: dict[str, torch.Tensor] = {}
    for path in weight_files(folder):
        state.update(_read_torch_bin(path) if path.endswith(".bin") else _read_safetensors(path))
    return state


# The HF projections engine_state_dict concatenates into one fused copy each.
_QKV = ("query", "key", "value")
_KV_GLOBAL = ("key_global", "value_global")
_FUSED = re.compile(rf"attention\.self\.({'|'.join(_QKV + _KV_GLOBAL)})\.")


def _fused_away(name: str) -> bool:
    """True for the tensors engine_state_dict concatenates into a new one (q/k/v, global k/v)."""
    return _FUSED.search(name) is not None


def check_weights(folder: str) -> None:
    """Refuse missing, unreadable or unsafe weights up front (on the driver, before any Spark job)
    at little cost: safetensors headers only; a .bin through the same weights_only loader (zip
    checkpoints memory-mapped), so a pickle that would run code is refused here."""
    for path in weight_files(folder):
        if path.endswith(".bin"):
            _read_torch_bin(path)
        else:
            _safetensors_names(path)


def tensor_names(folder: str) -> set[str]:
    """The tensor names of the folder's checkpoint, without reading the tensors (as far as the format allows)."""
    path = weights_file(folder)
    if path.endswith(".json"):
        return set(weight_map(path))
    if path.endswith(".safetensors"):
        return _safetensors_names(path)
    return set(_read_torch_bin(path))  # memory-mapped: tensors are not read


def _safetensors_names(path: str) -> set[str]:
    """The tensor names in a safetensors file's header (CheckpointError when it is unreadable)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="pt", device="cpu") as fh:
            return set(fh.keys())
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from exc


def _read_safetensors(path: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError, safe_open

    # Each handle maps the file once. The tensors that get fused into new copies come from their own
    # map, which is unmapped (its pages released) once the loader drops them; in the shared map their
    # pages would stay resident beside the copies (~140 MB for longformer-base).
    try:
        with safe_open(path, framework="pt", device="cpu") as kept, safe_open(path, framework="pt", device="cpu") as fused:
            return {key: (fused if _fused_away(key) else kept).get_tensor(key) for key in kept.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from exc


def weight_map(index_path: str) -> dict[str, str]:
    """A shard index's `weight_map` (tensor name -> shard file); CheckpointError naming the file when malformed."""
    mapping = read_json_object(index_path, CheckpointError, required=True).get("weight_map")
    if not isinstance(mapping, dict) or not mapping or \
            not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise CheckpointError(
            f"{index_path} is not a weight index: its 'weight_map' must be a non-empty object of "
            "tensor name -> shard file name"
        )
    return mapping


def _shard_paths(folder: str, index_path: str) -> list[str]:
    """The shards an index names, each checked to lie inside the model folder."""
    paths = []
    for shard in sorted(set(weight_map(index_path).values())):
        shard_path = os.path.realpath(os.path.join(folder, shard))
        if os.path.dirname(shard_path) != os.path.realpath(folder):
            raise CheckpointError(f"shard '{shard}' in {index_path} points outside the model folder")
        paths.append(shard_path)
    return paths


def _read_torch_bin(path: str) -> dict[str, torch.Tensor]:
    try:
        # zip checkpoints (torch >= 1.6) are memory-mapped; legacy raw pickles cannot be
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"refusing to load {path}: it is not a plain tensor checkpoint ({exc}). "
            "Convert it to model.safetensors with a tool you trust."
        ) from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict")
    return state


def engine_state_dict(
    hf: dict[str, torch.Tensor], cfg: LongformerConfig
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Map HF Longformer key names to (encoder state, head state), fusing q/k/v into one projection.

    Task heads (qa_outputs.*, classifier.*) keep their HF names.
    """
    hf = {strip_encoder_prefix(k): v for k, v in hf.items()}
    out: dict[str, torch.Tensor] = {}

    def take(name: str) -> torch.Tensor:
        if name not in hf:
            raise CheckpointError(f"checkpoint lacks '{name}' (is this a Longformer checkpoint?)")
        return hf[name]

    emb = "embeddings."
    out["embeddings.word.weight"] = take(emb + "word_embeddings.weight")
    out["embeddings.position.weight"] = take(emb + "position_embeddings.weight")
    out["embeddings.token_type.weight"] = take(emb + "token_type_embeddings.weight")
    out["embeddings.norm.weight"] = take(emb + "LayerNorm.weight")
    out["embeddings.norm.bias"] = take(emb + "LayerNorm.bias")

    for i in range(cfg.num_hidden_layers):
        src, dst = f"encoder.layer.{i}.", f"layers.{i}."
        att = src + "attention.self."
        for part in ("weight", "bias"):
            out[dst + "qkv." + part] = torch.cat([take(att + f"{p}.{part}") for p in _QKV])
            out[dst + "q_global." + part] = take(att + f"query_global.{part}")
            out[dst + "kv_global." + part] = torch.cat([take(att + f"{p}.{part}") for p in _KV_GLOBAL])
            out[dst + "attn_out." + part] = take(src + f"attention.output.dense.{part}")
            out[dst + "attn_norm." + part] = take(src + f"attention.output.LayerNorm.{part}")
            out[dst + "ffn_in." + part] = take(src + f"intermediate.dense.{part}")
            out[dst + "ffn_out." + part] = take(src + f"output.dense.{part}")
            out[dst + "ffn_norm." + part] = take(src + f"output.LayerNorm.{part}")

    heads = {k: v for k, v in hf.items() if k.startswith(("qa_outputs.", "classifier."))}
    _check_shapes(out, cfg)
    return out, heads


def strip_encoder_prefix(key: str) -> str:
    """`key` without the ENCODER_PREFIXES entry it starts with, if any."""
    for prefix in ENCODER_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def _check_shapes(state: dict[str, torch.Tensor], cfg: LongformerConfig) -> None:
    h = cfg.hidden_size
    expected = {
        "embeddings.word.weight": (cfg.vocab_size, h),
        "embeddings.position.weight": (cfg.max_position_embeddings, h),
        "embeddings.token_type.weight": (cfg.type_vocab_size, h),
        "layers.0.qkv.weight": (3 * h, h),
        "layers.0.ffn_in.weight": (cfg.intermediate_size, h),
    }
    for name, shape in expected.items():
        if tuple(state[name].shape) != shape:
            raise CheckpointError(
                f"weight '{name}' has shape {tuple(state[name].shape)}, config.json implies {shape}"
            )
