"""One writer per output folder: `_sparklong_lock.json` names the run that holds the folder (host, pid,
run id, start time) and carries a heartbeat the holder renews while it runs.

A second run refuses while the lock is live. A lock is stale, and taken over, when its holder is a
process of this host that no longer exists (a SIGKILLed run: the rerun needs no hand-deleted file), or
when its heartbeat is older than `stale_after_s` (a holder on another host that died).
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass

from .inputs import JobError
from .output_folder import OutputFolder

LOCK = "_sparklong_lock.json"
HEARTBEAT_S = 10.0
STALE_AFTER_S = 120.0


@dataclass(frozen=True)
class LockRecord:
    run: str
    host: str
    pid: int
    started: float
    heartbeat: float

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return (f"run {self.run} (pid {self.pid} on {self.host}, started {started}, "
                f"last heartbeat {time.time() - self.heartbeat:.0f} s ago)")


def _read(folder: OutputFolder) -> LockRecord | None:
    """The lock as written, None when absent; an unreadable lock counts as stale (it was half written by
    no one: writes are atomic), so it is reported as a record that is long dead."""
    try:
        data = json.loads(folder.read_bytes(LOCK))
        return LockRecord(**{k: data[k] for k in LockRecord.__dataclass_fields__})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return LockRecord(run="?", host="?", pid=0, started=0.0, heartbeat=0.0)


def _is_stale(record: LockRecord, stale_after_s: float) -> bool:
    if record.host == socket.gethostname():
        try:
            os.kill(record.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # alive, another user's
    return time.time() - record.heartbeat > stale_after_s


class WriterLock:
    """Held for the life of a run: `take()`, then `renew()` from the run's monitor, `release()` at the end."""

    def __init__(self, folder: OutputFolder, run: str, scratch: str, stale_after_s: float = STALE_AFTER_S):
        self.folder = folder
        self.scratch = scratch
        self.stale_after_s = stale_after_s
        now = time.time()
        self.record = LockRecord(run, socket.gethostname(), os.getpid(), now, now)

    def _encoded(self) -> bytes:
        return json.dumps(asdict(self.record), indent=1).encode("utf-8")

    def take(self) -> None:
        self.folder.mkdirs()
        for _ in range(3):
            if self.folder.create_new(LOCK, self._encoded()):
                return
            held = _read(self.folder)
            if held is None:
                continue  # released meanwhile
            if not _is_stale(held, self.stale_after_s):
                raise JobError(f"output {self.folder.root} is being written by {held.describe()}: wait for it "
                               f"to finish, or remove {LOCK} if that run is gone")
            if _read(self.folder) == held:  # nobody took it over meanwhile
                self.folder.delete(LOCK)
        raise JobError(f"could not take {self.folder.uri(LOCK)}: another run keeps taking it")

    def renew(self) -> None:
        """A fresh heartbeat, written atomically; an error when another run took the lock over."""
        held = _read(self.folder)
        if held is None or held.run != self.record.run:
            raise JobError(f"{self.folder.uri(LOCK)} was taken over by another run")
        self.record = LockRecord(**{**asdict(self.record), "heartbeat": time.time()})
        self.folder.write_bytes(LOCK, self._encoded(), self.scratch)

    def release(self) -> None:
        held = _read(self.folder)
        if held is not None and held.run == self.record.run:
            self.folder.delete(LOCK)
