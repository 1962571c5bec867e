"""--output-format delta on the shared session: a Delta table equal to the parquet output, one version per
run (a rerun adds none), the manifest's checks read from the commit info, --incremental as one version with
the one before still readable, chunks and answers; a commit that lands first makes the run fail with one
line. Kills: test_delta_faults.py; on S3: test_object_store.py."""
from __future__ import annotations

import dataclasses
import json
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet  # noqa: F401  pa.parquet
import pytest

from sparklong.jobs.embed_corpus import SPEC as EMBED
from sparklong.jobs.runner import main
from sparklong.jobs.search import main as search
from job_runs import assert_same_vectors, embed_args, read, read_delta

deltalake = pytest.importorskip("deltalake")


@pytest.fixture(scope="module")
def corpus(job_corpus):
    return job_corpus  # conftest.job_corpus: its "reference" is the parquet output of the same arguments


def delta_args(corpus, output, docs=None) -> list[str]:
    args = embed_args(corpus, output, shard_rows=4) + ["--output-format", "delta"]
    if docs is not None:
        args[args.index("--input") + 1] = str(docs)
    return args


def run(capsys, args, spark, spec=EMBED):
    code = main(spec, args, spark)
    out, err = capsys.readouterr()
    return code, out, err


def history(table) -> list[dict]:
    """The table's commits, oldest first."""
    return deltalake.DeltaTable(str(table)).history()[::-1]


def test_delta_table_equals_parquet_and_incremental_is_one_version(spark, corpus, tmp_path, capsys):
    table, parquet = tmp_path / "table", corpus["reference"]
    code, out, err = run(capsys, delta_args(corpus, table), spark)
    assert code == 0, err
    assert "version 0 of " in out and "3 files added, 0 removed" in out
    assert_same_vectors(read_delta(table), read(parquet))
    first = history(table)
    assert len(first) == 1 and first[0]["sparklong"]["model_version"].startswith("sha256:")
    assert first[0]["sparklong"]["shards"] == 3 and first[0]["sparklong"]["rows"] == 12
    actions = pa.table(deltalake.DeltaTable(str(table)).get_add_actions(flatten=True)).to_pydict()
    assert sum(actions["num_records"]) == 12 and min(actions["min.id"]) == "doc00"  # stats for readers' skipping
    assert deltalake.DeltaTable(str(table)).transaction_version("sparklong.embed_corpus") == 0

    code, out, _ = run(capsys, delta_args(corpus, table), spark)  # a rerun: nothing to do, no version
    assert code == 0 and "nothing to do" in out and len(history(table)) == 1
    code, _, err = run(capsys, delta_args(corpus, table) + ["--pooling", "average"], spark)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "--overwrite" in err, err

    docs = [d for d in corpus["docs"] if d["id"] != "doc02"]  # one removed, one changed, one added
    docs = [{**d, "text": d["text"] + " Changed."} if d["id"] == "doc07" else d for d in docs]
    docs.append({"id": "new00", "text": corpus["docs"][9]["text"][::-1]})
    pd.DataFrame(docs).to_parquet(tmp_path / "docs2.parquet")
    code, out, err = run(capsys, delta_args(corpus, table, tmp_path / "docs2.parquet") + ["--incremental"], spark)
    assert code == 0, err
    assert "done: 2 documents embedded, 10 kept, 1 removed" in out, out
    fresh = tmp_path / "fresh"
    fresh_args = embed_args(corpus, fresh, shard_rows=4)
    fresh_args[fresh_args.index("--input") + 1] = str(tmp_path / "docs2.parquet")
    assert run(capsys, fresh_args, spark)[0] == 0
    assert_same_vectors(read_delta(table), read(fresh))  # tonight's version: a fresh run's rows
    assert_same_vectors(read_delta(table, version=0), read(parquet))  # last night's still readable
    assert [c["version"] for c in history(table)] == [0, 1]
    assert history(table)[1]["sparklong"]["input"].endswith("docs2.parquet")

    # search reads the latest version, or the one --version names: doc02 (removed tonight) only in version 0
    queries = tmp_path / "queries.jsonl"
    pd.DataFrame({"query_id": [0], "query": [corpus["docs"][2]["text"]]}).to_json(queries, orient="records", lines=True)
    found = {}
    for version in ([], ["--version", "0"]):
        out_dir = tmp_path / f"search{''.join(version)}"
        args = ["--index", str(table), "--queries", str(queries), "--top-k", "12", "--model", corpus["model"],
                "--output", str(out_dir), *version]
        assert search(args, spark) == 0, capsys.readouterr().err
        found[bool(version)] = [r["id"] for r in pa.parquet.read_table(out_dir).to_pylist()]
    assert found[True][0] == "doc02" and "doc02" not in found[False] and "new00" in found[False]
    assert len(found[True]) == len(found[False]) == 9  # the documents with text, in each version

    code, _, err = run(capsys, embed_args(corpus, table, shard_rows=4), spark)  # the parquet format over it
    assert code == 1 and "is a Delta table: pass --output-format delta" in err and err.count("\n") == 1


def test_chunks_and_answers_as_delta_tables(spark, corpus, tmp_path, capsys):
    from sparklong.jobs.answer_questions import SPEC as QA
    from tiny_models import save_model_folder

    code, _, err = run(capsys, delta_args(corpus, tmp_path / "chunks") + ["--granularity", "chunks",
                                                                          "--chunk-pieces", "24"], spark)
    assert code == 0, err
    rows = deltalake.DeltaTable(str(tmp_path / "chunks")).to_pyarrow_table().to_pylist()
    texts = {d["id"]: d["text"] for d in corpus["docs"]}
    assert {r["id"] for r in rows} == set(texts) and len({(r["id"], r["chunk"]) for r in rows}) == len(rows)
    assert len(rows) > len(texts)  # several chunks per long document
    for r in rows:
        if r["chunk"] is not None:
            assert r["text"] == texts[r["id"]][r["begin"]:r["end"] + 1]

    model = str(tmp_path / "qa_model")
    save_model_folder(model, task="question_answering")
    context = corpus["docs"][10]["text"]
    pd.DataFrame([{"id": i, "question": q, "context": context} for i, q in enumerate(["Who?", "What?", None])]) \
        .to_parquet(tmp_path / "qa.parquet")
    args = ["--input", str(tmp_path / "qa.parquet"), "--output", str(tmp_path / "answers"), "--model", model,
            "--output-format", "delta"]
    code, _, err = run(capsys, args, spark, QA)
    assert code == 0, err
    answers = read_delta(tmp_path / "answers")
    assert sorted(answers) == [0, 1, 2] and answers[2]["answer"] is None
    assert answers[0]["answer"] == context[answers[0]["begin"]:answers[0]["end"] + 1]
    assert run(capsys, args, spark, QA)[0] == 0 and len(history(tmp_path / "answers")) == 1


def commits_first(spec, table: str, marker: str):
    """`spec` whose model output passes a UDF that, in the first task to reach it (`marker`, a local file,
    not there yet), commits a version to `table` (as another run would): the run's own commit then comes
    second."""
    from pyspark import cloudpickle
    from pyspark.sql import functions as F

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests folder

    @F.udf("int")
    def other_run_commits(tokens):
        import os

        from deltalake import DeltaTable
        from deltalake.transaction import CommitProperties

        if not os.path.exists(marker):
            open(marker, "w").close()
            other = DeltaTable(table)
            other.create_write_transaction([], "append", other.schema(),
                                           commit_properties=CommitProperties(custom_metadata={"by": "other"}))
        return tokens

    def transform(args, model):
        built = spec.transform(args, model)
        return dataclasses.replace(built, run=lambda frame, carry: built.run(frame, carry).withColumn(
            "n_tokens", other_run_commits("n_tokens")))

    return dataclasses.replace(spec, transform=transform)


@pytest.mark.slow  # ~8 s; make test has the same race on S3 (test_object_store.py::test_delta_on_s3)
def test_a_run_whose_table_changed_meanwhile_fails_with_one_line(spark, corpus, tmp_path, capsys):
    table = tmp_path / "table"
    assert run(capsys, delta_args(corpus, table), spark)[0] == 0
    docs = [{**d, "text": "Another text."} if d["id"] == "doc00" else d for d in corpus["docs"]]
    pd.DataFrame(docs).to_parquet(tmp_path / "docs2.parquet")
    args = delta_args(corpus, table, tmp_path / "docs2.parquet") + ["--incremental"]
    code, _, err = run(capsys, args, spark, commits_first(EMBED, str(table), str(tmp_path / "other_run")))
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "changed while this run wrote it" in err and "nothing of this run was committed" in err
    assert [c.get("by") for c in history(table)] == [None, "other"]  # the other commit alone
    assert read_delta(table)["doc00"]["embedding"] == read_delta(table, version=0)["doc00"]["embedding"]
    assert len([n for n in (table).iterdir() if n.name.startswith("part-")]) == 3  # the loser's files deleted
    code, out, err = run(capsys, args, spark)  # run again: it plans against the other's version
    assert code == 0 and "done: 1 documents embedded" in out, err
    assert [c["version"] for c in history(table)] == [0, 1, 2]
    assert json.dumps(history(table)[2]["sparklong"]["settings"]) == json.dumps(history(table)[0]["sparklong"]["settings"])
