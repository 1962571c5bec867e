"""The lines a person follows while a job runs: one per committed shard, and a summary at the end."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field


def duration(seconds: float) -> str:
    seconds = int(round(max(0.0, seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


@dataclass
class Progress:
    """Counts this run's work; ETA from this run's seconds per document over the documents still to do."""

    job: str
    shards: int  # in the whole output
    pending_rows: int  # documents this run has to do
    has_tokens: bool
    out: object = field(default=None)
    started: float = field(default_factory=time.monotonic)
    done_shards: int = 0
    rows: int = 0
    tokens: int = 0

    def say(self, line: str) -> None:
        print(f"{self.job}: {line}", file=self.out or sys.stdout, flush=True)

    def shard_done(self, index: int, committed: int, rows: int, tokens: int, seconds: float) -> None:
        self.done_shards += 1
        self.rows += rows
        self.tokens += tokens
        elapsed = time.monotonic() - self.started
        left = self.pending_rows - self.rows
        eta = elapsed / self.rows * left if self.rows else 0.0
        work = f"{rows:,} documents"
        if self.has_tokens:
            work += f", {tokens:,} tokens, {tokens / max(seconds, 1e-9):,.0f} tokens/s"
        self.say(f"shard {index + 1}/{self.shards} committed in {seconds:.1f} s: {work}; "
                 f"{committed}/{self.shards} shards done, ETA {duration(eta)}")

    def summary(self, skipped: int) -> None:
        seconds = time.monotonic() - self.started
        work = f"{self.rows:,} documents"
        if self.has_tokens:
            work += f", {self.tokens:,} tokens"
        rate = f"{self.tokens / max(seconds, 1e-9):,.0f} tokens/s" if self.has_tokens else \
            f"{self.rows / max(seconds, 1e-9):,.2f} documents/s"
        resumed = f"; {skipped} shard{'s' if skipped != 1 else ''} were already committed" if skipped else ""
        self.say(f"done: {work} in {seconds:.1f} s, {rate} ({self.done_shards} shards this run{resumed})")
