"""QA decoding and the QA core without Spark, against transformers 4.x's question-answering pipeline
(the oracle) on a tiny random checkpoint: same answers, same scores, across many windows."""
import numpy as np
import pytest
import torch

from sparklong.annotation import DOCUMENT, Annotation
from sparklong.cores.batching import Batching, Window
from sparklong.cores.qa_decoding import decode_answer, layout_pair, stride_windows, window_spans
from sparklong.cores.question_answering import QASettings, answer_rows
from sparklong.models.piece_tokenizer import PieceTokenizer
from sparklong.udfs.model_cache import get_model
from tiny_models import corpus_texts, save_model_folder

QUESTIONS = ["Who took the oath of office?", "What did the people want?", "Why?",
             "When was the nation founded, and by whom?"]
# (maxSentenceLength, docStride, maxAnswerLength, handleImpossibleAnswer)
SETTINGS = [(64, 16, 30, False), (48, 8, 5, True), (100, 30, 15, False), (56, 10, 30, True)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("tiny_qa"))
    save_qa_folder(path)
    return path


def save_qa_folder(path):
    """A tiny QA checkpoint whose head is scaled up: a freshly initialised head gives nearly flat
    logits (every span about as likely); scaled, answers are decisive and the null score (<s>)
    beats every span on some short contexts, as a SQuAD 2.0 model's would."""
    model = save_model_folder(path, "question_answering", seed=3)
    with torch.no_grad():
        model.qa_outputs.weight.mul_(30)
    model.save_pretrained(path)


@pytest.fixture(scope="module")
def oracle(folder):
    """transformers' pipeline; each answer computed once per module (it is slow: ~0.2 s a window)."""
    import transformers

    if not hasattr(transformers, "QuestionAnsweringPipeline"):  # make test pins 4.x, which has it
        pytest.skip("transformers 5 removed the question-answering pipeline, the oracle of these tests")
    from transformers import LongformerForQuestionAnswering, LongformerTokenizerFast, pipeline

    model = LongformerForQuestionAnswering.from_pretrained(folder).eval()
    qa = pipeline("question-answering", model=model, tokenizer=LongformerTokenizerFast.from_pretrained(folder),
                  device="cpu")
    answers = {}

    def ask(question, context, settings):
        length, stride, answer_length, impossible = settings
        if (question, context, settings) not in answers:
            answers[question, context, settings] = qa(
                question=question, context=context, max_seq_len=length, doc_stride=stride,
                max_answer_len=answer_length, handle_impossible_answer=impossible)
        return answers[question, context, settings]

    ask.model = model
    return ask


def cases():
    """(question, context, settings): two per settings, each context needing 3 to 6 windows."""
    texts = corpus_texts()
    chars = {64: 160, 48: 110, 100: 330, 56: 100}
    out = []
    for i in range(8):
        settings = SETTINGS[i % 4]
        text = texts[i % len(texts)]
        start = (i * 997) % (len(text) - 2000)
        out.append((QUESTIONS[i % 4], text[start : start + chars[settings[0]] + 10 * i], settings))
    return out


def doc(text):
    return [] if text is None else [Annotation(DOCUMENT, 0, len(text) - 1, text, {"sentence": "0"})]


def qa_settings(settings, **extra):
    length, stride, answer_length, impossible = settings
    return QASettings(Batching(max_sentence_length=length), doc_stride=stride, max_answer_length=answer_length,
                      handle_impossible_answer=impossible, **extra)


def test_decoding_transformers_logits_gives_the_pipeline_answer_exactly(folder, oracle):
    """The pure decoder on the oracle model's own logits: same span, text and score (to float32)."""
    tokenizer = PieceTokenizer.from_folder(folder)
    windows_seen = []
    for question, context, settings in cases():
        length, stride, answer_length, impossible = settings
        layout = layout_pair(tokenizer.encode_pairs([question], [context])[0], length, stride, sep_id=2)
        windows = stride_windows(len(layout.context), length - layout.specials, stride)
        logits = []
        for w in windows:
            with torch.no_grad():
                out = oracle.model(torch.tensor(layout.window_ids(w))[None])  # global attention on the question
            logits.append((out.start_logits[0].numpy(), out.end_logits[0].numpy()))
        got = decode_answer(layout, context, windows, logits, tokenizer.bos_id, answer_length, impossible)
        want = oracle(question, context, settings)
        assert (got.start, got.stop, got.text) == (want["start"], want["end"], want["answer"])
        assert got.score == pytest.approx(want["score"], rel=1e-6)
        windows_seen.append(len(windows))
    assert min(windows_seen) >= 3


def test_engine_answers_equal_the_pipeline_across_three_or_more_windows(folder, oracle):
    model = get_model(folder, "question_answering", "torch", "cpu")
    tokenizer = PieceTokenizer.from_folder(folder)
    for settings in SETTINGS:  # one batch per settings: windows of several rows share forward passes
        mine = [(q, c) for q, c, s in cases() if s == settings]
        results = answer_rows(model, tokenizer, [(doc(q), doc(c)) for q, c in mine], qa_settings(settings))
        for (question, context), [got] in zip(mine, results):
            want = oracle(question, context, settings)
            assert (got.begin, got.end + 1, got.result) == (want["start"], want["end"], want["answer"])
            assert float(got.metadata["score"]) == pytest.approx(want["score"], rel=1e-3)
            assert int(got.metadata["windows"]) >= 3
            assert context[got.begin : got.end + 1] == got.result


def test_no_answer_when_the_null_score_wins_as_the_pipeline(folder, oracle):
    """Short contexts: the null score (<s> start x <s> end) often beats every span."""
    model = get_model(folder, "question_answering", "torch", "cpu")
    tokenizer = PieceTokenizer.from_folder(folder)
    words = corpus_texts()[1].split()
    contexts = [" ".join(words[i : i + 1 + i % 4]) for i in range(0, 60, 5)]
    settings = (64, 16, 30, True)
    results = answer_rows(model, tokenizer, [(doc("Who?"), doc(c)) for c in contexts], qa_settings(settings))
    empty = 0
    for context, [got] in zip(contexts, results):
        want = oracle("Who?", context, settings)
        assert (got.result, float(got.metadata["score"])) == (want["answer"], pytest.approx(want["score"], rel=1e-3))
        if want["answer"] == "":
            empty += 1
            assert (got.begin, got.end, got.metadata["start"], got.metadata["end"]) == (0, -1, "-1", "-1")
    assert 0 < empty < len(contexts)
    without = answer_rows(model, tokenizer, [(doc("Who?"), doc(c)) for c in contexts],
                          qa_settings((64, 16, 30, False)))
    assert all(r[0].result for r in without)  # without handleImpossibleAnswer there is always a span


def test_answer_is_exactly_its_substring_of_the_context(folder):
    model = get_model(folder, "question_answering", "torch", "cpu")
    tokenizer = PieceTokenizer.from_folder(folder)
    context = "naïve café,\n東京 and 🙂 — the  Senate   met.\tFellow-Citizens: ÉTÉ! " * 12
    offset = 7  # a context DOCUMENT annotation that does not start at 0
    row = ([Annotation(DOCUMENT, 0, 3, "Who?", {})], [Annotation(DOCUMENT, offset, offset + len(context) - 1, context,
                                                                {"sentence": "3"})])
    [[answer]] = answer_rows(model, tokenizer, [row], QASettings(Batching(max_sentence_length=40), doc_stride=8))
    full = "x" * offset + context
    assert full[answer.begin : answer.end + 1] == answer.result and answer.result.strip() == answer.result
    assert answer.metadata["sentence"] == "3" and int(answer.metadata["windows"]) >= 3


def test_null_empty_or_blank_question_or_context_gives_an_empty_result(folder):
    model = get_model(folder, "question_answering", "torch", "cpu")
    tokenizer = PieceTokenizer.from_folder(folder)
    context = corpus_texts()[0][:400]
    rows = [(doc(None), doc(context)), (doc(""), doc(context)), (doc("  \n"), doc(context)),
            (doc("Who?"), doc(None)), (doc("Who?"), doc("")), (doc("Who?"), doc("\t ")),
            (doc("Who?"), doc(context))]
    results = answer_rows(model, tokenizer, rows, QASettings(Batching(max_sentence_length=64), doc_stride=16))
    assert [len(r) for r in results] == [0, 0, 0, 0, 0, 0, 1]


def test_a_question_longer_than_a_window_is_cut_not_dropped(folder):
    model = get_model(folder, "question_answering", "torch", "cpu")
    tokenizer = PieceTokenizer.from_folder(folder)
    question, context = corpus_texts()[2][:600], corpus_texts()[0][:500]
    [[answer]] = answer_rows(model, tokenizer, [(doc(question), doc(context))],
                             QASettings(Batching(max_sentence_length=64), doc_stride=16))
    assert answer.metadata["question_truncated"] == "true" and context[answer.begin : answer.end + 1] == answer.result


def test_a_long_question_is_kept_whole_when_the_pair_fits_one_window(folder, oracle):
    model = get_model(folder, "question_answering", "torch", "cpu")
    tokenizer = PieceTokenizer.from_folder(folder)
    question, context = corpus_texts()[2][:58], "The Senate met."
    enc = tokenizer.encode_pairs([question], [context])[0]
    pieces = sum(s == 1 for s in enc.sequence_ids)
    assert len(enc.ids) <= 64 and len(enc.ids) - pieces + 16 >= 64  # one window, though no room for a stride
    [[answer]] = answer_rows(model, tokenizer, [(doc(question), doc(context))],
                             QASettings(Batching(max_sentence_length=64), doc_stride=16))
    want = oracle(question, context, (64, 16, 30, False))
    assert "question_truncated" not in answer.metadata
    assert (answer.begin, answer.end + 1, answer.result) == (want["start"], want["end"], want["answer"])


def test_doc_stride_that_leaves_no_room_is_a_clear_error(folder):
    model = get_model(folder, "question_answering", "torch", "cpu")
    tokenizer = PieceTokenizer.from_folder(folder)
    with pytest.raises(ValueError, match="docStride must be between 0 and 58 for windows of 64 tokens"):
        answer_rows(model, tokenizer, [(doc("Who?"), doc("Me."))], QASettings(Batching(max_sentence_length=64), doc_stride=59))


def test_windows_follow_the_tokenizer_overflow_rule():
    assert stride_windows(10, 10, 3) == [Window(0, 10)]
    assert stride_windows(20, 8, 3) == [Window(0, 8), Window(5, 13), Window(10, 18), Window(15, 20)]
    assert stride_windows(13, 8, 3) == [Window(0, 8), Window(5, 13)]


def test_spans_stay_inside_the_context_and_max_answer_length():
    ids = np.array([0, 50, 2, 2, 60, 61, 62, 63, 64, 2])  # <s> q </s></s> c c c c c </s>
    rng = np.random.default_rng(0)
    spans, (null, p_cls_start, p_cls_end) = window_spans(ids, rng.normal(size=10), rng.normal(size=10), (4, 9),
                                                         cls_id=0, max_answer_length=2)
    assert len(spans) == 9  # 5 one-piece and 4 two-piece spans
    assert all(4 <= s.first <= s.last < min(9, s.first + 2) for s in spans)
    assert [s.score for s in spans] == sorted((s.score for s in spans), reverse=True)
    assert null == pytest.approx(p_cls_start * p_cls_end) and all(s.score > 0 for s in spans)
