"""The full-attention BERT family as one flat model file: BERT, RoBERTa and XLM-RoBERTa (config.json's
model_type "bert", "roberta", "xlm-roberta"): config, embeddings, attention, feed-forward, layers, encoder
and the task modules, with the parameter names Hugging Face's BertModel / RobertaModel save.

The computation (equal to transformers' BertModel, RobertaModel and XLMRobertaModel in fp32, eager or SDPA):
- word + position + token-type embeddings (token type 0 everywhere) -> LayerNorm; positions 0 .. L-1 for
  BERT, RoBERTa's (and XLM-R's) after the padding index: pad_token_id + 1 + the count of real tokens so
  far, padding at pad_token_id (encoder.positions_after_padding, as Longformer's);
- post-norm layers: h = LayerNorm(x + attention(x)), then LayerNorm(h + FFN(h)); dense attention over
  every real token (SDPA with a key padding mask); FFN: dense -> hidden_act -> dense.
Inputs are at most max_tokens long (the position table); longer documents are windowed by the callers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from . import banded_attention as band
from .activations import ACTIVATIONS, identity
from .checkpoint import strip_encoder_prefix
from .config import (ConfigError, EncoderConfig, activation, check_token_ids, encoder_shape, labels_from_dict,
                     positive_float, positive_int, required, token_id)
from .encoder import check_input_ids, positions_after_padding
from .heads import ClassificationHead, EncoderTask, start_end_logits

MODEL_TYPES = ("bert", "roberta", "xlm-roberta")
ROBERTA_TYPES = ("roberta", "xlm-roberta")  # positions after the padding index; the separator is </s>
# The separator when config.json names no sep_token_id (BERT configs rarely do): [SEP] in Google's BERT
# vocabularies (uncased, cased, multilingual); RoBERTa's and XLM-R's is their </s>, eos_token_id.
BERT_SEP_TOKEN_ID = 102
# The parameters of BertModel / RobertaModel, behind "bert." or "roberta." in the task and LM checkpoints;
# the pooler is BERT's sequence head here (BertForSequenceClassification), not the encoder's.
ENCODER_KEYS = ("embeddings.", "encoder.")
# Buffers older transformers saved with the weights (recomputed here, never loaded).
BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")


@dataclass(frozen=True)
class BertConfig(EncoderConfig):
    model_type: str  # one of MODEL_TYPES
    type_vocab_size: int = 2  # defaults as transformers' BertConfig
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    sep_token_id: int = BERT_SEP_TOKEN_ID
    id2label: dict[int, str] = field(default_factory=dict)
    global_attention: ClassVar[bool] = False  # full attention: every token sees every token already
    position_table: ClassVar[bool] = True  # no input longer than max_tokens

    @property
    def roberta_positions(self) -> bool:
        """RoBERTa's positions (from pad_token_id + 1) rather than BERT's (from 0)."""
        return self.model_type in ROBERTA_TYPES

    @property
    def max_tokens(self) -> int:
        """The longest input the position table allows: all of it for BERT, less the padding offset for
        RoBERTa and XLM-R."""
        if self.roberta_positions:
            return self.max_position_embeddings - self.pad_token_id - 1
        return self.max_position_embeddings

    @classmethod
    def from_dict(cls, raw: dict) -> "BertConfig":
        model_type = raw.get("model_type")
        if model_type not in MODEL_TYPES:
            raise ConfigError(f"model_type must be one of {', '.join(MODEL_TYPES)}, got {model_type!r}")
        roberta = model_type in ROBERTA_TYPES
        layers, hidden, heads = encoder_shape(raw)
        act = activation(raw, "hidden_act")
        _check_absolute_encoder(raw)
        cfg = cls(
            vocab_size=positive_int(required(raw, "vocab_size"), "vocab_size"),
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=positive_int(raw.get("intermediate_size", 3072), "intermediate_size"),
            max_position_embeddings=positive_int(required(raw, "max_position_embeddings"), "max_position_embeddings"),
            model_type=model_type,
            type_vocab_size=positive_int(raw.get("type_vocab_size", 2), "type_vocab_size"),
            hidden_act=act,
            layer_norm_eps=positive_float(raw.get("layer_norm_eps", 1e-12), "layer_norm_eps"),
            pad_token_id=token_id(_given(raw, "pad_token_id", 1 if roberta else 0), "pad_token_id"),
            sep_token_id=token_id(_given(raw, "sep_token_id", _given(raw, "eos_token_id", 2) if roberta
                                         else BERT_SEP_TOKEN_ID), "sep_token_id"),
            id2label=labels_from_dict(raw),
        )
        check_token_ids(cfg, raw, ("pad_token_id", "sep_token_id"))
        if cfg.max_tokens < 1:
            raise ConfigError("max_position_embeddings leaves no room for tokens after the padding offset")
        return cfg


def _given(raw: dict, key: str, default):
    """raw[key], or default where config.json lacks it or writes null (transformers' unset token ids)."""
    value = raw.get(key)
    return default if value is None else value


def _check_absolute_encoder(raw: dict) -> None:
    """Only what the engine computes: absolute position embeddings, bidirectional attention."""
    kind = raw.get("position_embedding_type", "absolute")
    if kind != "absolute":
        raise ConfigError(f"position_embedding_type '{kind}' is not supported; only 'absolute'")
    if raw.get("is_decoder"):
        raise ConfigError("is_decoder models (causal attention) are not supported; only encoders")


class BertEmbeddings(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.config = cfg
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        if self.config.roberta_positions:
            positions = positions_after_padding(input_ids, self.config.pad_token_id)  # [B, L]
        else:
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)  # [L], every row
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)  # [B, L, E]
        return self.LayerNorm(x + self.token_type_embeddings.weight[0])


class BertSelfAttention(nn.Module):
    """Every query over every real key of its row: [B, L, E] -> [B, L, E] (before the output projection)."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.heads, self.head_dim = cfg.num_attention_heads, cfg.head_dim
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.value = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, x: torch.Tensor, key_valid: torch.Tensor) -> torch.Tensor:
        batch, length, hidden = x.shape
        shape = (batch, length, self.heads, self.head_dim)
        q, k, v = (proj(x).view(shape) for proj in (self.query, self.key, self.value))  # each [B, L, H, D]
        return band.global_attention(q, k, v, key_valid).reshape(batch, length, hidden)  # SDPA, padding masked


class BertResidualNorm(nn.Module):
    """LayerNorm(residual + dense(x)): BertSelfOutput (attention.output) and BertOutput (output) alike."""

    def __init__(self, cfg: BertConfig, width: int):
        super().__init__()
        self.dense = nn.Linear(width, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(residual + self.dense(x))


class BertAttention(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.self = BertSelfAttention(cfg)
        self.output = BertResidualNorm(cfg, cfg.hidden_size)

    def forward(self, x: torch.Tensor, key_valid: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, key_valid), x)


class BertIntermediate(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.act_name = cfg.hidden_act
        self.act = ACTIVATIONS[cfg.hidden_act].fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))  # [B, L, I]


class BertLayer(nn.Module):
    # The graph node of the FFN's second product, kept in float32 by an int8 ONNX export (onnx_export.quantize_int8)
    FFN_OUT_NODE = re.compile(r"/layer\.\d+/output/dense/MatMul$")

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.attention = BertAttention(cfg)
        self.intermediate = BertIntermediate(cfg)
        self.output = BertResidualNorm(cfg, cfg.intermediate_size)

    def smooth_ffn_input(self, smooth) -> None:
        """intermediate.dense -> smooth(dense, attention.output.LayerNorm), the norm that feeds it (int8 ONNX
        exports only)."""
        self.intermediate.dense = smooth(self.intermediate.dense, self.attention.output.LayerNorm)

    def fuse_ffn_activation(self, make) -> None:
        """intermediate.dense -> make(dense, the activation), which applies it; the intermediate's own
        activation becomes the identity (cpu_linears.EncoderLayer). Once only: a fused dense is no nn.Linear."""
        ffn = self.intermediate
        if isinstance(ffn.dense, nn.Linear):
            ffn.dense = make(ffn.dense, ACTIVATIONS[ffn.act_name])
            ffn.act = identity

    def forward(self, x: torch.Tensor, key_valid: torch.Tensor) -> torch.Tensor:
        h = self.attention(x, key_valid)  # [B, L, E]
        return self.output(self.intermediate(h), h)


class BertLayers(nn.Module):
    """transformers' BertEncoder: the layers, under `layer.`."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(cfg) for _ in range(cfg.num_hidden_layers))

    def forward(self, x: torch.Tensor, key_valid: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x, key_valid)
        return x


class BertEncoder(nn.Module):
    """BertModel's / RobertaModel's computation without the pooler: input_ids [B, L] -> last hidden
    state [B, L, E]."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.config = cfg
        self.export = False  # load(..., export=True): for a trace (onnx_export.py); the graph's runtime checks inputs
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertLayers(cfg)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if not self.export:
            check_input_ids(input_ids, self.config)  # [B, L], L <= max_tokens
        key_valid = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        return self.encoder(self.embeddings(input_ids), key_valid)


def encoder_state(hf: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The checkpoint's encoder tensors under BertForEmbeddings' names: keys saved by BertModel /
    RobertaModel (no prefix) or behind "bert." / "roberta." (the task and LM models, XLM-R's too). Heads,
    the pooler and saved buffers are left out; TF-era LayerNorm names (gamma, beta) read as weight, bias."""
    out = {}
    for key, value in hf.items():
        bare = strip_encoder_prefix(key)
        if bare.startswith(ENCODER_KEYS) and bare not in BUFFERS:
            out["model." + _torch_norm_name(bare)] = value
    return out


def _torch_norm_name(key: str) -> str:
    """key with a TF-era LayerNorm.gamma / LayerNorm.beta as LayerNorm.weight / LayerNorm.bias (as
    transformers renames them on load; old BERT checkpoints still carry them)."""
    for old, new in ((".LayerNorm.gamma", ".LayerNorm.weight"), (".LayerNorm.beta", ".LayerNorm.bias")):
        if key.endswith(old):
            return key[: -len(old)] + new
    return key


class BertForEmbeddings(EncoderTask):
    """Last hidden state [B, L, E], as transformers' BertModel / RobertaModel / XLMRobertaModel; the
    encoder sits under `model.` (encoder_state maps the checkpoint's names to it). The heads' weights keep
    their HF names, read with "bert." / "roberta." stripped (BERT's pooler is saved behind it)."""

    encoder_class = BertEncoder


class BertForQuestionAnswering(BertForEmbeddings):
    """(start_logits, end_logits) [B, L], as Bert/RobertaForQuestionAnswering."""

    head_prefixes = ("qa_outputs.",)

    def __init__(self, cfg: BertConfig):
        super().__init__(cfg)
        self.qa_outputs = nn.Linear(cfg.hidden_size, 2)

    def task_output(self, hidden, attention_mask):
        return start_end_logits(self.qa_outputs(hidden))


class BertForTokenClassification(BertForEmbeddings):
    """Logits [B, L, num_labels] for every token, as Bert/RobertaForTokenClassification."""

    head_prefixes = ("classifier.",)
    labels_weight = "classifier.weight"

    def __init__(self, cfg: BertConfig):
        super().__init__(cfg)
        self.classifier = nn.Linear(cfg.hidden_size, cfg.num_labels)

    def task_output(self, hidden, attention_mask):
        return self.classifier(hidden)


class BertPooler(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, first_token: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(first_token))


class BertForSequenceClassification(BertForTokenClassification):
    """Logits [B, num_labels], as BertForSequenceClassification: the pooler (dense, tanh) on [CLS], then
    the classifier (the token head's linear, on that one pooled state)."""

    head_prefixes = ("pooler.", "classifier.")

    def __init__(self, cfg: BertConfig):
        super().__init__(cfg)
        self.pooler = BertPooler(cfg)

    def task_output(self, hidden, attention_mask):
        return self.classifier(self.pooler(hidden[:, 0]))


class RobertaForSequenceClassification(BertForEmbeddings):
    """Logits [B, num_labels], as RobertaForSequenceClassification (XLM-R's too): classifier.dense, tanh,
    classifier.out_proj on the first token (<s>); Longformer's head (heads.ClassificationHead)."""

    head_prefixes = ("classifier.dense.", "classifier.out_proj.")
    labels_weight = "classifier.out_proj.weight"

    def __init__(self, cfg: BertConfig):
        super().__init__(cfg)
        self.classifier = ClassificationHead(cfg)

    def task_output(self, hidden, attention_mask):
        return self.classifier(hidden[:, 0])


# load()'s tasks -> the module serving each for BERT (the same names and outputs as heads.TASKS) ...
TASKS: dict[str, type[BertForEmbeddings]] = {
    "embeddings": BertForEmbeddings,
    "question_answering": BertForQuestionAnswering,
    "sequence_classification": BertForSequenceClassification,
    "token_classification": BertForTokenClassification,
}
# ... and for RoBERTa and XLM-R, whose sequence head differs.
ROBERTA_TASKS: dict[str, type[BertForEmbeddings]] = {
    **TASKS, "sequence_classification": RobertaForSequenceClassification,
}
