"""Throughput and peak memory: sparklong's Longformer engine (torch; onnxruntime fp32 and int8) vs
transformers' LongformerModel.

All engines load the same randomly initialised longformer-base-shaped checkpoint (12 layers,
hidden 768, 12 heads, window 512, vocab 50265) from one Hugging Face folder, cached under
benchmarks/out/models/ (the ONNX graphs are exported once into its onnx/ subfolder). Prints one
JSON object on stdout; progress goes to stderr.

    .venv/bin/python benchmarks/model_throughput.py                      # full CPU run
    .venv/bin/python benchmarks/model_throughput.py --lengths 512 1024 --batches 1 \
        --repeats 1 --memory-lengths 4096 --plot benchmarks/out/throughput.png
    .venv/bin/python benchmarks/model_throughput.py --device cuda        # bf16 on the GPU
    .venv/bin/python benchmarks/model_throughput.py --engines sparklong sparklong_onnx --lengths 512
    .venv/bin/python benchmarks/model_throughput.py --device cuda --engines sparklong --attention flex
        # the torch engine's local rows through FlexAttention; run again with --attention sdpa to compare

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

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
MODEL_CACHE = os.path.join(ROOT, "benchmarks", "out", "models")
SHAPE = dict(
    vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
    intermediate_size=3072, attention_window=512, type_vocab_size=1,
    pad_token_id=1, bos_token_id=0, eos_token_id=2, sep_token_id=2,
)
# sparklong(_int8): the torch engine (float32, or int8 linears); sparklong_onnx(_int8): the same model
# exported, on onnxruntime
ENGINES = ("sparklong", "transformers", "sparklong_int8", "sparklong_onnx", "sparklong_onnx_int8")
from sparklong.models.devices import DTYPES as TORCH_DTYPES  # noqa: E402
from run_record import RunClock, machine_info  # noqa: E402


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


class TransformersEmbeddings(torch.nn.Module):
    """transformers' LongformerModel behind the engine's call signature."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    @torch.inference_mode()
    def forward(self, input_ids, attention_mask=None, global_attention_mask=None):
        return self.model(input_ids, attention_mask=attention_mask,
                          global_attention_mask=global_attention_mask).last_hidden_state


def load_engine(engine: str, folder: str, device: str, dtype: str, attention: str = "auto"):
    """A callable (input_ids, attention_mask, global_attention_mask) -> last hidden state; `attention`
    is the sparklong torch engine's band kernel (load(..., attention=...))."""
    if engine in ("sparklong", "sparklong_int8"):
        from sparklong.models import load

        quantize = "int8" if engine.endswith("_int8") else "none"
        return load(folder, task="embeddings", device=device, dtype=dtype, attention=attention, quantize=quantize)
    if engine.startswith("sparklong_onnx"):
        from sparklong.models import LongformerConfig
        from sparklong.models.onnx_files import ensure_onnx
        from sparklong.models.onnx_runtime import OnnxModule, place

        placement = place(device, dtype, "int8" if engine.endswith("_int8") else "none")
        path = ensure_onnx(folder, "embeddings", placement.quantize, placement.dtype)  # exported once, cached
        config = LongformerConfig.from_folder(folder)
        return OnnxModule(path, config, "embeddings", placement.providers(), threads=torch.get_num_threads())
    from transformers import LongformerModel

    model = LongformerModel.from_pretrained(folder, add_pooling_layer=False, dtype=TORCH_DTYPES[dtype])
    return TransformersEmbeddings(model.to(device).eval())


def touch_weights(module: torch.nn.Module) -> None:
    """Read every weight once: memory-mapped safetensors pages become resident now, so they count
    in the after-load RSS, not in the forward pass's increase (both engines mmap). onnxruntime
    reads its graph's weights into memory when the session opens."""
    if not isinstance(module, torch.nn.Module):
        return
    with torch.inference_mode():
        for tensor in list(module.parameters()) + list(module.buffers()):
            float(tensor.sum())


def make_inputs(batch: int, length: int, device: str, global_first: bool):
    gen = torch.Generator().manual_seed(batch * 100003 + length)
    ids = torch.randint(3, SHAPE["vocab_size"], (batch, length), generator=gen)
    ids[:, 0], ids[:, -1] = SHAPE["bos_token_id"], SHAPE["eos_token_id"]
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
                gemm_rate=None) -> dict:
    """Warm-up each engine, then `repeats` interleaved timed calls, rotating which goes first.
    Each engine's output is compared with transformers' (else the first engine's): max |diff| and
    per-token cosine similarity (min, mean). gemm_rate (CPU): measured once per round among the calls,
    so the roofline of this row is this CPU's GEMM rate at the same moments (its median per kind)."""
    inputs = make_inputs(batch, length, device, global_first)
    warm = {name: timed_call(fn, inputs, device)[1].float() for name, fn in engines.items()}
    reference = "transformers" if "transformers" in engines else next(iter(engines))
    row = {"batch": batch, "length": length, "global_tokens": 1 if global_first else 0, "reference": reference}
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
    folder = model_folder(positions_for(max(args.lengths + [args.global_length])))
    engines, load_s = {}, {}
    for name in args.engines:
        start = time.perf_counter()
        engines[name] = load_engine(name, folder, args.device, args.dtype, args.attention)
        load_s[name] = round(time.perf_counter() - start, 2)
        log(f"loaded {name} in {load_s[name]} s")
    points = [(b, n, False) for b in args.batches for n in args.lengths]
    if not args.no_global_row:
        points.append((1, args.global_length, True))
    gemm_rate = None
    if args.device == "cpu":
        from roofline import gemm_gflops

        gemm_rate = functools.partial(gemm_gflops, SHAPE, repeats=3)
    return [bench_point(engines, b, n, args.repeats, args.device, g, gemm_rate) for b, n, g in points], load_s


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


def memory_child(engine: str, length: int, device: str, dtype: str, attention: str) -> dict:
    """Runs inside the fresh subprocess: load, one forward pass at batch 1, report peaks.

    RSS peaks come from VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over fork and
    exec, so a child of this (large) parent would report the parent's peak. VmHWM belongs to the
    child's own address space; it is reset after loading so the forward pass's peak is separate."""
    folder = model_folder(positions_for(length))
    fn = load_engine(engine, folder, device, dtype, attention)
    touch_weights(fn)
    inputs = make_inputs(1, length, device, global_first=False)
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
    model_folder(positions_for(length))  # create the checkpoint here, not inside the measured child
    cmd = [sys.executable, os.path.abspath(__file__), "--child", engine, str(length),
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
        row = {"batch": 1, "length": length, "max_position_embeddings": positions_for(length)}
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
            ax_speed.plot([r["length"] for r in mine], [r[engine]["tokens_per_s"] for r in mine],
                          style, label=f"{engine}, batch {batch}")
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
    fig.suptitle(f"longformer-base shape, {report['config']['device']} {report['config']['dtype']}, "
                 f"{report['machine']['device_name']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    log(f"wrote {path}")


def parse_args(argv=None):
    from sparklong.models.encoder import ATTENTION

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES),
                   help="which engines to run side by side (default: all four)")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    p.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--dtype", choices=tuple(TORCH_DTYPES), default=None,
                   help="default float32 on cpu, bfloat16 on cuda (same for both engines)")
    p.add_argument("--attention", choices=ATTENTION, default="auto",
                   help="sparklong engine's sliding-window kernel: SDPA over blocks or FlexAttention "
                        "(auto: sdpa until measured)")
    p.add_argument("--global-length", type=int, default=4096,
                   help="L of the extra batch-1 row with global attention on the first token")
    p.add_argument("--no-global-row", action="store_true")
    p.add_argument("--memory-lengths", type=int, nargs="+", default=[4096, 16384])
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--plot", metavar="PATH")
    p.add_argument("--child", nargs=2, metavar=("ENGINE", "L"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.dtype = args.dtype or ("bfloat16" if args.device == "cuda" else "float32")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(memory_child(args.child[0], int(args.child[1]), args.device, args.dtype, args.attention)))
        return
    clock = RunClock()
    report = {"machine": machine_info(args.device),
              "config": {"model": {k: SHAPE[k] for k in ("num_hidden_layers", "hidden_size", "num_attention_heads",
                                                         "intermediate_size", "attention_window", "vocab_size")},
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
        rates = {kind: statistics.median(r["gemm_gflops_512_rows"][kind] for r in rows) for kind in ("float32", "int8")}
        report["roofline"] = {"gemm_gflops_512_rows": rates, "rows": roofline(rows, SHAPE)}
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
