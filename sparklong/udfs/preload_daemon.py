"""The Python worker daemon sparklong.start() names (spark.python.daemon.module): pyspark's own daemon with
torch, tokenizers and pyarrow imported before it forks the workers, so a new worker (a first task, a worker
lost and restarted, a new executor) starts with them in memory, shared copy-on-write, instead of importing
them itself (docs/design.md). Importing starts no thread in them, so forking after it is safe."""
import pyarrow  # noqa: F401
import tokenizers  # noqa: F401
import torch  # noqa: F401
from pyspark.daemon import manager

if __name__ == "__main__":
    manager()
