"""sparklong: Longformer as Spark NLP-style annotators over PySpark DataFrames."""
__version__ = "0.1.0"
