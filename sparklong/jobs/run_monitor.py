"""The driver's thread while the run's one Spark job computes: prints a line for each shard a task
commits (from the small commit records the tasks write)."""
from __future__ import annotations

import json
import threading

from ..storage.output_folder import OutputFolder
from .progress import Progress

POLL_S = 1.0


class RunMonitor:
    def __init__(self, folder: OutputFolder, commits: str, progress: Progress):
        self.folder, self.commits, self.progress = folder, commits, progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sparklong-run-monitor", daemon=True)
        self.error: Exception | None = None
        self._read: set[str] = set()

    def __enter__(self) -> "RunMonitor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()  # records committed since the last poll

    def poll(self) -> None:
        for name in self.folder.list(self.commits):
            if name.endswith(".json") and name not in self._read:
                try:
                    self.progress.shard_done(json.loads(self.folder.read_bytes(f"{self.commits}/{name}")))
                except (OSError, ValueError, KeyError):
                    continue  # not readable yet: the next poll tries again
                self._read.add(name)

    def _loop(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 - reported by the runner after the job
                self.error = exc
                return
