"""jobs/embed_corpus.py with task retries in local mode (local[N,F], in its own JVM): every task's first
attempt loses its Python worker mid-shard; the retries commit every id exactly once, with the vectors
of an uninterrupted run. Speculative attempts and a killed executor JVM run on the standalone
cluster (test_cluster.py)."""
from __future__ import annotations

import os
import subprocess
import sys


from sparklong.jobs.embed_corpus import SPEC as EMBED
from sparklong.jobs.runner import main
from job_runs import assert_same_vectors, embed_args, read, write_corpus

FAULT_DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "job_fault_driver.py")


def run_with_faults(master: str, faults: list[str], args: list[str], runs, env: dict, timeout_s: float = 500):
    """Run the job once per fault in one driver process (job_fault_driver.py); {fault: (exit code, output
    folder, marker names)}, and the driver's completed process."""
    command = [sys.executable, FAULT_DRIVER, "--master", master, "--faults", ",".join(faults), "--runs", str(runs),
               "--", *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout_s)
    results = {}
    for fault in faults:
        code = runs / fault / "code"
        results[fault] = (int(code.read_text()) if code.exists() else None, runs / fault / "out",
                          os.listdir(runs / fault / "markers") if (runs / fault / "markers").exists() else [])
    return results, done


def job_args(corpus) -> list[str]:
    """embed_args without --output (the fault driver adds one per fault)."""
    args = embed_args(corpus, "unused", shard_rows=4)
    at = args.index("--output")
    return args[:at] + args[at + 2:]


def expected_files(shards: int) -> list[str]:
    """A finished output: attempt files of failed tasks, staging and the lock gone."""
    return ["_SUCCESS", "_sparklong_job.json"] + [f"part-{k:05d}-of-{shards:05d}.parquet" for k in range(shards)]


def test_tasks_that_lose_their_python_worker_are_retried_with_every_id_once(spark, tmp_path, capsys):
    corpus = write_corpus(tmp_path, count=12)
    local = tmp_path / "local"
    assert main(EMBED, embed_args(corpus, local, shard_rows=4), spark) == 0
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    results, done = run_with_faults("local[2,4]", ["worker_kill"], job_args(corpus), tmp_path / "runs", env)
    code, output, markers = results["worker_kill"]
    assert code == 0, done.stderr[-3000:]
    assert len({m.split("-")[1] for m in markers}) == 3, markers  # each of the 3 shard tasks lost its first attempt
    assert len([ln for ln in done.stdout.splitlines() if " committed in " in ln]) == 3
    assert_same_vectors(read(output), read(local))
    assert sorted(os.listdir(output)) == expected_files(3)
