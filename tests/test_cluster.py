"""A real standalone cluster (master + two 1-core workers on 127.0.0.1, from the pip pyspark): the
embeddings pipeline runs on two executor processes with the same results as local mode, and survives
a Python worker killed mid-task with every row exactly once; jobs/embed_corpus.py on the cluster survives
its driver SIGKILLed (rerun with spark-submit), speculative attempts and an executor JVM killed mid-shard.

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
from test_job_faults import expected_files, job_args, run_with_faults
from sparklong.jobs.embed_corpus import SPEC as EMBED
from sparklong.jobs.runner import main
from standalone_cluster import StandaloneCluster
from tiny_models import save_model_folder

pytestmark = pytest.mark.cluster
CASES = ("embeddings", "worker_crash")  # an executor JVM killed: the job test below


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


@pytest.fixture(scope="module")
def job_corpus(spark, tmp_path_factory):
    """12 documents, and their embed_corpus output in local mode (3 shards)."""
    corpus = write_corpus(tmp_path_factory.mktemp("cluster_job"), count=12)
    assert main(EMBED, embed_args(corpus, corpus["root"] / "local", shard_rows=4), spark) == 0
    return corpus


def test_embed_corpus_job_driver_killed_mid_job_spark_submit_rerun_equals_local_mode(cluster, job_corpus, tmp_path):
    """jobs/embed_corpus.py --master spark://...: its process group (driver JVM included) SIGKILLed right
    after the first of 3 shards commits; spark-submit on the cluster commits the rest, every id exactly
    once, with the embeddings of a local-mode run of the same job."""
    output = tmp_path / "out"
    args = embed_args(job_corpus, output, shard_rows=4)
    command = [sys.executable, EMBED_SCRIPT, *args, "--master", cluster.master_url]
    committed = kill_after_first_commit(command, output, cluster.env, tmp_path / "first.log")
    shards = json.loads((output / "_sparklong_job.json").read_text())["shards"]
    assert 1 <= len(committed) < shards == 3, (tmp_path / "first.log").read_text() + cluster.log_tail()

    submit = os.path.join(os.path.dirname(sys.executable), "spark-submit")
    done = subprocess.run([submit, "--master", cluster.master_url, EMBED_SCRIPT, *args], env=cluster.env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:] + cluster.log_tail()
    assert f"({len(committed)} up to date, {shards - len(committed)} to write)" in done.stdout
    rows = read(output)
    assert sorted(rows) == [d["id"] for d in job_corpus["docs"]]  # every id exactly once
    assert_same_vectors(rows, read(job_corpus["root"] / "local"))
    assert sorted(os.listdir(output)) == expected_files(3)


def test_embed_corpus_job_with_speculative_attempts_or_a_killed_executor_writes_every_id_once(
        cluster, job_corpus, tmp_path):
    """One driver on the cluster runs the job twice: slow_task (shard 0's first attempt sleeps,
    spark.speculation=true runs a second attempt on the other worker, both write the shard) and
    executor_kill (shard 0's first attempt SIGKILLs its executor JVM mid-shard). Either way every id
    once, with the vectors of a local-mode run."""
    faults = ["slow_task", "executor_kill"]
    results, done = run_with_faults(cluster.master_url, faults, job_args(job_corpus), tmp_path / "runs", cluster.env)
    for fault in faults:
        code, output, markers = results[fault]
        assert code == 0, fault + done.stderr[-3000:] + cluster.log_tail()
        assert len(markers) >= 2, (fault, markers)  # shard 0's first attempt, and one more that finished it
        assert_same_vectors(read(output), read(job_corpus["root"] / "local"))
        assert sorted(os.listdir(output)) == expected_files(3)
