"""The jobs on S3 as a user runs them: an S3 API served on 127.0.0.1 by moto's server (started here, one for
the module), endpoint and keys in the standard AWS environment variables (for the driver, the fault drivers'
processes, and the shared session's executors through spark.executorEnv, as on a cluster). For parquet and
for delta: a run, a rerun that does nothing, an incremental run, and a second writer (parquet: a live lock
holder refuses it; delta: a commit that lands first); jobs/search.py with --index s3://... on both. make
test runs delta's; slow (make test-all): parquet's, and both formats' drivers SIGKILLed mid-run (processes of
their own) then rerun, every id once."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from sparklong.jobs.embed_corpus import SPEC as EMBED
from sparklong.jobs.runner import main
from sparklong.jobs.search import main as search
from sparklong.jobs.writer_lock import WriterLock
from sparklong.storage.output_folder import OutputFolder
from job_runs import assert_same_vectors, by_id, embed_args, kill_when, read, read_delta
from test_delta_jobs import commits_first
from test_job_faults import fault_driver, job_args

pytest.importorskip("deltalake")
pytest.importorskip("moto.server")
BUCKET = "sparklong-test"


@pytest.fixture(scope="module")
def s3(spark):
    """A moto S3 server on loopback (a process of its own: delta-rs calls that hold the GIL would starve a
    server thread in this process), a bucket, and the AWS variables set for this process and the executors."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while socket.socket().connect_ex(("127.0.0.1", port)) and time.monotonic() < deadline:
        time.sleep(0.1)
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test-key",
           "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
    saved, executors = {k: os.environ.get(k) for k in env}, spark.sparkContext.environment
    os.environ.update(env)
    executors.update(env)  # spark.executorEnv.*: what a cluster's executors would be given
    import boto3  # moto's own dependency

    boto3.client("s3").create_bucket(Bucket=BUCKET)
    yield env
    for key, value in saved.items():
        executors.pop(key, None)
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.kill()
    server.wait()


def names(uri: str, under: str = "") -> list[str]:
    """Every object's path under `uri`/`under` (recursive), relative to `uri`."""
    folder = OutputFolder(uri)
    selector = pafs.FileSelector(folder.path(under), recursive=True, allow_not_found=True)
    return [i.path[len(folder.base) + 1:] for i in folder.fs.get_file_info(selector) if i.type == pafs.FileType.File]


def read_s3_parquet(uri: str) -> dict:
    folder = OutputFolder(uri)
    return by_id(pq.read_table(folder.base, filesystem=folder.fs).to_pylist())  # names starting with _ skipped


@pytest.fixture(scope="module")
def reference_run(s3, job_corpus, tmp_path_factory):
    """The session's job corpus and its local reference output (conftest.job_corpus), a folder of this
    module's own."""
    return {"corpus": job_corpus, "root": tmp_path_factory.mktemp("object_store")}


def run(capsys, args, spark, spec=EMBED):
    code = main(spec, args, spark)
    out, err = capsys.readouterr()
    assert s3_secret() not in out + err  # credentials are never printed
    return code, out, err


def s3_secret() -> str:
    return os.environ["AWS_SECRET_ACCESS_KEY"]


def changed_docs(reference_run) -> str:
    """The corpus with one id removed, one changed and one added, as a local parquet file."""
    docs = [d for d in reference_run["corpus"]["docs"] if d["id"] != "doc02"]
    docs = [{**d, "text": d["text"] + " Changed."} if d["id"] == "doc07" else d for d in docs]
    docs.append({"id": "new00", "text": reference_run["corpus"]["docs"][9]["text"][::-1]})
    path = reference_run["root"] / "docs2.parquet"
    pd.DataFrame(docs).to_parquet(path)
    return str(path)


def s3_args(reference_run, kind: str, docs: str | None = None, prefix: str = "") -> list[str]:
    out = f"s3://{BUCKET}/{prefix}{kind}/plain/out"
    args = embed_args(reference_run["corpus"], out, shard_rows=4) + ["--output-format", kind]
    if docs:
        args[args.index("--input") + 1] = docs
    return args


def search_results(reference_run, index: str, output, spark, capsys) -> list[dict]:
    """jobs/search.py over `index` with three queries (the first 80 characters of three documents)."""
    queries = output.parent / f"{output.name}.queries.jsonl"
    texts = [d["text"][:80] for d in reference_run["corpus"]["docs"] if d["text"] and d["text"].strip()][:3]
    pd.DataFrame({"query_id": range(len(texts)), "query": texts}).to_json(queries, orient="records", lines=True)
    args = ["--index", index, "--queries", str(queries), "--top-k", "3", "--model", reference_run["corpus"]["model"],
            "--output", str(output)]
    assert search(args, spark) == 0, capsys.readouterr().err
    return pq.read_table(output).to_pylist()


# ~20 s: make test runs delta on S3 (the format docs/jobs.md recommends there); parquet's lock race is
# tested locally (test_writer_lock.py), its S3 storage path here
@pytest.mark.slow
def test_parquet_on_s3(reference_run, spark, capsys, tmp_path):
    out = f"s3://{BUCKET}/parquet/plain/out"
    code, printed, err = run(capsys, s3_args(reference_run, "parquet"), spark)
    assert code == 0, err
    assert_same_vectors(read_s3_parquet(out), read(reference_run["corpus"]["reference"]))
    assert not [n for n in names(out) if n.startswith(("_staging", "_sparklong_lock"))]
    code, printed, _ = run(capsys, s3_args(reference_run, "parquet"), spark)
    assert code == 0 and "nothing to do" in printed
    local = search_results(reference_run, str(reference_run["corpus"]["reference"]), tmp_path / "local", spark, capsys)
    assert search_results(reference_run, out, tmp_path / "s3", spark, capsys) == local  # an S3 parquet index

    code, printed, err = run(capsys, s3_args(reference_run, "parquet", changed_docs(reference_run)) + ["--incremental"], spark)
    assert code == 0 and "done: 2 documents embedded, 10 kept, 1 removed" in printed, printed + err
    rows = read_s3_parquet(out)
    assert "doc02" not in rows and "new00" in rows and len(rows) == 12

    holder = WriterLock(OutputFolder(out), "20261207T000000-other")
    holder.take()
    try:
        code, _, err = run(capsys, s3_args(reference_run, "parquet"), spark)
    finally:
        holder.release()
    assert code == 1 and len(err.strip().splitlines()) == 1 and "is being written by run 20261207T000000-other" in err


def test_delta_on_s3(reference_run, spark, capsys, tmp_path):
    from deltalake import DeltaTable

    out = f"s3://{BUCKET}/delta/plain/out"
    code, printed, err = run(capsys, s3_args(reference_run, "delta"), spark)
    assert code == 0, err
    assert_same_vectors(read_delta(out), read(reference_run["corpus"]["reference"]))
    assert len(DeltaTable(out).history()) == 1
    code, printed, _ = run(capsys, s3_args(reference_run, "delta"), spark)
    assert code == 0 and "nothing to do" in printed and len(DeltaTable(out).history()) == 1

    incremental = s3_args(reference_run, "delta", changed_docs(reference_run)) + ["--incremental"]
    code, printed, err = run(capsys, incremental, spark, commits_first(EMBED, out, str(tmp_path / "other")))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "changed while this run wrote it" in err, err
    code, printed, err = run(capsys, incremental, spark)
    assert code == 0 and "done: 2 documents embedded, 10 kept, 1 removed" in printed, printed + err
    assert DeltaTable(out).version() == 2  # the run, the other commit, the incremental run
    assert_same_vectors(read_delta(out, version=0), read(reference_run["corpus"]["reference"]))
    assert "doc02" not in read_delta(out) and "new00" in read_delta(out)


def test_search_an_index_on_s3(reference_run, spark, capsys, tmp_path):
    """The S3 Delta index holds the incremental run's rows: three results a query, ranked, from its ids."""
    results = search_results(reference_run, f"s3://{BUCKET}/delta/plain/out", tmp_path / "delta", spark, capsys)
    assert len(results) == 9 and [r["rank"] for r in results[:3]] == [1, 2, 3]
    assert {r["id"] for r in results} <= set(read_delta(f"s3://{BUCKET}/delta/plain/out"))


@pytest.mark.slow  # ~4 minutes on 2 cores: two fault drivers, each a Spark driver process of its own
def test_drivers_killed_mid_run_on_s3_then_rerun_write_every_id_once(reference_run, spark, capsys):
    """Parquet and delta fault drivers (outputs on S3) run at once, each SIGKILLed once a task has committed
    a shard (parquet: a part file; delta: a shard's data file and commit record, before the run's one
    commit); a rerun completes each output with every id once."""
    root, corpus = reference_run["root"], reference_run["corpus"]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    kinds = {"parquet": lambda out: any(n.startswith("part-") for n in names(out)),
             "delta": lambda out: any("/commits/" in n for n in names(out, "_staging"))}

    def kill(kind):
        command = fault_driver("local[2]", ["plain"], job_args(corpus) + ["--output-format", kind], root / kind,
                               f"s3://{BUCKET}/reference_run-{kind}")
        return kill_when(command, f"s3://{BUCKET}/reference_run-{kind}/plain/out", env, root / f"{kind}.log", kinds[kind],
                         timeout_s=400)

    with ThreadPoolExecutor(2) as pool:
        started = dict(zip(kinds, pool.map(kill, kinds)))
    reference = read(corpus["reference"])
    for kind in kinds:
        assert started[kind], (root / f"{kind}.log").read_text()[-3000:]
    assert not names(f"s3://{BUCKET}/reference_run-delta/plain/out", "_delta_log")  # reference_run before its commit
    for kind, read_output in (("parquet", read_s3_parquet), ("delta", read_delta)):
        code, _, err = run(capsys, s3_args(reference_run, kind, prefix="reference_run-"), spark)
        assert code == 0, err
        assert_same_vectors(read_output(f"s3://{BUCKET}/reference_run-{kind}/plain/out"), reference)
