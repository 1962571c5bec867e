"""The torch engine's CPU precisions side by side on one model: float32, bfloat16, int8 linears, and int8
linears inside a bfloat16 model (int8 + bf16, built here only to measure it: the product has no such
setting), as interleaved medians and ratios to float32; then where one forward's time goes in each
(torch.profiler self time by kind of op).

    .venv/bin/python benchmarks/cpu_precisions.py                       # random longformer-base, B1 L4096
    .venv/bin/python benchmarks/cpu_precisions.py --batches 1 4 --lengths 512 4096 --repeats 5

Inputs are random ids with one global token (<s>) unless --no-global-row. Prints one JSON object (the
CPU, its bf16/VNNI/AMX flags and the torch version first); progress on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_throughput import log, make_inputs, model_folder, positions_for, timed_call  # noqa: E402
from run_record import RunClock, machine_info  # noqa: E402

PRECISIONS = ("float32", "bfloat16", "int8", "int8_bf16")
# kind of op -> the profiler's op names (self time); anything else is "other"
KINDS = {
    "linear": ("mkldnn::_linear_pointwise", "aten::addmm", "aten::mm", "aten::_int_mm"),
    "attention": ("aten::_scaled_dot_product_flash_attention_for_cpu", "aten::bmm", "aten::baddbmm"),
    "copy": ("aten::copy_",),
    "layer_norm": ("aten::native_layer_norm",),
    "add": ("aten::add", "aten::add_"),
    "activation": ("aten::gelu", "aten::gelu_"),
}


class Int8InBf16(nn.Module):
    """An Int8Linear in a bfloat16 model: bf16 in, the int8 product in float32 as Int8Linear computes it,
    bf16 out; weight and bias read as bf16 (for the unprojected global keys)."""

    def __init__(self, linear: nn.Module):
        super().__init__()
        self._int8 = [linear]  # kept out of the module tree, so .to(bfloat16) leaves its float32 scales alone

    @property
    def weight(self) -> torch.Tensor:
        return self._int8[0].weight.to(torch.bfloat16)

    @property
    def bias(self) -> torch.Tensor | None:
        bias = self._int8[0].bias
        return None if bias is None else bias.to(torch.bfloat16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._int8[0](x.float()).to(x.dtype)


def load_precision(folder: str, precision: str) -> nn.Module:
    from sparklong.models import load
    from sparklong.models.int8_linear import Int8Linear

    if precision in ("float32", "bfloat16"):
        return load(folder, dtype=precision)
    module = load(folder, quantize="int8")
    if precision == "int8":
        return module
    for parent in list(module.modules()):  # int8_bf16
        for name, child in parent.named_children():
            if isinstance(child, Int8Linear):
                setattr(parent, name, Int8InBf16(child))
    return module.to(torch.bfloat16)


def profile_kinds(fn, inputs) -> dict:
    """Self seconds of one call by kind of op (KINDS), and the call's total."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn(*inputs)
    seconds = dict.fromkeys([*KINDS, "other"], 0.0)
    for event in prof.key_averages():
        kind = next((k for k, names in KINDS.items() if event.key in names), "other")
        seconds[kind] += event.self_cpu_time_total / 1e6
    total = sum(seconds.values())
    return {"total_s": round(total, 3), **{k: round(v, 3) for k, v in seconds.items()},
            "shares": {k: round(v / total, 3) for k, v in seconds.items()}}


def bench_point(models: dict, inputs, repeats: int) -> dict:
    warm = {name: fn(*inputs).float() for name, fn in models.items()}  # [B, L, E]
    reference = warm["float32"].flatten(0, 1)
    names = list(models)
    times = {name: [] for name in names}
    for r in range(repeats):  # rotated order: no precision always first after another
        for name in names[r % len(names):] + names[: r % len(names)]:
            times[name].append(timed_call(models[name], inputs, "cpu")[0])
    tokens = inputs[0].numel()
    row = {}
    for name in names:
        median = statistics.median(times[name])
        cosine = torch.nn.functional.cosine_similarity(warm[name].flatten(0, 1), reference, dim=-1)
        row[name] = {"median_s": round(median, 4), "tokens_per_s": round(tokens / median, 1),
                     "all_s": [round(t, 4) for t in times[name]], "cosine_min": round(cosine.min().item(), 6)}
    base = statistics.median(times["float32"])
    row["speed_over_float32"] = {n: round(base / statistics.median(times[n]), 3) for n in names[1:]}
    return row


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, nargs="+", default=[1])
    p.add_argument("--lengths", type=int, nargs="+", default=[4096])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    p.add_argument("--no-global-row", action="store_true")
    p.add_argument("--profile", type=int, nargs=2, metavar=("B", "L"), default=(1, 4096),
                   help="the batch and length whose one call is profiled (default 1 4096)")
    args = p.parse_args(argv)
    precisions = ["float32", *[x for x in args.precisions if x != "float32"]]
    folder = model_folder(positions_for(max(args.lengths + [args.profile[1]])))
    models = {name: load_precision(folder, name) for name in precisions}
    clock = RunClock()
    rows = []
    with torch.inference_mode():
        for batch in args.batches:
            for length in args.lengths:
                row = {"batch": batch, "length": length,
                       **bench_point(models, make_inputs(batch, length, "cpu", not args.no_global_row), args.repeats)}
                log(f"B={batch} L={length}: " + ", ".join(
                    f"{n} {row[n]['median_s']}s cos {row[n]['cosine_min']:.4f}" for n in precisions))
                rows.append(row)
        inputs = make_inputs(*args.profile, "cpu", not args.no_global_row)
        profiles = {name: profile_kinds(fn, inputs) for name, fn in models.items()}
    report = {"machine": machine_info("cpu"),
              "config": {"model": folder, "inputs": "random ids" + ("" if args.no_global_row else ", <s> global"),
                         "repeats": args.repeats, "int8_bf16": Int8InBf16.__doc__.split("\n\n")[0]},
              "rows": rows, "profile": {"batch": args.profile[0], "length": args.profile[1], **profiles},
              **clock.record()}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
