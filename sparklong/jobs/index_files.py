"""What search reads of an embed_corpus output (its index): the manifest and the committed data files, of a
parquet output folder or of one version of a Delta table (the latest, or `--version N`), and those files as
a DataFrame read by the executors.

Local paths and file: URIs are read by Spark's parquet reader (pages' checksums verified). Other URIs (s3:,
gs:, abfs:, hdfs:) are read as the jobs write them, through pyarrow.fs in the executors' tasks, one task
per file: Spark reaches an object store only through connector jars (hadoop-aws for s3a:) that a pip
install of pyspark lacks, pyarrow.fs with the standard environment variables only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..storage.hadoop_folder import is_local, qualify
from ..storage.output_folder import OutputFolder
from .delta_table import DeltaOutput, holds_delta_log
from .job_error import JobError
from .manifest import read_job_manifest

VERIFY_CHECKSUMS = "parquet.page.verify-checksum.enabled"  # parquet-java's reader option


@dataclass(frozen=True)
class IndexFiles:
    """An index as of the version searched: its folder, manifest, data files (names in the folder) and, for
    a Delta table, the version."""

    folder: OutputFolder
    manifest: dict | None
    names: list[str]
    delta_version: int | None = None

    def describe(self) -> str:
        return f"version {self.delta_version} of " if self.delta_version is not None else ""


def open_index(index: str, version: int | None = None) -> IndexFiles:
    """The index at `index`: a Delta table (its latest version, or `version`) or a parquet output folder."""
    folder = OutputFolder(qualify(index))
    if holds_delta_log(folder):
        table = DeltaOutput(folder.root, version)
        return IndexFiles(folder, table.manifest(), sorted(table.files()), table.version)
    if version is not None:
        raise JobError(f"--version reads a Delta table; index {index} is a parquet output folder")
    names = [n for n in folder.list() if n.endswith(".parquet") and not n.startswith(("_", "."))]
    return IndexFiles(folder, read_job_manifest(folder), names)


def read_index(spark, files: IndexFiles):
    """A DataFrame of every row of the index's files, every page's checksum verified as it is read."""
    uris = [files.folder.uri(name) for name in files.names]
    if is_local(files.folder.root):
        return spark.read.option(VERIFY_CHECKSUMS, "true").parquet(*uris)
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = _file_schema(files.folder, files.names[0])
    names = spark.createDataFrame([(n,) for n in files.names], "file string").repartition(len(files.names))
    return names.mapInArrow(file_reader(files.folder, schema), from_arrow_schema(schema))


def _file_schema(folder: OutputFolder, name: str):
    import pyarrow.parquet as pq

    with folder.fs.open_input_file(folder.path(name)) as fh:
        return pq.ParquetFile(fh).schema_arrow.remove_metadata()


def file_reader(folder: OutputFolder, schema):
    """mapInArrow function: batches of file names -> the files' rows (`schema`), read with pyarrow.fs, every
    page's checksum verified; a file that fails is named in the error."""
    import pyarrow.parquet as pq

    def read(batches) -> Iterator:
        for batch in batches:
            for name in batch.column("file").to_pylist():
                try:
                    with folder.fs.open_input_file(folder.path(name)) as fh:
                        for rows in pq.ParquetFile(fh, page_checksum_verification=True).iter_batches():
                            yield rows.cast(schema)
                except OSError as exc:
                    raise OSError(f"index file {folder.uri(name)} cannot be read ({exc})") from exc

    return read

