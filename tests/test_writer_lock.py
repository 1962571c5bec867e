"""The writer lock without Spark: two processes racing for it, who may take a held lock over (by process
identity on this machine, by the lock file's age on the file system's clock elsewhere, never by comparing
two hosts' clocks), its heartbeat from the moment it is taken, what a holder that lost it sees, the
executors' fence before a shard's commit, and a write error while taking it."""
from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time

import pyarrow as pa
import pytest

from sparklong.jobs.job_error import JobError
from sparklong.storage.output_folder import OutputFolder
from sparklong.jobs.shard_files import DROP, HASH, KEY, SHARD, ShardWriter
from sparklong.jobs.writer_lock import LOCK, WriterLock, check_holder
from sparklong.processes import boot_id, pid_namespace, process_start

# rounds of a race: the lock before this one let both racers take it in 0 to 26 of 1,000 rounds here
RACE_ROUNDS = {"fresh_folder": 2000, "dead_local_holder": 2000, "stale_remote_holder": 500}
STALE_AFTER_S = 120.0


def other_run(**fields) -> dict:
    """Another run's lock record, on this machine unless `fields` say otherwise."""
    now = time.time()
    return {"run": "other-run", "host": socket.gethostname(), "pid": 4242, "started": now - 60, "heartbeat": now,
            "boot": boot_id(), "pidns": pid_namespace(), "pid_start": 0, **fields}


def write_lock(folder, record: dict, file_age_s: float = 0.0) -> bytes:
    """Write `record` as folder's lock, its file last modified `file_age_s` ago; its bytes."""
    path = os.path.join(folder, LOCK)
    with open(path, "w") as fh:
        json.dump(record, fh)
    if file_age_s:
        then = time.time() - file_age_s
        os.utime(path, (then, then))
    with open(path, "rb") as fh:
        return fh.read()


def lock_record(folder) -> dict:
    with open(os.path.join(folder, LOCK)) as fh:
        return json.load(fh)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def live_pid():
    """A live process of this host (not this one)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def race(racer: int, roots: list[str], barrier, results) -> None:
    """One racing process: in each folder, take() as the other racer does, both released by one barrier;
    the winner holds the lock (alive) until the other has tried too, then releases it."""
    outcomes = []
    for root in roots:
        lock = WriterLock(OutputFolder(root), f"racer-{racer}", heartbeat_s=600)
        barrier.wait(60)
        try:
            lock.take()
            outcomes.append("won")
        except JobError:
            outcomes.append("refused")
        except Exception as exc:  # noqa: BLE001 - reported by the test
            outcomes.append(f"{type(exc).__name__}: {exc}")
        barrier.wait(60)
        if outcomes[-1] == "won":
            lock.release()
    results.put((racer, outcomes))


@pytest.mark.parametrize("start", list(RACE_ROUNDS))
def test_two_processes_taking_the_lock_at_once_exactly_one_wins(tmp_path, start):
    roots = [str(tmp_path / f"round{i:04d}") for i in range(RACE_ROUNDS[start])]
    stale = {"dead_local_holder": (other_run(pid=dead_pid()), 0.0),
             "stale_remote_holder": (other_run(host="elsewhere", boot="another-boot"), 2 * STALE_AFTER_S)}
    for root in roots:
        os.mkdir(root)
        if start in stale:
            write_lock(root, *stale[start])
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold a JVM gateway
    barrier, results = context.Barrier(2), context.Queue()
    racers = [context.Process(target=race, args=(k, roots, barrier, results)) for k in range(2)]
    for racer in racers:
        racer.start()
    outcomes = dict(results.get(timeout=300) for _ in racers)
    for racer in racers:
        racer.join()
    rounds = list(zip(outcomes[0], outcomes[1]))
    bad = [(i, r) for i, r in enumerate(rounds) if sorted(r) != ["refused", "won"]]
    assert not bad, f"{len(bad)} of {len(rounds)} rounds without exactly one winner, first: {bad[:3]}"
    assert all(os.listdir(root) == [] for root in roots)  # released, no temp file left


def test_a_live_local_holder_is_never_taken_over_however_old_its_heartbeat(tmp_path, live_pid):
    held = write_lock(tmp_path, other_run(pid=live_pid, pid_start=process_start(live_pid),
                                          heartbeat=time.time() - 3600), file_age_s=3600)
    with pytest.raises(JobError, match=f"is being written by run other-run \\(pid {live_pid} on "):
        WriterLock(OutputFolder(str(tmp_path)), "this-run").take()
    assert (tmp_path / LOCK).read_bytes() == held and os.listdir(tmp_path) == [LOCK]


@pytest.mark.parametrize("holder", ["dead_pid", "reused_pid"])
def test_a_dead_local_holder_is_taken_over_at_once(tmp_path, live_pid, holder):
    """A fresh heartbeat and file do not keep a dead holder's lock; nor does a live process that was given
    the dead holder's pid (its start time differs)."""
    record = other_run(pid=dead_pid()) if holder == "dead_pid" else \
        other_run(pid=live_pid, pid_start=process_start(live_pid) + 1)
    write_lock(tmp_path, record)
    with WriterLock(OutputFolder(str(tmp_path)), "this-run"):
        assert lock_record(tmp_path)["run"] == "this-run"


def test_another_hosts_lock_renewed_recently_is_refused_whatever_its_clock_says(tmp_path):
    """Its clock 130 s behind ours: its heartbeat reads 130 s old, but the file was just written."""
    write_lock(tmp_path, other_run(host="elsewhere", boot="another-boot", heartbeat=time.time() - 130))
    with pytest.raises(JobError, match="is being written by run other-run \\(pid 4242 on elsewhere"):
        WriterLock(OutputFolder(str(tmp_path)), "this-run", stale_after_s=STALE_AFTER_S).take()


def test_another_hosts_lock_not_rewritten_for_stale_after_s_is_taken_over_whatever_its_clock_says(tmp_path):
    """Its clock an hour ahead of ours: its heartbeat reads as the future, but the file is 200 s old."""
    write_lock(tmp_path, other_run(host="elsewhere", boot="another-boot", heartbeat=time.time() + 3600),
               file_age_s=STALE_AFTER_S + 80)
    with WriterLock(OutputFolder(str(tmp_path)), "this-run", stale_after_s=STALE_AFTER_S):
        assert lock_record(tmp_path)["run"] == "this-run"
        assert sorted(os.listdir(tmp_path)) == [LOCK]  # the probe and the moved-away lock gone


def test_the_lock_is_renewed_from_the_moment_it_is_taken(tmp_path):
    lock = WriterLock(OutputFolder(str(tmp_path)), "this-run", heartbeat_s=0.2)
    lock.take()  # no job, no monitor: the lock's own thread renews it
    first = lock_record(tmp_path)
    deadline = time.monotonic() + 10
    while lock_record(tmp_path) == first and time.monotonic() < deadline:
        time.sleep(0.05)
    renewed = lock_record(tmp_path)
    assert renewed["heartbeat"] > first["heartbeat"] and renewed["run"] == "this-run"
    lock.check()
    lock.release()
    assert os.listdir(tmp_path) == []


def test_a_holder_whose_lock_was_taken_over_stops_at_its_next_check(tmp_path):
    lock = WriterLock(OutputFolder(str(tmp_path)), "this-run", heartbeat_s=0.2)
    lock.take()
    taken = write_lock(tmp_path, other_run(host="elsewhere", boot="another-boot"))  # what a takeover leaves
    with pytest.raises(JobError, match="was taken over by run other-run \\(pid 4242 on elsewhere\\): this run stops"):
        lock.check()
    deadline = time.monotonic() + 10
    while lock.error is None and time.monotonic() < deadline:  # its heartbeat found it too, and stopped
        time.sleep(0.05)
    assert isinstance(lock.error, JobError)
    lock.release()
    assert (tmp_path / LOCK).read_bytes() == taken  # the new holder's lock left alone


def shard_writer(folder: OutputFolder, run: str) -> ShardWriter:
    """A task's writer of shard 0 of 1 holding one computed row."""
    schema = pa.schema([("id", pa.string()), ("n_tokens", pa.int32())])
    writer = ShardWriter(folder, run, 0, 1, schema, None, attempt=7, started=time.monotonic())
    writer.add(pa.record_batch([pa.array(["doc0"]), pa.array([3], pa.int32()), pa.array(["doc0"]),
                                pa.array(["hash0"]), pa.array([0], pa.int32()), pa.array([False])],
                               names=["id", "n_tokens", KEY, HASH, SHARD, DROP]))
    return writer


def test_the_executors_fence_commits_no_shard_once_another_run_holds_the_lock(tmp_path):
    folder = OutputFolder(str(tmp_path))
    write_lock(tmp_path, other_run(run="this-run"))
    shard_writer(folder, "this-run").commit()
    assert (tmp_path / "part-00000-of-00001.parquet").exists()
    write_lock(tmp_path, other_run())  # another run took the folder over
    message = ("was taken over by run other-run \\(pid 4242 on .*\\): this run's shard part-00000-of-00001.parquet "
               "is not committed")
    with pytest.raises(JobError, match=message):
        check_holder(folder, "this-run", "part-00000-of-00001.parquet")
    before = (tmp_path / "part-00000-of-00001.parquet").stat().st_mtime_ns
    with pytest.raises(JobError, match=message):
        shard_writer(folder, "this-run").commit()
    assert (tmp_path / "part-00000-of-00001.parquet").stat().st_mtime_ns == before  # not replaced
    os.remove(tmp_path / LOCK)
    with pytest.raises(JobError, match="lost this run's lock: _sparklong_lock.json is gone"):
        check_holder(folder, "this-run", "part-00000-of-00001.parquet")


FULL_DISK = """
import resource, signal, sys
from sparklong.storage.output_folder import OutputFolder
from sparklong.jobs.writer_lock import WriterLock
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (16, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    WriterLock(OutputFolder(sys.argv[1]), "this-run").take()
except OSError as exc:
    print("write failed:", exc)
"""


def test_a_write_error_while_taking_the_lock_leaves_no_lock_file(tmp_path):
    """Files limited to 16 bytes (as a full disk would cut them): the record cannot be written."""
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "write failed:" in done.stdout, done.stdout + done.stderr
    assert os.listdir(tmp_path) == []
