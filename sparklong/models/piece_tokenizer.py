"""A model folder's tokenizer on the Rust `tokenizers` library, encoding as transformers' fast tokenizer does.

- tokenizer.json (any model: byte-level BPE, WordPiece, ...) is used as saved, with the changes
  transformers' fast classes make on load (ByteLevel add_prefix_space, RobertaProcessing trim_offsets,
  BertNormalizer do_lower_case, special tokens named in tokenizer_config.json), truncation and padding off;
- else vocab.json + merges.txt become RoBERTa's byte-level BPE exactly as RobertaTokenizerFast converts
  them: `<s> a </s>` for one text, `<s> q </s></s> c </s>` for a pair, offsets trimmed of spaces.

Offsets index the original text. lowercase=True (Spark NLP's caseSensitive=False) adds a Lowercase
normalizer, so the text is lowercased before BPE while alignment to the original is tracked (it lowercases
char by char: a final capital sigma becomes "σ", where str.lower() gives "ς"). Files in the folder are
read as JSON / text data only; nothing in them is executed.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Optional

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from .json_files import read_json_object

# transformers' SPECIAL_TOKENS_ATTRIBUTES (less additional_special_tokens) and the class defaults:
# RobertaTokenizer's for byte-level BPE, BertTokenizer's for the rest.
_SPECIAL_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
_ROBERTA_DEFAULTS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
                     "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"}
_BERT_DEFAULTS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                  "mask_token": "[MASK]"}
_TOKEN_FIELDS = ("single_word", "lstrip", "rstrip", "normalized", "special")


@dataclass(frozen=True)
class Encoded:
    """One encoded text (or question/context pair), special tokens included."""

    ids: list[int]
    offsets: list[tuple[int, int]]  # [start, stop) character span in the original text; (0, 0) for specials
    special_mask: list[int]  # 1 for tokens the post-processor added (<s>, </s>, ...)
    sequence_ids: list[Optional[int]]  # 0 = text / question, 1 = context, None = special
    word_ids: list[Optional[int]]  # the pre-tokenizer word each token comes from, per sequence; None = special


class PieceTokenizer:
    def __init__(self, tokenizer: Tokenizer, specials: dict[str, str]):
        self._tok = tokenizer
        vocab_id = lambda key: tokenizer.token_to_id(specials[key]) if key in specials else None  # noqa: E731
        # bos/eos are what the post-processor wraps a text in; the named tokens only when it adds none.
        empty = tokenizer.encode("")
        wrapped = len(empty.ids) >= 2 and all(empty.special_tokens_mask)
        self._bos = empty.ids[0] if wrapped else _first(vocab_id("cls_token"), vocab_id("bos_token"))
        self._eos = empty.ids[-1] if wrapped else _first(vocab_id("sep_token"), vocab_id("eos_token"))
        if self._bos is None or self._eos is None:
            raise ValueError(f"cannot tell the start/end token ids: none of {specials} is in the vocabulary")
        self._pad = _first(vocab_id("pad_token"), self._eos)  # padding is masked, any id serves

    @classmethod
    def from_folder(cls, folder: str, lowercase: bool = False) -> "PieceTokenizer":
        """Tokenizer of a Hugging Face model folder: tokenizer.json, else vocab.json + merges.txt."""
        path = lambda name: os.path.join(folder, name)  # noqa: E731
        config = read_json_object(path("tokenizer_config.json")) or {}
        special_map = read_json_object(path("special_tokens_map.json")) or {}
        from_json = os.path.isfile(path("tokenizer.json"))
        if from_json:
            data = read_json_object(path("tokenizer.json"))
            model = data.get("model")
            byte_level_bpe = isinstance(model, dict) and model.get("type") == "BPE"  # Longformer's BPE is byte-level
            tokenizer = _from_tokenizer_json(data, config, path("tokenizer.json"))
        elif os.path.isfile(path("vocab.json")) and os.path.isfile(path("merges.txt")):
            byte_level_bpe = True
            tokenizer = _from_vocab_merges(path("vocab.json"), path("merges.txt"), config)
        else:
            raise ValueError(
                f"no tokenizer in {folder!r}: expected tokenizer.json, or vocab.json and merges.txt "
                "(a Hugging Face RoBERTa/Longformer tokenizer folder)"
            )
        defaults = _ROBERTA_DEFAULTS if byte_level_bpe else _BERT_DEFAULTS
        specials, named = _special_tokens(config, special_map, defaults)
        _add_tokens(tokenizer, config, specials, named, folder, byte_level_bpe=byte_level_bpe, slow=not from_json)
        if not from_json:
            _byte_level_bpe_processor(tokenizer, config, specials)
        if lowercase:
            norm, lower = tokenizer.normalizer, normalizers.Lowercase()
            tokenizer.normalizer = normalizers.Sequence([norm, lower]) if norm else lower
        return cls(tokenizer, specials)

    def encode_batch(self, texts: list[str]) -> list[Encoded]:
        """`<s> text </s>` for each text (no truncation: callers window long documents)."""
        return [_encoded(e) for e in self._tok.encode_batch(list(texts))] if texts else []

    def encode_pairs(self, questions: list[str], contexts: list[str]) -> list[Encoded]:
        """`<s> q </s></s> c </s>` for each pair; offsets index the question or the context (see sequence_ids)."""
        if len(questions) != len(contexts):
            raise ValueError(f"{len(questions)} questions but {len(contexts)} contexts")
        return [_encoded(e) for e in self._tok.encode_batch(list(zip(questions, contexts)))] if questions else []

    @property
    def pad_id(self) -> int:
        return self._pad

    @property
    def bos_id(self) -> int:
        """The start token (<s> / [CLS])."""
        return self._bos

    @property
    def eos_id(self) -> int:
        """The end / separator token (</s> / [SEP])."""
        return self._eos

    @property
    def vocab_size(self) -> int:
        """Vocabulary size, added tokens included (len() of the HF tokenizer)."""
        return self._tok.get_vocab_size(with_added_tokens=True)


def _encoded(e) -> Encoded:
    return Encoded(e.ids, e.offsets, e.special_tokens_mask, e.sequence_ids, e.word_ids)


def _from_tokenizer_json(data: dict, config: dict, path: str) -> Tokenizer:
    prefix = bool(config.get("add_prefix_space", False))
    pre = data.get("pre_tokenizer")
    if isinstance(pre, dict) and pre.get("type") == "ByteLevel":  # PreTrainedTokenizerFast syncs this
        pre["add_prefix_space"] = prefix
    post = data.get("post_processor")
    if isinstance(post, dict) and post.get("type") == "RobertaProcessing":  # RobertaTokenizerFast syncs these
        post["add_prefix_space"] = prefix
        post["trim_offsets"] = bool(config.get("trim_offsets", True))
    norm = data.get("normalizer")
    if isinstance(norm, dict) and norm.get("type") == "BertNormalizer" and \
            config.get("tokenizer_class") != "PreTrainedTokenizerFast":
        # BertTokenizerFast (and its family) re-sets these from tokenizer_config.json, lowercasing by default.
        norm["lowercase"] = bool(config.get("do_lower_case", True))
        norm["strip_accents"] = config.get("strip_accents")
        norm["handle_chinese_chars"] = bool(config.get("tokenize_chinese_chars", True))
    data["truncation"] = data["padding"] = None  # HF turns both off for a plain tokenizer(text) call
    try:
        return Tokenizer.from_str(json.dumps(data))
    except Exception as exc:  # the Rust library raises a bare Exception for a file it cannot read
        raise ValueError(f"{path} is not a tokenizer the tokenizers library can read: {exc}") from exc


def _from_vocab_merges(vocab_path: str, merges_path: str, config: dict) -> Tokenizer:
    """As transformers' RobertaTokenizer reads the files and RobertaConverter builds the fast tokenizer."""
    vocab = read_json_object(vocab_path)
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in vocab.values()):
        raise ValueError(f"{vocab_path} must map each token to a non-negative integer id")
    with open(merges_path, encoding="utf-8") as fh:
        lines = fh.read().split("\n")[1:-1]  # RobertaTokenizer drops the first (#version) and last line
    merges = [m for m in dict.fromkeys(tuple(line.split()) for line in lines) if len(m) == 2]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, dropout=None, continuing_subword_prefix="",
                               end_of_word_suffix="", fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=bool(config.get("add_prefix_space", False)))
    tok.decoder = decoders.ByteLevel()
    return tok


def _byte_level_bpe_processor(tok: Tokenizer, config: dict, specials: dict) -> None:
    """RobertaConverter's post-processor: <s> a </s> and <s> a </s></s> b </s>."""
    sep, cls = specials["sep_token"], specials["cls_token"]
    sep_id, cls_id = tok.token_to_id(sep), tok.token_to_id(cls)
    if sep_id is None or cls_id is None:
        raise ValueError(f"the vocabulary has no {cls!r} / {sep!r} token to wrap texts in")
    # sep and cls by position: tokenizers 0.23 no longer takes them by keyword
    tok.post_processor = processors.RobertaProcessing(
        (sep, sep_id), (cls, cls_id), trim_offsets=bool(config.get("trim_offsets", True)),
        add_prefix_space=bool(config.get("add_prefix_space", False)),
    )


def _special_tokens(config: dict, special_map: dict, defaults: dict) -> tuple[dict, dict]:
    """Special token names (key -> str) and those the files name (key -> str or AddedToken dict):
    tokenizer_config.json, then special_tokens_map.json (only when the folder was saved without
    added_tokens_decoder, as transformers reads it), over the tokenizer class defaults."""
    named = {}
    for source in [config] if "added_tokens_decoder" in config else [config, special_map]:
        for key in _SPECIAL_KEYS:
            value = source.get(key)
            if isinstance(value, str) or (isinstance(value, dict) and isinstance(value.get("content"), str)):
                named[key] = value
    return {**defaults, **{k: _content(v) for k, v in named.items()}}, named


def _add_tokens(tok: Tokenizer, config: dict, specials: dict, named: dict, folder: str,
                byte_level_bpe: bool, slow: bool) -> None:
    """Register added and special tokens as transformers' fast tokenizer __init__ does: the saved
    added_tokens_decoder (or legacy added_tokens.json), then each special token not added yet. Default
    names the files do not mention are added only if the vocabulary has them (no made-up ids)."""
    tokens = []
    saved = config.get("added_tokens_decoder")
    if isinstance(saved, dict):
        for _, spec in sorted(saved.items(), key=lambda kv: int(kv[0])):
            if isinstance(spec, dict) and isinstance(spec.get("content"), str):
                tokens.append(_token(spec))
    else:
        legacy = read_json_object(os.path.join(folder, "added_tokens.json")) or {}
        for content, _ in sorted(legacy.items(), key=lambda kv: kv[1]):
            special = content in specials.values()
            tokens.append(AddedToken(content, normalized=not special, special=special))
    for key, name in specials.items():
        if key in named or tok.token_to_id(name) is not None:
            # RobertaTokenizerFast: a plain-string <mask> takes the space before it (lstrip), unnormalized;
            # RobertaTokenizer (the vocab.json path) makes the other specials normalized AddedTokens.
            mask = byte_level_bpe and key == "mask_token"
            tokens.append(_token(named.get(key, name), lstrip=mask, normalized=slow and not mask, special=True))
    present = {t.content for t in tok.get_added_tokens_decoder().values()}
    new = []
    for t in tokens:
        if t.content not in present:
            present.add(t.content)
            new.append(t)
    if new:
        tok.add_tokens(new)


def _token(spec, **defaults) -> AddedToken:
    """An AddedToken from a name or a saved AddedToken dict (its fields win over the defaults)."""
    if isinstance(spec, str):
        return AddedToken(spec, **defaults)
    fields = {k: bool(spec[k]) for k in _TOKEN_FIELDS if k in spec}
    if defaults.get("special"):
        fields["special"] = True
    return AddedToken(spec["content"], **{**defaults, **fields})


def _content(value) -> str:
    return value["content"] if isinstance(value, dict) else value


def _first(*values):
    return next((v for v in values if v is not None), None)

