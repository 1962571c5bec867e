"""Long-model conversion: a BERT / RoBERTa-family checkpoint folder -> an HF-layout Longformer folder.

`convert_to_long(src, dst, max_positions=4096, attention_window=512)` writes `dst` with

- config.json: model_type "longformer", architectures ["LongformerModel"], one int attention_window,
  max_position_embeddings = max_positions + pad_token_id + 1, sizes / activation / LayerNorm eps
  carried from the source, pad/bos/eos/sep token ids (RoBERTa: from its config; BERT: [PAD], [CLS],
  [SEP] looked up in the tokenizer files, else the config);
- model.safetensors under LongformerModel key names (no prefix; pooler and LM / task heads dropped),
  query_global/key_global/value_global copied from query/key/value;
- the tokenizer files, with tokenizer_config.json's model_max_length set to max_positions.

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

import json
import os
import shutil
import tempfile

import torch

from .checkpoint import read_state_dict, strip_encoder_prefix
from .config import ConfigError, positive_int
from .json_files import read_json_object

# model_type -> family. "roberta" tables are already offset by pad_id + 1; "bert" tables are not.
SUPPORTED = {
    "bert": "bert",
    "roberta": "roberta",
    "xlm-roberta": "roberta",
    "camembert": "roberta",
}
_TOKENIZER_CLASS = {
    "bert": "BertTokenizer",
    "roberta": "RobertaTokenizer",
    "xlm-roberta": "XLMRobertaTokenizer",
    "camembert": "CamembertTokenizer",
}
# Plain data files a tokenizer may need; copied byte for byte when present.
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.json",
    "merges.txt",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "sentencepiece.bpe.model",
    "spiece.model",
)
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
    if isinstance(max_positions, bool) or not isinstance(max_positions, int) or max_positions < 1:
        raise ValueError(f"max_positions must be an integer >= 1, got {max_positions!r}")
    if (
        isinstance(attention_window, bool)
        or not isinstance(attention_window, int)
        or attention_window <= 0
        or attention_window % 2
    ):
        raise ValueError(f"attention_window must be a positive even integer, got {attention_window!r}")
    src, dst = os.fspath(src), os.fspath(dst)
    if not os.path.isdir(src):
        raise FileNotFoundError(f"source model folder {src} does not exist")
    if os.path.realpath(src) == os.path.realpath(dst):
        raise ValueError("dst must differ from src")
    if os.path.lexists(dst):
        if not os.path.isdir(dst) or os.path.islink(dst):
            raise ValueError(f"dst {dst} exists and is not a folder")
        if os.listdir(dst) and not overwrite:
            raise ValueError(f"dst {dst} exists and is not empty; pass overwrite=True to replace it")

    config_path = os.path.join(src, "config.json")
    raw = read_json_object(config_path, required=True)
    model_type = str(raw.get("model_type", ""))
    if model_type not in SUPPORTED:
        raise ValueError(
            f"model_type '{model_type}' in {config_path} is not supported; "
            f"convert_to_long takes {', '.join(SUPPORTED)}"
        )
    family = SUPPORTED[model_type]
    if raw.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(
            f"position_embedding_type '{raw['position_embedding_type']}' is not supported; "
            "only absolute position embeddings convert to Longformer"
        )
    if raw.get("is_decoder") or raw.get("add_cross_attention"):
        raise ValueError("decoder checkpoints (is_decoder / add_cross_attention) cannot become a Longformer")

    def need(key: str, default: int | None = None) -> int:
        """A positive integer setting of the source config (ValueError naming the file if missing or not one)."""
        if key not in raw and default is None:
            raise ValueError(f"{config_path} lacks '{key}'")
        try:
            return positive_int(raw.get(key, default), key)
        except ConfigError as exc:
            raise ValueError(f"{config_path}: {exc}") from exc

    layers = need("num_hidden_layers")
    hidden = need("hidden_size")
    src_positions = need("max_position_embeddings")
    vocab_size = need("vocab_size")

    ids = _token_ids(src, raw, family, vocab_size)
    pad_id = ids["pad_token_id"]
    offset = pad_id + 1

    state = _encoder_state(read_state_dict(src), layers)
    word = state["embeddings.word_embeddings.weight"]
    if tuple(word.shape) != (vocab_size, hidden):
        raise ValueError(
            f"word embeddings have shape {tuple(word.shape)}, config.json implies {(vocab_size, hidden)}"
        )
    table = state["embeddings.position_embeddings.weight"]
    if tuple(table.shape) != (src_positions, hidden):
        raise ValueError(
            f"position embeddings have shape {tuple(table.shape)}, config.json implies {(src_positions, hidden)}"
        )
    state["embeddings.position_embeddings.weight"] = _long_positions(table, family, offset, max_positions)
    for i in range(layers):
        att = f"encoder.layer.{i}.attention.self."
        for proj in ("query", "key", "value"):
            for part in ("weight", "bias"):
                state[f"{att}{proj}_global.{part}"] = state[f"{att}{proj}.{part}"].clone()

    config = {
        "architectures": ["LongformerModel"],
        "model_type": "longformer",
        "attention_window": attention_window,
        "max_position_embeddings": max_positions + offset,
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": need("num_attention_heads"),
        "intermediate_size": need("intermediate_size"),
        "hidden_act": raw.get("hidden_act", "gelu"),
        "hidden_dropout_prob": raw.get("hidden_dropout_prob", 0.1),
        "attention_probs_dropout_prob": raw.get("attention_probs_dropout_prob", 0.1),
        "layer_norm_eps": raw.get("layer_norm_eps", 1e-12),  # HF's BERT/RoBERTa default
        "initializer_range": raw.get("initializer_range", 0.02),
        "type_vocab_size": need("type_vocab_size", 2 if family == "bert" else 1),
        **ids,
        "onnx_export": False,
    }
    if "torch_dtype" in raw:
        config["torch_dtype"] = raw["torch_dtype"]
    tt = state["embeddings.token_type_embeddings.weight"]
    if tt.shape[0] != config["type_vocab_size"]:
        raise ValueError(
            f"token type embeddings have {tt.shape[0]} rows, config.json says {config['type_vocab_size']}"
        )

    parent = os.path.dirname(os.path.abspath(dst))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(dst))}.converting-", dir=parent)
    try:
        _write_json(os.path.join(staging, "config.json"), config)
        _save_weights(state, os.path.join(staging, "model.safetensors"))
        _copy_tokenizer(src, staging, model_type, max_positions)
        _move_into_place(staging, dst)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dst


# --- weights -------------------------------------------------------------------------------------


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


# --- special tokens ------------------------------------------------------------------------------


def _token_ids(src: str, raw: dict, family: str, vocab_size: int) -> dict[str, int]:
    if family == "roberta":
        pad = raw.get("pad_token_id", 1)
        bos = raw.get("bos_token_id", 0)
        eos = raw.get("eos_token_id", 2)
        ids = {"pad_token_id": pad, "bos_token_id": bos, "eos_token_id": eos, "sep_token_id": raw.get("sep_token_id", eos)}
    else:
        vocab = _vocabulary(src)
        names = _special_token_names(src)
        cls_id, sep_id, pad = (vocab.get(names[k]) for k in ("cls_token", "sep_token", "pad_token"))
        if pad is None:
            pad = raw.get("pad_token_id", 0)
        if cls_id is None:
            cls_id = raw.get("cls_token_id", raw.get("bos_token_id"))
        if sep_id is None:
            sep_id = raw.get("sep_token_id", raw.get("eos_token_id"))
        if cls_id is None or sep_id is None:
            raise ValueError(
                f"cannot tell the [CLS]/[SEP] token ids of {src}: no vocab.txt or tokenizer.json lists "
                f"{names['cls_token']!r} and {names['sep_token']!r}, and config.json has no bos/eos_token_id"
            )
        ids = {"pad_token_id": pad, "bos_token_id": cls_id, "eos_token_id": sep_id, "sep_token_id": sep_id}
    for name, value in ids.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < vocab_size:
            raise ValueError(f"{name} ({value!r}) of {src} is not a token id of its vocabulary (size {vocab_size})")
    return ids


def _special_token_names(src: str) -> dict[str, str]:
    names = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]"}
    for fname in ("special_tokens_map.json", "tokenizer_config.json"):
        data = read_json_object(os.path.join(src, fname)) or {}
        for key in names:
            value = data.get(key)
            if isinstance(value, dict):  # AddedToken serialisation
                value = value.get("content")
            if isinstance(value, str):
                names[key] = value
        if fname == "special_tokens_map.json" and data:
            break
    return names


def _vocabulary(src: str) -> dict[str, int]:
    """token -> id from tokenizer.json (model vocab + added tokens) or vocab.txt (one token a line)."""
    vocab: dict[str, int] = {}
    tok = read_json_object(os.path.join(src, "tokenizer.json")) or {}
    model, added_tokens = tok.get("model"), tok.get("added_tokens")
    model_vocab = model.get("vocab") if isinstance(model, dict) else None
    if isinstance(model_vocab, dict):
        vocab.update({k: v for k, v in model_vocab.items() if isinstance(v, int)})
    for added in added_tokens if isinstance(added_tokens, list) else []:
        if isinstance(added, dict) and isinstance(added.get("id"), int):
            vocab[added.get("content")] = added["id"]
    if vocab:
        return vocab
    path = os.path.join(src, "vocab.txt")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                vocab.setdefault(line.rstrip("\n"), i)
    return vocab


# --- tokenizer files -----------------------------------------------------------------------------


def _copy_tokenizer(src: str, dst: str, model_type: str, max_positions: int) -> None:
    for name in TOKENIZER_FILES:
        path = os.path.join(src, name)
        if os.path.isfile(path) and name != "tokenizer_config.json":
            shutil.copyfile(path, os.path.join(dst, name))

    tok_cfg = read_json_object(os.path.join(src, "tokenizer_config.json")) or {}
    tok_cfg.pop("auto_map", None)  # points at code files; never carried
    tok_cfg["model_max_length"] = max_positions
    # The new config says model_type "longformer", whose default tokenizer is RoBERTa's BPE: name the
    # source's tokenizer class so AutoTokenizer keeps reading the files as the source did.
    tok_cfg.setdefault("tokenizer_class", _TOKENIZER_CLASS[model_type])
    _write_json(os.path.join(dst, "tokenizer_config.json"), tok_cfg)

    tok_json = os.path.join(dst, "tokenizer.json")
    if os.path.isfile(tok_json):
        data = read_json_object(tok_json)
        trunc = data.get("truncation")
        if isinstance(trunc, dict) and "max_length" in trunc:
            trunc["max_length"] = max_positions
            _write_json(tok_json, data)
    elif model_type == "bert" and os.path.isfile(os.path.join(src, "vocab.txt")):
        _write_wordpiece_json(os.path.join(src, "vocab.txt"), tok_json, tok_cfg)


def _write_wordpiece_json(vocab_txt: str, path: str, tok_cfg: dict) -> None:
    """A fast-tokenizer file for a BERT folder that only has vocab.txt, with the slow tokenizer's
    options (as transformers' BertConverter builds it), so byte-offset tokenizers can read it."""
    from tokenizers.implementations import BertWordPieceTokenizer

    names = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
             "mask_token": "[MASK]"}
    for key in names:
        value = tok_cfg.get(key)
        value = value.get("content") if isinstance(value, dict) else value
        if isinstance(value, str):
            names[key] = value
    lower = bool(tok_cfg.get("do_lower_case", True))
    tokenizer = BertWordPieceTokenizer(
        vocab_txt,
        unk_token=names["unk_token"],
        sep_token=names["sep_token"],
        cls_token=names["cls_token"],
        pad_token=names["pad_token"],
        mask_token=names["mask_token"],
        clean_text=True,
        handle_chinese_chars=bool(tok_cfg.get("tokenize_chinese_chars", True)),
        strip_accents=tok_cfg.get("strip_accents"),
        lowercase=lower,
        wordpieces_prefix="##",
    )
    tokenizer.save(path)


# --- files ---------------------------------------------------------------------------------------


def _write_json(path: str, data) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


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
