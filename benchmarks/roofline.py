"""This CPU's limit for a Longformer or ModernBERT forward: the GEMM rate on the model's own linear
shapes, float32 (the kernel the engine uses), bfloat16 (F.linear in bf16, the bf16 engine's) and int8
(the int8 product alone), and the forward's FLOPs at that rate.

An engine's roofline fraction = its tokens/s over (tokens / (FLOPs / rate)): how close it runs to what
this CPU's matrix units allow. The attention's FLOPs count at the float32 GEMM rate (bfloat16's for the
bf16 engine; an upper bound: its small blocks run slower), the linears' at the engine's own rate.
"""
from __future__ import annotations

import statistics
import time

import torch

from sparklong.models.banded_attention import CPU_MAX_BLOCK, dense_limit, window_span

ROWS = 512  # the engine runs position-wise layers in 512-row chunks (row_chunks.CPU_CHUNK_ROWS)


def linear_shapes(cfg: dict) -> list[tuple[int, int]]:
    """(in, out) of one Longformer layer's linears: q/k/v, attention output, FFN in, FFN out."""
    e, f = cfg["hidden_size"], cfg["intermediate_size"]
    return [(e, 3 * e), (e, e), (e, f), (f, e)]


def modernbert_linear_shapes(cfg: dict) -> list[tuple[int, int]]:
    """(in, out) of one ModernBERT layer's linears: Wqkv, attention Wo, GeGLU Wi (input and gate), MLP Wo."""
    e, f = cfg["hidden_size"], cfg["intermediate_size"]
    return [(e, 3 * e), (e, e), (e, 2 * f), (f, e)]


def _median_s(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gemm_gflops(shapes: list[tuple[int, int]], repeats: int = 7) -> dict[str, float]:
    """{"float32": GFLOP/s, "bfloat16": GFLOP/s, "int8": GOP/s} over one layer's linear shapes ((in, out)
    each: linear_shapes) at ROWS rows (time-weighted: total FLOPs over total median time)."""
    gen = torch.Generator().manual_seed(0)
    flops, seconds = 0, {"float32": 0.0, "bfloat16": 0.0, "int8": 0.0}
    float32 = _fp32_kernel()
    for k, n in shapes:
        x, w, b = torch.randn(ROWS, k, generator=gen), torch.randn(n, k, generator=gen), torch.randn(n, generator=gen)
        xq, wq = (torch.randint(-127, 128, t.shape, generator=gen, dtype=torch.int8) for t in (x, w))
        seconds["float32"] += _median_s(lambda: float32(x, w, b), repeats)
        xb, wb, bb = (t.bfloat16() for t in (x, w, b))
        seconds["bfloat16"] += _median_s(lambda: torch.nn.functional.linear(xb, wb, bb), repeats)
        seconds["int8"] += _median_s(lambda: torch._int_mm(xq, wq.t()), repeats)
        flops += 2 * ROWS * k * n
    return {kind: round(flops / s / 1e9, 1) for kind, s in seconds.items()}


def _fp32_kernel():
    """The float32 linear the engine runs on this CPU (cpu_linears.pack_cpu_linears), else F.linear."""
    from sparklong.models.cpu_linears import onednn_linear_works

    if onednn_linear_works():
        return lambda x, w, b: torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
    return torch.nn.functional.linear


def forward_flops(cfg: dict, batch: int, length: int, global_tokens: int) -> dict[str, float]:
    """{"linear": FLOPs, "attention": FLOPs} of the engine's forward: every layer's linears and the band
    attention as computed (each query block scores (2r + 1) c keys: banded_attention.plan_band; inputs
    up to dense_limit(w) score all L keys, global ones among them, in one call), and with
    global tokens what the engine computes for them (encoder.Layer.attention): G slots (the exact count
    on the CPU, banded_attention.global_layout) seen by every local query, the global queries' projection,
    and their attention over all rows, through unprojected keys while G < the head size, else through
    every row's global key and value. That is the torch engine's choice on the CPU (query blocks of
    CPU_MAX_BLOCK); onnxruntime's graph takes blocks of MAX_BLOCK (640 keys a query at w = 256, not 576) and
    unprojected keys over the count rounded up to 8, and int8 engines run the global products in
    float32, all counted as above (a few percent of a forward's FLOPs)."""
    e, heads, layers, tokens = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"], batch * length
    linear = sum(2 * k * n for k, n in linear_shapes(cfg)) * tokens
    w = cfg["attention_window"] // 2
    slots = min(length, global_tokens)  # G
    # keys each local query is scored against
    span = length if length <= dense_limit(w) else window_span(w, CPU_MAX_BLOCK) + slots
    attention = 4 * span * e * tokens  # q.k and p.v, all heads
    if global_tokens:
        linear += 2 * e * e * slots * batch  # global queries
        if slots < e // heads:  # (q Wk).x and (p x) Wv: per slot and head, over all L rows
            linear += 2 * 2 * e * e * slots * batch
            attention += 4 * heads * slots * e * length * batch
        else:  # global k/v of every row, then attention over them
            linear += 2 * e * 2 * e * tokens
            attention += 4 * length * e * slots * batch
    return {"linear": float(linear * layers), "attention": float(attention * layers)}


def modernbert_flops(cfg: dict, batch: int, length: int, global_tokens: int = 0) -> dict[str, float]:
    """forward_flops for ModernBERT (no global tokens): every layer's linears; full-attention layers (every
    global_attn_every_n_layers-th, layer 0 first) score all L keys, sliding ones the keys of their query
    block's window (the band plan: window_span(local_attention // 2, CPU_MAX_BLOCK), at any L)."""
    e, layers, tokens = cfg["hidden_size"], cfg["num_hidden_layers"], batch * length
    full = -(-layers // cfg["global_attn_every_n_layers"])
    linear = sum(2 * k * n for k, n in modernbert_linear_shapes(cfg)) * tokens * layers
    span = window_span(cfg["local_attention"] // 2, CPU_MAX_BLOCK)
    attention = 4 * e * tokens * (full * length + (layers - full) * span)  # q.k and p.v, all heads
    return {"linear": float(linear), "attention": float(attention)}


def roofline(rows: list[dict], cfg: dict, flops=forward_flops) -> list[dict]:
    """Per throughput row: the roofline tokens/s in float32, bfloat16 and int8 at the row's own GEMM rates
    (row["gemm_gflops_512_rows"], measured among its calls), and each engine's fraction of its own
    (int8 engines against the int8 one, bf16 ones against bfloat16, the rest against float32). flops: forward_flops or
    modernbert_flops. A row run in windows (row["windows"]: count and length per row) counts the
    windows' work."""
    out = []
    for row in rows:
        batch, length, glob = row["batch"], row["length"], row["global_tokens"]
        rates = row["gemm_gflops_512_rows"]
        windows = row.get("windows")
        if windows:
            f = flops(cfg, batch * windows["count"], windows["length"], glob)
        else:
            f = flops(cfg, batch, length, glob)
        seconds = {"float32": (f["linear"] + f["attention"]) / (rates["float32"] * 1e9),
                   "int8": f["linear"] / (rates["int8"] * 1e9) + f["attention"] / (rates["float32"] * 1e9)}
        if "bfloat16" in rates:  # results written before bf16 was measured have no such rate
            seconds["bfloat16"] = (f["linear"] + f["attention"]) / (rates["bfloat16"] * 1e9)
        limit = {kind: round(batch * length / s, 1) for kind, s in seconds.items()}
        engines = [k for k, v in row.items() if isinstance(v, dict) and "tokens_per_s" in v]
        fraction = {name: round(row[name]["tokens_per_s"] / limit[_precision_of(name, limit)], 3) for name in engines}
        out.append({"batch": batch, "length": length, "global_tokens": glob, "gflop": round(sum(f.values()) / 1e9, 1),
                    "gemm_gflops_512_rows": rates, "roofline_tokens_per_s": limit, "fraction_of_roofline": fraction})
    return out


def _precision_of(engine: str, limits: dict) -> str:
    """The roofline an engine is held to: its name's suffix (sparklong_int8, sparklong_bf16), else float32."""
    if engine.endswith("_int8"):
        return "int8"
    return "bfloat16" if engine.endswith("_bf16") and "bfloat16" in limits else "float32"
