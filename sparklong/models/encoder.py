"""The Longformer encoder: embeddings, layers with banded + global attention, feed-forward."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from . import banded_attention as band
from . import flex_band
from .activations import ACTIVATIONS, Activation, identity
from .config import LongformerConfig
from .row_chunks import RowChunks

# Tokens per forward on the CPU, both engines: a batch runs in groups of rows up to this many tokens
# (cpu_run_rows). One 4,096-token row already fills the products (in 512-row chunks); a whole batch
# only adds memory: onnxruntime's graph gathers every block's key/value window and scores at once, and
# the torch engine's large temporaries are fresh pages in every layer (timings: docs/engine.md).
CPU_RUN_TOKENS = 4096
# Kernels of the local (banded) attention rows: SDPA over query blocks (banded_attention) or
# FlexAttention with a block mask (flex_band). "auto" is "sdpa" everywhere: FlexAttention is not
# known to be faster on a GPU (how to measure it: docs/engine.md, benchmarks/model_throughput.py --attention).
ATTENTION = ("auto", "sdpa", "flex")



def check_attention(attention: str) -> str:
    if attention not in ATTENTION:
        raise ValueError(f"attention must be one of {', '.join(map(repr, ATTENTION))}, got {attention!r}")
    return attention


def local_kernel(attention: str, export: bool) -> str:
    """The kernel a forward uses for `attention`: 'flex' only when asked for and not exporting (ONNX
    has no FlexAttention op; the SDPA path computes the same values)."""
    return "flex" if attention == "flex" and not export else "sdpa"


def is_eager_cpu(tensor: torch.Tensor, export: bool) -> bool:
    """Whether a forward over `tensor` is an eager CPU run (not traced for export): the one condition for
    the CPU's query blocks, strided windows, chunked layers (AttentionContext.eager_cpu) and forwards of
    at most CPU_RUN_TOKENS tokens (Encoder.forward)."""
    return tensor.device.type == "cpu" and not export


def cpu_run_rows(length: int) -> int:
    """Rows of `length` tokens per forward on the CPU: up to CPU_RUN_TOKENS tokens, one row at least.

    The engine's limit, for both engines (Encoder.forward, onnx_runtime.OnnxModule): one padded batch
    run in groups of rows, with the same outputs. It is not cores/batching.pack_batches, which decides
    which windows are padded together under the user's batchSize and maxBatchTokens."""
    return max(1, CPU_RUN_TOKENS // max(1, length))


def check_input_ids(input_ids, cfg) -> None:
    """input_ids must be [batch, length] and, where the config's positions come from a table
    (cfg.position_table: Longformer, the BERT family; not ModernBERT's RoPE), fit it."""
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must be [batch, length], got shape {tuple(input_ids.shape)}")
    if cfg.position_table and input_ids.shape[1] > cfg.max_tokens:
        raise ValueError(
            f"input has {input_ids.shape[1]} tokens; this model's positions allow at most "
            f"{cfg.max_tokens} (convert_to_long can extend them)"
        )


@dataclass
class AttentionContext(RowChunks):
    """Per-forward facts shared by all layers: masks, global slots, one band plan per window size
    (a BandPlan for kernel 'sdpa', a flex BlockMask for 'flex'), and whether a graph is exported:
    then no branch depends on the data, no stride is baked in and nothing loops over the length.
    eager_cpu (RowChunks) also selects, beside the chunked position-wise layers: query blocks of
    band.CPU_MAX_BLOCK rows, band windows as strided views of k and v (else gathered,
    band.local_attention), the exact global count (global_layout) and unprojected global keys
    (Layer.attention); segment also bounds the band attention's queries per pass."""

    key_valid: torch.Tensor  # [B, L] bool, False at padding
    is_global: torch.Tensor  # [B, L] bool
    layout: band.GlobalLayout | None  # None when no row has a global token
    kernel: str  # 'sdpa' or 'flex', see local_kernel
    plans: dict[int, band.BandPlan | flex_band.BlockMask]
    export: bool

    @classmethod
    def build(cls, attention_mask, global_attention_mask, windows, dtype, attention, export) -> "AttentionContext":
        key_valid = attention_mask.bool()
        is_global = global_attention_mask.bool() & key_valid  # HF: a padded global token is padding
        eager_cpu = is_eager_cpu(key_valid, export)
        # An exported graph must serve any number of global tokens, 0 included: no data-dependent branch.
        align = 1 if eager_cpu else band.GATHERED_SLOT_ALIGN
        layout = band.global_layout(is_global, align) if export or bool(is_global.any()) else None
        kernel = local_kernel(attention, export)
        if kernel == "flex":
            plans = {w: flex_band.block_mask(key_valid, is_global, w) for w in sorted(set(windows))}
        else:  # an exported graph serves every length: no whole-sequence mask for short inputs
            block = band.max_block(eager_cpu)
            plans = {w: band.plan_band(key_valid, is_global, layout, w, dtype, dense=not export, max_block=block)
                     for w in sorted(set(windows))}
        return cls(eager_cpu=eager_cpu, segment=band.segment_queries(export), key_valid=key_valid,
                   is_global=is_global, layout=layout, kernel=kernel, plans=plans, export=export)


def positions_after_padding(input_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """RoBERTa's positions (Longformer's, XLM-R's), [B, L] -> [B, L]: real tokens count from pad_id + 1,
    padding sits at pad_id (transformers' create_position_ids_from_input_ids)."""
    not_pad = input_ids.ne(pad_id).long()  # [B, L]
    return torch.cumsum(not_pad, dim=1) * not_pad + pad_id


class Embeddings(nn.Module):
    def __init__(self, cfg: LongformerConfig):
        super().__init__()
        self.pad_id = cfg.pad_token_id
        self.word = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.position = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = positions_after_padding(input_ids, self.pad_id)
        x = self.word(input_ids) + self.position(positions) + self.token_type.weight[0]  # [B, L, E]
        return self.norm(x)


class Layer(nn.Module):
    # The graph node of the FFN's second product (whole, or its slices'), which an int8 ONNX export keeps in
    # float32 (onnx_export.quantize_int8)
    FFN_OUT_NODE = re.compile(r"/(ffn_slices/)?ffn_out(\.\d+)?/MatMul$")

    def __init__(self, cfg: LongformerConfig, window: int):
        super().__init__()
        hidden = cfg.hidden_size
        self.window = window
        self.heads = cfg.num_attention_heads
        self.head_dim = cfg.head_dim
        self.act_name = cfg.hidden_act
        self.act = ACTIVATIONS[cfg.hidden_act].fn
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.q_global = nn.Linear(hidden, hidden)
        self.kv_global = nn.Linear(hidden, 2 * hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.attn_norm = nn.LayerNorm(hidden, eps=cfg.layer_norm_eps)
        self.ffn_in = nn.Linear(hidden, cfg.intermediate_size)
        self.ffn_out = nn.Linear(cfg.intermediate_size, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=cfg.layer_norm_eps)
        # Exported float32 graphs: the same FFN in slices of its width (onnx_export.slice_feed_forwards).
        self.ffn_slices: nn.Module | None = None

    def fuse_ffn_activation(self, make: Callable[[nn.Linear, Activation], nn.Module]) -> None:
        """ffn_in -> make(ffn_in, the activation), which applies it; self.act becomes the identity
        (cpu_linears.EncoderLayer). Once only: a fused ffn_in is no nn.Linear."""
        if isinstance(self.ffn_in, nn.Linear):
            self.ffn_in = make(self.ffn_in, ACTIVATIONS[self.act_name])
            self.act = identity

    def smooth_ffn_input(self, smooth) -> None:
        """ffn_in -> smooth(ffn_in, attn_norm), the LayerNorm that feeds it (int8 ONNX exports only)."""
        self.ffn_in = smooth(self.ffn_in, self.attn_norm)

    def forward(self, x: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        """x: [B, L, E] -> [B, L, E]: attention, then the row-local rest (output projection, residual +
        norm, FFN, residual + norm)."""
        return ctx.rows(self._position_wise_rows, (x, self.attention(x, ctx)), x.shape[-1], "hidden")

    def attention(self, x: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        """Banded + global self-attention, [B, L, E] -> [B, L, E] (its q/k/v are dead on return: freed, or
        on the CPU left in the buffer the next layer overwrites).

        Global queries see keys that are not projected for every row (global_attention_unprojected) on
        the CPU while the slots are fewer than the head size, where that is cheaper (docs/engine.md), and
        always in an exported graph, which serves G = 0 too. GPUs project: cheap there, and the other way
        was never run on a GPU."""
        batch, length, hidden = x.shape
        heads, dim = self.heads, self.head_dim
        q, k, v = self.project_qkv(x, ctx).view(batch, length, 3, heads, dim).unbind(2)  # each [B, L, H, D]
        attn = self.local_attention(q, k, v, ctx)
        layout = ctx.layout
        if layout is None:
            return attn.reshape(batch, length, hidden)
        attn = attn.contiguous()
        del q, k, v
        x_global = x.gather(1, layout.index[:, :, None].expand(-1, -1, hidden))  # [B, G, E]
        q_global = self.q_global(x_global).view(batch, -1, heads, dim)  # [B, G, H, D]
        if ctx.export or (ctx.eager_cpu and layout.index.shape[1] < dim):  # see the docstring
            out_global = band.global_attention_unprojected(
                q_global, x, self.kv_global.weight, self.kv_global.bias, ctx.key_valid
            )
        else:
            k_global, v_global = self.kv_global(x).view(batch, length, 2, heads, dim).unbind(2)
            out_global = band.global_attention(q_global, k_global, v_global, ctx.key_valid)  # [B, G, H, D]
        attn[layout.rows, layout.positions] = out_global[layout.rows, layout.slots]
        return attn.reshape(batch, length, hidden)

    def project_qkv(self, x: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        """[B, L, E] -> [B, L, 3E]. No intermediate to bound: chunked only on the CPU, into the buffer
        every layer reuses (AttentionContext.rows)."""
        return ctx.rows(self.qkv, (x,), 3 * x.shape[-1], "qkv") if ctx.eager_cpu else self.qkv(x)

    def local_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        """Every query's sliding window plus the global keys, by ctx.kernel; q, k, v: [B, L, H, D] -> [B, L, H, D]."""
        plan = ctx.plans[self.window]
        if ctx.kernel == "flex":  # the block mask reaches the global keys where they are
            return flex_band.local_attention(q, k, v, plan)
        return band.local_attention(q, k, v, plan, ctx.segment, strided=ctx.eager_cpu)  # global keys: the plan's layout

    def _position_wise_rows(self, x: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
        """x, attn: [..., E] -> [..., E]."""
        h = self.attn_norm(x + self.attn_out(attn))
        return self.ffn_norm(h + self.feed_forward(h))

    def feed_forward(self, h: torch.Tensor) -> torch.Tensor:
        """[..., E] -> [..., E]."""
        if self.ffn_slices is not None:
            return self.ffn_slices(h)
        return self.ffn_out(self.act(self.ffn_in(h)))


class Encoder(nn.Module):
    """input ids -> last hidden state [B, L, E], equal to HF LongformerModel's. attention: the kernel
    of the local rows, one of ATTENTION (see local_kernel). export=True: the module is for tracing
    into one graph (onnx_export.py) that serves every batch size, length and global count."""

    def __init__(self, cfg: LongformerConfig, attention: str = "auto", export: bool = False):
        super().__init__()
        self.cfg = cfg
        self.attention = check_attention(attention)
        self.export = export
        self.embeddings = Embeddings(cfg)
        self.layers = nn.ModuleList(Layer(cfg, w) for w in cfg.attention_window)

    def forward(self, input_ids, attention_mask=None, global_attention_mask=None) -> torch.Tensor:
        if not self.export:  # an exported graph is checked by its runtime (onnx_runtime.py)
            check_input_ids(input_ids, self.cfg)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if global_attention_mask is None:
            global_attention_mask = torch.zeros_like(input_ids)
        batch, length = input_ids.shape
        rows = cpu_run_rows(length) if is_eager_cpu(input_ids, self.export) else batch
        if batch > rows:  # rows are independent: the same outputs, in the memory of a group, not of the batch
            groups = zip(*(t.split(rows) for t in (input_ids, attention_mask, global_attention_mask)))
            return torch.cat([self._layers(*group) for group in groups])
        return self._layers(input_ids, attention_mask, global_attention_mask)

    def _layers(self, input_ids, attention_mask, global_attention_mask) -> torch.Tensor:
        """[B, L] ids and masks -> [B, L, E]: the embeddings and every layer, over these rows at once."""
        x = self.embeddings(input_ids)  # [B, L, E]
        ctx = AttentionContext.build(
            attention_mask, global_attention_mask, self.cfg.attention_window, x.dtype, self.attention, self.export
        )
        for layer in self.layers:
            x = layer(x, ctx)
        return x
