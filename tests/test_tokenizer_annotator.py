"""Tokenizer / TokenizerModel: Spark NLP's rule-based tokenization in the pure core (expected outputs
from Spark NLP's documentation), exact offsets, params, and the DataFrame path equal to the core."""
import pytest
from pyspark.ml import Pipeline, PipelineModel

from sparklong.annotation import DOCUMENT, TOKEN, Annotation, annotation_array_type, from_column
from sparklong.annotators import DocumentAssembler, Tokenizer, TokenizerModel
from sparklong.cores.tokenizer_rules import TokenizerRules, tokenize, tokenize_text


def words(text, **rules):
    tokens = tokenize_text(text, TokenizerRules(**rules))
    for t in tokens:  # offsets slice the document exactly
        assert text[t.begin : t.end + 1] == t.result and t.annotatorType == TOKEN
    return [t.result for t in tokens]


@pytest.mark.parametrize("text, expected", [
    ("Hello, world!", ["Hello", ",", "world", "!"]),
    ("I'd like to say we didn't expect that. Jane's boyfriend.",
     ["I'd", "like", "to", "say", "we", "didn't", "expect", "that", ".", "Jane's", "boyfriend", "."]),
    ("(example)", ["(", "example", ")"]),
    ('"Quoted," she said...', ['"', "Quoted", ',"', "she", "said", "..."]),
    ("U.S.A. is big.", ["U.S.A", ".", "is", "big", "."]),
    ("well-known e-mail", ["well-known", "e-mail"]),
    ("", []), ("   \t\n ", []), ("?!", ["?!"]),
])
def test_default_rules(text, expected):
    assert words(text) == expected


def test_unicode_offsets():
    text = "naïve café, 東京タワー and 🙂👍🏽 e\u0301t\u00e9 —done."
    assert words(text) == ["naïve", "café", ",", "東京タワー", "and", "🙂👍🏽", "e\u0301t\u00e9", "—done", "."]
    assert words("a\u00a0b c") == ["a\u00a0b", "c"]  # Java's \S: a no-break space does not break


def test_exceptions():
    text = "New York, NY is in the U.S.A. and new york too"
    assert words(text, exceptions=("U\\.S\\.A\\.", "New York")) == [
        "New York,", "NY", "is", "in", "the", "U.S.A.", "and", "new", "york", "too"]  # Spark NLP keeps "New York,"
    assert words(text, exceptions=("new york",), case_sensitive_exceptions=False)[:2] == ["New York,", "NY"]
    assert words(text, exceptions=("new york",))[:2] == ["New", "York"]


def test_split_chars_pattern_and_infixes_from_spark_nlp_docs():
    assert words("Tokens in this-text will#be#split on hashtags-and#dashes", split_pattern="-|#") == [
        "Tokens", "in", "this", "text", "will", "be", "split", "on", "hashtags", "and", "dashes"]
    assert words("a-b c.d x|y", split_chars=("-", ".", "|")) == ["a", "b", "c", "d", "x", "y"]
    assert words("l'une d'un l'un, des l'extrême", infix_patterns=("([\\p{L}\\w]+'{1})([\\p{L}\\w]+)",)) == [
        "l'", "une", "d'", "un", "l'", "un", ",", "des", "l'", "extrême"]
    text = "I only consider lowercase characters and NOT UPPERCASED and only the numbers 0,1, to 7 as tokens but not 8 or 9"
    assert words(text, target_pattern="a-z-0-7") == [
        "only", "consider", "lowercase", "characters", "and", "and", "only", "the", "numbers", "0", "1", "to", "7",
        "as", "tokens", "but", "not", "or"]


def test_prefix_suffix_context_and_lengths():
    assert words("[x]", context_chars=("[", "]")) == ["[", "x", "]"]
    assert words("$12.50!", prefix_pattern="\\A([$]*)", suffix_pattern="([!]*)\\z") == ["$", "12.50", "!"]
    assert words("a bb ccc dddd", min_length=2, max_length=3) == ["bb", "ccc"]


def test_sentences_offsets_and_metadata():
    text = "First one. Second, here."
    sentences = [Annotation(DOCUMENT, 0, 9, "First one.", {"sentence": "0"}),
                 Annotation(DOCUMENT, 11, 23, "Second, here.", {"sentence": "1"}),
                 Annotation(TOKEN, 0, 4, "First", {})]  # not a DOCUMENT: ignored
    tokens = tokenize(sentences)
    assert [(t.result, t.metadata["sentence"]) for t in tokens][-3:] == [(",", "1"), ("here", "1"), (".", "1")]
    assert all(text[t.begin : t.end + 1] == t.result for t in tokens)


def test_params_setters_fit_and_validation():
    tok = (Tokenizer().setInputCols("document").setOutputCol("token").setContextChars([".", ","])
           .addContextChars("!").setSplitChars(["-"]).addSplitChars("\\.").addException("New York")
           .setCaseSensitiveExceptions(False).setMinLength(1).setMaxLength(20))
    model = tok.fit(None)
    assert isinstance(model, TokenizerModel)
    assert model.getContextChars() == [".", ",", "!"] and model.getSplitChars() == ["-", "\\."]
    assert model.getExceptions() == ["New York"] and model.getMaxLength() == 20
    assert model.annotate_local("new york, e-mail!") == tokenize_text("new york, e-mail!", model.getRules())
    assert [t.result for t in model.annotate_local("new york, e-mail!")] == ["new york,", "e", "mail", "!"]
    assert Tokenizer(minLength=2).getMinLength() == 2 and Tokenizer().getTargetPattern() == "\\S+"
    assert Tokenizer().addInfixPattern("(\\d+)").getInfixPatterns() == ["(\\d+)"]
    for bad, match in [(lambda t: t.setMinLength(-1), "minLength"), (lambda t: t.setMaxLength(-2), "maxLength"),
                       (lambda t: t.setContextChars(["ab"]), "contextChars"),
                       (lambda t: t.setSplitChars(["ab"]), "splitChars"),
                       (lambda t: t.setPrefixPattern("(x)"), "prefixPattern"),
                       (lambda t: t.setSuffixPattern("(x)"), "suffixPattern"),
                       (lambda t: t.setInfixPatterns(["x+"]), "infixPatterns"),
                       (lambda t: t.setSplitPattern("(("), "splitPattern"),
                       (lambda t: t.setExceptions(["[a"]), "exceptions")]:
        with pytest.raises(ValueError, match=match):
            bad(Tokenizer())


def test_light_transform():
    model = Tokenizer().fit(None)
    row = {"document": [Annotation(DOCUMENT, 0, 4, "a, b.", {"sentence": "0"})]}
    model.light_transform(row)
    assert [t.result for t in row["token"]] == ["a", ",", "b", "."]


# -- Spark -----------------------------------------------------------------------------------------
TEXTS = ["Hello, world!", None, "", "   ", "naïve café, 東京 🙂👍🏽 (example) U.S.A.", "  two  spaces\tand\ttabs\n"]


def test_pipeline_equals_core_and_persists(spark, tmp_path):
    df = spark.createDataFrame([(i, t) for i, t in enumerate(TEXTS)], "id int, text string").repartition(2)
    assembler = DocumentAssembler().setInputCol("text").setOutputCol("document").setCleanupMode("shrink")
    tokenizer = Tokenizer().setInputCols(["document"]).setOutputCol("token").setExceptions(["U\\.S\\.A\\."])
    model = Pipeline(stages=[assembler, tokenizer]).fit(df)
    path = str(tmp_path / "tokenizer_pipeline")
    model.write().save(path)
    out = PipelineModel.load(path).transform(df)
    assert out.schema["token"].dataType == annotation_array_type()
    assert out.schema["token"].metadata == {"annotatorType": TOKEN}
    rows = {r["id"]: r for r in out.select("id", "text", "document", "token").collect()}
    assert len(rows) == len(TEXTS)
    local = model.stages[1]
    for i, text in enumerate(TEXTS):
        docs = from_column(rows[i]["document"])
        assert docs == assembler.annotate_local(text)
        assert from_column(rows[i]["token"]) == local.annotate_local(docs)
    assert [t.result for t in from_column(rows[4]["token"])][-4:] == ["(", "example", ")", "U.S.A."]
    assert from_column(rows[1]["token"]) == []


def test_bad_input_columns_fail_before_any_job(spark):
    df = spark.createDataFrame([("a",)], "text string")
    model = Tokenizer().fit(df)
    with pytest.raises(ValueError, match="'document' is not in the DataFrame"):
        model.transform(df)
    with pytest.raises(ValueError, match="'text' has type string, expected an annotation column of DOCUMENT"):
        model.setInputCols("text").transform(df)
    tokens = Tokenizer().fit(None).transform(DocumentAssembler().setInputCol("text").transform(df))
    with pytest.raises(ValueError, match="holds token annotations"):
        Tokenizer().setInputCols("token").fit(None).transform(tokens)
