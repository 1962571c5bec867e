"""jobs/search.py against a brute-force numpy search: a small embed_corpus index of the tiny model
(several partitions), a hand-made chunk index for --per-document, and one clear line for bad input.
Every run calls the job in this process on the shared Spark session."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.ml import PipelineModel

from sparklong import DocumentAssembler, LightPipeline, LongformerSentenceEmbeddings
from sparklong.jobs import search
from sparklong.jobs.embed_corpus import SPEC as EMBED
from sparklong.jobs.runner import main as run_job
from job_runs import WINDOW, embed_args, write_corpus
from tiny_models import save_model_folder

QUERIES = [("q1", "the government of the people"), ("q2", "Fellow-Citizens of the Senate"), ("q3", "war and peace"),
           ("q4", "   ")]  # blank: no results


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("search"))


@pytest.fixture(scope="module")
def index(spark, corpus):
    """The corpus embedded in 3 shards."""
    output = corpus["root"] / "index"
    assert run_job(EMBED, embed_args(corpus, output, shard_rows=8), spark) == 0
    return output


@pytest.fixture(scope="module")
def queries(corpus):
    path = corpus["root"] / "queries.jsonl"
    path.write_text("".join(json.dumps({"query_id": q, "query": t}) + "\n" for q, t in QUERIES))
    return path


@pytest.fixture
def small_splits(spark):
    """One partition per index file (at least): the scan and merge see more than one partition."""
    key = "spark.sql.files.maxPartitionBytes"
    before = spark.conf.get(key)
    spark.conf.set(key, "1024")
    yield
    spark.conf.set(key, before)


def run(capsys, *argv, spark):
    code = search.main([str(a) for a in argv], spark)
    out, err = capsys.readouterr()
    return code, out, err


def query_vectors(model: str, stage_cls=LongformerSentenceEmbeddings, prompt: str = "") -> dict:
    """{query_id: unit vector} as the job embeds them (embed_corpus's pipeline, the index's window)."""
    stage = stage_cls.loadSavedModel(model).setMaxSentenceLength(int(WINDOW)).setPrompt(prompt)
    light = LightPipeline(PipelineModel([DocumentAssembler().setInputCol("text"), stage]))
    vectors = {q: np.asarray(light.fullAnnotate(t)[0]["sentence_embeddings"][0].embeddings) for q, t in QUERIES[:3]}
    return {q: v / np.linalg.norm(v) for q, v in vectors.items()}


def brute_force(folder, queries: dict, k: int, per_document: bool = False) -> list[dict]:
    """Every (query, row) scored with numpy, sorted by score desc, id, chunk; the best k per query."""
    rows = [r for r in pq.read_table(str(folder)).to_pylist() if r["embedding"] is not None]
    found = []
    for q, vector in queries.items():
        scored = [{"query_id": q, "id": r["id"], "chunk": r.get("chunk"), "begin": r.get("begin"), "end": r.get("end"),
                   "score": float(np.dot(np.asarray(r["embedding"]) / np.linalg.norm(r["embedding"]), vector))}
                  for r in rows]
        scored.sort(key=lambda r: (-r["score"], r["id"], -1 if r["chunk"] is None else r["chunk"]))
        if per_document:  # each id's first (best) row
            seen = set()
            scored = [r for r in scored if r["id"] not in seen and not seen.add(r["id"])]
        found += [{**r, "rank": rank} for rank, r in enumerate(scored[:k], 1)]
    return found


def assert_same_results(output, expected: list[dict]) -> None:
    got = pq.read_table(str(output)).to_pylist()
    assert pq.read_schema(next(output.glob("*.parquet"))).names == \
        ["query_id", "rank", "id", "chunk", "begin", "end", "score"]
    assert [(r["query_id"], r["rank"], r["id"], r["chunk"], r["begin"], r["end"]) for r in got] == \
        [(r["query_id"], r["rank"], r["id"], r["chunk"], r["begin"], r["end"]) for r in expected]
    assert np.abs(np.array([r["score"] for r in got]) - np.array([r["score"] for r in expected])).max() <= 1e-5


@pytest.mark.parametrize("k", [5, 50])  # 50: more than the index holds
def test_top_k_equals_brute_force(spark, corpus, index, queries, small_splits, tmp_path, capsys, k):
    code, out, err = run(capsys, "--index", index, "--queries", queries, "--top-k", k, "--output", tmp_path / "out",
                         spark=spark)  # --model: the one the manifest names is a folder's name, so given below
    assert code == 1 and "pass --model" in err and len(err.strip().splitlines()) == 1
    code, out, err = run(capsys, "--index", index, "--queries", queries, "--top-k", k, "--model", corpus["model"],
                         "--output", tmp_path / "out", spark=spark)
    assert code == 0, err
    expected = brute_force(index, query_vectors(corpus["model"]), k)
    assert_same_results(tmp_path / "out", expected)
    assert len(expected) == 3 * min(k, 21)  # 24 documents, 3 of them blank; q4 is blank
    partitions = int(out.split(" partitions")[0].rsplit(" ", 1)[1])
    assert partitions > 1  # each partition kept its own top k, merged per query
    assert "1 queries are null or blank (for example 'q4')" in out
    assert f"done: {len(expected)} results for 3 queries from 21 vectors" in out.splitlines()[-1]


def test_results_on_stdout_without_output(spark, corpus, index, queries, capsys):
    code, out, err = run(capsys, "--index", index, "--queries", queries, "--top-k", 2, "--model", corpus["model"],
                         spark=spark)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["query_id"], r["rank"]) for r in rows] == [(q, n) for q in ("q1", "q2", "q3") for n in (1, 2)]
    assert "done: 6 results" in err


def chunk_index(index, folder, dim: int = 32):
    """A chunk index by hand (the layout of embed_corpus --granularity chunks) with the real index's
    manifest: 6 documents of 1-4 chunks in 3 files, doc2's chunks split over two files, doc4 a copy
    of doc1 (equal scores: the id breaks the tie)."""
    rng = np.random.default_rng(7)
    rows = [{"id": f"doc{d}", "chunk": c, "begin": 100 * c, "end": 100 * c + 99, "text": f"chunk {c} of doc{d}",
             "embedding": rng.normal(size=dim).astype(np.float32).tolist(), "n_tokens": 30}
            for d in range(6) for c in range(1 + d % 4)]
    for row in rows:
        if row["id"] == "doc4" and row["chunk"] < 2:
            row["embedding"] = next(r["embedding"] for r in rows if r["id"] == "doc1" and r["chunk"] == row["chunk"])
    folder.mkdir()
    shutil.copy(index / "_sparklong_job.json", folder / "_sparklong_job.json")
    (folder / "_SUCCESS").write_bytes(b"")
    frame = pd.DataFrame(rows)
    for n, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
        pq.write_table(pa.Table.from_pandas(frame.iloc[part], preserve_index=False),
                       folder / f"part-{n:05d}-of-00003.parquet")
    return folder


@pytest.mark.parametrize("per_document", [False, True])
def test_chunk_index_and_per_document(spark, corpus, index, queries, small_splits, tmp_path, capsys, per_document):
    chunks = chunk_index(index, tmp_path / "chunks")
    flags = ["--per-document"] if per_document else []
    code, out, err = run(capsys, "--index", chunks, "--queries", queries, "--top-k", 3, "--model", corpus["model"],
                         "--output", tmp_path / "out", *flags, spark=spark)
    assert code == 0, err
    expected = brute_force(chunks, query_vectors(corpus["model"]), 3, per_document)
    assert_same_results(tmp_path / "out", expected)
    if per_document:
        assert all(len({r["id"] for r in expected if r["query_id"] == q}) == 3 for q in ("q1", "q2", "q3"))


def test_bad_inputs_one_line_each(spark, corpus, index, queries, tmp_path, capsys):
    model = ["--model", corpus["model"]]
    empty = tmp_path / "empty.parquet"
    pd.DataFrame({"query_id": pd.Series([], dtype=str), "query": pd.Series([], dtype=str)}).to_parquet(empty)
    twice = tmp_path / "twice.jsonl"
    twice.write_text('{"query_id": "a", "query": "x"}\n{"query_id": "a", "query": "y"}\n')
    (tmp_path / "plain").mkdir()
    other_model = str(tmp_path / "other_model")
    save_model_folder(other_model, seed=1)
    narrow = chunk_index(index, tmp_path / "narrow", dim=16)
    (tmp_path / "taken").mkdir()
    (tmp_path / "bad_manifest").mkdir()
    (tmp_path / "bad_manifest" / "_sparklong_job.json").write_text("{not json")
    cases = [
        (["--index", tmp_path / "nothing", "--queries", queries, *model], "index", "does not exist"),
        (["--index", tmp_path / "plain", "--queries", queries, *model], "_sparklong_job.json", "embed_corpus"),
        (["--index", tmp_path / "bad_manifest", "--queries", queries, *model], "is not a sparklong job manifest",
         "rerun the job that writes this folder with --overwrite"),  # search's own --overwrite is for --output
        (["--index", index, "--queries", empty, *model], "hold no rows", str(empty)),
        (["--index", index, "--queries", twice, *model], "occur more than once", "'a'"),
        (["--index", index, "--queries", queries, "--query-col", "text", *model], "no column 'text'", "--query-col"),
        (["--index", narrow, "--queries", queries, *model], "16 dimensions", "32"),
        (["--index", index, "--queries", queries, "--model", other_model], "not the model", "--allow-other-model"),
        (["--index", index, "--queries", queries, "--per-document", *model], "--per-document", "chunk index"),
        (["--index", index, "--queries", queries, "--output", tmp_path / "taken", *model], "exists", "--overwrite"),
        (["--index", index, "--queries", queries, "--output", index, *model], "job's output", "another --output"),
    ]
    for argv, *words in cases:  # without --output, progress lines go to stderr too: the error is its last line
        code, _, err = run(capsys, *argv, spark=spark)
        errors = [line for line in err.splitlines() if line.startswith("search: error: ")]
        assert code == 1 and len(errors) == 1 and err.strip().endswith(errors[0]), (argv, err)
        assert all(w in errors[0] for w in words), (argv, err)
    code, _, err = run(capsys, "--index", index, "--queries", queries, "--model", other_model, "--allow-other-model",
                       spark=spark)
    assert code == 0, err


def test_the_executors_scan_only_the_scored_columns(spark, corpus, index, tmp_path):
    """The index goes through MapInArrow (scores per partition) and a per-query merge; the scan reads
    id, embedding, chunk, begin, end only (not the chunk text)."""
    from pyspark.sql.types import StringType

    from sparklong.jobs.model_ref import ModelRef

    chunks = chunk_index(index, tmp_path / "chunks")
    args = search.parser().parse_args(["--index", str(chunks), "--queries", "unused.jsonl"])
    job = search.Search(args, spark, search.open_index(str(chunks)), ModelRef("model", "sha256:0"))
    results, _ = job.results(job.index_frame(), ["q1"], np.ones((1, 32)) / np.sqrt(32), StringType())
    plan = results._jdf.queryExecution().executedPlan().toString()
    read = plan.split("ReadSchema: ")[1].split("\n")[0]
    assert "MapInArrow" in plan and "ArrowGroups" in plan.replace("FlatMapGroupsInArrow", "ArrowGroups")
    assert "embedding" in read and "text" not in read and "n_tokens" not in read
    assert len(results.collect()) == 10  # --top-k 10 of 15 chunks
