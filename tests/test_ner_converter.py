"""NerConverter: chunks from IOB, IOB2 and BIOES tags over hand-written sentences (malformed sequences
as Spark NLP reads them, or as documented where we differ), the Spark path equal to the core, and a
LightPipeline end to end from LongformerForTokenClassification."""
import pytest
import torch
from pyspark.ml import Pipeline, PipelineModel
from pyspark.sql.types import StringType, StructField, StructType

from sparklong import DocumentAssembler, LightPipeline, LongformerForTokenClassification, NerConverter, Tokenizer
from sparklong.annotation import CHUNK, DOCUMENT, NAMED_ENTITY, TOKEN, Annotation, annotation_array_type, to_dicts
from sparklong.annotators.ner_converter import ConverterSettings, convert, tag_runs
from tiny_models import corpus_texts, save_model_folder


def tagged(sentences, tags, scores=None, token_results=None):
    """(documents, tokens, named entities): one DOCUMENT per sentence (joined by a space), whitespace
    tokens, one tag per token in order, each with its label's score (default 0.5) in the metadata."""
    text = " ".join(sentences)
    documents, tokens, pos = [], [], 0
    for s, sentence in enumerate(sentences):
        start = text.index(sentence, pos)
        documents.append(Annotation(DOCUMENT, start, start + len(sentence) - 1, sentence, {"sentence": str(s)}))
        for word in sentence.split():
            begin = text.index(word, pos)
            tokens.append(Annotation(TOKEN, begin, begin + len(word) - 1, word, {"sentence": str(s)}))
            pos = begin + len(word)
    assert len(tags) == len(tokens), [t.result for t in tokens]
    scores = scores or [0.5] * len(tags)
    ner = [Annotation(NAMED_ENTITY, t.begin, t.end, tag, {"sentence": t.metadata["sentence"], "word": t.result,
                                                          **({tag: repr(score)} if score is not None else {})})
           for t, tag, score in zip(tokens, tags, scores)]
    if token_results:
        tokens = [Annotation(TOKEN, t.begin, t.end, r, t.metadata) for t, r in zip(tokens, token_results)]
    return text, documents, tokens, ner


def chunks(sentences, tags, settings=ConverterSettings(), **kwargs):
    text, documents, tokens, ner = tagged(sentences, tags, **kwargs)
    out = convert(documents, tokens, ner, settings)
    for c in out:
        assert c.annotatorType == CHUNK
        if settings.preserve_position:
            assert c.result == text[c.begin:c.end + 1]
    return out


def spans(out):
    return [(c.result, c.metadata["entity"], c.metadata["sentence"]) for c in out]


def test_iob2():
    out = chunks(["John Smith lives in New York ."], ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"])
    assert [(c.begin, c.end) for c in out] == [(0, 9), (20, 27)]
    assert spans(out) == [("John Smith", "PER", "0"), ("New York", "LOC", "0")]
    assert [dict(c.metadata) for c in out] == [
        {"entity": "PER", "sentence": "0", "chunk": "0", "confidence": "0.5"},
        {"entity": "LOC", "sentence": "0", "chunk": "1", "confidence": "0.5"},
    ]


def test_iob1_inside_tags_start_chunks_and_b_separates_neighbours():
    out = chunks(["Anna Lee met Ben Cole and Paris"], ["I-PER", "I-PER", "O", "I-PER", "B-PER", "O", "I-LOC"])
    assert spans(out) == [("Anna Lee", "PER", "0"), ("Ben", "PER", "0"), ("Cole", "PER", "0"), ("Paris", "LOC", "0")]


def test_bioes():
    tags = ["B-PER", "E-PER", "S-LOC", "S-LOC", "B-ORG", "I-ORG", "E-ORG", "O", "S-MISC"]
    out = chunks(["Ada Byron Rome Oslo Bank of Spain and Euro"], tags)
    assert spans(out) == [("Ada Byron", "PER", "0"), ("Rome", "LOC", "0"), ("Oslo", "LOC", "0"),
                          ("Bank of Spain", "ORG", "0"), ("Euro", "MISC", "0")]
    # E- closes the chunk: a following I- of the same entity starts another; a lone E- is a chunk
    assert spans(chunks(["a b c d"], ["B-X", "E-X", "I-X", "E-Y"])) == [("a b", "X", "0"), ("c", "X", "0"),
                                                                       ("d", "Y", "0")]


def test_malformed_sequences():
    # an entity change inside I- tags (or after B-) starts a new chunk; O ends one
    out = chunks(["Bob Paris Rome x Kim Lyon"], ["I-PER", "I-LOC", "I-LOC", "O", "B-PER", "I-LOC"])
    assert spans(out) == [("Bob", "PER", "0"), ("Paris Rome", "LOC", "0"), ("Kim", "PER", "0"),
                          ("Lyon", "LOC", "0")]
    assert tag_runs(["O", "I-A", "O", "", "I-A", "I-A"]) == [(1, 1, "A"), (4, 5, "A")]  # "" reads as O
    assert tag_runs([]) == []


def test_a_run_across_a_sentence_boundary_is_split():
    out = chunks(["He met Ada", "Lovelace left ."], ["O", "O", "B-PER", "I-PER", "O", "O"])
    assert spans(out) == [("Ada", "PER", "0"), ("Lovelace", "PER", "1")]
    assert [(c.begin, c.end) for c in out] == [(7, 9), (11, 18)]
    assert [c.metadata["chunk"] for c in out] == ["0", "1"]


def test_offsets_are_exact_on_odd_text():
    text = "naïve  café   東京 🙂 end"
    tokens = []
    for word, begin in (("naïve", 0), ("café", 7), ("東京", 14), ("🙂", 17), ("end", 19)):
        tokens.append(Annotation(TOKEN, begin, begin + len(word) - 1, word, {"sentence": "0"}))
    assert [text[t.begin:t.end + 1] for t in tokens] == [t.result for t in tokens]
    ner = [Annotation(NAMED_ENTITY, t.begin, t.end, tag, {}) for t, tag in
           zip(tokens, ["B-X", "I-X", "I-X", "O", "B-Y"])]
    document = Annotation(DOCUMENT, 0, len(text) - 1, text, {"sentence": "0"})
    out = convert([document], tokens, ner, ConverterSettings())
    assert [(c.begin, c.end, c.result) for c in out] == [(0, 15, "naïve  café   東京"), (19, 21, "end")]
    assert all("confidence" not in c.metadata for c in out)  # no scores in the tags' metadata
    # a sentence that does not start at 0: the span is read relative to its begin
    second = Annotation(DOCUMENT, 7, 15, text[7:16], {"sentence": "1"})
    assert [c.result for c in convert([second], tokens, ner, ConverterSettings())] == ["café   東京"]


def test_white_list():
    tags = ["B-PER", "O", "B-LOC", "O", "B-ORG", "B-LOC"]
    out = chunks(["Ann in Rome at IBM Oslo"], tags, ConverterSettings(white_list=frozenset({"LOC"})))
    assert [(c.result, c.metadata["chunk"]) for c in out] == [("Rome", "0"), ("Oslo", "1")]  # renumbered
    assert NerConverter().setWhiteList("LOC", "PER").getWhiteList() == ["LOC", "PER"]
    assert NerConverter().setWhiteList(["LOC"]).settings().white_list == {"LOC"}
    assert len(chunks(["Ann in Rome at IBM Oslo"], tags, NerConverter().settings())) == 4  # empty: all


def test_preserve_position_false_uses_token_results():
    settings = ConverterSettings(preserve_position=False)
    out = chunks(["Go to NEW  YORK now"], ["O", "O", "B-LOC", "I-LOC", "O"], settings,
                 token_results=["go", "to", "new", "york", "now"])
    assert [(c.begin, c.end, c.result) for c in out] == [(6, 14, "new york")]  # offsets unchanged


def test_confidence_is_the_mean_of_the_tokens_scores():
    out = chunks(["a b c d"], ["B-X", "I-X", "I-X", "B-Y"], scores=[0.9, 0.6, None, 0.25])
    assert float(out[0].metadata["confidence"]) == pytest.approx(0.75)  # a token without a score is skipped
    assert float(out[1].metadata["confidence"]) == 0.25
    _, documents, tokens, ner = tagged(["a b"], ["B-X", "I-X"])
    ner = [Annotation(NAMED_ENTITY, t.begin, t.end, t.result, {"confidence": "0.2", t.result: "0.9"}) for t in ner]
    [chunk] = convert(documents, tokens, ner, ConverterSettings())
    assert float(chunk.metadata["confidence"]) == pytest.approx(0.2)  # "confidence" first, as Spark NLP


def test_tokens_without_tags_and_no_schema():
    text, documents, tokens, ner = tagged(["Ann Lee went"], ["B-PER", "I-PER", "O"])
    assert convert(documents, tokens, ner[:1], ConverterSettings())[0].result == "Ann"  # untagged token: O
    out = chunks(["Ann Lee in Rome"], ["PER", "PER", "O", "LOC"], ConverterSettings(ner_has_no_schema=True))
    assert spans(out) == [("Ann Lee", "PER", "0"), ("Rome", "LOC", "0")]
    assert spans(chunks(["B-X"], ["B-PER"], ConverterSettings(ner_has_no_schema=True))) == [("B-X", "B-PER", "0")]
    assert convert([], [], [], ConverterSettings()) == []


def test_params():
    converter = NerConverter()
    assert (converter.getInputCols(), converter.getOutputCol(), converter.getWhiteList(),
            converter.getPreservePosition(), converter.getNerHasNoSchema()) == (
        ["document", "token", "ner"], "ner_chunk", [], True, False)
    converter = NerConverter(inputCols=["sentence", "token", "tags"], preservePosition=False, whiteList=["PER"])
    assert converter.getInputCols() == ["sentence", "token", "tags"]
    assert converter.settings() == ConverterSettings(frozenset({"PER"}), False, False)


ROWS = [
    (["John Smith lives in New York ."], ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"]),
    (["He met Ada", "Lovelace left ."], ["O", "O", "B-PER", "I-PER", "O", "S-LOC"]),
    None,  # null columns
    ([], []),  # empty arrays
]


def ner_frame(spark):
    schema = StructType([StructField("id", StringType())] + [
        StructField(c, annotation_array_type()) for c in ("document", "token", "ner")])
    rows = []
    for i, row in enumerate(ROWS):
        columns = tagged(*row)[1:] if row else (None, None, None)
        rows.append((str(i), *[None if c is None else to_dicts(c) for c in columns]))
    return spark.createDataFrame(rows, schema).repartition(2)


def test_spark_equals_the_core_and_persists(spark, tmp_path):
    df = ner_frame(spark)
    converter = NerConverter().setWhiteList("PER", "LOC")
    model = Pipeline(stages=[converter]).fit(df)
    model.write().save(str(tmp_path / "model"))
    loaded = PipelineModel.load(str(tmp_path / "model"))
    out = {r["id"]: r["ner_chunk"] for r in loaded.transform(df).select("id", "ner_chunk").collect()}
    assert loaded.transform(df).schema["ner_chunk"].metadata == {"annotatorType": CHUNK}
    for i, row in enumerate(ROWS):
        expected = dict(zip(("document", "token", "ner"), tagged(*row)[1:] if row else ([], [], [])))
        converter.light_transform(expected)
        assert [Annotation.from_any(a) for a in out[str(i)]] == expected["ner_chunk"]
    assert [a.result for a in out["1"]] == ["Ada", "Lovelace", "."]
    assert out["2"] == [] and out["3"] == []


ENTITIES = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}


@pytest.fixture(scope="module")
def token_folder(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("ner") / "tiny_token_classifier")
    model = save_model_folder(folder, "token_classification", id2label=ENTITIES,
                              label2id={v: k for k, v in ENTITIES.items()})
    with torch.no_grad():  # spread the near-uniform scores of a fresh head, so labels vary
        model.classifier.weight.mul_(20)
    model.save_pretrained(folder)
    return folder


def test_end_to_end_chunks_follow_the_tags(spark, token_folder):
    texts = [corpus_texts()[0][:400], "Fellow-Citizens of the Senate and of the House of Representatives."]
    df = spark.createDataFrame([(str(i), t) for i, t in enumerate(texts)], ["id", "text"])
    pipeline = Pipeline(stages=[
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        Tokenizer().setInputCols(["document"]).setOutputCol("token"),
        LongformerForTokenClassification.loadSavedModel(token_folder).setMaxSentenceLength(128)
        .setInputCols(["document", "token"]).setOutputCol("ner"),
        NerConverter().setInputCols(["document", "token", "ner"]).setOutputCol("entities"),
    ])
    model = pipeline.fit(df)
    spark_out = {r["id"]: r["entities"] for r in model.transform(df).select("id", "entities").collect()}
    light = LightPipeline(model)
    total = 0
    for i, text in enumerate(texts):
        [full] = light.fullAnnotate(text)
        assert [Annotation.from_any(a) for a in spark_out[str(i)]] == full["entities"]
        tags = full["ner"]
        starts = [k for k, t in enumerate(tags) if t.result != "O" and (
            t.result.startswith("B-") or k == 0 or tags[k - 1].result[2:] != t.result[2:])]
        assert len(full["entities"]) == len(starts)
        for n, (chunk, start) in enumerate(zip(full["entities"], starts)):
            inside = [t for t in tags if chunk.begin <= t.begin and t.end <= chunk.end]
            entity = tags[start].result[2:]
            assert chunk.begin == tags[start].begin and chunk.end == inside[-1].end
            assert chunk.result == text[chunk.begin:chunk.end + 1]
            assert {t.result[2:] for t in inside} == {entity} and "O" not in {t.result for t in inside}
            assert chunk.metadata["entity"] == entity and chunk.metadata["chunk"] == str(n)
            mean = sum(float(t.metadata[t.result]) for t in inside) / len(inside)
            assert float(chunk.metadata["confidence"]) == pytest.approx(mean, rel=1e-6)
        total += len(starts)
    assert total > 0
