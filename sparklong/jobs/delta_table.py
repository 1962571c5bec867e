"""A job's output as a Delta Lake table, on the driver (the `deltalake` package, delta-rs: no JVM jar): the
table's state as a run plans against it, and the one commit that publishes a run.

The executors write the run's data files (delta_shards.py); only their small commit records reach the
driver, which commits them in ONE Delta transaction: an add action (path, size, stats) per new file and a
remove action per file it replaces, so a reader sees the table before the run or after it, never a part.

What today's parquet manifest holds (job, input, columns, id type, model and version, settings, shards,
rows) rides in each run's commit info under `sparklong`, with the run's id; a later run reads it from the
newest commit that carries it and checks it the same way (manifest.check_manifest).

One writer wins: a run commits against the version it planned from, with no retry (`max_commit_retries=0`):
if any other commit landed meanwhile, the commit fails and the run stops with one line. Each commit also
carries an application transaction (`sparklong.<job>`, version = the table version it creates), so a
commit whose outcome is unknown (a timeout) is looked up, never applied twice.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlparse

from .job_error import JobError

DELTA_LOG = "_delta_log"
COMMIT_KEY = "sparklong"  # the commit info's entry holding the run's manifest
RUN_KEY = "run"  # in that entry: the id of the run that committed


def _deltalake():
    """The deltalake package, or a JobError naming the extra that installs it."""
    try:
        import deltalake
    except ImportError as exc:
        raise JobError("--output-format delta needs the deltalake package: pip install 'sparklong[delta]'") from exc
    return deltalake


def table_uri(root: str) -> str:
    """The URI delta-rs opens for an output root: local paths as they are, s3a:/s3n: as s3:."""
    scheme = urlparse(root).scheme
    if scheme in ("s3a", "s3n"):
        return "s3" + root[len(scheme):]
    return root.removeprefix("file:") if scheme == "file" else root


def holds_delta_log(folder) -> bool:
    """Whether an output folder (storage.output_folder.OutputFolder) holds a Delta table's log: the one test
    that tells a Delta output from a parquet one before any deltalake call (DeltaOutput then opens it)."""
    return folder.exists(DELTA_LOG)


def app_id(job: str) -> str:
    """The application id of a job's commits (Delta's `txn` action)."""
    return f"sparklong.{job}"


@dataclass(frozen=True)
class AddedFile:
    """A data file a task wrote, as its commit record names it: path in the table, bytes, stats (JSON)."""

    path: str
    size: int
    stats: str


class DeltaOutput:
    """The table at `root` as of one version (the latest, or `version`): its manifest, its files, and the
    commit of a run planned against it."""

    def __init__(self, root: str, version: int | None = None):
        self.root, self.uri = root, table_uri(root)
        self.table = self._open(version)

    def _open(self, version: int | None):
        deltalake = _deltalake()
        if not deltalake.DeltaTable.is_deltatable(self.uri):
            if version is not None:
                raise JobError(f"{self.root} is not a Delta table, so it has no version {version}")
            return None
        try:
            return deltalake.DeltaTable(self.uri, version=version)
        except Exception as exc:  # noqa: BLE001 - delta-rs raises its own classes, one line is enough
            raise JobError(f"cannot open version {version} of the Delta table {self.root}: {exc}") from exc

    @property
    def version(self) -> int | None:
        return None if self.table is None else self.table.version()

    def manifest(self) -> dict | None:
        """The newest sparklong manifest at or before this version; None for no table, or a table that no
        sparklong run committed to."""
        if self.table is None:
            return None
        for commit in self.table.history():
            if commit.get("version", -1) <= self.version and isinstance(commit.get(COMMIT_KEY), dict):
                return {k: v for k, v in commit[COMMIT_KEY].items() if k != RUN_KEY}
        return None

    def files(self) -> dict[str, int]:
        """The data files of this version: path in the table -> size in bytes."""
        if self.table is None:
            return {}
        import pyarrow as pa

        actions = pa.table(self.table.get_add_actions())
        return dict(zip(actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist()))

    def commit(self, job: str, run: str, schema, manifest: dict, added: list[AddedFile], removed: dict[str, int]) \
            -> int:
        """Publish a run in one transaction against the version it planned from: `added` files in, `removed`
        (path -> size) out, the manifest in the commit info; the new version. JobError when another commit
        came first (nothing of this run is then in the table)."""
        deltalake = _deltalake()
        from deltalake.transaction import AddAction, CommitProperties, RemoveAction, Transaction, \
            create_table_with_add_actions

        target = 0 if self.table is None else self.version + 1
        now = int(time.time() * 1000)
        adds = [AddAction(f.path, f.size, {}, now, True, f.stats) for f in added]
        properties = CommitProperties(custom_metadata={COMMIT_KEY: {**manifest, RUN_KEY: run}}, max_commit_retries=0,
                                      app_transactions=[Transaction(app_id(job), target)])
        try:
            if self.table is None:
                create_table_with_add_actions(self.uri, deltalake.Schema.from_arrow(schema), adds, mode="error",
                                              commit_properties=properties)
            else:
                removes = [RemoveAction(path, True, now, size, {}) for path, size in sorted(removed.items())]
                self.table.create_write_transaction(adds + removes, "append", schema, commit_properties=properties)
        except Exception as exc:  # noqa: BLE001 - the table says whether this run's commit is in
            if self._committed_by(run, target):
                return target
            raise JobError(f"output {self.root} changed while this run wrote it (another commit made version "
                           f"{target} first: {type(exc).__name__}): nothing of this run was committed; run again "
                           "to bring it up to date") from exc
        return target

    def _committed_by(self, run: str, version: int) -> bool:
        """Whether `version` of the table exists and is this run's commit (an outcome not known at first)."""
        try:
            latest = DeltaOutput(self.root)
        except JobError:
            return False
        if latest.table is None or latest.version < version:
            return False
        entry = next((c.get(COMMIT_KEY) for c in latest.table.history() if c.get("version") == version), None)
        return isinstance(entry, dict) and entry.get(RUN_KEY) == run
