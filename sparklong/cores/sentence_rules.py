"""Rule-based sentence boundaries (the pure core of SentenceDetector and of globalAttention="sentences").

In the spirit of Spark NLP's default pragmatic detector (after Kevin Dias' pragmatic_segmenter), with
these rules, in order:

1. customBounds: Java regexes, each its own pattern, applied one after another in the order given (as
   Spark NLP's RuleFactory does), that always split (the match dropped, or kept with the sentence before
   or after it: customBoundsStrategy); with useCustomBoundsOnly they are the only rule;
2. a blank line (two line breaks, spaces between allowed) always splits;
3. a single line break splits unless the next line starts with a lowercase letter (hard-wrapped text)
   or the line ends in a protected abbreviation ("Mr.\\nSmith"); a line starting with a list marker
   ("1.", "a)", "iv.") always starts a sentence when detectLists is on;
4. an end mark run (. ! ? ... or the ellipsis character), then any closing quotes or brackets, then
   whitespace, splits, except before a lowercase letter or , ; : (Spark NLP's mid-sentence rules);
5. with useAbbreviations, a lone period is no end after a prepositive abbreviation (Mr. Dr. Gen. ...)
   nor, unless the next word commonly opens a sentence (The, We, It, ...), after another known
   abbreviation (Jan. etc. Inc. No. ...), a period-separated one (U.S. A.D. G.I.) or an initial
   ("John Q. Adams", "H. G. Wells"). A period followed by a closing quote ("capital "H." For") ends;
6. a period inside a number or a word (3.5, $1.50, 1,000.25, 2.1.3, example.com) is never an end, nor
   the period of a list marker at a line start ("1. The first item") with detectLists.

Semicolons do not split (Spark NLP's basic breakers do; customBounds [";"] with strategy "append" gets
that back). Spans are (begin, end) inclusive character offsets, trimmed to their first and last
non-space character; no sentence is empty.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache

import regex

from .java_regex import compile_java
from .quoted_spans import inside, quoted_spans

CUSTOM_BOUNDS_STRATEGIES = ("none", "prepend", "append")
BREAK_MARK = "\uf050"  # Spark NLP's BREAK_INDICATOR, what a later customBound sees where an earlier one matched

# always followed by a name: never end a sentence
PREPOSITIVE = frozenset(
    "mr mrs ms messrs mme mlle dr prof gen sen rep gov hon rev capt col lt maj sgt cpl pvt adm cmdr "
    "gens sens reps supt insp pres".split()
)
# end a sentence only before a word that commonly opens one
ABBREVIATIONS = frozenset(
    "jan feb mar apr jun jul aug sep sept oct nov dec st mt ft ave blvd rd jr sr esq etc inc ltd co corp "
    "bros dept univ assn govt approx est vs viz cf al no nos vol vols p pp ch sec art fig figs par ed eds "
    "op cit ibid ca".split()
)
SENTENCE_OPENERS = frozenset(
    "a an the this that these those there then thus therefore however yet but and or nor so for if as "
    "at in on of to by with from we i you he she it they our my your his her its their us let now today "
    "tonight what when where why how who which while although though since because after before each "
    "every all some many most no not nothing none one such both here once also still only".split()
)

_END = re.compile(r"([.!?\u2026]+)([\"'\u201d\u2019\u00bb)\]}]*)(?=\s|\Z)")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n\s*")
_NEWLINE = re.compile("\n")
_LIST_MARKER = re.compile(r"(?:\d{1,2}|[a-zA-Z]|[ivxlcIVXLC]{1,6})[.)](?=\s)")
_INLINE_LIST_MARKER = re.compile(r"\s(\d{1,2}\.\))")  # "1.) first 2.) second": Spark NLP's list rule
_GEO_PERIOD = re.compile(r"(?<=[A-Za-z]\u00b0)\.(?=\s*\d)")  # "N\u00b0. 1026": Spark NLP's geo-location rule
_MULTI_PERIOD = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # U.S, A.D, i.e (the final period is the end mark)
_OPENERS = "\"'\u201c\u2018([{\u00ab"
_CONTINUATION = ",;:"
_WORD_AFTER = re.compile(r"\s*(\S*)")


@dataclass(frozen=True)
class SentenceRules:
    use_abbreviations: bool = True
    detect_lists: bool = True
    custom_bounds: tuple[str, ...] = ()
    use_custom_bounds_only: bool = False
    custom_bounds_strategy: str = "none"

    def __post_init__(self):
        object.__setattr__(self, "custom_bounds", tuple(self.custom_bounds))


DEFAULT_RULES = SentenceRules()


def validate_rules(rules: SentenceRules) -> None:
    """ValueErrors naming the param: empty or invalid customBounds, an unknown strategy."""
    if rules.custom_bounds_strategy not in CUSTOM_BOUNDS_STRATEGIES:
        raise ValueError(f"customBoundsStrategy must be one of {', '.join(map(repr, CUSTOM_BOUNDS_STRATEGIES))}, "
                         f"got {rules.custom_bounds_strategy!r}")
    _bounds_patterns(rules.custom_bounds)


@lru_cache(maxsize=64)
def _bounds_patterns(bounds: tuple[str, ...]) -> tuple[regex.Pattern, ...]:
    """Each customBound compiled on its own, as the Java regex Spark NLP reads it."""
    compiled = []
    for bound in bounds:
        if not isinstance(bound, str) or not bound:
            raise ValueError(f"customBounds must be non-empty strings (regular expressions), got {bound!r}")
        pattern = compile_java(bound, "customBounds")
        if pattern.fullmatch(""):
            raise ValueError(f"customBounds: {bound!r} matches the empty string")
        compiled.append(pattern)
    return tuple(compiled)


# -- pure core -------------------------------------------------------------------------------------
def sentence_spans(text: str | None, rules: SentenceRules = DEFAULT_RULES) -> list[tuple[int, int]]:
    """(begin, end) inclusive, trimmed, non-empty sentence spans of `text`."""
    text = text or ""
    pieces = _custom_pieces(text, rules)
    if not (rules.use_custom_bounds_only and rules.custom_bounds):
        pieces = [cut for start, stop in pieces for cut in _pragmatic_pieces(text, start, stop, rules)]
    return [span for start, stop in pieces if (span := _trim(text, start, stop))]


def sentence_starts(text: str | None, rules: SentenceRules = DEFAULT_RULES) -> list[int]:
    """Character offsets where each sentence begins."""
    return [begin for begin, _ in sentence_spans(text, rules)]


def cut_at_words(text: str, begin: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Spark NLP's splitLength: the span [begin, end] cut between words into pieces of at most `limit`
    characters (a longer word is a piece of its own)."""
    pieces: list[tuple[int, int]] = []
    start = stop = None
    for word in re.finditer(r"\S+", text[begin : end + 1]):
        w0, w1 = begin + word.start(), begin + word.end()
        if start is not None and w1 - start > limit:
            pieces.append((start, stop - 1))
            start = None
        if start is None:
            start = w0
        stop = w1
    if start is not None:
        pieces.append((start, stop - 1))
    return pieces


def _trim(text: str, start: int, stop: int) -> tuple[int, int] | None:
    while start < stop and text[start].isspace():
        start += 1
    while stop > start and text[stop - 1].isspace():
        stop -= 1
    return (start, stop - 1) if stop > start else None


def _custom_pieces(text: str, rules: SentenceRules) -> list[tuple[int, int]]:
    """[start, stop) pieces between customBounds matches; the match goes with neither piece ("none"),
    the one before ("append") or the one after ("prepend").

    As Spark NLP does, the bounds apply one after another, in the order given, each to the text the
    earlier ones left: a match becomes (strategy "none") or gains ("append", "prepend") a break mark,
    Spark NLP's BREAK_INDICATOR, which the later bounds see in its place."""
    work = text
    origin = [(i, i + 1) for i in range(len(text))]  # per character of `work`: its [start, stop) in text
    marks: list[int] = []  # the indices in `work` of the break marks, ascending
    for pattern in _bounds_patterns(rules.custom_bounds):
        work, origin, marks = _mark_bound(pattern, work, origin, marks, rules.custom_bounds_strategy)
    pieces, start = [], 0
    for index in marks:
        cut_start, cut_stop = origin[index]
        pieces.append((start, cut_start))
        start = cut_stop
    pieces.append((start, len(text)))
    return pieces


def _mark_bound(pattern: regex.Pattern, work: str, origin: list[tuple[int, int]], marks: list[int],
                strategy: str) -> tuple[str, list[tuple[int, int]], list[int]]:
    """`work` with every match of one bound marked, as Spark NLP's replaceAllIn with the break mark:
    the match replaced by the mark ("none"; the mark stands for the match's span of the text), or the
    mark put after ("append") or before ("prepend") it (the mark is then a cut of no width)."""
    matches = list(pattern.finditer(work))
    if not matches:
        return work, origin, marks
    parts: list[str] = []
    new_origin: list[tuple[int, int]] = []
    new_marks: list[int] = []

    def copy(start: int, stop: int) -> None:  # work[start:stop] unchanged, its marks too
        shift = len(new_origin) - start
        new_marks.extend(k + shift for k in marks[bisect_left(marks, start) : bisect_left(marks, stop)])
        parts.append(work[start:stop])
        new_origin.extend(origin[start:stop])

    def mark(span: tuple[int, int]) -> None:
        new_marks.append(len(new_origin))
        parts.append(BREAK_MARK)
        new_origin.append(span)

    done = 0
    for m in matches:
        begin, end = m.span()
        copy(done, begin)
        first = origin[begin][0] if begin < len(origin) else (origin[-1][1] if origin else 0)
        last = origin[end - 1][1] if end > begin else first
        if strategy == "prepend":
            mark((first, first))
        if strategy == "none":
            mark((first, last))
        else:
            copy(begin, end)
        if strategy == "append":
            mark((last, last))
        done = end
    copy(done, len(work))
    return "".join(parts), new_origin, new_marks


def _pragmatic_pieces(text: str, start: int, stop: int, rules: SentenceRules) -> list[tuple[int, int]]:
    cuts = {m.end() for m in _BLANK_LINE.finditer(text, start, stop)}
    quoted = quoted_spans(text, start, stop)
    breaks = _NEWLINE.finditer(text, start, stop)
    cuts.update(m.end() for m in breaks
                if not inside(quoted, m.start(), m.end()) and _line_break_ends(text, m.start(), start, stop, rules))
    cuts.update(m.end() for m in _END.finditer(text, start, stop)
                if not inside(quoted, m.start(1), m.end(1)) and _mark_ends(text, m, start, stop, rules))
    if rules.detect_lists:
        cuts.update(m.start(1) for m in _INLINE_LIST_MARKER.finditer(text, start, stop))
    bounds = [start, *sorted(c for c in cuts if start < c < stop), stop]
    return list(zip(bounds, bounds[1:]))


def _next_word(text: str, pos: int, stop: int) -> str:
    """The whitespace-delimited word after `pos` ('' at the end), leading opening quotes stripped."""
    m = _WORD_AFTER.match(text, pos, stop)
    return m.group(1).lstrip(_OPENERS) if m else ""


def _word_before(text: str, pos: int, start: int) -> tuple[str, int]:
    """The run of letters, digits and periods ending at `pos` ("U.S", "Mr", "12") and where it begins."""
    i = pos
    while i > start and (text[i - 1].isalnum() or text[i - 1] == "."):
        i -= 1
    return text[i:pos], i


def _line_start(text: str, pos: int, start: int) -> bool:
    """Only spaces between the start of the line (or piece) and `pos`."""
    i = pos
    while i > start and text[i - 1] in " \t\r\f\v":
        i -= 1
    return i == start or text[i - 1] == "\n"


def _is_list_marker(text: str, pos: int, stop: int) -> bool:
    return _LIST_MARKER.match(text, pos, stop) is not None


def _mark_ends(text: str, m: re.Match, start: int, stop: int, rules: SentenceRules) -> bool:
    """Does the end-mark run `m` (marks, then closers) end a sentence?"""
    nxt = _next_word(text, m.end(), stop)
    if not nxt:
        return False  # the piece ends here anyway
    if nxt[0].islower() or nxt[0] in _CONTINUATION:
        return False
    marks, closers = m.group(1), m.group(2)
    word, begin = _word_before(text, m.start(), start)
    if marks == "." and (_GEO_PERIOD.match(text, m.start()) or _numbered_marker(text, word, begin, start, closers)):
        return False
    if marks != "." or closers:
        return True
    if rules.detect_lists and _line_start(text, begin, start) and _is_list_marker(text, begin, stop):
        return False
    return not (rules.use_abbreviations and _protected(word, nxt))


def _numbered_marker(text: str, word: str, begin: int, start: int, closers: str) -> bool:
    """The period of a list marker "1.)" (Spark NLP: a period after a digit, before a non-space, never ends)."""
    at_word_start = begin == start or text[begin - 1].isspace()
    return closers.startswith(")") and word.isdigit() and len(word) <= 2 and at_word_start


def _protected(word: str, nxt: str) -> bool:
    """An abbreviation's period that does not end the sentence before the word `nxt`."""
    low = word.lower()
    if low in PREPOSITIVE:
        return True
    known = low in ABBREVIATIONS or _MULTI_PERIOD.fullmatch(word) or (len(word) == 1 and word.isupper())
    return bool(known) and nxt.rstrip(".,;:!?'\"").lower() not in SENTENCE_OPENERS


def _line_break_ends(text: str, i: int, start: int, stop: int, rules: SentenceRules) -> bool:
    """Does the single line break at `i` end a sentence?"""
    after = i + 1
    while after < stop and text[after] in " \t\r\f\v":
        after += 1
    if after >= stop or text[after] == "\n":
        return False  # the end, or a blank line (split anyway)
    if rules.detect_lists and _is_list_marker(text, after, stop):
        return True
    if text[after].islower():
        return False
    before = i
    while before > start and text[before - 1].isspace():
        before -= 1
    if before > start and text[before - 1] == "." and rules.use_abbreviations:
        word, _ = _word_before(text, before - 1, start)
        return not _protected(word, _next_word(text, after, stop))
    return True
