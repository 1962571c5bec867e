"""ModernBERT as one flat model file: config, embeddings, attention, GeGLU MLP, layers, encoder, and the
embeddings task module, with the parameter names Hugging Face's ModernBertModel saves.

The computation (equal to transformers' ModernBertModel in fp32):
- token embeddings -> LayerNorm (no position or token-type embeddings);
- layers with pre-norm residuals: x + attn(attn_norm(x)), then x + mlp(mlp_norm(x)); layer 0's attn_norm is
  the identity (the embeddings' norm already ran);
- attention from one fused Wqkv, RoPE on q and k; "full_attention" layers attend over every real token
  (dense SDPA), "sliding_attention" layers within local_attention // 2 on each side, through the banded
  kernel (banded_attention.py: no L x L scores); each kind has its own RoPE theta;
- GeGLU MLP: Wi -> (input, gate) -> act(input) * gate -> Wo; a final LayerNorm.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from . import banded_attention as band
from .activations import ACTIVATIONS
from .config import (ConfigError, EncoderConfig, activation, check_token_ids, encoder_shape, labels_from_dict,
                     positive_float, positive_int, required, token_id)
from .encoder import check_input_ids, is_eager_cpu
from .heads import EncoderTask, masked_mean, start_end_logits
from .rope import apply_rope, rope_tables
from .row_chunks import RowChunks

MODEL_TYPE = "modernbert"
FULL = "full_attention"  # transformers 5's names of the two layer kinds
SLIDING = "sliding_attention"
LAYER_TYPES = (FULL, SLIDING)
# The parameters of ModernBertModel, under ModernBertForMaskedLM (and the task models) behind "model.".
ENCODER_KEYS = ("embeddings.", "layers.", "final_norm.")
POOLINGS = ("cls", "mean")  # classifier_pooling: the first token's state, or the mean over real tokens


@dataclass(frozen=True)
class ModernBertConfig(EncoderConfig):
    layer_types: tuple[str, ...]  # FULL or SLIDING per layer
    local_attention: int  # the whole sliding window: each token sees local_attention // 2 on each side
    global_rope_theta: float  # RoPE base of the FULL layers
    local_rope_theta: float  # ... and of the SLIDING ones
    hidden_activation: str = "gelu"  # defaults as transformers' ModernBertConfig
    norm_eps: float = 1e-5
    norm_bias: bool = False
    attention_bias: bool = False
    mlp_bias: bool = False
    pad_token_id: int = 50283
    cls_token_id: int = 50281
    sep_token_id: int = 50282
    classifier_pooling: str = "cls"  # the task heads' settings, as transformers' ModernBertConfig names them
    classifier_activation: str = "gelu"
    classifier_bias: bool = False
    id2label: dict[int, str] = field(default_factory=dict)
    model_type: str = MODEL_TYPE
    global_attention: ClassVar[bool] = False  # local and global layers are fixed; no global attention mask
    position_table: ClassVar[bool] = False  # RoPE: max_tokens is the trained length, not a limit

    @property
    def max_tokens(self) -> int:
        """Longest input the model was trained on (RoPE itself has no table to run out of)."""
        return self.max_position_embeddings

    def rope_theta(self, layer_type: str) -> float:
        return self.global_rope_theta if layer_type == FULL else self.local_rope_theta

    @classmethod
    def from_dict(cls, raw: dict) -> "ModernBertConfig":
        """Either spelling of config.json: the hub's (global_attn_every_n_layers, global_rope_theta,
        local_rope_theta) or transformers 5's (layer_types, rope_parameters per layer type)."""
        layers, hidden, heads = encoder_shape(raw)
        if (hidden // heads) % 2:
            raise ConfigError(f"hidden_size / num_attention_heads ({hidden // heads}) must be even for RoPE")
        act = activation(raw, "hidden_activation")
        global_theta, local_theta = _rope_thetas(raw)
        cfg = cls(
            vocab_size=positive_int(required(raw, "vocab_size"), "vocab_size"),
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=positive_int(raw.get("intermediate_size", 1152), "intermediate_size"),
            max_position_embeddings=positive_int(raw.get("max_position_embeddings", 8192), "max_position_embeddings"),
            layer_types=_layer_types(raw, layers),
            local_attention=_local_attention(raw.get("local_attention", 128)),
            global_rope_theta=global_theta,
            local_rope_theta=local_theta,
            hidden_activation=act,
            norm_eps=positive_float(raw.get("norm_eps", 1e-5), "norm_eps"),
            norm_bias=_flag(raw.get("norm_bias", False), "norm_bias"),
            attention_bias=_flag(raw.get("attention_bias", False), "attention_bias"),
            mlp_bias=_flag(raw.get("mlp_bias", False), "mlp_bias"),
            pad_token_id=token_id(raw.get("pad_token_id", 50283), "pad_token_id"),
            cls_token_id=token_id(raw.get("cls_token_id", 50281), "cls_token_id"),
            sep_token_id=token_id(raw.get("sep_token_id", 50282), "sep_token_id"),
            classifier_pooling=_pooling(raw.get("classifier_pooling", "cls")),
            classifier_activation=activation(raw, "classifier_activation"),
            classifier_bias=_flag(raw.get("classifier_bias", False), "classifier_bias"),
            id2label=labels_from_dict(raw),
        )
        check_token_ids(cfg, raw, ("pad_token_id", "cls_token_id", "sep_token_id"))
        return cfg


def _pooling(value) -> str:
    if value not in POOLINGS:
        raise ConfigError(f"classifier_pooling must be one of {', '.join(POOLINGS)}, got {value!r}")
    return value


def _flag(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return value


def _local_attention(value) -> int:
    window = positive_int(value, "local_attention")
    if window < 2:
        raise ConfigError(f"local_attention must be at least 2 (one token on each side), got {window}")
    return window


def _layer_types(raw: dict, layers: int) -> tuple[str, ...]:
    """transformers 5's `layer_types` when present, else the hub's pattern: layer i is global when
    i % global_attn_every_n_layers == 0 (layer 0 always), sliding otherwise."""
    if raw.get("layer_types") is not None:
        types = raw["layer_types"]
        if not isinstance(types, list) or len(types) != layers:
            raise ConfigError(f"layer_types must list one type per layer ({layers}), got {types!r}")
        for i, kind in enumerate(types):
            if kind not in LAYER_TYPES:
                raise ConfigError(f"layer_types[{i}] must be one of {', '.join(LAYER_TYPES)}, got {kind!r}")
        return tuple(types)
    every = positive_int(raw.get("global_attn_every_n_layers", 3), "global_attn_every_n_layers")
    return tuple(FULL if i % every == 0 else SLIDING for i in range(layers))


def _rope_thetas(raw: dict) -> tuple[float, float]:
    """(global theta, local theta) from rope_parameters[layer type]["rope_theta"] (transformers 5), else
    global_rope_theta / local_rope_theta (the hub's spelling; a missing local theta is the global one,
    as transformers 4 reads it). Only the plain ("default") RoPE is supported."""
    params = raw.get("rope_parameters")
    if params is None:
        global_theta = positive_float(raw.get("global_rope_theta", 160000.0), "global_rope_theta")
        local = raw.get("local_rope_theta", 10000.0)
        return global_theta, global_theta if local is None else positive_float(local, "local_rope_theta")
    if not isinstance(params, dict):
        raise ConfigError(f"rope_parameters must be an object keyed by layer type, got {params!r}")
    return _rope_theta(params, FULL, 160000.0), _rope_theta(params, SLIDING, 10000.0)


def _rope_theta(params: dict, layer_type: str, default: float) -> float:
    entry = params.get(layer_type) or {}
    name = f"rope_parameters.{layer_type}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{name} must be an object, got {entry!r}")
    kind = entry.get("rope_type", "default")
    if kind != "default":
        raise ConfigError(f"{name}.rope_type '{kind}' is not supported; only 'default'")
    return positive_float(entry.get("rope_theta", default), f"{name}.rope_theta")


@dataclass
class ForwardContext(RowChunks):
    """Per-forward facts every layer shares: the padding mask, the RoPE tables per layer type, the band
    plan of the sliding layers (None when the model has none), and how the row-local work runs
    (RowChunks; eager_cpu also makes the band kernel read each block's window as a strided view)."""

    key_valid: torch.Tensor  # [B, L] bool, False at padding
    rope: dict[str, tuple[torch.Tensor, torch.Tensor]]  # layer type -> (cos, sin), each [B, L, D]
    plan: band.BandPlan | None

    @classmethod
    def build(cls, cfg: ModernBertConfig, key_valid: torch.Tensor, dtype: torch.dtype,
              export: bool = False) -> "ForwardContext":
        """export=True: for a trace into one graph (onnx_export.py), as Longformer's (encoder.AttentionContext):
        gathered key windows, no stride baked in, no loop over the length."""
        batch, length, device = *key_valid.shape, key_valid.device
        kinds = set(cfg.layer_types)
        rope = {}
        for kind in kinds:  # per row, so the tables go through RowChunks.rows beside the rows they rotate
            cos, sin = rope_tables(length, cfg.head_dim, cfg.rope_theta(kind), dtype, device)  # each [L, D]
            rope[kind] = (cos.expand(batch, -1, -1), sin.expand(batch, -1, -1))
        eager_cpu = is_eager_cpu(key_valid, export)
        plan = None
        if SLIDING in kinds:  # dense=False: never the whole [L, L] mask, however short the input
            no_globals = torch.zeros_like(key_valid)
            plan = band.plan_band(key_valid, no_globals, None, cfg.local_attention, dtype,
                                  max_block=band.max_block(eager_cpu))
        return cls(eager_cpu=eager_cpu, segment=band.segment_queries(export), key_valid=key_valid,
                   rope=rope, plan=plan)


class ModernBertEmbeddings(nn.Module):
    def __init__(self, cfg: ModernBertConfig):
        super().__init__()
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.norm_eps, bias=cfg.norm_bias)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.norm(self.tok_embeddings(input_ids))  # [B, L, E]


class ModernBertAttention(nn.Module):
    """The layer's attn_norm, Wqkv and RoPE row by row (RowChunks.rows), then attention over the whole
    sequence. Wo is applied by the layer, with the rest of its row-local work."""

    def __init__(self, cfg: ModernBertConfig, layer_type: str):
        super().__init__()
        self.layer_type = layer_type
        self.heads, self.head_dim = cfg.num_attention_heads, cfg.head_dim
        self.Wqkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size, bias=cfg.attention_bias)
        self.Wo = nn.Linear(cfg.hidden_size, cfg.hidden_size, bias=cfg.attention_bias)

    def forward(self, x: torch.Tensor, ctx: ForwardContext, norm: nn.Module) -> torch.Tensor:
        """x: [B, L, E], norm: the layer's attn_norm -> attention output before Wo, [B, L, E]."""
        batch, length, hidden = x.shape
        cos, sin = ctx.rope[self.layer_type]  # each [B, L, D]
        project = lambda rows, cos, sin: self._rotated_qkv(norm(rows), cos, sin)  # noqa: E731
        qkv = ctx.rows(project, (x, cos, sin), 3 * hidden, "qkv")  # [B, L, 3E]
        q, k, v = qkv.view(batch, length, 3, self.heads, self.head_dim).unbind(2)  # each [B, L, H, D]
        if self.layer_type == FULL:
            out = band.global_attention(q, k, v, ctx.key_valid)  # [B, L, H, D]: every query over all real keys
        else:
            out = band.local_attention(q, k, v, ctx.plan, ctx.segment, strided=ctx.eager_cpu)  # [B, L, H, D]
        return out.reshape(batch, length, hidden)

    def _rotated_qkv(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Normalised rows x: [..., E], their RoPE tables cos, sin: [..., D] -> [..., 3E]: q and k rotated,
        v as projected."""
        rows = x.shape[:-1]
        q, k, v = self.Wqkv(x).view(*rows, 3, self.heads, self.head_dim).unbind(-3)  # each [..., H, D]
        return torch.stack([apply_rope(q, cos, sin), apply_rope(k, cos, sin), v], dim=-3).view(*rows, -1)


class ModernBertMLP(nn.Module):
    """GeGLU: Wi projects to 2 x intermediate, split into (input, gate); act(input) * gate -> Wo."""

    def __init__(self, cfg: ModernBertConfig):
        super().__init__()
        self.act = ACTIVATIONS[cfg.hidden_activation].fn
        self.Wi = nn.Linear(cfg.hidden_size, 2 * cfg.intermediate_size, bias=cfg.mlp_bias)
        self.Wo = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=cfg.mlp_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.Wi(x).chunk(2, dim=-1)  # each [B, L, I]
        return self.Wo(self.act(value) * gate)  # [B, L, E]


class ModernBertLayer(nn.Module):
    """Pre-norm residuals: x + Wo(attention(attn_norm(x))), then h + mlp(mlp_norm(h)); everything but the
    attention itself runs row by row (RowChunks.rows), on the CPU into the buffer every layer reuses."""

    # The graph node of the MLP's second product (its input, act(input) * gate, has outliers one activation
    # scale cannot hold), kept in float32 by an int8 ONNX export (onnx_export.quantize_int8)
    FFN_OUT_NODE = re.compile(r"/mlp/Wo/MatMul$")

    def __init__(self, cfg: ModernBertConfig, index: int):
        super().__init__()
        # Layer 0's input is the embeddings' output, already normalised.
        self.attn_norm = nn.Identity() if index == 0 else _layer_norm(cfg)
        self.attn = ModernBertAttention(cfg, cfg.layer_types[index])
        self.mlp_norm = _layer_norm(cfg)
        self.mlp = ModernBertMLP(cfg)

    def smooth_ffn_input(self, smooth) -> None:
        """mlp.Wi -> smooth(Wi, mlp_norm), the norm that feeds it (int8 ONNX exports only)."""
        self.mlp.Wi = smooth(self.mlp.Wi, self.mlp_norm)

    def fuse_ffn_activation(self, make) -> None:
        """Nothing to fuse (cpu_linears.EncoderLayer): GeGLU's activation applies to half of Wi's output,
        which is then multiplied by the other half; the CPU passes swap Wi like every other linear."""

    def forward(self, x: torch.Tensor, ctx: ForwardContext) -> torch.Tensor:
        """x: [B, L, E] -> [B, L, E]."""
        return ctx.rows(self._position_wise_rows, (x, self.attn(x, ctx, self.attn_norm)), x.shape[-1], "hidden")

    def _position_wise_rows(self, x: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
        """x, attn: [..., E] (a chunk's rows [N, E], or [B, L, E] in one piece) -> [..., E]."""
        h = x + self.attn.Wo(attn)
        return h + self.mlp(self.mlp_norm(h))


def _layer_norm(cfg: ModernBertConfig) -> nn.LayerNorm:
    return nn.LayerNorm(cfg.hidden_size, eps=cfg.norm_eps, bias=cfg.norm_bias)


class ModernBertEncoder(nn.Module):
    """ModernBertModel's computation: input_ids [B, L] -> last hidden state [B, L, E]. Positions are
    0 .. L-1 in every row (padding at the end, as the tokenizer pads). export=True (load(..., export=True)
    sets it): a module to trace into one graph that serves every batch size and length (ForwardContext)."""

    def __init__(self, cfg: ModernBertConfig):
        super().__init__()
        self.config = cfg
        self.export = False
        self.embeddings = ModernBertEmbeddings(cfg)
        self.layers = nn.ModuleList(ModernBertLayer(cfg, i) for i in range(cfg.num_hidden_layers))
        self.final_norm = _layer_norm(cfg)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        check_input_ids(input_ids, self.config)  # [B, L]; RoPE bounds no length
        key_valid = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        x = self.embeddings(input_ids)  # [B, L, E]
        ctx = ForwardContext.build(self.config, key_valid, x.dtype, self.export)
        for layer in self.layers:
            x = layer(x, ctx)
        return self.final_norm(x)


class ModernBertForEmbeddings(EncoderTask):
    """Last hidden state [B, L, E], as transformers' ModernBertModel; the encoder sits under `model.`,
    where ModernBertForMaskedLM and the task models keep it."""

    encoder_class = ModernBertEncoder


def encoder_state(hf: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The checkpoint's encoder tensors under ModernBertForEmbeddings' names: keys saved by
    ModernBertModel (no prefix) or behind "model." (ModernBertForMaskedLM and the task models); the
    MLM head and decoder are left out."""
    out = {}
    for key, value in hf.items():
        bare = key.removeprefix("model.")
        if bare.startswith(ENCODER_KEYS):
            out["model." + bare] = value
    return out


class ModernBertPredictionHead(nn.Module):
    """dense -> classifier_activation -> LayerNorm: what every ModernBERT task head runs before its last
    linear, saved under `head.`."""

    def __init__(self, cfg: ModernBertConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size, bias=cfg.classifier_bias)
        self.act = ACTIVATIONS[cfg.classifier_activation].fn
        self.norm = _layer_norm(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.act(self.dense(x)))


class _ModernBertHeadTask(ModernBertForEmbeddings):
    """The encoder, then `head` (ModernBertPredictionHead) and `classifier` (a linear to `width` outputs),
    as transformers' ModernBertFor* tasks save them; their dropout is the identity at inference."""

    head_prefixes = ("head.", "classifier.")
    labels_weight = "classifier.weight"

    def __init__(self, cfg: ModernBertConfig, width: int):
        super().__init__(cfg)
        self.head = ModernBertPredictionHead(cfg)
        self.classifier = nn.Linear(cfg.hidden_size, width)

    def head_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(hidden))  # [..., E] -> [..., width]


class ModernBertForQuestionAnswering(_ModernBertHeadTask):
    """(start_logits, end_logits) [B, L], as transformers' ModernBertForQuestionAnswering (2 outputs)."""

    labels_weight = None  # the two outputs are start and end, not labels

    def __init__(self, cfg: ModernBertConfig):
        super().__init__(cfg, 2)

    def task_output(self, hidden, attention_mask):
        return start_end_logits(self.head_logits(hidden))


class ModernBertForSequenceClassification(_ModernBertHeadTask):
    """Logits [B, num_labels] from the pooled state: the first token's ("cls") or the mean over real
    tokens ("mean"), as config.json's classifier_pooling says."""

    def __init__(self, cfg: ModernBertConfig):
        super().__init__(cfg, cfg.num_labels)

    def task_output(self, hidden, attention_mask):
        if self.config.classifier_pooling == "mean":
            pooled = masked_mean(hidden, attention_mask)
        else:
            pooled = hidden[:, 0]
        return self.head_logits(pooled)  # [B, num_labels]


class ModernBertForTokenClassification(_ModernBertHeadTask):
    """Logits [B, L, num_labels] for every token."""

    def __init__(self, cfg: ModernBertConfig):
        super().__init__(cfg, cfg.num_labels)

    def task_output(self, hidden, attention_mask):
        return self.head_logits(hidden)


# load()'s tasks -> the module serving each (the same names and outputs as heads.TASKS).
TASKS: dict[str, type[ModernBertForEmbeddings]] = {
    "embeddings": ModernBertForEmbeddings,
    "question_answering": ModernBertForQuestionAnswering,
    "sequence_classification": ModernBertForSequenceClassification,
    "token_classification": ModernBertForTokenClassification,
}
