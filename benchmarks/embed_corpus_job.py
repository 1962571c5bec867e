"""jobs/embed_corpus.py vs the engine alone: what Spark, the pipeline and the shard commits cost per token.

Both embed the same documents (the first --docs files of examples/corpus) with the same model folder
and settings (MEAN pooling, maxSentenceLength 4096): the engine alone in this process
(`embed_documents`, torch on every core, no Spark), the job as a subprocess on `local[*]` (a fresh
output each time). Runs alternate engine, job, engine, job ...; medians are reported with every raw
time. The job's own seconds come from its summary line (from its first shard to its last commit:
JVM start, the input's read and planning, and shutdown excluded); `wall_s` includes them. Prints one JSON object.

    .venv/bin/python benchmarks/embed_corpus_job.py     # after examples/demo.py --model converted --model-only
    .venv/bin/python benchmarks/embed_corpus_job.py --docs 4 --repeats 1 --model FOLDER
    .venv/bin/python benchmarks/embed_corpus_job.py --quantize none int8     # int8 vs float32, interleaved
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from run_record import machine_info  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
CORPUS = os.path.join(ROOT, "examples", "corpus")
SUMMARY = re.compile(r"done: ([\d,]+) documents embedded, [\d,]+ kept, [\d,]+ removed; ([\d,]+) tokens, "
                     r"[\d,]+ tokens/s; ([\d.]+) s")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def engine_alone(folder: str, texts: list[str], quantize: str) -> tuple[float, int]:
    from sparklong.annotation import DOCUMENT, Annotation
    from sparklong.cores.batching import Batching
    from sparklong.cores.document_embeddings import embed_documents
    from sparklong.cores.embedding_settings import EmbeddingSettings
    from sparklong.udfs.model_cache import get_model, get_tokenizer

    model, tokenizer = get_model(folder, "embeddings", "torch", "cpu", quantize=quantize), get_tokenizer(folder, False)
    rows = [([Annotation(DOCUMENT, 0, len(t) - 1, t, {"sentence": "0"})],) for t in texts]  # (documents,) per row
    start = time.perf_counter()
    out = embed_documents(model, tokenizer, rows, EmbeddingSettings(Batching(4096, batch_size=4)))
    seconds = time.perf_counter() - start
    return seconds, sum(int(r[0].metadata["pieces"]) for r in out)


def job(folder: str, inputs: str, output: str, shard_rows: int, quantize: str) -> tuple[float, float, int]:
    command = [sys.executable, os.path.join(ROOT, "jobs", "embed_corpus.py"), "--input", inputs, "--output", output,
               "--model", folder, "--shard-rows", str(shard_rows), "--quantize", quantize, "--overwrite"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the job failed: {done.stderr.strip().splitlines()[-1:]}")
    found = SUMMARY.search(done.stdout)
    return float(found.group(3)), wall, int(found.group(2).replace(",", ""))


def main() -> None:
    from sparklong.jobs.inputs import decode_text
    from sparklong.models.pretrained import cache_root

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=os.path.join(cache_root(), "all_minilm_l6_v2_4096_en"))
    p.add_argument("--docs", type=int, default=8)
    p.add_argument("--shard-rows", type=int, default=4)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--quantize", nargs="+", choices=("none", "int8"), default=["none"],
                   help="the engine's settings to run, interleaved (--quantize none int8: both, and their ratio)")
    args = p.parse_args()
    if not os.path.isfile(os.path.join(args.model, "config.json")):
        raise SystemExit(f"no model at {args.model}: make it with `examples/demo.py --model converted --model-only` or pass --model FOLDER")
    names = sorted(n for n in os.listdir(CORPUS) if n.endswith(".txt"))[: args.docs]
    work = tempfile.mkdtemp(prefix="embed-job-bench-")
    try:
        inputs = os.path.join(work, "corpus")
        os.makedirs(inputs)
        for name in names:
            shutil.copy(os.path.join(CORPUS, name), inputs)
        texts = [decode_text(open(os.path.join(inputs, n), "rb").read()) for n in names]
        times = {q: {"engine": [], "job": [], "wall": []} for q in args.quantize}
        tokens = None
        for r in range(args.repeats):
            for quantize in args.quantize:  # interleaved: engine, job, engine, job ... for each setting
                seconds, tokens = engine_alone(args.model, texts, quantize)
                times[quantize]["engine"].append(seconds)
                log(f"repeat {r + 1}, quantize {quantize}: engine alone {seconds:.1f} s for {tokens:,} tokens")
                seconds, wall, job_tokens = job(args.model, inputs, os.path.join(work, "out"), args.shard_rows, quantize)
                assert job_tokens == tokens, (job_tokens, tokens)
                times[quantize]["job"].append(seconds)
                times[quantize]["wall"].append(wall)
                log(f"repeat {r + 1}, quantize {quantize}: job {seconds:.1f} s ({wall:.1f} s with JVM start and stop)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    runs = {q: summary(t, tokens) for q, t in times.items()}
    report = {"model": os.path.basename(args.model.rstrip("/")), "documents": len(names), "tokens": tokens,
              "machine": machine_info("cpu"), "load_average_1_5_15min": os.getloadavg(), "runs": runs}
    if "none" in runs and "int8" in runs:
        report["speed_ratio_int8_over_float32"] = {
            what: runs["int8"][what]["tokens_per_s"] / runs["none"][what]["tokens_per_s"] for what in ("engine_alone", "job")}
    print(json.dumps(report, indent=2))


def summary(times: dict, tokens: int) -> dict:
    """One setting's medians, rates and ratios; times: {"engine": [s], "job": [s], "wall": [s]}."""
    engine_rate = tokens / statistics.median(times["engine"])
    job_rate = tokens / statistics.median(times["job"])
    return {
        "engine_alone": {"all_s": times["engine"], "median_s": statistics.median(times["engine"]),
                         "tokens_per_s": engine_rate},
        "job": {"all_s": times["job"], "median_s": statistics.median(times["job"]), "tokens_per_s": job_rate,
                "all_wall_s": times["wall"], "median_wall_s": statistics.median(times["wall"]),
                "tokens_per_s_wall": tokens / statistics.median(times["wall"])},
        "speed_ratio_job_over_engine": job_rate / engine_rate,
        "speed_ratio_job_wall_over_engine": tokens / statistics.median(times["wall"]) / engine_rate,
    }


if __name__ == "__main__":
    main()
