"""Question answering throughput: LongformerForQuestionAnswering against transformers 4.x's
question-answering pipeline on the same checkpoint, at several context lengths. Prints one JSON object.

    python benchmarks/spark_qa.py [--lengths 512 2048 8192] [--pairs 2] [--repeats 1]

Four ways to answer the same (question, context) pairs, all with max_seq_len / maxSentenceLength 4096,
doc_stride 128 and max_answer_len 30 (a context longer than one window slides with that stride):
- sparklong_core: the annotator's core in this process (what LightPipeline and the UDF run), all
  pairs of a length in one call, so windows of several pairs share forward passes;
- transformers_pipeline: transformers' pipeline in this process, one call over the same pairs;
- sparklong_spark: MultiDocumentAssembler -> LongformerForQuestionAnswering on local[2];
- transformers_spark_udf: the same pipeline inside pyspark's predict_batch_udf on local[2] (what
  a user writes without sparklong).
Model: longformer-base shape, random weights with a random QA head, and a byte-level BPE trained on
the shared corpus (no network). Contexts: State of the Union addresses cut at exactly --lengths pieces.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_record import RunClock, machine_info  # noqa: E402
from spark_embed import ROOT, build_model, log, long_documents, read_corpus  # noqa: E402

QA_DIR = os.path.join(ROOT, "benchmarks", "out", "models", "longformer-base-qa-bpe-corpus")
QUESTIONS = ["Who is the President?", "What did Congress pass last year?", "Which nations signed the treaty?",
             "How much did the debt grow?"]
SETTINGS = dict(max_seq_len=4096, doc_stride=128, max_answer_len=30)


def build_qa_model(texts: list[str]) -> str:
    """The embeddings benchmark's checkpoint shape and tokenizer, with a random QA head, written once."""
    if os.path.isfile(os.path.join(QA_DIR, "config.json")):
        return QA_DIR
    from transformers import LongformerConfig, LongformerForQuestionAnswering

    base = build_model(texts)
    staging = tempfile.mkdtemp(dir=os.path.dirname(QA_DIR))
    torch.manual_seed(1)
    LongformerForQuestionAnswering(LongformerConfig.from_pretrained(base)).save_pretrained(staging)
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(base, name), staging)
    os.replace(staging, QA_DIR)
    return QA_DIR


def transformers_qa(folder: str):
    from transformers import LongformerForQuestionAnswering, LongformerTokenizerFast, pipeline

    model = LongformerForQuestionAnswering.from_pretrained(folder).eval()
    return pipeline("question-answering", model=model, tokenizer=LongformerTokenizerFast.from_pretrained(folder),
                    device="cpu")


def sparklong_core(folder: str):
    """answer(questions, contexts) -> [(start, end exclusive, score, windows)] through the annotator's core."""
    from sparklong.annotation import DOCUMENT, Annotation
    from sparklong.cores.batching import Batching
    from sparklong.cores.question_answering import QASettings, answer_rows
    from sparklong.udfs.model_cache import get_model, get_tokenizer

    model, tokenizer = get_model(folder, "question_answering", "torch", "cpu"), get_tokenizer(folder, False)
    settings = QASettings(Batching(SETTINGS["max_seq_len"]), doc_stride=SETTINGS["doc_stride"],
                          max_answer_length=SETTINGS["max_answer_len"])

    def doc(text):
        return [Annotation(DOCUMENT, 0, len(text) - 1, text, {"sentence": "0"})]

    def answer(questions, contexts):
        rows = answer_rows(model, tokenizer, [(doc(q), doc(c)) for q, c in zip(questions, contexts)], settings)
        return [(a.begin, a.end + 1, float(a.metadata["score"]), int(a.metadata["windows"])) for [a] in rows]

    return answer


def transformers_udf(folder: str):
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.types import StringType

    def make_predict_fn():
        qa = transformers_qa(folder)

        def predict(questions: np.ndarray, contexts: np.ndarray) -> np.ndarray:
            out = qa(question=list(questions), context=list(contexts), **SETTINGS)
            out = out if isinstance(out, list) else [out]
            return np.array([a["answer"] for a in out], dtype=object)

        return predict

    return predict_batch_udf(make_predict_fn, return_type=StringType(), batch_size=8)


def sparklong_pipeline(folder: str):
    from pyspark.ml import PipelineModel

    from sparklong import LongformerForQuestionAnswering, MultiDocumentAssembler

    return PipelineModel(stages=[
        MultiDocumentAssembler().setInputCols("question", "context").setOutputCols("document_question",
                                                                                   "document_context"),
        LongformerForQuestionAnswering.loadSavedModel(folder).setInputCols("document_question", "document_context")
        .setMaxSentenceLength(SETTINGS["max_seq_len"]).setDocStride(SETTINGS["doc_stride"])
        .setMaxAnswerLength(SETTINGS["max_answer_len"]),
    ])


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def time_spark(spark, pairs, run) -> float:
    # parallelize splits rows evenly over the 2 partitions; repartition(2) put both of 2 rows in one
    rows = spark.sparkContext.parallelize([tuple(p) for p in pairs], 2)
    df = spark.createDataFrame(rows, ["question", "context"]).cache()
    df.count()
    seconds, _ = timed(lambda: run(df).write.format("noop").mode("overwrite").save())
    df.unpersist()
    return seconds


def agreement(ours, theirs) -> dict:
    """How often the two give the same span, and the largest relative score gap where they do."""
    same = [(o, t) for o, t in zip(ours, theirs) if (o[0], o[1]) == (t["start"], t["end"])]
    gaps = [abs(o[2] - t["score"]) / t["score"] for o, t in same]
    return {"same_span": f"{len(same)}/{len(ours)}", "max_rel_score_diff": max(gaps) if gaps else None}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[512, 2048, 8192], help="context tokens")
    p.add_argument("--pairs", type=int, default=2, help="(question, context) pairs per length")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--skip-spark", action="store_true")
    args = p.parse_args(argv)

    clock = RunClock()
    texts = read_corpus()
    folder = build_qa_model(texts)
    engines = {"sparklong_core": sparklong_core(folder), "transformers_pipeline": transformers_qa(folder)}
    spark = runs = None
    if not args.skip_spark:
        import sparklong

        spark = sparklong.start("local[2]")
        pipeline, hf_udf = sparklong_pipeline(folder), transformers_udf(folder)
        runs = {"sparklong_spark": lambda df: pipeline.transform(df).select("answer"),
                "transformers_spark_udf": lambda df: df.select(hf_udf("question", "context").alias("answer"))}
        warm = [(QUESTIONS[0], texts[0][:300])] * 4
        for name, run in runs.items():
            log(f"warm-up: {name}")
            time_spark(spark, warm, run)  # loads the model in both Python workers
    engines["sparklong_core"](QUESTIONS[:1], [texts[0][:300]])  # warm-up
    engines["transformers_pipeline"](question=QUESTIONS[0], context=texts[0][:300], **SETTINGS)
    rows = []
    for length in args.lengths:
        contexts = long_documents(texts, folder, args.pairs, length + 2)  # exactly `length` pieces
        questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(len(contexts))]
        seconds: dict[str, list[float]] = {}
        ours = theirs = None
        for r in range(args.repeats):
            log(f"context {length} tokens, repeat {r}")
            t, ours = timed(lambda: engines["sparklong_core"](questions, contexts))
            seconds.setdefault("sparklong_core", []).append(t)
            t, theirs = timed(lambda: engines["transformers_pipeline"](question=questions, context=contexts,
                                                                      **SETTINGS))
            seconds.setdefault("transformers_pipeline", []).append(t)
            for name, run in (runs or {}).items():
                seconds.setdefault(name, []).append(time_spark(spark, list(zip(questions, contexts)), run))
        theirs = theirs if isinstance(theirs, list) else [theirs]
        median = {k: statistics.median(v) for k, v in seconds.items()}
        pairs_per_s = {k: round(len(contexts) / v, 4) for k, v in median.items()}
        row = {"context_tokens": length, "pairs": len(contexts), "windows_per_pair": [o[3] for o in ours],
               "seconds": {k: [round(x, 3) for x in v] for k, v in seconds.items()},
               "median_seconds": {k: round(v, 3) for k, v in median.items()}, "pairs_per_second": pairs_per_s,
               "core_over_transformers_pipeline": round(pairs_per_s["sparklong_core"]
                                                        / pairs_per_s["transformers_pipeline"], 3),
               "answers_vs_transformers": agreement(ours, theirs)}
        if runs:
            row["spark_over_transformers_spark_udf"] = round(pairs_per_s["sparklong_spark"]
                                                             / pairs_per_s["transformers_spark_udf"], 3)
        log(json.dumps(row))
        rows.append(row)
    print(json.dumps({
        "settings": {**SETTINGS, "model": "longformer-base shape, random weights", "master": "local[2]",
                     "repeats": args.repeats},
        "results": rows, "machine": machine_info("cpu"), **clock.record(),
    }, indent=2))
    if spark is not None:
        spark.stop()


if __name__ == "__main__":
    main()
