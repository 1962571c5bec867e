"""jobs/embed_corpus.py --granularity chunks: one row per chunk equal to the stage's annotations, (id, chunk)
unique, blank documents kept as one null row, a rerun changing nothing, an incremental run replacing or
dropping exactly the chunk rows of a changed or removed id, and the settings guarded by the manifest."""
from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pyspark.ml import PipelineModel

from sparklong import DocumentAssembler, LightPipeline, LongformerSentenceEmbeddings
from sparklong.jobs.embed_corpus import SPEC as EMBED
from sparklong.jobs.runner import main
from job_runs import WINDOW, committed_parts, embed_args, write_corpus

PIECES = "32"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("chunk_jobs"), count=10)


def chunk_args(corpus, output, *extra) -> list[str]:
    return embed_args(corpus, output, shard_rows=4) + ["--granularity", "chunks", "--chunk-pieces", PIECES, *extra]


def read_chunks(folder) -> dict:
    """{(id, chunk): row}; fails when an (id, chunk) is there twice."""
    rows = pq.read_table(str(folder)).to_pylist()
    by_key = {(r["id"], r["chunk"]): r for r in rows}
    assert len(by_key) == len(rows), f"{len(rows) - len(by_key)} (id, chunk) pairs came back twice"
    return by_key


def expected_chunks(model: str, doc: dict, stage_cls=LongformerSentenceEmbeddings, prompt: str = "") -> dict:
    """{(id, chunk): (begin, end, text, vector, pieces)} from the stage itself; one null row for blank text."""
    if doc["text"] is None or not doc["text"].strip():
        return {(doc["id"], None): (None, None, None, None, 0)}
    stage = stage_cls.loadSavedModel(model).setMaxSentenceLength(int(WINDOW)) \
        .setGranularity("chunks").setChunkPieces(int(PIECES)).setPrompt(prompt)
    pipeline = LightPipeline(PipelineModel([DocumentAssembler().setInputCol("text"), stage]))
    return {(doc["id"], int(a.metadata["chunk"])): (a.begin, a.end, a.result, np.asarray(a.embeddings),
                                                    int(a.metadata["pieces"]))
            for a in pipeline.fullAnnotate(doc["text"])[0]["sentence_embeddings"]}


def assert_rows_equal_stage(rows: dict, model: str, docs: list[dict], stage_cls=LongformerSentenceEmbeddings,
                            prompt: str = "") -> None:
    expected = {k: v for doc in docs for k, v in expected_chunks(model, doc, stage_cls, prompt).items()}
    assert sorted(rows, key=str) == sorted(expected, key=str)
    for key, (begin, end, text, vector, pieces) in expected.items():
        row = rows[key]
        assert (row["begin"], row["end"], row["text"], row["n_tokens"]) == (begin, end, text, pieces)
        if vector is None:
            assert row["embedding"] is None
        else:
            assert np.abs(np.asarray(row["embedding"]) - vector).max() <= 1e-5


@pytest.fixture(scope="module")
def chunk_output(spark, corpus):
    output = corpus["root"] / "chunks"
    assert main(EMBED, chunk_args(corpus, output), spark) == 0
    return output


def test_chunk_rows_equal_the_stage_and_a_rerun_changes_nothing(spark, corpus, chunk_output, capsys):
    rows = read_chunks(chunk_output)
    assert_rows_equal_stage(rows, corpus["model"], corpus["docs"])
    longest = corpus["docs"][-1]
    chunks = sorted(c for i, c in rows if i == longest["id"])
    assert chunks == list(range(len(chunks))) and len(chunks) > 3  # numbered from 0
    assert sum(rows[longest["id"], c]["n_tokens"] for c in chunks) > int(WINDOW)  # windowed
    for (i, c), row in rows.items():
        text = next(d["text"] for d in corpus["docs"] if d["id"] == i)
        if c is not None:
            assert text[row["begin"] : row["end"] + 1] == row["text"]
    manifest = json.loads((chunk_output / "_sparklong_job.json").read_text())
    assert manifest["settings"]["granularity"] == "chunks" and manifest["settings"]["chunk_pieces"] == int(PIECES)
    assert manifest["rows"] == len(corpus["docs"])  # documents, not chunks

    stamps = {p: os.stat(p).st_mtime_ns for p in committed_parts(chunk_output)}
    capsys.readouterr()
    assert main(EMBED, chunk_args(corpus, chunk_output), spark) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert {p: os.stat(p).st_mtime_ns for p in committed_parts(chunk_output)} == stamps

    # another granularity or chunk size is other work: refused before any model runs
    for other in (embed_args(corpus, chunk_output, shard_rows=4),
                  chunk_args(corpus, chunk_output)[:-1] + ["48"]):
        assert main(EMBED, other, spark) == 1
        assert "--overwrite" in capsys.readouterr().err


def test_incremental_run_replaces_and_drops_exactly_their_chunk_rows(spark, corpus, chunk_output, tmp_path, capsys):
    output = tmp_path / "chunks"
    os.system(f"cp -r {chunk_output} {output}")
    before = read_chunks(output)
    docs = [dict(d) for d in corpus["docs"]]
    changed, removed = docs[7], docs.pop(8)
    changed["text"] = changed["text"][:150] + " A changed ending."
    pd.DataFrame(docs).to_parquet(tmp_path / "docs.parquet")
    args = chunk_args(corpus, output, "--incremental")
    args[args.index("--input") + 1] = str(tmp_path / "docs.parquet")
    assert main(EMBED, args, spark) == 0
    out = capsys.readouterr().out
    assert "1 documents embedded, 8 kept, 1 removed" in out.splitlines()[-1]

    after = read_chunks(output)
    assert_rows_equal_stage({k: v for k, v in after.items() if k[0] == changed["id"]}, corpus["model"], [changed])
    assert not [k for k in after if k[0] == removed["id"]]
    untouched = {k: v for k, v in before.items() if k[0] not in (changed["id"], removed["id"])}
    assert {k: v for k, v in after.items() if k[0] not in (changed["id"], removed["id"])} == untouched


def test_chunks_need_a_mean_sentence_embeddings_stage(spark, corpus, tmp_path, capsys):
    for extra, reason in ((["--pooling", "cls"], "poolingStrategy"), (["--pooling", "average"], "LongformerSentence"),
                          (["--chunk-pieces", "0"], "chunkPieces")):
        assert main(EMBED, chunk_args(corpus, tmp_path / "bad", *extra), spark) == 1
        assert reason in capsys.readouterr().err
