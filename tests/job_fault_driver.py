"""Driver program for the jobs' fault tests: runs jobs/embed_corpus.py's runner in its own SparkSession
(its own JVM: a master with task retries, a cluster, speculation) with one fault injected:

    python tests/job_fault_driver.py --master MASTER --faults FAULT[,FAULT...] --runs DIR [--outputs URI] -- JOB ARGS...

Each fault runs the job (JOB ARGS plus --output OUTPUTS/<fault>/out, OUTPUTS being DIR unless given: an
s3:// URI for the object store tests) in the one session, one after the other; DIR/<fault>/markers holds
its marks and DIR/<fault>/code the runner's exit code.

Faults (each marks what it did in DIR, so the test can tell it happened):
  plain          none: the test SIGKILLs this driver itself (see job_runs.kill_when)
  worker_kill    every task's first attempt loses a Python worker mid-task (worker_kill.py; markers:
                 `<stage>-<partition>-<pid>`, one per task)
  slow_task      partition 0's first attempt sleeps, so speculation starts a second attempt elsewhere
  executor_kill  partition 0's first attempt SIGKILLs its own executor JVM
(slow_task and executor_kill markers: `<fault>-0-<task attempt id>`, one per attempt of partition 0)
Each fault is a column the job's transform passes n_tokens through (with_fault), so that it runs in
the shard's task after the model and cannot be pruned.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # cluster_driver, tiny_models, worker_kill

SLOW_S = 25.0


def fault_column(fault: str, markers: str):
    """A zero-valued int column whose UDF injects the fault (added to n_tokens, so it cannot be pruned)."""
    from pyspark import TaskContext
    from pyspark.sql import functions as F

    from cluster_driver import executor_jvm_pid

    @F.udf("int")
    def inject(_):
        context = TaskContext.get()
        if context.partitionId() != 0:
            return 0
        first = not os.listdir(markers)  # the first attempt ever (a resubmitted stage counts attempts from 0 again)
        marker = os.path.join(markers, f"{fault}-0-{context.taskAttemptId()}")
        if not os.path.exists(marker):
            open(marker, "w").close()
        if first and fault == "slow_task":
            time.sleep(SLOW_S)
        elif first and fault == "executor_kill":
            os.kill(executor_jvm_pid(), signal.SIGKILL)
            os._exit(1)
        return 0

    return inject(F.col("id"))


def tokens_with_fault(fault: str, markers: str):
    """The n_tokens column, its values unchanged, computed so that the fault happens on its way."""
    from pyspark.sql import functions as F

    from worker_kill import dies_after_first_batch

    if fault == "worker_kill":
        return dies_after_first_batch(F.col("n_tokens"), "int", markers)
    return F.col("n_tokens") + fault_column(fault, markers)


def with_fault(spec, fault: str, markers: str):
    def transform(args, model):
        built = spec.transform(args, model)
        return dataclasses.replace(built, run=lambda frame, carry: built.run(frame, carry).withColumn(
            "n_tokens", tokens_with_fault(fault, markers)))

    return dataclasses.replace(spec, transform=transform)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--master", required=True)
    parser.add_argument("--faults", required=True)
    parser.add_argument("--runs", required=True)
    parser.add_argument("--outputs", default=None)
    parser.add_argument("job", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    from pyspark import cloudpickle

    import sparklong
    from sparklong.jobs.embed_corpus import SPEC
    from sparklong.jobs.runner import main as run_job

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests folder
    spark = sparklong.start(args.master, memory="1g", extra_conf={
        "spark.task.maxFailures": "4", "spark.executor.memory": "1g",
        "spark.scheduler.minRegisteredResourcesRatio": "1.0",
        "spark.scheduler.maxRegisteredResourcesWaitingTime": "120s",
        "spark.speculation": "true", "spark.speculation.interval": "200ms",  # for slow_task; ignored in local mode
        "spark.speculation.quantile": "0.5", "spark.speculation.multiplier": "1.5",
        "spark.speculation.minTaskRuntime": "2s",
    })
    spark.sparkContext.setLogLevel("ERROR")
    job = args.job[1:] if args.job[:1] == ["--"] else args.job
    for fault in args.faults.split(","):
        markers = os.path.join(args.runs, fault, "markers")
        os.makedirs(markers)
        spec = SPEC if fault == "plain" else with_fault(SPEC, fault, markers)
        code = run_job(spec, [*job, "--output", f"{args.outputs or args.runs}/{fault}/out"], spark)
        with open(os.path.join(args.runs, fault, "code"), "w", encoding="utf-8") as fh:
            fh.write(str(code))
    spark.stop()


if __name__ == "__main__":
    main()
