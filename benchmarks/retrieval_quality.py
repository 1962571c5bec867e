"""Retrieval quality of three ways to embed long documents, on the bundled corpus and hand-judged queries.

One model embeds the addresses of examples/corpus three ways, one timed pass each, through the in-process
cores (no Spark). --model picks it: the demo's packaged all-MiniLM-L6-v2 (examples/demo.py MODELS, made in
$SPARKLONG_CACHE from the package's zip the first time) as trained (`native`: BERT, 512 positions, a long
address read in half-overlapping 512-token windows, each piece from its most central one) or converted to a
4,096-position Longformer (`converted`: convert_to_long, positions past 512 copies of the trained ones), or
any model folder. Windows are 4,096 tokens, or the model's positions where fewer:

- document: one MEAN vector per address (embed_documents: windows as above, each piece once);
- late:     late chunking (embed_chunks): each address read once in full (through the same windows), then
            one MEAN vector per run of at most --chunk-pieces pieces, the address scored by its best chunk;
- separate: the same runs of pieces cut out as text and each encoded alone (embed_documents on the
            chunk's text, `[CLS] chunk [SEP]`), the address scored by its best chunk.

Chunks are 510 pieces by default, so a separately encoded chunk is 512 positions with its special tokens:
all of them positions all-MiniLM-L6-v2 was trained on (native: the model as trained; converted: its attention
window, 256 pieces to each side, does not see a 512-position chunk whole). Queries are embedded as jobs/search.py does (MEAN,
one vector each); scores are cosine similarities. Reports recall@5 (share of a query's expected addresses
in its top 5, averaged over queries) and MRR (1 / rank of the first expected address), per method and per
query, and each pass's wall time. Prints one JSON object; --plot PATH draws the bars.

    .venv/bin/python benchmarks/retrieval_quality.py > benchmarks/results/retrieval_quality_native_cpu.json
    .venv/bin/python benchmarks/retrieval_quality.py --model converted > benchmarks/results/retrieval_quality_converted_cpu.json
    .venv/bin/python benchmarks/retrieval_quality.py --model FOLDER --repeats 3 --plot benchmarks/out/retrieval_quality.png
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
EXAMPLES = os.path.join(ROOT, "examples")
CORPUS = os.path.join(EXAMPLES, "corpus")
PACKAGED = ("native", "converted")  # --model names of the demo's two models (examples/demo.py MODELS)
METHODS = ("document", "late", "separate")
K = 5
MAX_SENTENCE_LENGTH = 4096  # tokens per window of document and late; a model with fewer positions cuts it to them

# query -> the addresses a reader would expect (file names of examples/corpus), and why
QUERIES = {
    # the War of 1812: Madison's second inaugural is a war speech against the British; Monroe's first
    # reviews the war just ended and the defences it taught the country to build
    "war with Great Britain": ["inaugural-1813-Madison.txt", "inaugural-1817-Monroe.txt"],
    # Roosevelt's first inaugural (banks failed, "putting people to work") and second ("one-third of a
    # nation ill-housed, ill-clad, ill-nourished")
    "the Great Depression and unemployment": ["inaugural-1933-Roosevelt.txt", "inaugural-1937-Roosevelt.txt"],
    # Eisenhower after Sputnik (satellites, missiles), Kennedy's two addresses of the moon programme
    "space exploration and the race to the moon": ["sotu-1958-Eisenhower.txt", "sotu-1962-Kennedy.txt",
                                                   "sotu-1963-Kennedy.txt"],
    # Johnson's 1964 address asks for the civil rights bill; 1966 for an end to discrimination in housing
    "civil rights and racial discrimination": ["sotu-1964-Johnson.txt", "sotu-1966-Johnson.txt"],
    # Buchanan on slavery in the territories; Lincoln on secession (1861) and slavery as the war's cause (1865)
    "slavery and the secession of the southern states": ["inaugural-1857-Buchanan.txt", "inaugural-1861-Lincoln.txt",
                                                         "inaugural-1865-Lincoln.txt"],
    # Johnson's 1966 address is largely about the war in Vietnam
    "the war in Vietnam": ["sotu-1966-Johnson.txt"],
    # Bush's addresses after September 11: the war on terror, the axis of evil, Afghanistan and Iraq
    "terrorism and the attacks of September 11": ["sotu-2002-GWBush.txt", "sotu-2006-GWBush.txt"],
    # the Carter Doctrine: the Soviet invasion of Afghanistan and the oil of the Persian Gulf
    "the Soviet invasion of Afghanistan and Persian Gulf oil": ["sotu-1980-Carter.txt"],
    # Bush's 1991 address during the Gulf War
    "liberating Kuwait from Iraq": ["sotu-1991-Bush-1.txt"],
    # Polk defends the annexation of Texas and claims Oregon
    "the annexation of Texas and the Oregon territory": ["inaugural-1845-Polk.txt"],
    # McKinley's second inaugural, after the war with Spain: Cuba and the Philippines
    "the war with Spain, Cuba and the Philippines": ["inaugural-1901-McKinley.txt"],
    # Nixon 1974 (the oil embargo's energy crisis) and Carter 1980 (oil imports, inflation)
    "the energy crisis and inflation": ["sotu-1974-Nixon.txt", "sotu-1980-Carter.txt"],
    # "government is the problem" (Reagan 1981, and 1986); "the era of big government is over" (Clinton 1996)
    "government is too big and taxes are too high": ["inaugural-1981-Reagan.txt", "sotu-1986-Reagan.txt",
                                                     "sotu-1996-Clinton.txt"],
    # Johnson declared the war on poverty in 1964 and defended it in 1966
    "the war on poverty": ["sotu-1964-Johnson.txt", "sotu-1966-Johnson.txt"],
    # Jefferson after the bitter election of 1800: "we are all Republicans, we are all Federalists"
    "reconciling political parties after a bitter election": ["inaugural-1801-Jefferson.txt"],
    # Jackson promises a just policy toward the Indian tribes (the removal era)
    "policy toward the Indian tribes": ["inaugural-1829-Jackson.txt"],
    # McKinley's first inaugural: the protective tariff, the currency and the gold standard
    "the protective tariff and sound money": ["inaugural-1897-McKinley.txt"],
    # Roosevelt in January 1941: democracy threatened by the dictatorships at war in Europe
    "democracy threatened by dictators abroad": ["inaugural-1941-Roosevelt.txt"],
    # Obama in January 2009, in the financial crisis: "our economy is badly weakened"
    "the financial crisis and a weakened economy": ["inaugural-2009-Obama.txt"],
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def documents_of(texts: list[str]) -> list[tuple]:
    """(DOCUMENT annotations,) per row, as the cores take them."""
    from sparklong.annotation import DOCUMENT, Annotation

    return [([Annotation(DOCUMENT, 0, len(t) - 1, t, {"sentence": "0"})],) for t in texts]


def vectors_of(rows: list[list]) -> tuple[np.ndarray, np.ndarray]:
    """[V, E] vectors of the cores' annotations and [V] the row (address) each came from."""
    owners = [r for r, annotations in enumerate(rows) for _ in annotations]
    return np.asarray([a.embeddings for annotations in rows for a in annotations], dtype=np.float32), np.asarray(owners)


def piece_chunk_texts(tokenizer, texts: list[str], pieces: int) -> tuple[list[str], list[int]]:
    """The texts of late chunking's piece runs (the same cuts), and the address each came from."""
    from sparklong.cores.late_chunks import piece_chunks
    from sparklong.cores.windows import encode_units

    chunks, owners = [], []
    for unit in encode_units(tokenizer, [docs for docs, in documents_of(texts)]):
        found = piece_chunks(unit, pieces)
        chunks += [unit.text[b : e + 1] for b, e in zip(found.begins.tolist(), found.ends.tolist())]
        owners += [unit.row] * len(found.starts)
    return chunks, owners


def embed(method: str, model, tokenizer, texts: list[str], pieces: int) -> tuple[np.ndarray, np.ndarray]:
    """One pass of `method` over the corpus: ([V, E] vectors, [V] address of each)."""
    from sparklong.cores.batching import Batching
    from sparklong.cores.document_embeddings import embed_documents
    from sparklong.cores.embedding_settings import EmbeddingSettings
    from sparklong.cores.late_chunks import embed_chunks

    settings = EmbeddingSettings(Batching(MAX_SENTENCE_LENGTH, batch_size=4))
    if method == "document":
        return vectors_of(embed_documents(model, tokenizer, documents_of(texts), settings))
    if method == "late":
        return vectors_of(embed_chunks(model, tokenizer, documents_of(texts), settings, pieces))
    chunks, owners = piece_chunk_texts(tokenizer, texts, pieces)
    vectors, _ = vectors_of(embed_documents(model, tokenizer, documents_of(chunks),
                                            EmbeddingSettings(Batching(pieces + 2, batch_size=16))))
    return vectors, np.asarray(owners)


def address_scores(queries: np.ndarray, vectors: np.ndarray, owners: np.ndarray, n: int) -> np.ndarray:
    """[Q, N] each address's best cosine similarity over its vectors."""
    from sparklong.jobs.top_k import unit_rows

    scores = unit_rows(queries) @ unit_rows(vectors).T  # [Q, V]
    best = np.full((len(queries), n), -np.inf)
    for q in range(len(queries)):
        np.maximum.at(best[q], owners, scores[q])
    return best


def quality(scores: np.ndarray, names: list[str], queries: dict = QUERIES) -> dict:
    """recall@K and MRR over the queries (scores [Q, N]), with each query's ranks of its expected addresses."""
    per_query, recalls, reciprocal = {}, [], []
    for row, (query, expected) in zip(scores, queries.items()):
        ranking = [names[i] for i in np.argsort(-row, kind="stable")]
        ranks = {name: ranking.index(name) + 1 for name in expected}
        recalls.append(sum(r <= K for r in ranks.values()) / len(expected))
        reciprocal.append(1 / min(ranks.values()))
        per_query[query] = {"expected_ranks": ranks, "top_5": ranking[:K]}
    return {f"recall_at_{K}": round(float(np.mean(recalls)), 4), "mrr": round(float(np.mean(reciprocal)), 4),
            "per_query": per_query}


def run(args) -> dict:
    from sparklong.cores.document_embeddings import embed_documents
    from sparklong.cores.embedding_settings import EmbeddingSettings
    from sparklong.cores.windows import encode_units
    from sparklong.jobs.inputs import decode_text
    from sparklong.udfs.model_cache import get_model, get_tokenizer

    names = sorted(n for n in os.listdir(args.corpus) if n.endswith(".txt"))
    texts = [decode_text(open(os.path.join(args.corpus, n), "rb").read()) for n in names]
    model, tokenizer = get_model(args.model, "embeddings", "torch", "cpu"), get_tokenizer(args.model, False)
    queries, _ = vectors_of(embed_documents(model, tokenizer, documents_of(list(QUERIES)), EmbeddingSettings()))
    pieces = sum(len(u.ids) for u in encode_units(tokenizer, [docs for docs, in documents_of(texts)]))
    results, times = {}, {m: [] for m in METHODS}
    for r in range(args.repeats):
        for method in METHODS if r % 2 == 0 else METHODS[::-1]:  # alternate the order between repeats
            start = time.perf_counter()
            vectors, owners = embed(method, model, tokenizer, texts, args.chunk_pieces)
            times[method].append(round(time.perf_counter() - start, 2))
            log(f"repeat {r + 1}: {method}: {len(vectors):,} vectors in {times[method][-1]:.1f} s")
            results[method] = {"vectors": len(vectors),
                               **quality(address_scores(queries, vectors, owners, len(names)), names)}
    for method in METHODS:
        median = statistics.median(times[method])
        results[method].update(embed_all_s=times[method], embed_median_s=median, pieces_per_s=round(pieces / median),
                               time_ratio_over_document=round(median / statistics.median(times["document"]), 3))
    return {"corpus": os.path.relpath(args.corpus, ROOT), "addresses": len(names), "pieces": pieces,
            "queries": dict(QUERIES), "results": results}


def plot(report: dict, path: str) -> None:
    from run_record import pyplot_for

    plt = pyplot_for(path)
    if plt is None:
        return
    results = report["results"]
    x = np.arange(len(METHODS))
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for offset, (key, label) in zip((-0.2, 0.2), ((f"recall_at_{K}", f"recall@{K}"), ("mrr", "MRR"))):
        bars = ax.bar(x + offset, [results[m][key] for m in METHODS], 0.4, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_xticks(x, [f"{m}\n{results[m]['vectors']:,} vectors, {results[m]['embed_median_s']:.0f} s" for m in METHODS])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (higher is better)")
    ax.set_title(f"Retrieval on {report['addresses']} addresses, {len(report['queries'])} queries "
                 f"({report['config']['model']})", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    log(f"plot: {path}")


def model_folder(choice: str) -> str:
    """--model: one of PACKAGED (the demo's folder in the cache, made the first time) or a model folder."""
    if choice in PACKAGED:
        if EXAMPLES not in sys.path:
            sys.path.insert(0, EXAMPLES)
        import demo

        with contextlib.redirect_stdout(sys.stderr):  # the model package prints on import; stdout is the JSON
            return demo.model_folder(choice, say=log)
    if not os.path.isfile(os.path.join(choice, "config.json")):
        raise SystemExit(f"no model at {choice}: pass --model {' or '.join(PACKAGED)} or a model folder")
    return choice


def main() -> None:
    from run_record import RunClock, machine_info

    from sparklong.cores.batching import window_length
    from sparklong.models.architectures import read_config

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="native", help=f"{', '.join(PACKAGED)} (all-MiniLM-L6-v2 as the demo "
                   "makes it: as trained or converted to 4,096 positions; default native) or a model folder")
    p.add_argument("--corpus", default=CORPUS, help="a folder of .txt files (default: examples/corpus)")
    p.add_argument("--chunk-pieces", type=int, default=510, help="pieces per chunk, late and separate (default 510)")
    p.add_argument("--repeats", type=int, default=1, help="timed passes per method (default 1)")
    p.add_argument("--plot", metavar="PATH")
    args = p.parse_args()
    args.model = model_folder(args.model)

    clock = RunClock()
    config = read_config(args.model)
    report = {"machine": machine_info("cpu"),
              "config": {"model": os.path.basename(args.model.rstrip("/")), "model_type": config.model_type,
                         "positions": config.max_tokens, "chunk_pieces": args.chunk_pieces, "repeats": args.repeats,
                         "k": K, "max_sentence_length": MAX_SENTENCE_LENGTH,
                         "window": window_length(MAX_SENTENCE_LENGTH, config.max_tokens)}}
    log(f"{report['config']['model']}: {config.model_type}, windows of {report['config']['window']:,} tokens")
    report.update(run(args))
    report.update(clock.record())
    print(json.dumps(report, indent=2))
    if args.plot:
        plot(report, args.plot)


if __name__ == "__main__":
    main()
