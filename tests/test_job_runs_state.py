"""The runner's state on the shared session: incremental runs (new, changed and removed ids), ids that
are null or duplicated, the writer lock, the input read once per run, and what killed runs leave behind."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sparklong.jobs.embed_corpus import SPEC as EMBED
from sparklong.jobs.runner import main
from sparklong.jobs.writer_lock import LOCK
from job_runs import WINDOW, assert_same_vectors, read, write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("state"))


def run(capsys, corpus, docs_path, output, *extra, spark):
    code = main(EMBED, ["--input", str(docs_path), "--output", str(output), "--model", corpus["model"],
                        "--shard-rows", "6", "--max-sentence-length", WINDOW, *extra], spark)
    out, err = capsys.readouterr()
    return code, out, err


def write_docs(path, docs: list[dict]) -> str:
    pd.DataFrame(docs).to_parquet(path)
    return str(path)


def done_line(out: str) -> str:
    return [line for line in out.splitlines() if ": done: " in line][-1]


def test_incremental_run_embeds_new_and_changed_ids_drops_removed_and_keeps_the_rest(spark, corpus, tmp_path,
                                                                                      capsys):
    docs = corpus["docs"]
    first = write_docs(tmp_path / "v1.parquet", docs)
    output = tmp_path / "out"
    code, _, err = run(capsys, corpus, first, output, spark=spark)
    assert code == 0, err
    before = read(output)

    grown = [d for d in docs if d["id"] not in ("doc01", "doc02")]  # two removed
    grown = [{**d, "text": d["text"] + " Changed."} if d["id"] == "doc06" else d for d in grown]  # one changed
    grown += [{"id": "new00", "text": docs[7]["text"][::-1]}, {"id": "new01", "text": None}]  # two added
    second = write_docs(tmp_path / "v2.parquet", grown)

    code, _, err = run(capsys, corpus, second, output, spark=spark)  # a plain run refuses another input
    assert code == 1 and "--incremental" in err and len(err.strip().splitlines()) == 1

    code, out, err = run(capsys, corpus, second, output, "--incremental", spark=spark)
    assert code == 0, err
    assert "done: 3 documents embedded, 21 kept, 2 removed" in done_line(out)
    after = read(output)
    fresh = tmp_path / "fresh"
    assert run(capsys, corpus, second, fresh, spark=spark)[0] == 0
    assert_same_vectors(after, read(fresh))  # what a fresh run over the new input gives
    for key in set(before) & set(after) - {"doc06"}:  # kept as written, not recomputed
        assert before[key]["embedding"] == after[key]["embedding"]
    assert not np.allclose(before["doc06"]["embedding"], after["doc06"]["embedding"])
    manifest = json.loads((output / "_sparklong_job.json").read_text())
    assert manifest["rows"] == len(grown) and manifest["input"] == second

    code, out, _ = run(capsys, corpus, second, output, "--incremental", spark=spark)
    assert code == 0 and "nothing to do" in out
    code, _, err = run(capsys, corpus, second, output, "--incremental", "--pooling", "cls", spark=spark)
    assert code == 1 and "--overwrite" in err  # a setting change still refuses


@pytest.mark.parametrize("case", ["duplicate", "null"])
def test_bad_ids_are_an_error_before_any_work(spark, corpus, tmp_path, capsys, case):
    docs = corpus["docs"][:8]
    if case == "duplicate":
        docs = docs + [dict(docs[2]), dict(docs[5]), dict(docs[5])]
        expected = "2 ids occur more than once in the input's id column (for example 'doc02')"
    else:
        docs = docs + [{"id": None, "text": "no id"}]
        expected = "1 input rows have a null id"
    code, out, err = run(capsys, corpus, write_docs(tmp_path / "docs.parquet", docs), tmp_path / "out", spark=spark)
    assert code == 1 and len(err.strip().splitlines()) == 1 and expected in err, err
    assert not any(n.startswith("part-") for n in os.listdir(tmp_path / "out")) and LOCK not in os.listdir(tmp_path / "out")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("holder", ["live", "stale_file", "dead_process", "unreadable"])
def test_one_writer_per_folder(spark, corpus, tmp_path, capsys, holder):
    """Another host's lock is live while its file is younger than 120 s, whatever its heartbeat field says
    (the hosts' clocks may differ); a lock of this host's dead process is taken over at once (WriterLock's
    own rules: test_writer_lock.py)."""
    output = tmp_path / "out"
    output.mkdir()
    now = time.time()
    record = {"run": "other-run", "host": "elsewhere", "pid": 4242, "started": now - 60, "heartbeat": now}
    if holder == "dead_process":
        record.update(host=socket.gethostname(), pid=_dead_pid())
    (output / LOCK).write_text("{not json" if holder == "unreadable" else json.dumps(record))
    if holder == "stale_file":
        os.utime(output / LOCK, (now - 3600, now - 3600))
    code, out, err = run(capsys, corpus, corpus["root"] / "docs.parquet", output, spark=spark)
    if holder == "live":
        assert code == 1 and len(err.strip().splitlines()) == 1
        assert "is being written by run other-run (pid 4242 on elsewhere" in err
        assert os.listdir(output) == [LOCK]  # nothing written, the other run's lock left alone
    else:
        assert code == 0, err
        assert len(read(output)) == len(corpus["docs"]) and LOCK not in os.listdir(output)


def test_a_folder_whose_manifest_was_deleted_starts_again_with_overwrite(spark, corpus, tmp_path, capsys):
    source, output = corpus["root"] / "docs.parquet", tmp_path / "out"
    assert run(capsys, corpus, source, output, spark=spark)[0] == 0
    files = sorted(os.listdir(output))
    (output / "_sparklong_job.json").unlink()
    code, _, err = run(capsys, corpus, source, output, spark=spark)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "holds this job's files but its manifest _sparklong_job.json is missing: --overwrite starts again" in err
    code, _, err = run(capsys, corpus, source, output, "--overwrite", spark=spark)
    assert code == 0, err
    assert sorted(os.listdir(output)) == files and len(read(output)) == len(corpus["docs"])


def _bytes_read(spark) -> int:
    statistics = spark.sparkContext._jvm.org.apache.hadoop.fs.FileSystem.getGlobalStorageStatistics().get("file")
    return 0 if statistics is None else int(statistics.getLong("bytesRead"))  # None before the first read


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_the_input_is_read_once_per_run(spark, corpus, tmp_path, capsys, fmt):
    """Hadoop's file-system statistics count the bytes the JVM reads from local files; a run over 4 shards
    reads what one full read of the input reads (the JVM reads nothing else: shard files go through
    pyarrow), not 4 times that or more."""
    from sparklong.jobs.inputs import read_input

    source = str(corpus["root"] / f"docs.{fmt}")
    before = _bytes_read(spark)
    read_input(spark, source, "auto", [("id", "--id-col"), ("text", "--text-col")]) \
        .write.format("noop").mode("overwrite").save()
    one_pass = _bytes_read(spark) - before
    before = _bytes_read(spark)
    code, _, err = run(capsys, corpus, source, tmp_path / "out", spark=spark)
    assert code == 0, err
    passes = (_bytes_read(spark) - before) / one_pass
    assert 0 < passes < 1.5, passes  # the runner before this one read the input 6 times here


def test_rerun_after_a_kill_between_write_and_rename_finishes_the_output(spark, corpus, tmp_path, capsys):
    """What a SIGKILLed run leaves: its lock (a dead pid), a shard's attempt file written but not renamed,
    a manifest rewrite's temp file, no _SUCCESS. The rerun takes the lock over, removes the orphans and
    writes only the missing shard."""
    reference = tmp_path / "reference"
    source = corpus["root"] / "docs.parquet"
    assert run(capsys, corpus, source, reference, spark=spark)[0] == 0
    output = tmp_path / "out"
    shutil.copytree(reference, output)
    attempts = output / "_staging" / "20261201T000000-deadbeef" / "attempts"
    attempts.mkdir(parents=True)
    (output / "part-00001-of-00004.parquet").rename(attempts / "part-00001-of-00004.parquet.7")
    (output / "_staging" / "20261201T000000-deadbeef" / "tmp").mkdir()
    (output / "_staging" / "20261201T000000-deadbeef" / "tmp" / "0a1b.tmp").write_text('{"job": "half')
    (output / "_SUCCESS").unlink()
    (output / LOCK).write_text(json.dumps({"run": "20261201T000000-deadbeef", "host": socket.gethostname(),
                                           "pid": _dead_pid(), "started": 0, "heartbeat": time.time()}))
    code, out, err = run(capsys, corpus, source, output, spark=spark)
    assert code == 0, err
    assert "(3 up to date, 1 to write)" in out and len([ln for ln in out.splitlines() if " committed in " in ln]) == 1
    assert sorted(os.listdir(output)) == sorted(os.listdir(reference))  # orphans and lock gone, nothing twice
    assert_same_vectors(read(output), read(reference))


def test_readers_see_only_committed_rows(spark, corpus, tmp_path, capsys):
    """An attempt file in _staging (a task mid-shard) is invisible to Spark, pandas and pyarrow readers."""
    output = tmp_path / "out"
    assert run(capsys, corpus, corpus["root"] / "docs.parquet", output, spark=spark)[0] == 0
    attempts = output / "_staging" / "run" / "attempts"
    attempts.mkdir(parents=True)
    shutil.copy(output / "part-00000-of-00004.parquet", attempts / "part-00000-of-00004.parquet.3")
    import pyarrow.dataset as ds

    ids = sorted(d["id"] for d in corpus["docs"])
    assert sorted(pd.read_parquet(output)["id"]) == ids
    assert sorted(ds.dataset(str(output), format="parquet").to_table(columns=["id"])["id"].to_pylist()) == ids
    assert sorted(r["id"] for r in spark.read.parquet(str(output)).select("id").collect()) == ids
    assert sorted(pq.read_table(str(output))["id"].to_pylist()) == ids
