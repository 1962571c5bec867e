"""int8 (the torch engine's and onnxruntime's), the torch engine's bfloat16 and onnxruntime fp32 against
the torch engine's fp32, on one model folder: per-token cosine similarity of the last hidden states, max |diff|, and speed
(interleaved medians, tokens/s, ratios).

    .venv/bin/python benchmarks/onnx_int8_quality.py                        # random longformer-base
    .venv/bin/python benchmarks/onnx_int8_quality.py --model PATH --lengths 512 2048 4096 --repeats 3
    .venv/bin/python benchmarks/onnx_int8_quality.py --model PATH --engines sparklong_int8   # torch int8 only
    .venv/bin/python benchmarks/onnx_int8_quality.py --model PATH --engines sparklong_bf16 sparklong_int8

Inputs are the bundled corpus (tests/data/corpus) encoded by the model's own tokenizer when the
folder has one, else random ids (the random longformer-base of model_throughput.py has none). One
row per (L, global tokens 0 or 1 on <s>; 0 only where the model has no global attention), batch 1. Any
architecture (Longformer, ModernBERT, the BERT family). Prints one JSON object; progress on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_throughput import ROOT, load_engine, log, model_folder, timed_call  # noqa: E402
from run_record import RunClock, machine_info  # noqa: E402

REFERENCE = "sparklong"  # the torch engine in float32
ENGINES = ("sparklong_int8", "sparklong_onnx", "sparklong_onnx_int8")  # the default comparison
CHOICES = ENGINES + ("sparklong_bf16",)
CORPUS = os.path.join(ROOT, "tests", "data", "corpus")


def corpus_ids(folder: str) -> tuple[torch.Tensor, tuple[int, int]] | None:
    """The corpus as one long run of content piece ids, and the special ids the tokenizer puts before and
    after a text (<s> </s>, [CLS] [SEP]); None when the folder has no tokenizer."""
    from sparklong.models.piece_tokenizer import PieceTokenizer

    try:
        tokenizer = PieceTokenizer.from_folder(folder)
    except (OSError, ValueError):
        return None
    texts = [open(os.path.join(CORPUS, f), encoding="utf-8", errors="replace").read()
             for f in sorted(os.listdir(CORPUS)) if f.endswith(".txt")]
    pieces = [i for e in tokenizer.encode_batch(texts) for i, special in zip(e.ids, e.special_mask) if not special]
    first, *_, last = tokenizer.encode_batch([""])[0].ids
    return torch.tensor(pieces, dtype=torch.long), (first, last)


def make_inputs(config, corpus: tuple[torch.Tensor, tuple[int, int]] | None, length: int, global_tokens: int):
    """[1, L]: <s> + L - 2 pieces (the corpus repeated as needed, or random ids) + </s> (or the tokenizer's
    own specials)."""
    if corpus is None:
        body = torch.randint(3, config.vocab_size, (length - 2,), generator=torch.Generator().manual_seed(length))
        first, last = config.bos_token_id, config.eos_token_id
    else:
        pieces, (first, last) = corpus
        body = pieces.repeat(-(-(length - 2) // len(pieces)))[: length - 2]
    ids = torch.cat([torch.tensor([first]), body, torch.tensor([last])])[None]
    glob = torch.zeros_like(ids)
    glob[:, :global_tokens] = 1
    return ids, torch.ones_like(ids), glob


def run_point(engines: dict, inputs, repeats: int) -> dict:
    warm = {name: fn(*inputs).float()[0] for name, fn in engines.items()}  # [L, E] each
    reference = warm[REFERENCE]
    row = {}
    for name, out in warm.items():
        cosine = torch.nn.functional.cosine_similarity(out, reference, dim=-1)  # [L]
        row[name] = {"cosine_min": round(cosine.min().item(), 6), "cosine_mean": round(cosine.mean().item(), 6),
                     "cosine_p01": round(torch.quantile(cosine, 0.01).item(), 6),
                     "max_abs_diff": (out - reference).abs().max().item()}
    names = list(engines)
    times = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            times[name].append(timed_call(engines[name], inputs, "cpu")[0])
    tokens = inputs[0].numel()
    for name in names:
        median = statistics.median(times[name])
        row[name].update(median_s=round(median, 4), tokens_per_s=round(tokens / median, 1),
                         all_s=[round(t, 4) for t in times[name]])
    row["speed_ratio_over_sparklong"] = {
        name: round(row[name]["tokens_per_s"] / row[REFERENCE]["tokens_per_s"], 3) for name in names[1:]}
    return row


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="HF model folder of any architecture (default: the random longformer-base, "
                                   "made once)")
    p.add_argument("--lengths", type=int, nargs="+", default=[512, 4096])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--engines", nargs="+", choices=CHOICES, default=list(ENGINES), help="compared with the reference")
    args = p.parse_args(argv)
    names = [REFERENCE, *args.engines]
    from sparklong.models.architectures import read_config

    folder = args.model or model_folder(max(4098, max(args.lengths) + 2))
    config = read_config(folder)
    pieces = corpus_ids(folder)
    clock = RunClock()
    engines, load_s = {}, {}
    for name in names:
        start = time.perf_counter()
        engines[name] = load_engine(name, folder, "cpu", "float32")
        load_s[name] = round(time.perf_counter() - start, 2)  # ONNX export included on the first run
    rows = []
    for length in args.lengths:
        for global_tokens in (0, 1) if config.global_attention else (0,):
            row = {"batch": 1, "length": length, "global_tokens": global_tokens,
                   **run_point(engines, make_inputs(config, pieces, length, global_tokens), args.repeats)}
            log(f"L={length} global={global_tokens}: " + ", ".join(
                f"{n} {row[n]['median_s']}s cos min {row[n]['cosine_min']:.4f}" for n in names))
            rows.append(row)
    report = {"machine": machine_info("cpu"),
              "config": {"model": folder, "layers": config.num_hidden_layers, "hidden_size": config.hidden_size,
                         "inputs": "random ids" if pieces is None else "bundled corpus, the model's tokenizer",
                         "reference": REFERENCE + " (torch, float32)", "repeats": args.repeats},
              "load_s": load_s, "rows": rows, **clock.record()}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
