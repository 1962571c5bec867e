"""jobs/embed_corpus.py with task retries in local mode (local[N,F], in its own JVM): every task's first
attempt loses its Python worker mid-shard; the retries commit every id exactly once, with the vectors
of an uninterrupted run. Speculative attempts and a killed executor JVM run on the standalone
cluster (test_cluster.py)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sparklong.jobs.embed_corpus import SPEC as EMBED
from sparklong.jobs.runner import main
from job_runs import assert_same_vectors, embed_args, read, write_corpus

FAULT_DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "job_fault_driver.py")


def run_with_fault(master: str, fault: str, args: list[str], markers, env: dict, timeout_s: float = 400):
    markers.mkdir()
    command = [sys.executable, FAULT_DRIVER, "--master", master, "--fault", fault, "--markers", str(markers),
               "--", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout_s)


def test_tasks_that_lose_their_python_worker_are_retried_with_every_id_once(spark, tmp_path, capsys):
    corpus = write_corpus(tmp_path, count=12)
    local = tmp_path / "local"
    assert main(EMBED, embed_args(corpus, local, shard_rows=4), spark) == 0
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    done = run_with_fault("local[2,4]", "worker_kill", embed_args(corpus, tmp_path / "out", shard_rows=4),
                          tmp_path / "markers", env)
    assert done.returncode == 0, done.stderr[-3000:]
    killed = {m.split("-")[1] for m in os.listdir(tmp_path / "markers")}
    assert len(killed) == 3, killed  # each of the 3 shard tasks lost its first attempt
    assert len([ln for ln in done.stdout.splitlines() if " committed in " in ln]) == 3
    assert_same_vectors(read(tmp_path / "out"), read(local))
    assert sorted(os.listdir(tmp_path / "out")) == ["_SUCCESS", "_sparklong_job.json"] + [
        f"part-{k:05d}-of-00003.parquet" for k in range(3)]  # attempt files of the killed tasks removed
