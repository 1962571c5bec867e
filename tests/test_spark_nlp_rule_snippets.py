"""Spark NLP-style snippets for every rule-based stage, written from Spark NLP's documented API (its
docstring examples and the SentenceDetector notebook) with only the imports changed, and their output
checked against what Spark NLP's documentation prints. One Spark pipeline per snippet, a row or two."""
from test_sentence_detector import NOTEBOOK_BOUNDS

IMPORTS = "from sparklong import *          # was: from sparknlp.base import *; from sparknlp.annotator import *\n" \
          "from pyspark.ml import Pipeline\n"


def run(snippet: str, spark, **given) -> dict:
    scope = {"spark": spark, **given}
    exec(IMPORTS + snippet, scope)
    return scope


def test_document_assembler_docstring(spark):
    scope = run('''
data = spark.createDataFrame([["Spark NLP is an open-source text processing library."]]).toDF("text")
documentAssembler = DocumentAssembler().setInputCol("text").setOutputCol("document")
result = documentAssembler.transform(data)
''', spark)
    (doc,) = scope["result"].select("document").first().document
    # Spark NLP prints [[document, 0, 51, Spark NLP is an open-source text processing library., [sentence -> 0], []]]
    assert (doc.annotatorType, doc.begin, doc.end, doc.result, doc.metadata, doc.embeddings) == (
        "document", 0, 51, "Spark NLP is an open-source text processing library.", {"sentence": "0"}, [])


def test_multi_document_assembler_docstring(spark):
    scope = run('''
data = spark.createDataFrame([["Spark NLP is an open-source text processing library.",
    "Spark NLP is a state-of-the-art Natural Language Processing library built on top of Apache Spark"]]) \\
    .toDF("text", "text2")
documentAssembler = MultiDocumentAssembler().setInputCols(["text", "text2"]) \\
    .setOutputCols(["document1", "document2"])
result = documentAssembler.transform(data)
''', spark)
    row = scope["result"].first()
    assert [(d.begin, d.end, d.result) for d in row.document1] == [
        (0, 51, "Spark NLP is an open-source text processing library.")]
    assert [(d.begin, d.end, d.result) for d in row.document2] == [(0, len(row.text2) - 1, row.text2)]


def test_sentence_detector_docstring(spark):
    scope = run('''
documentAssembler = DocumentAssembler().setInputCol("text").setOutputCol("document")
sentence = SentenceDetector().setInputCols(["document"]).setOutputCol("sentence")
pipeline = Pipeline().setStages([documentAssembler, sentence])
data = spark.createDataFrame([["This is my first sentence. This my second. How about a third?"]]).toDF("text")
result = pipeline.fit(data).transform(data)
sentences = result.selectExpr("explode(sentence) as sentences")
''', spark)
    # Spark NLP prints [document, 0, 25, This is my first sentence., [sentence -> 0], []] and two more
    assert [(s.begin, s.end, s.result, s.metadata) for (s,) in scope["sentences"].collect()] == [
        (0, 25, "This is my first sentence.", {"sentence": "0"}), (27, 41, "This my second.", {"sentence": "1"}),
        (43, 60, "How about a third?", {"sentence": "2"})]


def test_sentence_detector_notebook_custom_bounds(spark):
    scope = run('''
documentAssembler = DocumentAssembler().setInputCol("text").setOutputCol("document")
data = spark.createDataFrame([["This is a sentence\\tThis is another one\\tHow about a third one?"],
                              ["this.is.one.sentence\\nThis is the second one; not broken"]]).toDF("text")
tabs = SentenceDetector().setInputCols(["document"]).setOutputCol("sentence").setCustomBounds(["\\t"])
only = SentenceDetector().setInputCols(["document"]).setOutputCol("custom") \\
    .setCustomBounds(bounds).setUseCustomBoundsOnly(True)
result = Pipeline().setStages([documentAssembler, tabs, only]).fit(data).transform(data)
''', spark, bounds=NOTEBOOK_BOUNDS)
    tabbed, notebook = scope["result"].orderBy("text").collect()
    assert [s.result for s in tabbed.sentence] == ["This is a sentence", "This is another one",
                                                   "How about a third one?"]
    assert [s.result for s in notebook.custom] == ["this.is.one.sentence\nThis is the second one; not broken"]


def test_tokenizer_docstring(spark):
    scope = run('''
data = spark.createDataFrame([["I'd like to say we didn't expect that. Jane's boyfriend."]]).toDF("text")
documentAssembler = DocumentAssembler().setInputCol("text").setOutputCol("document")
tokenizer = Tokenizer().setInputCols(["document"]).setOutputCol("token").fit(data)
pipeline = Pipeline().setStages([documentAssembler, tokenizer]).fit(data)
result = pipeline.transform(data)
tokens = result.selectExpr("token.result as output")
''', spark)
    # Spark NLP prints [I'd, like, to, say, we, didn't, expect, that, ., Jane's, boyfriend, .]
    assert scope["tokens"].first().output == ["I'd", "like", "to", "say", "we", "didn't", "expect", "that", ".",
                                              "Jane's", "boyfriend", "."]


def test_ner_converter_and_finisher(spark):
    """NerConverter over IOB tags (as a NER model writes them), then Finisher as its docstring uses it."""
    from sparklong.annotation import DOCUMENT, NAMED_ENTITY, TOKEN, Annotation, annotation_array_type

    text, tags = "John Smith lives in New York", ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC"]
    words = [(text.index(w), w) for w in text.split()]
    row = ([Annotation(DOCUMENT, 0, len(text) - 1, text, {"sentence": "0"}).as_dict()],
           [Annotation(TOKEN, b, b + len(w) - 1, w, {"sentence": "0"}).as_dict() for b, w in words],
           [Annotation(NAMED_ENTITY, b, b + len(w) - 1, t, {"sentence": "0", "word": w}).as_dict()
            for (b, w), t in zip(words, tags)])
    schema = f"document {annotation_array_type().simpleString()}, token {annotation_array_type().simpleString()}, " \
             f"ner {annotation_array_type().simpleString()}"
    tagged = spark.createDataFrame([row], schema)
    scope = run('''
converter = NerConverter().setInputCols(["document", "token", "ner"]).setOutputCol("entities")
finisher = Finisher().setInputCols(["entities"]).setIncludeMetadata(True)
result = Pipeline().setStages([converter, finisher]).fit(tagged).transform(tagged)
''', spark, tagged=tagged)
    out = scope["result"].first()
    assert scope["result"].columns == ["finished_entities", "finished_entities_metadata"]  # annotations cleaned
    assert out.finished_entities == ["John Smith", "New York"]
    assert [(m["entity"], m["chunk"]) for m in out.finished_entities_metadata] == [("PER", "0"), ("LOC", "1")]


def test_sentence_embeddings_and_embeddings_finisher(spark, tiny_folder):
    """Spark NLP's EmbeddingsFinisher docstring pipeline, a tiny checkpoint in place of the pretrained model."""
    scope = run('''
documentAssembler = DocumentAssembler().setInputCol("text").setOutputCol("document")
tokenizer = Tokenizer().setInputCols(["document"]).setOutputCol("token")
embeddings = LongformerEmbeddings.loadSavedModel(folder, spark) \\
    .setInputCols(["document", "token"]).setOutputCol("embeddings")
embeddingsSentence = SentenceEmbeddings().setInputCols(["document", "embeddings"]) \\
    .setOutputCol("sentence_embeddings").setPoolingStrategy("AVERAGE")
embeddingsFinisher = EmbeddingsFinisher().setInputCols(["sentence_embeddings"]) \\
    .setOutputCols("finished_sentence_embeddings").setOutputAsVector(True).setCleanAnnotations(False)
pipeline = Pipeline().setStages([documentAssembler, tokenizer, embeddings, embeddingsSentence, embeddingsFinisher])
data = spark.createDataFrame([["Some words are here."]]).toDF("text")
result = pipeline.fit(data).transform(data)
''', spark, folder=tiny_folder)
    row = scope["result"].first()
    (vector,) = row.finished_sentence_embeddings
    assert vector.size == 32 and list(vector) == row.sentence_embeddings[0].embeddings
