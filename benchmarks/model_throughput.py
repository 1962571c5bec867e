"""Throughput and peak memory: sparklong's Longformer engine (torch; onnxruntime fp32 and int8) vs
transformers' LongformerModel, or (--model modernbert) its ModernBERT engine (torch fp32, bf16, int8)
vs transformers' ModernBertModel (SDPA, fp32).

All engines load the same randomly initialised longformer-base-shaped checkpoint (12 layers,
hidden 768, 12 heads, window 512, vocab 50265) from one Hugging Face folder, cached under
benchmarks/out/models/ (the ONNX graphs are exported once into its onnx/ subfolder); with --model
modernbert a ModernBERT-base-shaped one (22 layers, hidden 768, 12 heads, intermediate 1152, local
attention 128, a full-attention layer every 3rd, 8,192 positions, vocab 50368). Prints one JSON object
on stdout; progress goes to stderr.

    .venv/bin/python benchmarks/model_throughput.py                      # full CPU run
    .venv/bin/python benchmarks/model_throughput.py --lengths 512 1024 --batches 1 \
        --repeats 1 --memory-lengths 4096 --plot benchmarks/out/throughput.png
    .venv/bin/python benchmarks/model_throughput.py --device cuda        # bf16 on the GPU
    .venv/bin/python benchmarks/model_throughput.py --engines sparklong sparklong_onnx --lengths 512
    .venv/bin/python benchmarks/model_throughput.py --device cuda --engines sparklong --attention flex
        # the torch engine's local rows through FlexAttention; run again with --attention sdpa to compare
    .venv/bin/python benchmarks/model_throughput.py --model modernbert --lengths 1024 8192
        # ModernBERT; past the trained 8,192 tokens (default lengths 1024 8192 16384) only our engines
        # run, as the stages do: in half-overlapping windows of 8,192 (cores/windows.py)

Roofline (CPU): this CPU's float32 and int8 GEMM rates on the model's own linear shapes, measured once
per round among each row's calls (the machine's speed drifts by 10% within minutes on shared hosts,
so a rate measured apart moves the fraction by as much), and each engine's fraction of the tokens/s
those rates allow (benchmarks/roofline.py).

Timing: for each (batch, L) one warm-up call per engine, then `--repeats` calls each, the engines
interleaved and alternating the order; the median is reported, and each engine's speed over the
torch engine (and transformers) as the ratio of medians and as the median of each round's own ratio
(paired_ratio_over_*), which the machine's drift within a row does not move. Memory: every (engine, L) runs in a
fresh subprocess (this script with --child) so peaks do not mix.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
MODEL_CACHE = os.path.join(ROOT, "benchmarks", "out", "models")
SHAPE = dict(
    vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
    intermediate_size=3072, attention_window=512, type_vocab_size=1,
    pad_token_id=1, bos_token_id=0, eos_token_id=2, sep_token_id=2,
)
# ModernBERT-base's shape (answerdotai/ModernBERT-base's config.json)
MODERNBERT_SHAPE = dict(
    vocab_size=50368, hidden_size=768, num_hidden_layers=22, num_attention_heads=12, intermediate_size=1152,
    local_attention=128, global_attn_every_n_layers=3, max_position_embeddings=8192,
    pad_token_id=50283, bos_token_id=50281, eos_token_id=50282, cls_token_id=50281, sep_token_id=50282,
)
# sparklong(_int8): the torch engine (float32, or int8 linears); sparklong_onnx(_int8): the same model
# exported, on onnxruntime; sparklong_bf16: the torch engine in bfloat16
ENGINES = ("sparklong", "transformers", "sparklong_bf16", "sparklong_int8", "sparklong_onnx", "sparklong_onnx_int8")
MODERNBERT_ENGINES = ("sparklong", "sparklong_bf16", "sparklong_int8", "transformers")
from sparklong.models.devices import DTYPES as TORCH_DTYPES  # noqa: E402
from run_record import RunClock, machine_info  # noqa: E402
from roofline import forward_flops, linear_shapes, modernbert_flops, modernbert_linear_shapes  # noqa: E402


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def model_folder(max_positions: int) -> str:
    """The random longformer-base checkpoint with `max_positions` position embeddings, made once."""
    folder = os.path.join(MODEL_CACHE, f"longformer-base-random-{max_positions}")
    if os.path.exists(os.path.join(folder, "config.json")):
        return folder
    from transformers import LongformerConfig, LongformerModel

    log(f"creating random checkpoint {folder}")
    torch.manual_seed(0)
    config = LongformerConfig(max_position_embeddings=max_positions, **SHAPE)
    os.makedirs(MODEL_CACHE, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=MODEL_CACHE)
    LongformerModel(config, add_pooling_layer=False).save_pretrained(tmp)
    os.replace(tmp, folder)  # atomic: a half-written folder is never mistaken for a finished one
    return folder


def positions_for(length: int) -> int:
    """longformer-base has 4098 positions (4096 tokens + RoBERTa's offset of 2); longer L extends."""
    return max(4098, length + 2)


def modernbert_folder(length: int = 0) -> str:
    """The random ModernBERT-base checkpoint, made once (one folder for every L: RoPE, 8,192 positions)."""
    folder = os.path.join(MODEL_CACHE, "modernbert-base-random")
    if os.path.exists(os.path.join(folder, "config.json")):
        return folder
    from transformers import ModernBertConfig, ModernBertModel

    log(f"creating random checkpoint {folder}")
    torch.manual_seed(0)
    config = ModernBertConfig(**MODERNBERT_SHAPE, attn_implementation="sdpa", reference_compile=False)
    os.makedirs(MODEL_CACHE, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=MODEL_CACHE)
    ModernBertModel(config).save_pretrained(tmp)
    os.replace(tmp, folder)
    return folder


def longformer_transformers(folder: str, dtype: str):
    from transformers import LongformerModel

    return LongformerModel.from_pretrained(folder, add_pooling_layer=False, dtype=TORCH_DTYPES[dtype])


def modernbert_transformers(folder: str, dtype: str):
    from transformers import ModernBertModel

    return ModernBertModel.from_pretrained(folder, dtype=TORCH_DTYPES[dtype], attn_implementation="sdpa",
                                           reference_compile=False)


@dataclass(frozen=True)
class ModelSpec:
    """What differs between the benchmarked architectures; everything else is one code path."""

    name: str
    shape: dict  # the checkpoint's config (transformers' kwargs)
    summary: tuple[str, ...]  # the shape's keys the report names
    engines: tuple[str, ...]
    folder: Callable[[int], str]  # L -> the checkpoint that serves inputs of L tokens (made once)
    transformers: Callable[[str, str], torch.nn.Module]  # (folder, dtype) -> transformers' model
    linear_shapes: Callable[[dict], list]  # roofline.py: one layer's (in, out) linear shapes
    flops: Callable  # roofline.py: the forward's FLOPs
    lengths: tuple[int, ...]  # the defaults of --lengths, --batches, --memory-lengths
    batches: tuple[int, ...]
    memory_lengths: tuple[int, ...]
    global_row: bool  # the model has global tokens (the extra --global-length row)
    trained_length: int | None  # longest input transformers takes (our engines run longer ones in windows)

    def special_ids(self) -> tuple[int, int, int]:
        """(first, last, pad) token ids of every input."""
        return self.shape["bos_token_id"], self.shape["eos_token_id"], self.shape["pad_token_id"]


MODELS = {
    "longformer": ModelSpec(
        name="longformer", shape=SHAPE,
        summary=("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "attention_window",
                 "vocab_size"),
        engines=ENGINES, folder=lambda length: model_folder(positions_for(length)),
        transformers=longformer_transformers,
        linear_shapes=linear_shapes, flops=forward_flops, lengths=(512, 1024, 2048, 4096), batches=(1, 4),
        memory_lengths=(4096, 16384), global_row=True, trained_length=None),  # positions extended to any L
    "modernbert": ModelSpec(
        name="modernbert", shape=MODERNBERT_SHAPE,
        summary=("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "local_attention",
                 "global_attn_every_n_layers", "max_position_embeddings", "vocab_size"),
        engines=MODERNBERT_ENGINES, folder=modernbert_folder, transformers=modernbert_transformers,
        linear_shapes=modernbert_linear_shapes, flops=modernbert_flops, lengths=(1024, 8192, 16384), batches=(1,),
        memory_lengths=(1024, 8192, 16384), global_row=False,
        trained_length=MODERNBERT_SHAPE["max_position_embeddings"]),
}


class TransformersEmbeddings(torch.nn.Module):
    """transformers' model (LongformerModel, ModernBertModel) behind the engine's call signature."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    @torch.inference_mode()
    def forward(self, input_ids, attention_mask=None, global_attention_mask=None):
        extra = {} if global_attention_mask is None else {"global_attention_mask": global_attention_mask}
        return self.model(input_ids, attention_mask=attention_mask, **extra).last_hidden_state


class Windowed(torch.nn.Module):
    """An engine over inputs longer than its model's trained length, run as the stages run them: each
    row's content (between its first and last token) in half-overlapping windows of `window` tokens
    (cores/windows.plan_windows), in the stages' batches (run_windows: the CPU's token budget), and every
    content token read from the window that owns it (owned_pieces). -> [B, L - 2, E] float32: the content
    tokens' states (the first and last token have no owner)."""

    def __init__(self, module: torch.nn.Module, window: int, special_ids: tuple[int, int, int], device: str):
        super().__init__()
        self.module = module
        self.window = window
        first, last, pad = special_ids
        self.tokenizer = SimpleNamespace(bos_id=first, eos_id=last, pad_id=pad)
        self.model = SimpleNamespace(module=module, device=torch.device(device), config=getattr(module, "config", None))

    def plans(self, input_ids: torch.Tensor):
        from sparklong.cores.windows import Unit, plan_windows

        units = [Unit(row, 0, 0, "", ids[1:-1].cpu().numpy(), np.zeros((len(ids) - 2, 2), dtype=np.int64))
                 for row, ids in enumerate(input_ids)]
        return units, plan_windows(units, self.window)

    def describe(self, length: int) -> dict:
        """The windows one row of `length` tokens runs in: {"length", "count", "starts"} (content offsets)."""
        _, (plan,) = self.plans(torch.zeros(1, length, dtype=torch.long))
        return {"length": self.window, "count": len(plan.windows), "starts": [w.start for w in plan.windows]}

    def forward(self, input_ids, attention_mask=None, global_attention_mask=None):
        from sparklong.cores.batching import Batching
        from sparklong.cores.windows import owned_pieces, run_windows

        units, plans = self.plans(input_ids)  # every row all tokens (the benchmark pads nothing)
        outputs = run_windows(self.model, self.tokenizer, units, plans, Batching(max_sentence_length=self.window))
        width = outputs[0][0].shape[-1]
        return torch.from_numpy(np.stack([owned_pieces(p, out, width) for p, out in zip(plans, outputs)]))


def load_engine(engine: str, folder: str, device: str, dtype: str, attention: str = "auto",
                spec: ModelSpec = MODELS["longformer"]):
    """A callable (input_ids, attention_mask, global_attention_mask) -> last hidden state; `attention`
    is the sparklong torch engine's band kernel (load(..., attention=...)); sparklong_bf16 runs in
    bfloat16 whatever `dtype` says."""
    if engine in ("sparklong", "sparklong_int8", "sparklong_bf16"):
        from sparklong.models import load

        quantize = "int8" if engine.endswith("_int8") else "none"
        dtype = "bfloat16" if engine.endswith("_bf16") else dtype
        return load(folder, task="embeddings", device=device, dtype=dtype, attention=attention, quantize=quantize)
    if engine.startswith("sparklong_onnx"):
        from sparklong.models.architectures import read_config
        from sparklong.models.onnx_files import ensure_onnx
        from sparklong.models.onnx_runtime import OnnxModule, place

        placement = place(device, dtype, "int8" if engine.endswith("_int8") else "none")
        path = ensure_onnx(folder, "embeddings", placement.quantize, placement.dtype)  # exported once, cached
        config = read_config(folder)
        return OnnxModule(path, config, "embeddings", placement.providers(), threads=torch.get_num_threads())
    return TransformersEmbeddings(spec.transformers(folder, dtype).to(device).eval())


def past_trained_length(spec: ModelSpec, length: int) -> str | None:
    """Why transformers does not run `length` tokens of this model, or None where it does."""
    if spec.trained_length is None or length <= spec.trained_length:
        return None
    return (f"not run: {length} tokens is past the model's trained length ({spec.trained_length}, "
            f"max_position_embeddings); our engines run it in windows of {spec.trained_length}")


def engines_for(spec: ModelSpec, engines: dict, length: int, device: str) -> tuple[dict, dict]:
    """The engines that run inputs of `length` tokens, and those that do not ({name: why}). Past the
    trained length transformers does not run and ours run in windows of that length (Windowed)."""
    why = past_trained_length(spec, length)
    if why is None:
        return engines, {}
    ours = {name: Windowed(fn, spec.trained_length, spec.special_ids(), device)
            for name, fn in engines.items() if name != "transformers"}
    return ours, {name: why for name in engines if name not in ours}


def touch_weights(module: torch.nn.Module) -> None:
    """Read every weight once: memory-mapped safetensors pages become resident now, so they count
    in the after-load RSS, not in the forward pass's increase (both engines mmap). onnxruntime
    reads its graph's weights into memory when the session opens."""
    if not isinstance(module, torch.nn.Module):
        return
    with torch.inference_mode():
        for tensor in list(module.parameters()) + list(module.buffers()):
            float(tensor.sum())


def make_inputs(batch: int, length: int, device: str, global_first: bool, spec: ModelSpec = MODELS["longformer"]):
    gen = torch.Generator().manual_seed(batch * 100003 + length)
    ids = torch.randint(3, spec.shape["vocab_size"], (batch, length), generator=gen)
    ids[:, 0], ids[:, -1] = spec.special_ids()[:2]
    mask = torch.ones_like(ids)
    glob = None
    if global_first:
        glob = torch.zeros_like(ids)
        glob[:, 0] = 1
    to = lambda t: None if t is None else t.to(device)  # noqa: E731
    return to(ids), to(mask), to(glob)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed_call(fn, inputs, device: str):
    sync(device)
    start = time.perf_counter()
    out = fn(*inputs)
    sync(device)
    return time.perf_counter() - start, out


def bench_point(engines: dict, batch: int, length: int, repeats: int, device: str, global_first: bool,
                gemm_rate=None, spec: ModelSpec = MODELS["longformer"]) -> dict:
    """Warm-up each engine, then `repeats` interleaved timed calls, rotating which goes first.
    Each engine's output is compared with transformers' (else the first engine's): max |diff| and
    per-token cosine similarity (min, mean). gemm_rate (CPU): measured once per round among the calls,
    so the roofline of this row is this CPU's GEMM rate at the same moments (its median per kind).
    Past the model's trained length (engines_for) the row says which engine did not run and the windows
    ours ran in."""
    engines, not_run = engines_for(spec, engines, length, device)
    inputs = make_inputs(batch, length, device, global_first, spec)
    warm = {name: timed_call(fn, inputs, device)[1].float() for name, fn in engines.items()}
    reference = "transformers" if "transformers" in engines else next(iter(engines))
    row = {"batch": batch, "length": length, "global_tokens": 1 if global_first else 0, "reference": reference}
    if not_run:
        row["not_run"] = not_run
        row["windows"] = next(iter(engines.values())).describe(length)
    for name, out in warm.items():
        ref = warm[reference]
        cosine = torch.nn.functional.cosine_similarity(out.flatten(0, 1), ref.flatten(0, 1), dim=-1)
        row[name] = {"max_abs_diff": (out - ref).abs().max().item(),
                     "cosine_min": round(cosine.min().item(), 6), "cosine_mean": round(cosine.mean().item(), 6)}
    del warm
    names = list(engines)
    times, rates = {name: [] for name in names}, []
    for r in range(repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        if gemm_rate:  # the probe moves through the order too, so it follows a different engine each round
            order.insert(r % (len(order) + 1), "gemm")
        for name in order:
            if name == "gemm":
                rates.append(gemm_rate())
            else:
                times[name].append(timed_call(engines[name], inputs, device)[0])
    if rates:
        row["gemm_gflops_512_rows"] = {kind: statistics.median(r[kind] for r in rates) for kind in rates[0]}
    for name in names:
        median = statistics.median(times[name])
        row[name].update(median_s=round(median, 4), tokens_per_s=round(batch * length / median, 1),
                         all_s=[round(t, 4) for t in times[name]])
    for base in ("transformers", "sparklong"):  # > 1: the engine is faster than `base`
        if base in engines:
            row[f"speed_ratio_over_{base}"] = {
                name: round(row[name]["tokens_per_s"] / row[base]["tokens_per_s"], 3) for name in names if name != base}
            # the median of each round's own ratio: calls of one round ran minutes apart at most, so the
            # machine's drift over a row (10% and more on shared hosts) cancels within each pair
            row[f"paired_ratio_over_{base}"] = {
                name: round(statistics.median(b / t for b, t in zip(times[base], times[name])), 3)
                for name in names if name != base}
    log(f"B={batch} L={length} global={row['global_tokens']}: " + ", ".join(
        f"{name} {row[name]['median_s']}s (cos min {row[name]['cosine_min']:.4f})" for name in names))
    return row


def run_throughput(args) -> tuple[list[dict], dict]:
    """The timed rows, and each engine's load time (ONNX export included on the first run)."""
    spec = MODELS[args.model]
    folder = spec.folder(max(args.lengths + ([args.global_length] if spec.global_row else [])))
    engines, load_s = {}, {}
    for name in args.engines:
        start = time.perf_counter()
        engines[name] = load_engine(name, folder, args.device, args.dtype, args.attention, spec)
        load_s[name] = round(time.perf_counter() - start, 2)
        log(f"loaded {name} in {load_s[name]} s")
    points = [(b, n, False) for b in args.batches for n in args.lengths]
    if not args.no_global_row:
        points.append((1, args.global_length, True))
    gemm_rate = None
    if args.device == "cpu":
        from roofline import gemm_gflops

        gemm_rate = functools.partial(gemm_gflops, spec.linear_shapes(spec.shape), repeats=3)
    return [bench_point(engines, b, n, args.repeats, args.device, g, gemm_rate, spec) for b, n, g in points], load_s


def proc_status_mb(field: str) -> float:
    """A memory field of /proc/self/status (Linux), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_child(engine: str, length: int, device: str, dtype: str, attention: str,
                 spec: ModelSpec = MODELS["longformer"]) -> dict:
    """Runs inside the fresh subprocess: load, one forward pass at batch 1, report peaks.

    RSS peaks come from VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over fork and
    exec, so a child of this (large) parent would report the parent's peak. VmHWM belongs to the
    child's own address space; it is reset after loading so the forward pass's peak is separate."""
    fn = load_engine(engine, spec.folder(length), device, dtype, attention, spec)
    fn = engines_for(spec, {engine: fn}, length, device)[0][engine]  # in windows past the trained length
    touch_weights(fn)
    inputs = make_inputs(1, length, device, False, spec)
    sync(device)
    load_peak = proc_status_mb("VmHWM")
    after_load = proc_status_mb("VmRSS")
    reset = reset_peak_rss()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        after_load_cuda = torch.cuda.memory_allocated() / 2**20
    seconds, _ = timed_call(fn, inputs, device)
    forward_peak = proc_status_mb("VmHWM")
    result = {"peak_rss_mb": round(max(load_peak, forward_peak), 1),
              "load_peak_rss_mb": round(load_peak, 1),
              "after_load_rss_mb": round(after_load, 1)}
    if reset:
        result["forward_peak_rss_mb"] = round(forward_peak, 1)
        result["peak_minus_after_load_rss_mb"] = round(forward_peak - after_load, 1)
    if device == "cuda":
        peak_cuda = torch.cuda.max_memory_allocated() / 2**20
        result.update(peak_cuda_mb=round(peak_cuda, 1), after_load_cuda_mb=round(after_load_cuda, 1),
                      peak_minus_after_load_cuda_mb=round(peak_cuda - after_load_cuda, 1))
    result["cold_forward_s"] = round(seconds, 3)  # first call, no warm-up
    return result


def measure_memory(engine: str, length: int, args) -> dict:
    spec = MODELS[args.model]
    why = past_trained_length(spec, length)
    if engine == "transformers" and why:
        return {"not_run": why}
    spec.folder(length)  # create the checkpoint here, not inside the measured child
    cmd = [sys.executable, os.path.abspath(__file__), "--child", engine, str(length), "--model", args.model,
           "--device", args.device, "--dtype", args.dtype, "--attention", args.attention]
    log(f"memory: {engine} L={length} (fresh subprocess)")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}"}
    return json.loads(proc.stdout)


def run_memory(args) -> list[dict]:
    key = "peak_cuda_mb" if args.device == "cuda" else "peak_rss_mb"
    extra = key.replace("peak_", "peak_minus_after_load_")
    rows = []
    for length in args.memory_lengths:
        with open(os.path.join(MODELS[args.model].folder(length), "config.json"), encoding="utf-8") as fh:
            positions = json.load(fh)["max_position_embeddings"]
        row = {"batch": 1, "length": length, "max_position_embeddings": positions}
        row.update({name: measure_memory(name, length, args) for name in args.engines})
        theirs = row.get("transformers", {})
        for name in args.engines:
            ours = row[name]
            if name != "transformers" and key in ours and key in theirs:
                row[f"ratio_{key}_{name}_over_transformers"] = round(ours[key] / theirs[key], 3)
                if theirs.get(extra, 0) > 0 and extra in ours:
                    row[f"ratio_{extra}_{name}_over_transformers"] = round(ours[extra] / theirs[extra], 3)
        log(f"memory L={length}: " + ", ".join(f"{name} {row[name].get(key)} MB" for name in args.engines))
        rows.append(row)
    return rows


def plot(report: dict, path: str) -> None:
    from run_record import pyplot_for

    plt = pyplot_for(path)
    if plt is None:
        return
    fig, (ax_speed, ax_mem) = plt.subplots(1, 2, figsize=(11, 4.2))
    rows = [r for r in report["throughput"] if not r["global_tokens"]]
    for batch in sorted({r["batch"] for r in rows}):
        mine = sorted((r for r in rows if r["batch"] == batch), key=lambda r: r["length"])
        for engine, style in zip(report["config"]["engines"], ("-o", "--s", "-.^", ":v")):
            pts = [(r["length"], r[engine]["tokens_per_s"]) for r in mine if engine in r]
            if pts:
                ax_speed.plot(*zip(*pts), style, label=f"{engine}, batch {batch}")
    ax_speed.set(ylabel="tokens / s", title="Throughput (median)")
    key = "peak_cuda_mb" if report["config"]["device"] == "cuda" else "peak_rss_mb"
    extra = key.replace("peak_", "peak_minus_after_load_")
    mem = report.get("memory") or []
    for engine, color in zip(report["config"]["engines"], ("C0", "C1", "C2", "C3")):
        for field, style, what in ((key, "-o", "peak"), (extra, ":^", "peak - after load")):
            pts = [(r["length"], r[engine][field]) for r in mem if field in r.get(engine, {})]
            if pts:
                ax_mem.plot(*zip(*pts), style, color=color, label=f"{engine}, {what}")
    ax_mem.set(ylabel="MB (RSS)" if key == "peak_rss_mb" else "MB (CUDA allocated)",
               title="Peak memory, batch 1")
    for ax, lengths in ((ax_speed, [r["length"] for r in rows]), (ax_mem, [r["length"] for r in mem])):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(set(lengths)) or [512], [str(n) for n in sorted(set(lengths))] or ["512"])
        ax.set_xlabel("sequence length L")
        ax.set_ylim(bottom=0)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle(f"{report['config'].get('architecture', 'longformer')}-base shape, {report['config']['device']} "
                 f"{report['config']['dtype']}, "
                 f"{report['machine']['device_name']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    log(f"wrote {path}")


def parse_args(argv=None):
    from sparklong.models.encoder import ATTENTION

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=tuple(MODELS), default="longformer",
                   help="the architecture: longformer-base or ModernBERT-base shaped (default longformer)")
    p.add_argument("--engines", nargs="+", choices=sorted(set(ENGINES + MODERNBERT_ENGINES)),
                   help=f"which engines to run side by side (default: all of the model's; longformer: "
                        f"{', '.join(ENGINES)}; modernbert: {', '.join(MODERNBERT_ENGINES)})")
    p.add_argument("--batches", type=int, nargs="+", help="default: longformer 1 4, modernbert 1")
    p.add_argument("--lengths", type=int, nargs="+",
                   help="default: longformer 512 1024 2048 4096, modernbert 1024 8192 16384")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--dtype", choices=tuple(TORCH_DTYPES), default=None,
                   help="default float32 on cpu, bfloat16 on cuda (same for both engines)")
    p.add_argument("--attention", choices=ATTENTION, default="auto",
                   help="sparklong engine's sliding-window kernel: SDPA over blocks or FlexAttention "
                        "(auto: sdpa until measured)")
    p.add_argument("--global-length", type=int, default=4096,
                   help="L of the extra batch-1 row with global attention on the first token (longformer)")
    p.add_argument("--no-global-row", action="store_true")
    p.add_argument("--memory-lengths", type=int, nargs="+",
                   help="default: longformer 4096 16384, modernbert 1024 8192 16384")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--plot", metavar="PATH")
    p.add_argument("--child", nargs=2, metavar=("ENGINE", "L"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.dtype = args.dtype or ("bfloat16" if args.device == "cuda" else "float32")
    spec = MODELS[args.model]
    args.engines = args.engines or list(spec.engines)
    wrong = [name for name in args.engines if name not in spec.engines]
    if wrong:
        p.error(f"--model {args.model} has no engine {', '.join(wrong)}; it has {', '.join(spec.engines)}")
    args.batches = args.batches or list(spec.batches)
    args.lengths = args.lengths or list(spec.lengths)
    args.memory_lengths = args.memory_lengths or list(spec.memory_lengths)
    args.no_global_row = args.no_global_row or not spec.global_row  # ModernBERT has no global tokens
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(memory_child(args.child[0], int(args.child[1]), args.device, args.dtype, args.attention,
                                      MODELS[args.model])))
        return
    spec = MODELS[args.model]
    clock = RunClock()
    report = {"machine": machine_info(args.device),
              "config": {"architecture": spec.name, "model": {k: spec.shape[k] for k in spec.summary},
                         "weights": "random (seed 0)", "device": args.device, "dtype": args.dtype,
                         "engines": args.engines, "attention": args.attention,
                         "batches": args.batches, "lengths": args.lengths, "repeats": args.repeats,
                         "global_row": None if args.no_global_row else {"batch": 1, "length": args.global_length,
                                                                        "global_tokens": "first token"},
                         "memory_lengths": None if args.skip_memory else args.memory_lengths}}
    report["throughput"], report["load_s"] = run_throughput(args)
    if args.device == "cpu":
        from roofline import roofline

        rows = report["throughput"]
        rates = {kind: statistics.median(r["gemm_gflops_512_rows"][kind] for r in rows)
                 for kind in ("float32", "bfloat16", "int8")}
        report["roofline"] = {"gemm_gflops_512_rows": rates, "rows": roofline(rows, spec.shape, spec.flops)}
        log(f"GEMM on this CPU (median over rows): {rates}; fractions of the roofline: " + "; ".join(
            f"B={r['batch']} L={r['length']} g={r['global_tokens']} {r['fraction_of_roofline']}"
            for r in report["roofline"]["rows"]))
    if not args.skip_memory:
        report["memory"] = run_memory(args)
    report.update(clock.record())
    print(json.dumps(report, indent=2))
    if args.plot:
        plot(report, args.plot)


if __name__ == "__main__":
    main()
