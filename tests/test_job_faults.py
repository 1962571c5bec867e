"""jobs/embed_corpus.py with faults, in local mode (local[2,4]: task retries) in one driver process of
its own: every task's first attempt loses its Python worker mid-shard (the retries commit every id
exactly once, with the vectors of an uninterrupted run); then the driver itself is SIGKILLed before its
first commit (a rerun takes its lock over and finishes the output). What a kill mid-shard leaves (attempt
files, a manifest's temp file) and what readers see then: test_job_runs_state.py.
On the standalone cluster: speculative attempts, a killed executor JVM, and the driver killed between
commits then rerun under spark-submit (test_cluster.py)."""
from __future__ import annotations

import os
import sys

import pytest

from sparklong.jobs.embed_corpus import SPEC as EMBED
from sparklong.jobs.runner import main
from job_runs import assert_same_vectors, embed_args, read

FAULT_DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "job_fault_driver.py")


def fault_driver(master: str, faults: list[str], args: list[str], runs, outputs: str | None = None) -> list[str]:
    """The command that runs the job once per fault in one driver process (job_fault_driver.py); the
    outputs under `runs`, or under `outputs` (a URI) when given."""
    return [sys.executable, FAULT_DRIVER, "--master", master, "--faults", ",".join(faults), "--runs", str(runs),
            *(["--outputs", outputs] if outputs else []), "--", *args]


def fault_result(runs, fault: str):
    """(exit code or None, output folder, marker names) of one fault's run."""
    code, markers = runs / fault / "code", runs / fault / "markers"
    return (int(code.read_text()) if code.exists() else None, runs / fault / "out",
            os.listdir(markers) if markers.exists() else [])


def job_args(corpus) -> list[str]:
    """embed_args without --output (the fault driver adds one per fault)."""
    args = embed_args(corpus, "unused", shard_rows=4)
    at = args.index("--output")
    return args[:at] + args[at + 2:]


def expected_files(shards: int) -> list[str]:
    """A finished output: attempt files of failed tasks, staging and the lock gone; the shards' row indexes
    in _index."""
    return ["_SUCCESS", "_index", "_sparklong_job.json"] + [f"part-{k:05d}-of-{shards:05d}.parquet"
                                                           for k in range(shards)]


@pytest.fixture(scope="module")
def local_faults(local_fault_runs, job_corpus):
    """The parquet fault driver on local[2,4] (run beside delta's: local_fault_runs.py): worker_kill, then a
    plain run SIGKILLed as soon as its manifest is written: after planning began, before any shard commits."""
    return {**local_fault_runs["parquet"], "corpus": job_corpus, "reference": job_corpus["reference"]}


def test_tasks_that_lose_their_python_worker_are_retried_with_every_id_once(local_faults):
    code, output, markers = fault_result(local_faults["runs"], "worker_kill")
    assert code == 0, local_faults["log"].read_text()[-3000:]
    assert len({m.split("-")[1] for m in markers}) == 3, markers  # each of the 3 shard tasks lost its first attempt
    assert len([ln for ln in local_faults["log"].read_text().splitlines() if " committed in " in ln]) >= 3
    assert_same_vectors(read(output), read(local_faults["reference"]))
    assert sorted(os.listdir(output)) == expected_files(3)
    assert len(os.listdir(output / "_index")) == 3  # the killed attempts' indexes went with their scratch


def test_driver_killed_before_its_first_commit_then_a_rerun_finishes(local_faults, spark, capsys):
    assert local_faults["started"] and not local_faults["committed"], local_faults["log"].read_text()[-3000:]
    output = local_faults["runs"] / "plain" / "out"
    assert os.path.exists(output / "_sparklong_lock.json")  # the dead run's lock, taken over below
    code = main(EMBED, embed_args(local_faults["corpus"], output, shard_rows=4), spark)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "(0 up to date, 3 to write)" in out
    assert_same_vectors(read(output), read(local_faults["reference"]))
    assert sorted(os.listdir(output)) == expected_files(3)  # the dead run's lock and scratch gone
