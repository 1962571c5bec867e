"""One writer per output folder: `_sparklong_lock.json` names the run that holds the folder and where it
runs (host, kernel boot id, pid namespace, pid and that process's start time). The holder renews it from a
thread of its own from the moment it takes it until it releases it.

Taking: the record is published whole or not at all (`OutputFolder.publish_new`: written beside, then
linked to the lock's name, which fails when the name exists). A run that finds the lock held judges the
holder, never comparing two hosts' clocks:

- a holder whose process this run can look up (the same kernel and pid namespace; the same host name
  where the boot id is unknown) is alive exactly while a process with its pid and start time exists
  (a pid reused by a later process is not alive). A live one is never taken over, however old its
  heartbeat; a dead one (a SIGKILLed run) at once;
- any other holder (another host, or this host after a reboot) is stale when its lock file has not been
  rewritten for `stale_after_s`, measured on the file system's clock: the modification time of a probe
  file written now minus the lock file's;
- an unreadable lock (only an older sparklong or a hand edit leaves one) is stale.

A stale lock is taken over without a check-then-delete: renamed to a unique name, then deleted only if
what was moved is the record judged stale; otherwise (renewed or taken meanwhile) it is put back if the
name is still free. The recorded start and heartbeat times are for the messages people read.

Executors call `check_holder` before each shard's commit, so a run whose lock was taken over commits
no more shards; the driver calls `WriterLock.check` before each of its writes (manifest, `_SUCCESS`,
removing `_staging`) and after its Spark job.

On local disks and NFS publishing is exclusive (link(2)) and a takeover's rename atomic; on other file
systems both are a check then an action (OutputFolder.link_new), so two runs that start in the same
instant there may both take the lock.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass, replace

from ..processes import boot_id, pid_namespace, process_start
from ..storage.output_folder import OutputFolder
from .job_error import JobError

LOCK = "_sparklong_lock.json"
HEARTBEAT_S = 10.0
STALE_AFTER_S = 120.0
TAKE_TRIES = 3  # rounds of publish, judge, take away before giving up on a lock other runs keep taking


@dataclass(frozen=True)
class LockRecord:
    run: str
    host: str
    pid: int
    started: float  # the holder's clock, for messages only
    heartbeat: float  # the holder's clock, for messages only
    boot: str = ""  # the kernel's boot id; "" where unknown (and in locks written by older versions)
    pidns: str = ""  # the holder's pid namespace; "" where unknown
    pid_start: int = 0  # the holder process's start time (field 22 of /proc/<pid>/stat); 0 where unknown

    @classmethod
    def parse(cls, data: bytes) -> LockRecord | None:
        """The record in a lock file's bytes; None when they are not one."""
        try:
            fields = json.loads(data)
            return cls(run=str(fields["run"]), host=str(fields["host"]), pid=int(fields["pid"]),
                       started=float(fields["started"]), heartbeat=float(fields["heartbeat"]),
                       boot=str(fields.get("boot", "")), pidns=str(fields.get("pidns", "")),
                       pid_start=int(fields.get("pid_start", 0)))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def encode(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode("utf-8")

    def name(self) -> str:
        return f"run {self.run} (pid {self.pid} on {self.host})"

    def describe(self, renewed_s: float) -> str:
        """The holder for a refusal; `renewed_s`: seconds since it last renewed, on one clock."""
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return (f"run {self.run} (pid {self.pid} on {self.host}, started {started}, "
                f"last heartbeat {renewed_s:.0f} s ago)")


@dataclass(frozen=True)
class HeldLock:
    """The lock file as read: its bytes, its modification time (file system clock, ns), its record."""

    data: bytes
    mtime_ns: int
    record: LockRecord | None  # None: unreadable

    def names(self, run: str) -> bool:
        return self.record is not None and self.record.run == run


def is_alive(pid: int, pid_start: int) -> bool:
    """Whether process `pid` exists and, where its start time was recorded, is the process that started
    then (not a later one that was given the same pid)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return not pid_start or process_start(pid) == pid_start


def sees_processes_of(holder: LockRecord, me: LockRecord) -> bool:
    """Whether `me` can look up `holder`'s process by pid: the same kernel (boot id) and pid namespace; by
    host name where either boot id is unknown. Another boot id is a reboot or another machine that has the
    same host name: the lock file's age decides then."""
    if holder.boot and me.boot:
        return holder.boot == me.boot and holder.pidns == me.pidns
    return holder.host == me.host


def read_lock(folder: OutputFolder) -> HeldLock | None:
    """The lock as it is now; None when there is none."""
    try:
        data, mtime_ns = folder.read_with_mtime(LOCK)
    except FileNotFoundError:
        return None
    return HeldLock(data, mtime_ns, LockRecord.parse(data))


def is_lock_file(name: str) -> bool:
    """The lock and the short-lived files beside it (temp, probe, moved-away lock): runs leave them to the lock."""
    return name == LOCK or name.startswith(LOCK + ".")


def _beside_lock(kind: str) -> str:
    return f"{LOCK}.{uuid.uuid4().hex}.{kind}"


def take_away(folder: OutputFolder, judged: bytes) -> None:
    """Remove the lock if it still holds `judged`, atomically where renames are: moved to a unique name, then
    deleted if what was moved is `judged`, else put back if no run has taken the name meanwhile."""
    aside = _beside_lock("taken")
    try:
        folder.replace(LOCK, aside)
    except FileNotFoundError:
        return  # gone meanwhile
    try:
        if folder.read_bytes(aside) != judged:
            folder.link_new(aside, LOCK)  # renewed or taken meanwhile: its holder keeps it
    finally:
        folder.delete(aside)


def lost_message(folder: OutputFolder, held: HeldLock | None) -> str:
    """How a run lost `folder`'s lock, given the lock as it is now."""
    if held is None:
        return f"output {folder.root} lost this run's lock: {LOCK} is gone"
    who = held.record.name() if held.record is not None else f"an unreadable {LOCK}"
    return f"output {folder.root} was taken over by {who}"


def check_holder(folder: OutputFolder, run: str, shard_file: str) -> None:
    """The executors' fence, called before a task commits (renames or deletes) a shard file: JobError unless
    the lock names `run`."""
    held = read_lock(folder)
    if held is None or not held.names(run):
        raise JobError(f"{lost_message(folder, held)}: this run's shard {shard_file} is not committed")


class WriterLock:
    """Held for the life of a run: `with WriterLock(...)` (or `take()` ... `release()`), renewed every
    `heartbeat_s` by its own thread; `check()` raises once another run has taken it over."""

    def __init__(self, folder: OutputFolder, run: str, heartbeat_s: float = HEARTBEAT_S,
                 stale_after_s: float = STALE_AFTER_S):
        self.folder = folder
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        now = time.time()
        self.record = LockRecord(run, socket.gethostname(), os.getpid(), now, now, boot_id(), pid_namespace(),
                                 process_start(os.getpid()))
        self.error: Exception | None = None  # why renewing stopped, raised by check()
        self._released = threading.Event()
        self._heartbeat = threading.Thread(target=self._renew_until_released, name="sparklong-lock-heartbeat",
                                           daemon=True)

    def __enter__(self) -> WriterLock:
        self.take()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def take(self) -> None:
        """Publish this run's record, or take a dead or stale holder's lock over; JobError naming a live holder."""
        self.folder.mkdirs()
        for _ in range(TAKE_TRIES):
            if self.folder.publish_new(LOCK, self.record.encode()):
                self._heartbeat.start()
                return
            held = read_lock(self.folder)
            if held is None:
                continue  # released meanwhile
            renewed_s = self._live_holder_renewed_s(held)
            if renewed_s is not None:
                raise JobError(f"output {self.folder.root} is being written by {held.record.describe(renewed_s)}: "
                               f"wait for it to finish, or remove {LOCK} if that run is gone")
            take_away(self.folder, held.data)
        raise JobError(f"could not take {self.folder.uri(LOCK)}: other runs keep taking it")

    def _live_holder_renewed_s(self, held: HeldLock) -> float | None:
        """Seconds since a live holder renewed the lock; None when the holder is dead or stale."""
        holder = held.record
        if holder is None:
            return None
        if sees_processes_of(holder, self.record):
            return time.time() - holder.heartbeat if is_alive(holder.pid, holder.pid_start) else None
        age_s = (self.folder.clock_ns(_beside_lock("probe")) - held.mtime_ns) / 1e9
        return age_s if age_s <= self.stale_after_s else None

    def renew(self) -> None:
        """A fresh heartbeat, the record rewritten whole; JobError when another run has taken the lock over."""
        held = read_lock(self.folder)
        if held is None or not held.names(self.record.run):
            raise JobError(lost_message(self.folder, held))
        self.record = replace(self.record, heartbeat=time.time())
        self.folder.rewrite(LOCK, self.record.encode())

    def _renew_until_released(self) -> None:
        while not self._released.wait(self.heartbeat_s):
            try:
                self.renew()
            except Exception as exc:  # noqa: BLE001 - raised by check() in the run's thread
                self.error = exc
                return

    def check(self) -> None:
        """JobError unless this run still holds the lock (naming the run that took it over) and its heartbeat
        still renews it."""
        held = read_lock(self.folder)
        if held is None or not held.names(self.record.run):
            raise JobError(f"{lost_message(self.folder, held)}: this run stops")
        if self.error is not None:
            raise JobError(f"could not renew {self.folder.uri(LOCK)}: {self.error}")

    def release(self) -> None:
        """Stop renewing; remove the lock if it is still this run's."""
        self._released.set()
        if self._heartbeat.is_alive():
            self._heartbeat.join()
        held = read_lock(self.folder)
        if held is not None and held.names(self.record.run):
            take_away(self.folder, held.data)
