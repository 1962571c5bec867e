"""Spark-free, Arrow-free cores: pure Python (numpy, and torch for the forward pass) over Annotation
lists and the engine's tokenizer and models. The annotators' Spark layer, LightPipeline and the Arrow
UDF runtime (udfs/) all call these; nothing here imports pyspark, pyarrow, annotators/, jobs/ or udfs/."""
