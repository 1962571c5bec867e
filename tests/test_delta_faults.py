"""--output-format delta with faults, in one driver process of its own on local[2,4] (task retries), as
test_job_faults.py does for parquet: every task's first attempt loses its Python worker (the retries' files are
the ones committed, every id once, the discarded attempts' files deleted); then the driver is SIGKILLed after
a task wrote a shard's file but before the run's one commit (the table does not exist yet), and a rerun
commits every id exactly once in one version."""
from __future__ import annotations

import glob
import os

import pytest

from sparklong.jobs.embed_corpus import SPEC as EMBED
from sparklong.jobs.runner import main
from job_runs import assert_same_vectors, embed_args, read, read_delta
from test_job_faults import fault_result

pytest.importorskip("deltalake")


def data_files(out) -> list[str]:
    return sorted(os.path.basename(p) for p in glob.glob(str(out / "part-*.parquet")))


@pytest.fixture(scope="module")
def delta_faults(local_fault_runs, job_corpus):
    """The delta fault driver on local[2,4] (run beside parquet's: local_fault_runs.py): worker_kill, then a
    plain run SIGKILLed after a task wrote a shard's file and commit record, before the run's one commit."""
    return {**local_fault_runs["delta"], "corpus": job_corpus, "reference": job_corpus["reference"]}


def test_retried_tasks_commit_every_id_once_in_one_version(delta_faults):
    from deltalake import DeltaTable

    code, output, markers = fault_result(delta_faults["runs"], "worker_kill")
    assert code == 0, delta_faults["log"].read_text()[-3000:]
    assert len({m.split("-")[1] for m in markers}) == 3, markers  # each shard task lost its first attempt
    assert_same_vectors(read_delta(output), read(delta_faults["reference"]))
    assert DeltaTable(str(output)).version() == 0
    assert len(data_files(output)) == 3  # the killed attempts' files are gone
    assert sorted(os.listdir(output)) == ["_delta_log", "_index", *data_files(output)]


def test_driver_killed_before_its_commit_then_a_rerun_commits_one_version(delta_faults, spark, capsys):
    from deltalake import DeltaTable

    assert delta_faults["started"] and not delta_faults["table_at_kill"], delta_faults["log"].read_text()[-3000:]
    output = delta_faults["runs"] / "plain" / "out"
    orphans = data_files(output)
    assert orphans  # the dead run's files: no version names them
    args = embed_args(delta_faults["corpus"], output, shard_rows=4) + ["--output-format", "delta"]
    code = main(EMBED, args, spark)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "(0 up to date, 3 to write)" in out
    assert_same_vectors(read_delta(output), read(delta_faults["reference"]))
    table = DeltaTable(str(output))
    assert table.version() == 0 and len(table.history()) == 1
    assert not set(orphans) & {os.path.basename(p) for p in table.file_uris()}
    assert "_staging" not in os.listdir(output)
