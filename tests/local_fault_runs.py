"""The two local[2,4] fault drivers of the job tests, run side by side: parquet's (test_job_faults.py) and
delta's (test_delta_faults.py), each a driver process of its own that runs worker_kill, then a plain run
SIGKILLed at its format's moment. Side by side they share the wall time each spends starting its JVM and
waiting on restarted Python workers; both read the session's job corpus (conftest.job_corpus)."""
from __future__ import annotations

import glob
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from job_runs import committed_parts, kill_when
from test_job_faults import fault_driver, job_args


def delta_wrote_a_shard(out) -> bool:
    """A task has written a data file and its commit record: the run is past planning, before its commit."""
    return bool(glob.glob(str(out / "_staging" / "*" / "commits" / "*.json")))


# format -> (extra job arguments, when its plain run is killed)
KILL_POINTS = {
    # as soon as its manifest is written: after planning began, before any shard commits
    "parquet": ([], lambda out: (out / "_sparklong_job.json").exists()),
    # after a shard's data file and commit record, before the run's one commit
    "delta": (["--output-format", "delta"], delta_wrote_a_shard),
}


def run_fault_drivers(corpus: dict, root) -> dict:
    """{format: {"runs", "log", "started", "committed", "table_at_kill"}}: each format's fault driver over
    `corpus` (conftest.job_corpus), its runs under `root`."""
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}

    def drive(kind: str) -> dict:
        extra, killed_when = KILL_POINTS[kind]
        runs, log = root / kind, root / f"{kind}.log"
        output = runs / "plain" / "out"
        command = fault_driver("local[2,4]", ["worker_kill", "plain"], job_args(corpus) + extra, runs)
        started = kill_when(command, output, env, log, killed_when, timeout_s=400)
        return {"runs": runs, "log": log, "started": started, "committed": committed_parts(output),
                "table_at_kill": (output / "_delta_log").exists()}

    with ThreadPoolExecutor(len(KILL_POINTS)) as pool:
        return dict(zip(KILL_POINTS, pool.map(drive, KILL_POINTS)))
