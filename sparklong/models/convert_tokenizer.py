"""The tokenizer side of convert_to_long: the long model's special token ids, and the source's
tokenizer files carried over (read as JSON / text, never executed)."""
from __future__ import annotations

import os
import shutil

from .config import token_id
from .json_files import read_json_object, write_json

# model_type -> the tokenizer class tokenizer_config.json names (see copy_tokenizer)
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


def token_ids(src: str, raw: dict, family: str) -> dict[str, int]:
    """pad/bos/eos/sep token ids of the long model, each a non-negative integer (ConfigError if not;
    LongformerConfig checks them against the vocabulary)."""
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
    return {name: token_id(value, name) for name, value in ids.items()}


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


def copy_tokenizer(src: str, dst: str, model_type: str, max_positions: int) -> None:
    """The source's tokenizer files into `dst`, model_max_length set to max_positions."""
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
    write_json(os.path.join(dst, "tokenizer_config.json"), tok_cfg)

    tok_json = os.path.join(dst, "tokenizer.json")
    if os.path.isfile(tok_json):
        data = read_json_object(tok_json)
        trunc = data.get("truncation")
        if isinstance(trunc, dict) and "max_length" in trunc:
            trunc["max_length"] = max_positions
            write_json(tok_json, data)
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
