"""Scheduled jobs (jobs/embed_corpus.py, jobs/answer_questions.py) on one sharded, resumable runner."""
