"""Scalar-iterator Arrow UDF runtime (pyspark's arrow_udf): annotation columns to and from Arrow, the
UDFs that run a core per row or per batch, the executor model cache, model shipping and task resources.
The cores they run are in sparklong/cores."""
