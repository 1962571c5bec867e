"""pandas UDF runtime: executor model cache, length-bucketed batching, the embedding/QA cores."""
