"""A real standalone cluster (master + two 1-core workers on 127.0.0.1, from the pip pyspark): the
embeddings pipeline runs on two executor processes with the same results as local mode, and survives
a Python worker killed mid-task and an executor JVM killed mid-job with every row exactly once.

One driver subprocess runs every case (cluster_driver.py); jobs/embed_corpus.py runs against the same
`cluster` fixture with `cluster.master_url` and `cluster.env`, its driver SIGKILLed mid-job and rerun.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import cluster_driver
from job_runs import EMBED_SCRIPT, assert_same_vectors, embed_args, kill_after_first_commit, read, write_corpus
from test_job_faults import run_with_fault
from sparklong.jobs.embed_corpus import SPEC as EMBED
from sparklong.jobs.runner import main
from standalone_cluster import StandaloneCluster
from tiny_models import save_model_folder

pytestmark = pytest.mark.cluster
CASES = ("embeddings", "worker_crash", "executor_kill")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with StandaloneCluster(str(tmp_path_factory.mktemp("cluster")), workers=2) as running:
        yield running


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("cluster_model") / "tiny_longformer")
    save_model_folder(folder)
    return folder


@pytest.fixture(scope="module")
def cluster_results(cluster, model_folder, tmp_path_factory):
    """{case: result} from one driver run against the cluster."""
    out = str(tmp_path_factory.mktemp("cluster_out"))
    command = [sys.executable, cluster_driver.__file__, "--master", cluster.master_url, "--model", model_folder,
               "--out", out, *CASES]
    proc = subprocess.run(command, env=cluster.env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:] + cluster.log_tail()
    results = {}
    for case in CASES:
        with open(os.path.join(out, f"{case}.json"), encoding="utf-8") as fh:
            results[case] = json.load(fh)
        assert "error" not in results[case], f"{case}:\n{results[case].get('error')}\n{cluster.log_tail()}"
    return results


@pytest.fixture(scope="module")
def local_rows(spark, model_folder):
    return cluster_driver.run(spark, model_folder)


def assert_exactly_once_and_equal(rows, expected):
    assert set(rows) == set(expected) == {str(i) for i in range(len(cluster_driver.texts()))}
    for key, copies in rows.items():
        assert len(copies) == 1, f"row {key} came back {len(copies)} times"
        got, want = copies[0], expected[key][0]
        assert got["tokens"] == want["tokens"], key
        np.testing.assert_array_equal(np.array(got["word_vectors"]), np.array(want["word_vectors"]), err_msg=key)
        np.testing.assert_array_equal(np.array(got["vector"]), np.array(want["vector"]), err_msg=key)


def test_two_executor_processes_and_results_identical_to_local_mode(cluster_results, local_rows):
    rows = cluster_results["embeddings"]["rows"]
    assert_exactly_once_and_equal(rows, local_rows)
    executors = {copies[0]["executor"] for copies in rows.values()}
    jvm_pids = {e.split("@")[1] for e in executors}
    assert len(executors) == 2 and len(jvm_pids) == 2, executors  # two executor ids, two JVM processes
    assert all(int(pid) != 0 for pid in jvm_pids)
    long_row = rows[str(len(cluster_driver.texts()) - 4)][0]  # the 6000-character passage
    assert len(long_row["tokens"]) > 500 and len(long_row["vector"]) == 1
    for blank in range(len(cluster_driver.texts()) - 3, len(cluster_driver.texts())):
        assert rows[str(blank)][0]["tokens"] == [] and rows[str(blank)][0]["vector"] == []


def test_python_worker_killed_mid_task_is_retried_with_every_row_once(cluster_results, local_rows):
    result = cluster_results["worker_crash"]
    # the hook killed the Python worker of every task's first attempt (one marker per partition)
    partitions = {m.split("-")[1] for m in result["markers"]}
    assert partitions == {str(p) for p in range(cluster_driver.PARTITIONS)}, result["markers"]
    assert_exactly_once_and_equal(result["rows"], local_rows)


def test_executor_jvm_killed_mid_job_the_job_finishes(cluster_results, local_rows, cluster):
    result = cluster_results["executor_kill"]
    [marker] = result["markers"]
    killed = int(marker.split("-")[1])
    assert not os.path.exists(f"/proc/{killed}"), "the executor JVM was not killed"
    assert_exactly_once_and_equal(result["rows"], local_rows)
    assert all(not e.endswith(f"@{killed}") for copies in result["rows"].values() for e in [copies[0]["executor"]])


def test_embed_corpus_job_driver_killed_mid_job_rerun_equals_local_mode(cluster, spark, tmp_path):
    """jobs/embed_corpus.py --master spark://...: its process group (driver JVM included) SIGKILLed right
    after the first of 3 shards commits; the rerun on the cluster commits the rest, every id exactly once,
    with the embeddings of a local-mode run of the same job."""
    corpus = write_corpus(tmp_path, count=12)
    local = tmp_path / "local"
    assert main(EMBED, embed_args(corpus, local, shard_rows=4), spark) == 0

    output = tmp_path / "out"
    command = [sys.executable, EMBED_SCRIPT, *embed_args(corpus, output, shard_rows=4), "--master", cluster.master_url]
    committed = kill_after_first_commit(command, output, cluster.env, tmp_path / "first.log")
    shards = json.loads((output / "_sparklong_job.json").read_text())["shards"]
    assert 1 <= len(committed) < shards == 3, (tmp_path / "first.log").read_text() + cluster.log_tail()

    done = subprocess.run(command, env=cluster.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:] + cluster.log_tail()
    assert f"({len(committed)} up to date, {shards - len(committed)} to write)" in done.stdout
    rows = read(output)
    assert sorted(rows) == [d["id"] for d in corpus["docs"]]  # every id exactly once
    assert_same_vectors(rows, read(local))


@pytest.mark.parametrize("fault", ["slow_task", "executor_kill"])
def test_embed_corpus_job_with_a_speculative_attempt_or_a_killed_executor_writes_every_id_once(
        cluster, spark, tmp_path, fault):
    """slow_task: shard 0's first attempt sleeps, speculation (spark.speculation=true) runs a second
    attempt on the other worker, both write the shard; executor_kill: shard 0's first attempt SIGKILLs
    its executor JVM mid-shard. Either way every id once, with the vectors of a local-mode run."""
    corpus = write_corpus(tmp_path, count=12)
    local = tmp_path / "local"
    assert main(EMBED, embed_args(corpus, local, shard_rows=4), spark) == 0
    done = run_with_fault(cluster.master_url, fault, embed_args(corpus, tmp_path / "out", shard_rows=4),
                          tmp_path / "markers", cluster.env)
    assert done.returncode == 0, done.stderr[-3000:] + cluster.log_tail()
    attempts = os.listdir(tmp_path / "markers")
    assert len(attempts) >= 2, attempts  # shard 0's first attempt, and one more that finished it
    assert_same_vectors(read(tmp_path / "out"), read(local))
    assert sorted(os.listdir(tmp_path / "out")) == ["_SUCCESS", "_sparklong_job.json"] + [
        f"part-{k:05d}-of-00003.parquet" for k in range(3)]
