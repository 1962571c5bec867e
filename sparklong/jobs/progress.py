"""The lines a person follows while a job runs: one per committed shard, and a summary at the end."""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field


def duration(seconds: float) -> str:
    seconds = int(round(max(0.0, seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


@dataclass
class Progress:
    """Counts this run's commits; ETA from this run's seconds per computed document over those left.
    Fed by the run's monitor thread and by the job's final records: each shard is counted once."""

    job: str
    shards: int  # in the whole output
    writing: int  # shards this run writes
    to_compute: int  # documents this run computes
    has_tokens: bool
    out: object = field(default=None)
    started: float = field(default_factory=time.monotonic)
    done: set = field(default_factory=set)
    computed: int = 0
    removed: int = 0
    tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def say(self, line: str) -> None:
        print(f"{self.job}: {line}", file=self.out or sys.stdout, flush=True)

    def shard_done(self, record: dict) -> None:
        """One line for a shard's commit record (shard, rows, computed, kept, removed, tokens, seconds)."""
        with self._lock:
            if record["shard"] in self.done:
                return
            self.done.add(record["shard"])
            self.computed += record["computed"]
            self.removed += record["removed"]
            self.tokens += record["tokens"]
            elapsed = time.monotonic() - self.started
            left = self.to_compute - self.computed
            eta = elapsed / self.computed * left if self.computed else 0.0
            work = f"{record['computed']:,} documents"
            if self.has_tokens:
                rate = record["tokens"] / max(record["seconds"], 1e-9)
                work += f", {record['tokens']:,} tokens, {rate:,.0f} tokens/s"
            if record["kept"] or record["removed"]:
                work += f", {record['kept']:,} kept, {record['removed']:,} removed"
            self.say(f"shard {record['shard'] + 1}/{self.shards} committed in {record['seconds']:.1f} s: {work}; "
                     f"{len(self.done)}/{self.writing} shards of this run done, ETA {duration(eta)}")

    def uncommitted(self, shards: list[int]) -> list[int]:
        """Those of `shards` that no commit record has been counted for, in order."""
        with self._lock:
            return sorted(set(shards) - self.done)

    def summary(self, kept: int, up_to_date: int) -> None:
        """`kept`: documents of the whole output left as they were (in shards rewritten or not)."""
        seconds = time.monotonic() - self.started
        work = f"{self.computed:,} documents embedded" if self.has_tokens else f"{self.computed:,} documents computed"
        work += f", {kept:,} kept, {self.removed:,} removed"
        rate = f"{self.tokens:,} tokens, {self.tokens / max(seconds, 1e-9):,.0f} tokens/s" if self.has_tokens else \
            f"{self.computed / max(seconds, 1e-9):,.2f} documents/s"
        already = f"; {up_to_date} shard{'s' if up_to_date != 1 else ''} were already up to date" if up_to_date else ""
        self.say(f"done: {work}; {rate}; {seconds:.1f} s ({len(self.done)} shards written this run{already})")
