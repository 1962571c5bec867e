"""Tiny Hugging Face checkpoints written at test time (random weights, exact HF folder layout)."""
from __future__ import annotations

import json
import os

import torch

CORPUS_DIR = os.path.join(os.path.dirname(__file__), "data", "corpus")

TINY = dict(
    vocab_size=300,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=514,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)


def longformer_config(**overrides):
    from transformers import LongformerConfig

    return LongformerConfig(**{**TINY, "attention_window": [8, 8], **overrides})


HF_CLASSES = {
    "embeddings": "LongformerModel",
    "question_answering": "LongformerForQuestionAnswering",
    "sequence_classification": "LongformerForSequenceClassification",
    "token_classification": "LongformerForTokenClassification",
}


def save_longformer(folder: str, task: str = "embeddings", seed: int = 0, safetensors: bool = True, **overrides):
    """Write a random tiny Longformer for `task` into `folder`; returns the HF module (eval mode)."""
    import transformers

    torch.manual_seed(seed)
    cfg = longformer_config(**overrides)
    cls = getattr(transformers, HF_CLASSES[task])
    model = cls(cfg, add_pooling_layer=False) if task == "embeddings" else cls(cfg)
    _perturb(model)
    model.eval()
    model.save_pretrained(folder)
    if not safetensors:
        to_pytorch_bin(folder)
    return model


def to_pytorch_bin(folder: str) -> None:
    """Replace the safetensors weights save_pretrained wrote (one file, or shards and their index) with the
    same tensors in the files save_pretrained(safe_serialization=False) wrote in transformers 4.x:
    pytorch_model.bin, or pytorch_model-0000k-of-0000n.bin and pytorch_model.bin.index.json. Transformers 5
    writes safetensors only, and the engine still reads .bin checkpoints (torch.load, weights_only)."""
    from safetensors.torch import load_file

    index_path = os.path.join(folder, "model.safetensors.index.json")
    index = None
    if os.path.exists(index_path):
        with open(index_path, encoding="utf-8") as fh:
            index = json.load(fh)
        os.remove(index_path)
    shards = sorted(set(index["weight_map"].values())) if index else ["model.safetensors"]
    renamed = {name: "pytorch_" + name.removesuffix(".safetensors") + ".bin" for name in shards}
    for name in shards:
        torch.save(load_file(os.path.join(folder, name)), os.path.join(folder, renamed[name]))
        os.remove(os.path.join(folder, name))
    if index:
        index["weight_map"] = {key: renamed[name] for key, name in index["weight_map"].items()}
        with open(os.path.join(folder, "pytorch_model.bin.index.json"), "w", encoding="utf-8") as fh:
            json.dump(index, fh)


def _perturb(model: torch.nn.Module) -> None:
    """HF initialises LayerNorms to (1, 0) and biases to 0; randomise them so parity tests see them."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(torch.randn_like(p) * 0.1)


def _nudge(model: torch.nn.Module) -> None:
    """Move every parameter off its initial value (norms at 1 and biases at 0 would test nothing)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)


def random_batch(batch: int, length: int, vocab: int = 300, pad_id: int = 1, seed: int = 0, ragged: bool = True):
    """(input_ids, attention_mask) [B, L]; rows after the first are shorter and padded when ragged."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (batch, length), generator=g)
    mask = torch.ones(batch, length, dtype=torch.long)
    if ragged:
        for row in range(1, batch):
            keep = max(1, length - row * max(1, length // (batch + 1)))
            ids[row, keep:] = pad_id
            mask[row, keep:] = 0
    return ids, mask


# Parity tolerance against the HF oracle, fp32, on non-padding positions.
TOL = 1e-4


def assert_close_on_tokens(ours, ref, mask):
    keep = mask.bool()
    assert ours.shape == ref.shape
    diff = (ours - ref).abs()[keep].max().item()
    assert diff <= TOL, f"max abs diff {diff} on non-padding positions"


def global_mask(batch, length, where):
    """[B, L] global_attention_mask with 1 at where(length, row) (clamped into the row)."""
    mask = torch.zeros(batch, length, dtype=torch.long)
    for row in range(batch):
        for pos in where(length, row):
            mask[row, min(max(pos, 0), length - 1)] = 1
    return mask


# Where the global tokens go: name -> where(length, row) -> positions, or None for no global mask.
GLOBALS = {
    "none": None,
    "start": lambda n, r: [0],
    "middle": lambda n, r: [n // 2, n // 3 + r],
    "end": lambda n, r: [n - 1 - r],
    "start_mid_end": lambda n, r: sorted({0, n // 2, n - 1}),
}


def tokenizer_json_only(folder: str) -> None:
    """Leave tokenizer.json (and the configs) as the folder's only tokenizer files, as all-MiniLM-L6-v2 has
    them: transformers 4.x's save_pretrained writes vocab.txt or vocab.json + merges.txt beside it, 5.x not."""
    for name in ("vocab.txt", "vocab.json", "merges.txt"):
        if os.path.exists(os.path.join(folder, name)):
            os.remove(os.path.join(folder, name))


def corpus_texts() -> list[str]:
    """The bundled sample, decoded as a reader must: UTF-8, else ISO-8859-1."""
    texts = []
    for name in sorted(os.listdir(CORPUS_DIR)):
        if name.endswith(".txt"):
            raw = open(os.path.join(CORPUS_DIR, name), "rb").read()
            try:
                texts.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                texts.append(raw.decode("latin-1"))
    return texts


def save_bpe_tokenizer(folder: str, vocab_size: int = 300) -> None:
    """A RoBERTa-style byte-level BPE (vocab.json + merges.txt) trained on the corpus sample."""
    from tokenizers import ByteLevelBPETokenizer

    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(
        corpus_texts(), vocab_size=vocab_size, min_frequency=2,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False,
    )
    tok.save_model(folder)


def save_model_folder(folder: str, task: str = "embeddings", **overrides):
    """A complete tiny HF folder: random Longformer weights plus a trained tokenizer."""
    os.makedirs(folder, exist_ok=True)
    save_bpe_tokenizer(folder, overrides.get("vocab_size", TINY["vocab_size"]))
    return save_longformer(folder, task, **overrides)


MODERNBERT_SPECIALS = ["[CLS]", "[PAD]", "[SEP]", "[UNK]", "[MASK]"]  # ids 0..4, as trained below
MODERNBERT_TINY = dict(
    vocab_size=300, hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=48,
    local_attention=16, global_attn_every_n_layers=3, max_position_embeddings=64,
    cls_token_id=0, pad_token_id=1, sep_token_id=2, bos_token_id=0, eos_token_id=2, reference_compile=False,
)
MODERNBERT_CLASSES = {
    "embeddings": "ModernBertModel",
    "question_answering": "ModernBertForQuestionAnswering",
    "sequence_classification": "ModernBertForSequenceClassification",
    "token_classification": "ModernBertForTokenClassification",
}


def save_modernbert_tokenizer(folder: str, vocab_size: int = 300) -> None:
    """A ModernBERT-style tokenizer.json (byte-level BPE, `[CLS] a [SEP]` / `[CLS] a [SEP] b [SEP]`)
    trained on the corpus sample, saved by transformers' PreTrainedTokenizerFast as the hub's is."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=MODERNBERT_SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus_texts(), trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 0), ("[SEP]", 2)],
    )
    PreTrainedTokenizerFast(tokenizer_object=tok, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
                            unk_token="[UNK]", mask_token="[MASK]").save_pretrained(folder)


def save_modernbert_folder(folder: str, task: str = "embeddings", seed: int = 0, **overrides):
    """A complete tiny ModernBERT folder (both layer kinds: layers 0 and 3 global, 1 and 2 sliding) with
    perturbed random weights and a trained tokenizer; returns the HF module (eval mode)."""
    import transformers

    os.makedirs(folder, exist_ok=True)
    save_modernbert_tokenizer(folder, overrides.get("vocab_size", MODERNBERT_TINY["vocab_size"]))
    torch.manual_seed(seed)
    cfg = transformers.ModernBertConfig(**{**MODERNBERT_TINY, **overrides}, attn_implementation="sdpa")
    model = getattr(transformers, MODERNBERT_CLASSES[task])(cfg).eval()
    _nudge(model)
    model.save_pretrained(folder)
    return model


BERT_TINY = dict(vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                 max_position_embeddings=64, pad_token_id=0)
BERT_CLASSES = {
    "embeddings": "BertModel",
    "question_answering": "BertForQuestionAnswering",
    "sequence_classification": "BertForSequenceClassification",
    "token_classification": "BertForTokenClassification",
}


def save_bert_folder(folder: str, task: str = "embeddings", seed: int = 0, **overrides):
    """A complete tiny BERT folder: a WordPiece tokenizer trained on the corpus sample (lowercasing, saved by
    transformers' BertTokenizerFast as the hub's are) and perturbed random weights; returns the HF module."""
    import transformers
    from tokenizers import BertWordPieceTokenizer

    os.makedirs(folder, exist_ok=True)
    tok = BertWordPieceTokenizer(lowercase=True)
    tok.train_from_iterator(corpus_texts(), vocab_size=overrides.get("vocab_size", BERT_TINY["vocab_size"]),
                            special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], show_progress=False)
    fast = transformers.BertTokenizerFast(tokenizer_object=tok._tokenizer)
    fast.save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = transformers.BertConfig(**{**BERT_TINY, "sep_token_id": fast.sep_token_id, **overrides})
    model = getattr(transformers, BERT_CLASSES[task])(cfg).eval()
    _nudge(model)
    model.save_pretrained(folder)
    return model
