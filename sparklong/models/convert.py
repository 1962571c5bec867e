"""Long-model conversion: a BERT / RoBERTa-family checkpoint folder -> an HF-layout Longformer folder.

`convert_to_long(src, dst, max_positions=4096, attention_window=512)` writes `dst` with

- config.json: model_type "longformer", architectures ["LongformerModel"], one int attention_window,
  max_position_embeddings = max_positions + pad_token_id + 1, sizes / activation / LayerNorm eps
  carried from the source, pad/bos/eos/sep token ids (RoBERTa: from its config; BERT: [PAD], [CLS],
  [SEP] looked up in the tokenizer files, else the config), read back through LongformerConfig before
  any weight is read, so what the engine cannot run (an activation, sizes, token ids) fails here;
- model.safetensors under LongformerModel key names (no prefix; pooler and LM / task heads dropped),
  query_global/key_global/value_global copied from query/key/value;
- the tokenizer files, with tokenizer_config.json's model_max_length set to max_positions
  (convert_tokenizer.py).

Positions. Longformer numbers tokens RoBERTa-style: token t (0-based, non-padding) reads row
pad_token_id + 1 + t, padding reads row pad_token_id. A RoBERTa-family table is already laid out
that way: its first pad_id + 1 rows are copied as they are. A BERT table (token t reads row t) is
shifted by pad_id + 1 and its first rows are zeros (padding only). The trained rows are then
repeated in blocks until max_positions rows are filled (as the Longformer paper initialised
longformer-base-4096 from roberta-base). Where attention_window / 2 covers the whole input the
converted model reproduces the short model's last hidden state.

Nothing from the source folder is executed: config and tokenizer files are read as JSON / text,
weights through `checkpoint.read_state_dict` (safetensors, or .bin with weights_only=True).
`dst` is built in a temporary sibling folder and renamed into place.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import torch

from .checkpoint import read_state_dict, strip_encoder_prefix
from .config import ConfigError, LongformerConfig, positive_int
from .convert_tokenizer import copy_tokenizer, token_ids
from .json_files import read_json_object, write_json

# model_type -> family. "roberta" tables are already offset by pad_id + 1; "bert" tables are not.
SUPPORTED = {
    "bert": "bert",
    "roberta": "roberta",
    "xlm-roberta": "roberta",
    "camembert": "roberta",
}
# Source settings with no default the long model could take (HF's defaults are base-sized).
_REQUIRED = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
             "max_position_embeddings")
_LAYER_PARTS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "attention.output.LayerNorm",
    "intermediate.dense",
    "output.dense",
    "output.LayerNorm",
)


def convert_to_long(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    max_positions: int = 4096,
    attention_window: int = 512,
    *,
    overwrite: bool = False,
) -> str:
    """Write an HF-layout Longformer folder at `dst` from the BERT/RoBERTa checkpoint folder `src`.

    max_positions: the longest input (in tokens, special tokens included) the new model accepts.
    attention_window: the full (two-sided) local window, a positive even integer, for every layer.
    overwrite: replace a non-empty `dst`; without it a non-empty `dst` is an error.
    Returns `dst`.
    """
    _check_arguments(max_positions, attention_window)
    src, dst = os.fspath(src), os.fspath(dst)
    _check_folders(src, dst, overwrite)
    raw = _source_config(src)
    config, cfg = _long_config(src, raw, max_positions, attention_window)  # all checked before any weight is read
    state = _long_weights(read_state_dict(src), raw, cfg, max_positions)
    _write_folder(src, dst, config, state, raw["model_type"], max_positions)
    return dst


# --- checks and config ---------------------------------------------------------------------------


def _check_arguments(max_positions, attention_window) -> None:
    if isinstance(max_positions, bool) or not isinstance(max_positions, int) or max_positions < 1:
        raise ValueError(f"max_positions must be an integer >= 1, got {max_positions!r}")
    if (
        isinstance(attention_window, bool)
        or not isinstance(attention_window, int)
        or attention_window <= 0
        or attention_window % 2
    ):
        raise ValueError(f"attention_window must be a positive even integer, got {attention_window!r}")


def _check_folders(src: str, dst: str, overwrite: bool) -> None:
    if not os.path.isdir(src):
        raise FileNotFoundError(f"source model folder {src} does not exist")
    if os.path.realpath(src) == os.path.realpath(dst):
        raise ValueError("dst must differ from src")
    if os.path.lexists(dst):
        if not os.path.isdir(dst) or os.path.islink(dst):
            raise ValueError(f"dst {dst} exists and is not a folder")
        if os.listdir(dst) and not overwrite:
            raise ValueError(f"dst {dst} exists and is not empty; pass overwrite=True to replace it")


def _source_config(src: str) -> dict:
    """The source's config.json, refused unless it is an encoder of a family that converts."""
    path = os.path.join(src, "config.json")
    raw = read_json_object(path, required=True)
    model_type = str(raw.get("model_type", ""))
    if model_type not in SUPPORTED:
        raise ValueError(
            f"model_type '{model_type}' in {path} is not supported; convert_to_long takes {', '.join(SUPPORTED)}"
        )
    if raw.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(
            f"position_embedding_type '{raw['position_embedding_type']}' is not supported; "
            "only absolute position embeddings convert to Longformer"
        )
    if raw.get("is_decoder") or raw.get("add_cross_attention"):
        raise ValueError("decoder checkpoints (is_decoder / add_cross_attention) cannot become a Longformer")
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise ValueError(f"{path} lacks '{missing[0]}'")
    try:
        positive_int(raw["max_position_embeddings"], "max_position_embeddings")  # the source table's rows
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return raw


def _long_config(src: str, raw: dict, max_positions: int, attention_window: int) -> tuple[dict, LongformerConfig]:
    """The long model's config.json, and LongformerConfig's reading of it: what the engine cannot run
    (an activation, sizes, token ids) fails here, naming the source's config.json, not at load."""
    family = SUPPORTED[raw["model_type"]]
    try:
        ids = token_ids(src, raw, family)
        config = {
            "architectures": ["LongformerModel"],
            "model_type": "longformer",
            "attention_window": attention_window,
            "max_position_embeddings": max_positions + ids["pad_token_id"] + 1,
            **{key: raw[key] for key in _REQUIRED if key != "max_position_embeddings"},
            "hidden_act": raw.get("hidden_act", "gelu"),
            "hidden_dropout_prob": raw.get("hidden_dropout_prob", 0.1),
            "attention_probs_dropout_prob": raw.get("attention_probs_dropout_prob", 0.1),
            "layer_norm_eps": raw.get("layer_norm_eps", 1e-12),  # HF's BERT/RoBERTa default
            "initializer_range": raw.get("initializer_range", 0.02),
            "type_vocab_size": raw.get("type_vocab_size", 2 if family == "bert" else 1),
            **ids,
            "onnx_export": False,
            **({"torch_dtype": raw["torch_dtype"]} if "torch_dtype" in raw else {}),
        }
        return config, LongformerConfig.from_dict(config)
    except ConfigError as exc:
        raise ConfigError(f"{os.path.join(src, 'config.json')}: {exc}") from exc


def _write_folder(src: str, dst: str, config: dict, state: dict[str, torch.Tensor], model_type: str,
                  max_positions: int) -> None:
    """Build the long folder in a temporary sibling of dst and rename it into place; nothing is left
    behind if any step fails."""
    parent = os.path.dirname(os.path.abspath(dst))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(dst))}.converting-", dir=parent)
    try:
        write_json(os.path.join(staging, "config.json"), config)
        _save_weights(state, os.path.join(staging, "model.safetensors"))
        copy_tokenizer(src, staging, model_type, max_positions)
        _move_into_place(staging, dst)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


# --- weights -------------------------------------------------------------------------------------


def _long_weights(hf: dict[str, torch.Tensor], raw: dict, cfg: LongformerConfig,
                  max_positions: int) -> dict[str, torch.Tensor]:
    """The long model's tensors: the source encoder's, its position table lengthened, global
    projections copied from the local ones."""
    state = _encoder_state(hf, cfg.num_hidden_layers)
    h = cfg.hidden_size
    _check_shape(state, "word_embeddings", (cfg.vocab_size, h))
    _check_shape(state, "position_embeddings", (raw["max_position_embeddings"], h))
    _check_shape(state, "token_type_embeddings", (cfg.type_vocab_size, h))
    positions = "embeddings.position_embeddings.weight"
    state[positions] = _long_positions(state[positions], SUPPORTED[raw["model_type"]], cfg.pad_token_id + 1,
                                       max_positions)
    for i in range(cfg.num_hidden_layers):
        att = f"encoder.layer.{i}.attention.self."
        for proj in ("query", "key", "value"):
            for part in ("weight", "bias"):
                state[f"{att}{proj}_global.{part}"] = state[f"{att}{proj}.{part}"].clone()
    return state


def _check_shape(state: dict[str, torch.Tensor], table: str, shape: tuple[int, int]) -> None:
    found = tuple(state[f"embeddings.{table}.weight"].shape)
    if found != shape:
        raise ValueError(f"{table.replace('_', ' ')} have shape {found}, config.json implies {shape}")


def _encoder_state(hf: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """The encoder's tensors under LongformerModel names; pooler, LM and task heads are dropped."""
    flat: dict[str, torch.Tensor] = {}
    for key, value in hf.items():
        key = strip_encoder_prefix(key)
        if key.endswith(".gamma"):  # TF-era BERT checkpoints
            key = key[: -len("gamma")] + "weight"
        elif key.endswith(".beta"):
            key = key[: -len("beta")] + "bias"
        flat[key] = value

    names = [f"embeddings.{n}.weight" for n in ("word_embeddings", "position_embeddings", "token_type_embeddings")]
    names += ["embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"]
    for i in range(layers):
        names += [f"encoder.layer.{i}.{part}.{p}" for part in _LAYER_PARTS for p in ("weight", "bias")]
    missing = [n for n in names if n not in flat]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ValueError(f"checkpoint lacks {len(missing)} encoder weights ({shown}); is it a BERT/RoBERTa model?")
    return {n: flat[n] for n in names}


def _long_positions(table: torch.Tensor, family: str, offset: int, max_positions: int) -> torch.Tensor:
    """The (max_positions + offset, H) table: first `offset` rows for padding, then the trained rows
    repeated in blocks so that token t reads the source's row for token t % trained."""
    if family == "roberta":
        head, trained = table[:offset], table[offset:]
    else:
        head, trained = torch.zeros(offset, table.shape[1], dtype=table.dtype), table
    if trained.shape[0] < 1 or head.shape[0] != offset:
        raise ValueError(
            f"the source position table ({table.shape[0]} rows) has no trained rows after the "
            f"padding offset ({offset})"
        )
    out = torch.empty(max_positions + offset, table.shape[1], dtype=table.dtype)
    out[:offset] = head
    for start in range(0, max_positions, trained.shape[0]):
        n = min(trained.shape[0], max_positions - start)
        out[offset + start: offset + start + n] = trained[:n]
    return out


def _save_weights(state: dict[str, torch.Tensor], path: str) -> None:
    from safetensors.torch import save_file

    # clone: tensors must own separate, contiguous storage for safetensors
    save_file({k: v.detach().contiguous().clone() for k, v in state.items()}, path, metadata={"format": "pt"})


# --- files ---------------------------------------------------------------------------------------


def _move_into_place(staging: str, dst: str) -> None:
    """Rename the finished folder to dst; an existing dst (empty, or overwrite=True) is replaced."""
    if not os.path.lexists(dst):
        os.rename(staging, dst)
        return
    old = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(dst))}.replaced-",
                           dir=os.path.dirname(os.path.abspath(dst)))
    os.rmdir(old)
    os.rename(dst, old)
    try:
        os.rename(staging, dst)
    except BaseException:
        os.rename(old, dst)
        raise
    shutil.rmtree(old, ignore_errors=True)
