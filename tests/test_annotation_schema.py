"""Every stage's annotation column has Spark NLP's schema, as Spark NLP's printSchema() shows it (its
DocumentAssembler docstring and notebooks): the array nullable, its structs nullable, begin and end
not. Schemas come from Spark's analysis alone: no Spark job runs here."""
from pyspark.sql import functions as F

from sparklong import (
    DocumentAssembler,
    LongformerEmbeddings,
    MultiDocumentAssembler,
    NerConverter,
    SentenceDetector,
    SentenceEmbeddings,
    Tokenizer,
)
from sparklong.annotation import NAMED_ENTITY, annotation_column

SPARK_NLP_SCHEMA = """root
 |-- {name}: array (nullable = true)
 |    |-- element: struct (containsNull = true)
 |    |    |-- annotatorType: string (nullable = true)
 |    |    |-- begin: integer (nullable = false)
 |    |    |-- end: integer (nullable = false)
 |    |    |-- result: string (nullable = true)
 |    |    |-- metadata: map (nullable = true)
 |    |    |    |-- key: string
 |    |    |    |-- value: string (valueContainsNull = true)
 |    |    |-- embeddings: array (nullable = true)
 |    |    |    |-- element: float (containsNull = false)
"""


def assert_spark_nlp_schema(df, *names):
    for name in names:
        assert df.select(name).schema.treeString() == SPARK_NLP_SCHEMA.format(name=name), name


def test_rule_based_stages_print_spark_nlp_schema(spark):
    df = spark.createDataFrame([("Mr. Smith left. He slept.", "Who left?", ["a", "b"])], "text string, q string, "
                               "parts array<string>")
    df = DocumentAssembler().setInputCol("text").setOutputCol("document").transform(df)
    df = DocumentAssembler().setInputCol("parts").setOutputCol("part").transform(df)  # array<string> input
    df = MultiDocumentAssembler().setInputCols(["q", "text"]).setOutputCols(["question", "context"]).transform(df)
    df = SentenceDetector().setInputCols(["document"]).setOutputCol("sentence").transform(df)
    df = Tokenizer().setInputCols(["sentence"]).setOutputCol("token").fit(df).transform(df)
    df = df.withColumn("ner", annotation_column(F.col("token"), "ner", NAMED_ENTITY))  # tags, as a model gives
    df = NerConverter().setInputCols(["sentence", "token", "ner"]).setOutputCol("chunk").transform(df)
    assert_spark_nlp_schema(df, "document", "part", "question", "context", "sentence", "token", "chunk")
    exploded = SentenceDetector().setInputCols(["document"]).setOutputCol("sentence").setExplodeSentences(True)
    assert_spark_nlp_schema(exploded.transform(df.drop("sentence")), "sentence")


def test_model_stages_print_spark_nlp_schema(spark, tiny_folder):
    df = spark.createDataFrame([("Some words here.",)], ["text"])
    df = DocumentAssembler().setInputCol("text").setOutputCol("document").transform(df)
    df = Tokenizer().setInputCols(["document"]).setOutputCol("token").fit(df).transform(df)
    embeddings = LongformerEmbeddings.loadSavedModel(tiny_folder, spark).setInputCols("document", "token")
    df = embeddings.setOutputCol("embeddings").transform(df)
    df = SentenceEmbeddings().setInputCols(["document", "embeddings"]).setOutputCol("sentence_embeddings").transform(df)
    assert_spark_nlp_schema(df, "embeddings", "sentence_embeddings")
    assert df.schema["embeddings"].metadata == {"annotatorType": "word_embeddings"}
