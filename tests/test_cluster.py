"""A real standalone cluster (master + two 1-core workers on 127.0.0.2 and .3, from the pip pyspark): the
embeddings pipeline runs on two executor processes with the same results as local mode while every task's
first attempt loses its Python worker mid-task, every row exactly once; tasks get their own (fake) GPUs (slow);
jobs/embed_corpus.py on the cluster survives its driver SIGKILLed (rerun with spark-submit), speculative
attempts and an executor JVM killed mid-shard.

One driver subprocess runs every pipeline case (cluster_driver.py), another every job case
(job_fault_driver.py), against the same `cluster` fixture (`cluster.master_url`, `cluster.env`).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import cluster_driver
from job_runs import (EMBED_SCRIPT, assert_same_vectors, committed_parts, embed_args, kill_when, read, read_delta,
                      write_corpus)
from test_job_faults import expected_files, fault_driver, fault_result, job_args
from sparklong.jobs.embed_corpus import SPEC as EMBED
from sparklong.jobs.runner import main
from standalone_cluster import StandaloneCluster
from tiny_models import save_model_folder

pytestmark = pytest.mark.cluster
# one run: two executors, the same rows as local mode, and every task's first attempt losing its Python worker
# (the plain "embeddings" case is the same run without the kills); an executor JVM killed: the job tests below
CASES = ("worker_crash",)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with StandaloneCluster(str(tmp_path_factory.mktemp("cluster")), workers=2) as running:
        yield running


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("cluster_model") / "tiny_longformer")
    save_model_folder(folder)
    return folder


def driver_results(cluster, model_folder, out: str, cases) -> dict:
    """{case: result} from one cluster_driver.py run of `cases` against the cluster."""
    command = [sys.executable, cluster_driver.__file__, "--master", cluster.master_url, "--model", model_folder,
               "--out", out, *cases]
    proc = subprocess.run(command, env=cluster.env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:] + cluster.log_tail()
    results = {}
    for case in cases:
        with open(os.path.join(out, f"{case}.json"), encoding="utf-8") as fh:
            results[case] = json.load(fh)
        assert "error" not in results[case], f"{case}:\n{results[case].get('error')}\n{cluster.log_tail()}"
    return results


@pytest.fixture(scope="module")
def cluster_results(cluster, model_folder, tmp_path_factory):
    return driver_results(cluster, model_folder, str(tmp_path_factory.mktemp("cluster_out")), CASES)


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
    rows = cluster_results["worker_crash"]["rows"]
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


@pytest.mark.slow  # ~25 s: a session of its own (local-cluster mode); test_gpu_placement.py has the placement rules
def test_each_task_gets_its_own_spark_gpu_and_the_model_would_be_placed_on_it(cluster, model_folder, tmp_path):
    result = driver_results(cluster, model_folder, str(tmp_path), ("gpus",))["gpus"]
    assert all(t["gpus"] == [] for t in result["plain"])  # a stage without the profile holds no GPU
    tasks = result["tasks"]
    assert sorted(t["partition"] for t in tasks) == [0, 1, 2, 3]
    for task in tasks:
        assert len(task["gpus"]) == 1 and task["gpus"][0] in cluster_driver.FAKE_GPUS
        assert task["device"] == f"cuda:{task['gpus'][0]}"
    overlapping = [(a, b) for a in tasks for b in tasks
                   if a["partition"] < b["partition"] and a["start"] < b["end"] and b["start"] < a["end"]]
    assert overlapping, "two tasks should have run at once on the 2-core executor"
    for a, b in overlapping:  # tasks running at the same time never share a GPU
        assert a["gpus"] != b["gpus"], (a, b)
    # no CUDA on this machine: the model cache, given a Spark GPU, still loads on the CPU, and says so
    assert {t["loaded_on"] for t in tasks} == {"cpu"} and all("torch on cpu" in t["placement"] for t in tasks)


@pytest.fixture(scope="module")
def cluster_faults(cluster, spark, tmp_path_factory):
    """12 documents and their output in local mode; then one fault driver on the cluster: slow_task,
    executor_kill, and a plain run SIGKILLed (process group, driver JVM included) right after its first
    shard commits."""
    root = tmp_path_factory.mktemp("cluster_faults")
    corpus = write_corpus(root, count=12)
    assert main(EMBED, embed_args(corpus, root / "local", shard_rows=4), spark) == 0
    runs, log = root / "runs", root / "driver.log"
    command = fault_driver(cluster.master_url, ["slow_task", "executor_kill", "plain"], job_args(corpus), runs)
    kill_when(command, runs / "plain" / "out", cluster.env, log, committed_parts, timeout_s=500)
    return {"corpus": corpus, "runs": runs, "log": log, "local": read(root / "local")}


@pytest.mark.slow  # ~80 s; tests/test_job_faults.py has the local worker-kill and rerun cases
def test_embed_corpus_job_with_speculative_attempts_or_a_killed_executor_writes_every_id_once(cluster, cluster_faults):
    """slow_task: shard 0's first attempt sleeps, spark.speculation=true runs a second attempt on the
    other worker, both write the shard; executor_kill: shard 0's first attempt SIGKILLs its executor JVM
    mid-shard. Either way every id once, with the vectors of a local-mode run."""
    for fault in ("slow_task", "executor_kill"):
        code, output, markers = fault_result(cluster_faults["runs"], fault)
        assert code == 0, fault + cluster_faults["log"].read_text()[-3000:] + cluster.log_tail()
        assert len(markers) >= 2, (fault, markers)  # shard 0's first attempt, and one more that finished it
        assert_same_vectors(read(output), cluster_faults["local"])
        assert sorted(os.listdir(output)) == expected_files(3)


@pytest.mark.slow  # ~80 s
def test_delta_output_with_speculative_attempts_or_a_killed_executor_commits_every_id_once(cluster, cluster_faults,
                                                                                          tmp_path):
    """The same two faults with --output-format delta: both speculative attempts of shard 0 write a data file
    and only the kept attempt's is committed (the other deleted), and a killed executor's shard is computed
    again; either way one version holding every id once, with the vectors of a local-mode run."""
    from deltalake import DeltaTable

    runs, log = tmp_path / "runs", tmp_path / "driver.log"
    command = fault_driver(cluster.master_url, ["slow_task", "executor_kill"],
                           job_args(cluster_faults["corpus"]) + ["--output-format", "delta"], runs)
    with open(log, "wb") as out:
        subprocess.run(command, env=cluster.env, stdout=out, stderr=out, timeout=500)
    for fault in ("slow_task", "executor_kill"):
        code, output, markers = fault_result(runs, fault)
        assert code == 0, fault + log.read_text()[-3000:] + cluster.log_tail()
        assert len(markers) >= 2, (fault, markers)  # shard 0's first attempt, and one more that finished it
        assert_same_vectors(read_delta(output), cluster_faults["local"])
        table = DeltaTable(str(output))
        assert table.version() == 0 and len(table.file_uris()) == 3
        assert sorted(n for n in os.listdir(output) if n.startswith("part-")) == sorted(
            os.path.basename(u) for u in table.file_uris())  # the discarded attempts' files deleted


@pytest.mark.slow  # ~75 s
def test_embed_corpus_job_driver_killed_between_commits_spark_submit_rerun_equals_local_mode(cluster, cluster_faults):
    """The driver SIGKILLed right after the first of 3 shards commits; jobs/embed_corpus.py under
    spark-submit on the cluster commits the rest: every id exactly once, the vectors of local mode."""
    output = cluster_faults["runs"] / "plain" / "out"
    committed = committed_parts(output)
    shards = json.loads((output / "_sparklong_job.json").read_text())["shards"]
    assert 1 <= len(committed) < shards == 3, cluster_faults["log"].read_text()[-3000:] + cluster.log_tail()

    submit = os.path.join(os.path.dirname(sys.executable), "spark-submit")
    args = embed_args(cluster_faults["corpus"], output, shard_rows=4)
    # 8 shuffle partitions, as sparklong.start() sets (the other drivers here): Spark's default of 200 made
    # the run's planning joins and aggregates ~800 tasks on the two 1-core executors
    done = subprocess.run([submit, "--master", cluster.master_url, "--conf", "spark.sql.shuffle.partitions=8",
                           EMBED_SCRIPT, *args], env=cluster.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:] + cluster.log_tail()
    assert f"({len(committed)} up to date, {shards - len(committed)} to write)" in done.stdout
    rows = read(output)
    assert sorted(rows) == [d["id"] for d in cluster_faults["corpus"]["docs"]]  # every id exactly once
    assert_same_vectors(rows, cluster_faults["local"])
    assert sorted(os.listdir(output)) == expected_files(3)
