"""One run of a job whose output is a Delta table (`--output-format delta`): the parquet run's plan and its one
Spark job (runner.JobRun), with the table in place of the manifest, the lock and the per-shard renames.

- What the output holds: the table's current files (`part-00003-of-00010-<run>-<attempt>.parquet`, one per
  shard, each with its row index under `_index/`) and the manifest in its newest sparklong commit.
- The tasks write each dirty shard's new file (delta_shards.py) and return its commit record; once every
  dirty shard has one, the driver commits them in one version (delta_table.py): the new files added, the
  dirty shards' old files (and damaged ones) removed. A run killed before that commit left no trace in the
  table; its rerun plans against the same version and computes the same shards again.
- No lock: Delta's commit decides between two runs (the one that commits second fails, with one line).
- `--incremental` is that same single commit: a reader sees last night's version or tonight's; earlier
  versions stay readable until `vacuum` deletes their files.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .delta_shards import DeltaShardWriter
from .delta_table import AddedFile, DeltaOutput
from .job_error import JobError
from .manifest import MANIFEST
from .row_index import INDEX
from .runner import JobRun
from .shard_check import CheckedShards, remove_unreferenced_indexes
from .shard_files import STAGING, run_scratch
from .shard_precision import PRECISIONS, check_one_precision

_DATA_FILE = re.compile(r"part-(\d{5})-of-(\d{5})-(.+)\.parquet")


def data_file_shard(name: str, shards: int) -> int | None:
    """The shard a table's data file holds, None for other names (or another shard count)."""
    match = _DATA_FILE.fullmatch(name)
    return int(match.group(1)) if match and int(match.group(2)) == shards else None


class NoLock:
    """A Delta run's stand-in for the writer lock: the table's commit is the only arbiter."""

    def __enter__(self) -> "NoLock":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def check(self) -> None:
        pass


@dataclass
class DeltaRun(JobRun):
    def __post_init__(self):
        super().__post_init__()
        self.lock = NoLock()
        self.table: DeltaOutput | None = None  # the version this run plans from, opened by clear()
        self.current: dict[int, str] = {}  # shard -> its data file in that version (damaged ones left out)
        self.damaged: set[str] = set()
        self.indexes: set[str] = set()  # the row indexes the trusted current files name
        self.manifest_changed = False

    def clear(self) -> None:
        """Open the table; refuse a folder that holds something else (nothing is deleted: --overwrite is a
        version that removes every file, earlier versions stay readable)."""
        self.table = DeltaOutput(self.folder.root)
        if self.table.table is not None:
            return
        names = [n for n in self.folder.list() if n not in (STAGING, INDEX) and _DATA_FILE.fullmatch(n) is None]
        if MANIFEST in names:
            raise JobError(f"output {self.folder.root} holds a parquet output: pass --output-format parquet, or pick "
                           "another --output")
        if names:
            raise JobError(f"output {self.folder.root} exists and was not written by this job: pick another --output")

    def read_first(self) -> dict | None:
        first = self.table.manifest()
        if first is None and self.table.table is not None:  # refused even with --overwrite
            raise JobError(f"output {self.folder.root} is a Delta table that no sparklong job wrote: pick another "
                           "--output")
        return None if self.args.overwrite else first

    def committed_files(self, shards: int) -> list[str]:
        files = [name for name in self.table.files() if data_file_shard(name, shards) is not None]
        self.current = {data_file_shard(name, shards): name for name in files}
        return files

    def save_manifest(self, manifest: dict) -> None:
        self.manifest_changed = True  # committed with the run's files (or alone when none changed)

    def tidy_committed(self, checked: CheckedShards) -> None:
        """Damaged files: their shards' ids computed again like new ones, the files removed from the table by
        this run's commit (older versions keep naming them until vacuum)."""
        for name, reason in sorted(checked.damaged.items()):
            print(f"{self.spec.name}: {self.folder.uri(name)} is damaged ({reason}): this run's version no longer "
                  "names it; its shard's ids are computed again", flush=True)
        self.damaged = set(checked.damaged)
        self.current = {shard: name for shard, name in self.current.items() if name not in self.damaged}
        self.indexes = set(checked.indexes)

    def writer(self) -> tuple[type, dict]:
        return DeltaShardWriter, {"committed": self.current}

    def publish(self, records: list[dict], schema) -> None:
        """The one commit of this run: the new files in, the dirty shards' old files and damaged ones out; none
        when the table would then hold vectors of two precisions (shard_precision.py)."""
        shards = [r["shard"] for r in records]
        if len(set(shards)) != len(shards):
            raise JobError(f"a shard came back twice from the tasks ({sorted(shards)}): nothing was committed")
        dirty = set(shards)
        removed = {path: size for path, size in self.table.files().items()
                   if self.args.overwrite or path in self.damaged
                   or data_file_shard(path, int(self.planned["shards"])) in dirty}
        added = [AddedFile(r["file"], r["bytes"], r["stats"]) for r in records if r["file"]]
        indexes = {r["index"] for r in records if r["index"]}
        try:
            check_one_precision(self.folder.root, self.planned[PRECISIONS])
            version = self.table.commit(self.spec.name, self.run, schema, self.planned, added, removed)
        except JobError:
            self.delete_own_files(set())  # no version names them
            for index in indexes:
                self.folder.delete(index)
            raise
        print(f"{self.spec.name}: version {version} of {self.folder.root} committed: {len(added)} files added, "
              f"{len(removed)} removed", flush=True)
        self.delete_own_files({f.path for f in added})
        # after the commit: a run still writing planned from an older version, so its commit will fail
        remove_unreferenced_indexes(self.folder, self.indexes | indexes)

    def delete_own_files(self, committed: set[str]) -> None:
        """This run's data files that no version names (attempts Spark discarded, or all after a lost commit)."""
        for name in self.folder.list():
            if f"-{self.run}-" in name and _DATA_FILE.fullmatch(name) and name not in committed:
                self.folder.delete(name)

    def unmark_done(self) -> None:
        """Nothing to unmark: a version is complete or absent."""

    def mark_done(self) -> None:
        """The scratch of this run and of runs started before it removed (those can no longer commit)."""
        left = [name for name in self.folder.list(STAGING) if name > self.run]
        for name in self.folder.list(STAGING):
            if name <= self.run:
                self.folder.delete(run_scratch(name))
        if not left:
            self.folder.delete(STAGING)

    def nothing_to_do(self, shards: int, rows: int) -> None:
        """No shard to write; a changed manifest (an incremental run's new input) is still committed, alone."""
        if self.manifest_changed and self.table.table is not None:
            version = self.table.commit(self.spec.name, self.run, self.table.table.schema().to_arrow(),
                                        self.planned, [], {})
            print(f"{self.spec.name}: version {version} of {self.folder.root} committed: the input's new "
                  "description only", flush=True)
        self.mark_done()
        print(f"{self.spec.name}: nothing to do: all {shards} shards of {self.folder.root} are committed "
              f"({rows:,} documents); --overwrite starts again", flush=True)

