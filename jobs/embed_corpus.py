"""Embed a corpus: parquet, JSON lines or a folder of .txt files -> parquet (id, embedding, n_tokens).

    python jobs/embed_corpus.py --input PATH --output PATH --model NAME_OR_FOLDER [--text-col text]
        [--id-col id] [--master local[*]] [--pooling mean] [--shard-rows 500] [--overwrite]
    spark-submit --master spark://HOST:7077 jobs/embed_corpus.py --input ... --output ... --model ...

Resumable: a rerun after a crash computes only the shards not yet committed; a rerun after success
does nothing. `--help` lists every option.
"""
import sys

from sparklong.jobs.embed_corpus import SPEC
from sparklong.jobs.runner import main

if __name__ == "__main__":
    sys.exit(main(SPEC))
