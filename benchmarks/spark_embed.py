"""Spark pipeline throughput: DocumentAssembler -> Tokenizer -> LongformerEmbeddings -> SentenceEmbeddings
on local[2] (float32, with setQuantize("int8") and with setPrecision("bfloat16")), against (a) the engine alone on the same token ids
and (b) transformers' LongformerModel inside pyspark's predict_batch_udf (what a user would write
instead). Prints one JSON object.

    python benchmarks/spark_embed.py [--docs 16] [--tokens 4096] [--batch-size 4]
    python benchmarks/spark_embed.py --runs sparklong_pipeline sparklong_pipeline_int8   # int8 vs float32
    python benchmarks/spark_embed.py --runs sparklong_pipeline sparklong_pipeline_bf16   # bfloat16 vs float32

Model: longformer-base shape with random weights and a byte-level BPE trained on the bundled corpus
(no network). Documents: State of the Union addresses from the shared corpus, cut at --tokens pieces.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

from run_record import machine_info  # benchmarks/ is on sys.path when run as a script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
CORPUS = os.environ.get("SPARKLONG_CORPUS", os.path.join(ROOT, "..", "shared", "corpus"))
MODEL_DIR = os.path.join(ROOT, "benchmarks", "out", "models", "longformer-base-bpe-corpus")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def read_corpus() -> list[str]:
    texts = []
    for path in sorted(glob.glob(os.path.join(CORPUS, "*", "*.txt"))):
        raw = open(path, "rb").read()
        try:
            texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(raw.decode("latin-1"))
    if not texts:
        sys.exit(f"no corpus under {CORPUS}; set SPARKLONG_CORPUS")
    return texts


def build_model(texts: list[str]) -> str:
    """Random longformer-base weights plus a BPE trained on the corpus, written once."""
    if os.path.isfile(os.path.join(MODEL_DIR, "config.json")):
        return MODEL_DIR
    from tokenizers import ByteLevelBPETokenizer
    from transformers import LongformerConfig, LongformerModel

    os.makedirs(MODEL_DIR, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=16000, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                            show_progress=False)
    bpe.save_model(MODEL_DIR)
    torch.manual_seed(0)
    cfg = LongformerConfig(vocab_size=bpe.get_vocab_size(), attention_window=512, max_position_embeddings=4098)
    LongformerModel(cfg, add_pooling_layer=False).save_pretrained(MODEL_DIR)
    return MODEL_DIR


def long_documents(texts: list[str], folder: str, docs: int, tokens: int) -> list[str]:
    """The first `docs` texts with at least `tokens` pieces, cut at the end of piece tokens - 2."""
    from sparklong.models.piece_tokenizer import PieceTokenizer

    tok = PieceTokenizer.from_folder(folder)
    out = []
    for text, enc in zip(texts, tok.encode_batch(texts)):
        if len(enc.ids) >= tokens:
            out.append(text[: enc.offsets[tokens - 2][1]])  # <s> + tokens-2 pieces + </s>
        if len(out) == docs:
            return out
    sys.exit(f"only {len(out)} documents reach {tokens} tokens")


def time_engine_alone(folder: str, documents: list[str], batch_size: int) -> tuple[float, int]:
    """The same token ids through the engine in one process (all cores), batches of batch_size."""
    from sparklong.models import load
    from sparklong.models.piece_tokenizer import PieceTokenizer

    tok = PieceTokenizer.from_folder(folder)
    model = load(folder)
    encodings = [e.ids for e in tok.encode_batch(documents)]
    model(torch.tensor([encodings[0][:512]]))  # warm-up
    start = time.perf_counter()
    for i in range(0, len(encodings), batch_size):
        chunk = encodings[i : i + batch_size]
        longest = max(map(len, chunk))
        ids = torch.full((len(chunk), longest), tok.pad_id)
        mask = torch.zeros_like(ids)
        for row, e in enumerate(chunk):
            ids[row, : len(e)], mask[row, : len(e)] = torch.tensor(e), 1
        model(ids, mask)
    return time.perf_counter() - start, sum(map(len, encodings))


def sparklong_pipeline(folder: str, batch_size: int, quantize: str = "none", precision: str = "auto"):
    from pyspark.ml import Pipeline

    from sparklong import DocumentAssembler, LongformerEmbeddings, SentenceEmbeddings, Tokenizer

    embeddings = LongformerEmbeddings.loadSavedModel(folder).setInputCols("document", "token")
    return Pipeline(stages=[
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        Tokenizer().setInputCols(["document"]).setOutputCol("token"),
        embeddings.setBatchSize(batch_size).setQuantize(quantize).setPrecision(precision),
        SentenceEmbeddings().setInputCols(["document", "embeddings"]).setOutputCol("sentence_embeddings"),
    ])


def transformers_udf(folder: str, batch_size: int):
    """What a user writes without sparklong: HF LongformerModel in predict_batch_udf, mean-pooled."""
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.types import ArrayType, FloatType

    def make_predict_fn():
        from transformers import LongformerModel, LongformerTokenizerFast

        model = LongformerModel.from_pretrained(folder).eval()
        tokenizer = LongformerTokenizerFast.from_pretrained(folder)

        def predict(texts: np.ndarray) -> np.ndarray:
            enc = tokenizer(list(texts), padding=True, truncation=True, max_length=4096, return_tensors="pt")
            with torch.no_grad():
                hidden = model(**enc).last_hidden_state  # [B, L, H]
            mask = enc["attention_mask"][..., None]
            return ((hidden * mask).sum(1) / mask.sum(1)).numpy()

        return predict

    return predict_batch_udf(make_predict_fn, return_type=ArrayType(FloatType()), batch_size=batch_size)


RUNS = ("sparklong_pipeline", "sparklong_pipeline_int8", "sparklong_pipeline_bf16", "transformers_predict_batch_udf")


def make_run(name: str, folder: str, batch_size: int, spark):
    """df -> the DataFrame this run computes, for one of RUNS."""
    if name == "transformers_predict_batch_udf":
        hf_udf = transformers_udf(folder, batch_size)
        return lambda df: df.select(hf_udf("text").alias("vector"))
    quantize = "int8" if name.endswith("_int8") else "none"
    precision = "bfloat16" if name.endswith("_bf16") else "auto"
    pipeline = sparklong_pipeline(folder, batch_size, quantize, precision).fit(spark.createDataFrame([("x",)], ["text"]))
    return lambda df: pipeline.transform(df).select("sentence_embeddings")


def time_spark(spark, documents: list[str], run) -> float:
    rows = spark.sparkContext.parallelize([(d,) for d in documents], 2)  # even split over the 2 cores
    df = spark.createDataFrame(rows, ["text"]).cache()
    df.count()
    start = time.perf_counter()
    run(df).write.format("noop").mode("overwrite").save()
    return time.perf_counter() - start


def ratios_over(tps: dict, base: str) -> dict:
    """{"speed_ratio_over_<base>": {run: its tokens/s over base's}} when base ran, else {}."""
    if base not in tps:
        return {}
    return {f"speed_ratio_over_{base}": {k: v / tps[base] for k, v in tps.items() if k not in (base, "engine_alone")}}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=16)
    p.add_argument("--tokens", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    args = p.parse_args(argv)

    texts = read_corpus()
    folder = build_model(texts)
    documents = long_documents(texts, folder, args.docs, args.tokens)
    import sparklong

    spark = sparklong.start("local[2]")
    runs = {name: make_run(name, folder, args.batch_size, spark) for name in args.runs}
    warmup = [d[:400] for d in documents[:2]] * 2  # loads each model in both workers before timing
    for name, run in runs.items():
        log(f"warm-up: {name}")
        time_spark(spark, warmup, run)
    seconds: dict[str, list[float]] = {name: [] for name in [*runs, "engine_alone"]}
    tokens = 0
    for r in range(args.repeats):
        for name, run in runs.items():
            log(f"repeat {r}: {name}")
            seconds[name].append(time_spark(spark, documents, run))
        log(f"repeat {r}: engine_alone")
        elapsed, tokens = time_engine_alone(folder, documents, args.batch_size)
        seconds["engine_alone"].append(elapsed)
    median = {k: statistics.median(v) for k, v in seconds.items()}
    tps = {k: tokens / v for k, v in median.items()}
    print(json.dumps({
        "documents": len(documents), "tokens": tokens, "batch_size": args.batch_size, "master": "local[2]",
        "seconds": seconds, "median_seconds": median, "tokens_per_second": tps,
        "speed_ratio_over_engine_alone": {k: v / tps["engine_alone"] for k, v in tps.items() if k != "engine_alone"},
        **ratios_over(tps, "transformers_predict_batch_udf"), **ratios_over(tps, "sparklong_pipeline"),
        "machine": machine_info("cpu"), "load_average_1_5_15min": os.getloadavg(),
    }, indent=2))
    spark.stop()


if __name__ == "__main__":
    main()
