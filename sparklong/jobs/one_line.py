"""A failed job's stderr is one line: the reason (`error_line`), and nothing from the JVM unless --verbose
(`jvm_stderr_discarded`: log4j's messages, executor stack traces and the Python workers' stderr all go
to the stderr the JVM was started with)."""
from __future__ import annotations

import errno
import os
import sys
import tempfile
from contextlib import contextmanager

from .inputs import first_line
from .job_error import JobError

# a full disk or quota, as the C library (so Python, pyarrow and Java) words it
DISK_FULL = tuple(os.strerror(code) for code in (errno.ENOSPC, errno.EDQUOT))


def error_line(exc: BaseException, output: str | None, spark) -> str:
    """A JobError as written; any other failure by its innermost reason (first_line). A full disk also
    names the folders the job writes to: pyarrow's write errors (a shard file) and Java's (Spark's local
    files) name no file."""
    reason = str(exc) if isinstance(exc, JobError) else first_line(exc)
    if any(text in reason for text in DISK_FULL):
        reason += f" (where this job writes: {'; '.join(write_places(output, spark))})"
    return reason


def write_places(output: str | None, spark) -> list[str]:
    """The job's output folder, Spark's local dirs (persisted input, shuffle files) when a session runs,
    and the temp folder (private model copies)."""
    places = [f"output {output}"] if output else []
    local_dirs = spark_local_dirs(spark) if spark is not None else None
    if local_dirs:
        places.append(f"Spark's local dirs {local_dirs}")
    return places + [f"temp {tempfile.gettempdir()}"]


def spark_local_dirs(spark) -> str | None:
    """Where Spark keeps its local files on this machine: SPARK_LOCAL_DIRS, else spark.local.dir, else the
    JVM's java.io.tmpdir; None when the session's JVM cannot answer (it died)."""
    from py4j.protocol import Py4JError

    try:
        context = spark.sparkContext
        return os.environ.get("SPARK_LOCAL_DIRS") or context.getConf().get(
            "spark.local.dir", context._jvm.java.lang.System.getProperty("java.io.tmpdir"))
    except Py4JError:
        return None


@contextmanager
def jvm_stderr_discarded(discard: bool):
    """While the block starts a JVM, file descriptor 2 is /dev/null when `discard`: the JVM keeps it as its
    stderr for its whole life, so its output never reaches the terminal; this process's own stderr is
    back when the block ends."""
    if not discard:
        yield
        return
    sys.stderr.flush()  # what was written before goes where it was meant to
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
