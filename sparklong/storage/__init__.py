"""Files on any Hadoop-compatible path, below both the annotators and the jobs (it imports neither):

- hadoop_folder.py: a folder through the driver's JVM (Hadoop's FileSystem API): the jobs' inputs and
  saved stages; also the path helpers is_local, local_path and qualify.
- output_folder.py: a folder through pyarrow.fs, the same on the driver and in executors' tasks (which
  have no JVM): a job's output folder, its shard files and commit records.
- save_beside.py: saving onto a path by writing beside it, then swapping in (a failed save leaves the
  path as it was).
"""
