"""Answer questions: parquet or JSON lines of (id, question, context) -> parquet (id, answer, begin, end, score).

    python jobs/answer_questions.py --input PATH --output PATH --model NAME_OR_FOLDER
        [--question-col question] [--context-col context] [--id-col id] [--master local[*]] [--overwrite]
    spark-submit --master yarn jobs/answer_questions.py --input ... --output ... --model ...

begin/end are inclusive character offsets into the context. Resumable and idempotent as embed_corpus.
"""
import sys

from sparklong.jobs.answer_questions import SPEC
from sparklong.jobs.runner import main

if __name__ == "__main__":
    sys.exit(main(SPEC))
