"""jobs/embed_corpus.py vs the engine alone: what Spark, the pipeline and the shard commits cost per token.

Both embed the same documents (the first --docs files of examples/corpus) with the same model folder
and settings (MEAN pooling, maxSentenceLength 4096): the engine alone in this process
(`embed_documents`, torch on every core, no Spark), the job as a subprocess on `local[*]` (a fresh
output each time). Runs alternate engine, job, engine, job ...; medians are reported with every raw
time. The job's own seconds come from its summary line (from its first shard to its last commit:
JVM start, the input's read and planning, and shutdown excluded); `wall_s` includes them. Prints one JSON object.

    .venv/bin/python benchmarks/embed_corpus_job.py                 # after make demo (its model)
    .venv/bin/python benchmarks/embed_corpus_job.py --docs 4 --repeats 1 --model FOLDER
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
CORPUS = os.path.join(ROOT, "examples", "corpus")
SUMMARY = re.compile(r"done: ([\d,]+) documents embedded, [\d,]+ kept, [\d,]+ removed; ([\d,]+) tokens, "
                     r"[\d,]+ tokens/s; ([\d.]+) s")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def engine_alone(folder: str, texts: list[str]) -> tuple[float, int]:
    from sparklong.annotation import DOCUMENT, Annotation
    from sparklong.udfs.model_cache import get_model, get_tokenizer
    from sparklong.udfs.sentence_embeddings import embed_documents
    from sparklong.udfs.word_embeddings import EmbeddingSettings

    model, tokenizer = get_model(folder, "embeddings", "torch", "cpu"), get_tokenizer(folder, False)
    rows = [([Annotation(DOCUMENT, 0, len(t) - 1, t, {"sentence": "0"})],) for t in texts]  # (documents,) per row
    start = time.perf_counter()
    out = embed_documents(model, tokenizer, rows, EmbeddingSettings(max_sentence_length=4096, batch_size=4))
    seconds = time.perf_counter() - start
    return seconds, sum(int(r[0].metadata["pieces"]) for r in out)


def job(folder: str, inputs: str, output: str, shard_rows: int) -> tuple[float, float, int]:
    command = [sys.executable, os.path.join(ROOT, "jobs", "embed_corpus.py"), "--input", inputs, "--output", output,
               "--model", folder, "--shard-rows", str(shard_rows), "--overwrite"]
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
    args = p.parse_args()
    if not os.path.isfile(os.path.join(args.model, "config.json")):
        raise SystemExit(f"no model at {args.model}: run `make demo` first or pass --model FOLDER")
    names = sorted(n for n in os.listdir(CORPUS) if n.endswith(".txt"))[: args.docs]
    work = tempfile.mkdtemp(prefix="embed-job-bench-")
    try:
        inputs = os.path.join(work, "corpus")
        os.makedirs(inputs)
        for name in names:
            shutil.copy(os.path.join(CORPUS, name), inputs)
        texts = [decode_text(open(os.path.join(inputs, n), "rb").read()) for n in names]
        engine_s, job_s, wall_s = [], [], []
        tokens = None
        for r in range(args.repeats):
            seconds, tokens = engine_alone(args.model, texts)
            engine_s.append(seconds)
            log(f"repeat {r + 1}: engine alone {seconds:.1f} s for {tokens:,} tokens")
            seconds, wall, job_tokens = job(args.model, inputs, os.path.join(work, "out"), args.shard_rows)
            assert job_tokens == tokens, (job_tokens, tokens)
            job_s.append(seconds)
            wall_s.append(wall)
            log(f"repeat {r + 1}: job {seconds:.1f} s ({wall:.1f} s with JVM start and stop)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    engine_rate = tokens / statistics.median(engine_s)
    job_rate = tokens / statistics.median(job_s)
    print(json.dumps({
        "model": os.path.basename(args.model.rstrip("/")), "documents": len(names), "tokens": tokens,
        "cpu_count": os.cpu_count(), "load_average_1_5_15min": os.getloadavg(),
        "engine_alone": {"all_s": engine_s, "median_s": statistics.median(engine_s), "tokens_per_s": engine_rate},
        "job": {"all_s": job_s, "median_s": statistics.median(job_s), "tokens_per_s": job_rate,
                "all_wall_s": wall_s, "median_wall_s": statistics.median(wall_s),
                "tokens_per_s_wall": tokens / statistics.median(wall_s)},
        "speed_ratio_job_over_engine": job_rate / engine_rate,
        "speed_ratio_job_wall_over_engine": tokens / statistics.median(wall_s) / engine_rate,
    }, indent=2))


if __name__ == "__main__":
    main()
