"""Scalar-iterator Arrow UDF runtime (pyspark's arrow_udf): executor model cache, length-bucketed batching,
the embedding/QA cores."""
