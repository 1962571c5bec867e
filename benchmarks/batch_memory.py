"""Peak memory of one Python worker embedding one Arrow batch of long documents, with and without
LongformerEmbeddings' token budget (maxBatchTokens). Prints one JSON object; progress on stderr.

    python benchmarks/batch_memory.py                          # 64 docs x 4096 tokens, ~4+ min on 2 cores
    python benchmarks/batch_memory.py --docs 8 --unbounded-docs 4   # quick check

Model: longformer-base shape, random weights, BPE trained on the corpus (spark_embed.build_model).
Each configuration runs in a fresh subprocess that does what the UDF does for one Arrow batch
(spark.sql.execution.arrow.maxRecordsPerBatch is 64): DocumentAssembler + Tokenizer cores, then
the UDF's run_batch (Arrow columns in, the Arrow result column out). Reported: peak RSS (VmHWM) and
the peak minus the RSS after loading (weights touched first), i.e. what the batch itself costs.

Configurations:
  budget          --docs documents, batchSize --batch-size, maxBatchTokens --budget (the default 16384)
  no_budget       --unbounded-docs documents, batchSize --batch-size, no token budget (batchSize alone)
  budget_same     --unbounded-docs documents with the budget: no_budget's side-by-side partner
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from functools import partial

from model_throughput import log, proc_status_mb, reset_peak_rss
from run_record import machine_info
from spark_embed import build_model, long_documents, read_corpus

UNBOUNDED = 1 << 24  # maxBatchTokens' largest value: only batchSize limits a batch


def child(folder: str, documents: list[str], batch_size: int, budget: int) -> dict:
    """In the fresh subprocess: the UDF's work for one Arrow batch of `documents`."""
    from sparklong.annotators.document_assembler import assemble
    from sparklong.cores.batching import Batching
    from sparklong.cores.embedding_settings import EmbeddingSettings
    from sparklong.cores.tokenizer_rules import tokenize
    from sparklong.cores.word_embeddings import embed_rows
    from sparklong.udfs.arrow_annotations import rows_to_arrow
    from sparklong.udfs.model_cache import get_model, get_tokenizer
    from sparklong.udfs.model_udf import run_batch

    model = get_model(folder, "embeddings", device="cpu")
    tokenizer = get_tokenizer(folder, False)
    for tensor in model.module.state_dict().values():  # weights resident before the baseline
        float(tensor.float().sum())
    docs = [assemble(text) for text in documents]
    doc_cells, token_cells = rows_to_arrow(docs), rows_to_arrow([tokenize(d) for d in docs])
    settings = EmbeddingSettings(Batching(4096, batch_size, budget))
    after_load = proc_status_mb("VmRSS")
    reset = reset_peak_rss()
    start = time.perf_counter()
    arrow = run_batch(partial(embed_rows, settings=settings), model, tokenizer, (doc_cells, token_cells))  # the UDF's body
    seconds = time.perf_counter() - start
    peak = proc_status_mb("VmHWM")
    result = {"documents": len(documents), "tokens_per_document": len(tokenizer.encode_batch(documents[:1])[0].ids),
              "word_vectors": len(arrow.values), "arrow_mb": round(arrow.nbytes / 2**20, 1),
              "batch_size": batch_size, "max_batch_tokens": budget, "seconds": round(seconds, 1),
              "after_load_rss_mb": round(after_load, 1), "peak_rss_mb": round(peak, 1)}
    if reset:
        result["peak_minus_after_load_rss_mb"] = round(peak - after_load, 1)
    return result


def measure(name: str, folder: str, documents: list[str], batch_size: int, budget: int) -> dict:
    log(f"{name}: {len(documents)} documents, batchSize {batch_size}, maxBatchTokens {budget} (fresh subprocess)")
    spec = json.dumps({"folder": folder, "documents": documents, "batch_size": batch_size, "budget": budget})
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"], input=spec,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-800:]}"}
    result = json.loads(proc.stdout)
    log(f"{name}: peak {result['peak_rss_mb']} MB, +{result.get('peak_minus_after_load_rss_mb')} MB "
        f"over the loaded model, {result['seconds']} s")
    return result


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=64)
    p.add_argument("--tokens", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--budget", type=int, default=16384, help="maxBatchTokens (the annotator's default)")
    p.add_argument("--unbounded-docs", type=int, default=8,
                   help="documents for the no-budget alternative (0: skip); all of them form one forward pass")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        spec = json.load(sys.stdin)
        print(json.dumps(child(spec["folder"], spec["documents"], spec["batch_size"], spec["budget"])))
        return

    texts = read_corpus()
    folder = build_model(texts)
    documents = long_documents(texts * (1 + args.docs // len(texts)), folder, args.docs, args.tokens)
    report = {"config": vars(args), "machine": machine_info("cpu"), "load_average_start": os.getloadavg()}
    report["budget"] = measure("budget", folder, documents, args.batch_size, args.budget)
    if args.unbounded_docs:
        few = documents[: args.unbounded_docs]
        report["budget_same"] = measure("budget_same", folder, few, args.batch_size, args.budget)
        report["no_budget"] = measure("no_budget", folder, few, args.batch_size, UNBOUNDED)
        key = "peak_minus_after_load_rss_mb"
        if key in report["no_budget"] and key in report["budget_same"]:
            report[f"ratio_{key}_no_budget_over_budget"] = round(
                report["no_budget"][key] / report["budget_same"][key], 2)
    report["load_average_end"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
