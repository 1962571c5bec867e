"""Search an embed_corpus output: queries (parquet or JSON lines of query_id, query) -> parquet
(query_id, rank, id, chunk, begin, end, score), the top k rows per query by cosine similarity.

    python jobs/search.py --index PATH --queries PATH [--top-k 10] [--model NAME_OR_FOLDER] [--output PATH]
        [--per-document] [--query-id-col query_id] [--query-col query] [--master local[*]]
    spark-submit --master spark://HOST:7077 jobs/search.py --index ... --queries ... --output ...

The queries are embedded with the index's model and settings; without --output the results are printed
as JSON lines. `--help` lists every option.
"""
import sys

from sparklong.jobs.search import main

if __name__ == "__main__":
    sys.exit(main())
