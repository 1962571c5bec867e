"""Spark NLP's rule-based tokenization (its TokenizerModel.tag), the pure core of Tokenizer and
TokenizerModel: DOCUMENT annotations -> TOKEN annotations.

1. exceptions (regexes) are protected: inside each match, break characters stop breaking;
2. the text is cut into candidates, maximal runs of characters that are not breaks; Spark NLP builds
   the break class `[^(?:<targetPattern>)]`, so the default "\\S+" cuts on whitespace;
3. a candidate holding a protected exception, or equal to an exception match, is kept whole;
4. otherwise the first rule prefix+infix+suffix that matches gives one token per regex group, and a
   group holding splitChars / splitPattern is split further; no rule matches -> the candidate as is;
5. empty tokens and tokens outside [minLength, maxLength] are dropped.

Patterns are Java regexes, as in Spark NLP (java_regex.py). Offsets are code points into the document
and always exact: token.result == text[begin:end + 1]. `TokenizerRules` holds the configuration,
compiled once per process; `tokenize(documents, rules)` applies it.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Iterable, Sequence

import regex

from ..annotation import DOCUMENT, TOKEN, Annotation
from .java_regex import compile_java
from .value_checks import check_range

DEFAULT_CONTEXT_CHARS = (".", ",", ";", ":", "!", "?", "*", "-", "(", ")", '"', "'")


# -- regexes ---------------------------------------------------------------------------------------
def break_class(target_pattern: str) -> str:
    """Spark NLP's break class `[^(?:TARGET)]`; nested classes in TARGET are unions there, so flatten them."""
    if re.search(r"(?<!\\)\[\^", target_pattern):
        raise ValueError(f"targetPattern: negated character classes are not supported, got {target_pattern!r}")
    flat = re.sub(r"(?<!\\)[\[\]]", "", target_pattern)
    return "[^(?:" + flat + ")]"


def _char_class(chars: Sequence[str], negate: bool = False) -> str:
    if not chars:  # an empty class: matches nothing (or, negated, anything)
        return r"[\s\S]" if negate else r"[^\s\S]"
    return "[" + ("^" if negate else "") + "".join(re.escape(c) for c in chars) + "]"


# -- rules (the pure core's configuration) ---------------------------------------------------------
@dataclass(frozen=True)
class TokenizerRules:
    target_pattern: str = r"\S+"
    prefix_pattern: str | None = None
    suffix_pattern: str | None = None
    infix_patterns: tuple[str, ...] | None = None
    context_chars: tuple[str, ...] = DEFAULT_CONTEXT_CHARS
    split_chars: tuple[str, ...] | None = None
    split_pattern: str | None = None
    exceptions: tuple[str, ...] = ()
    case_sensitive_exceptions: bool = True
    min_length: int = 0
    max_length: int | None = None

    def __post_init__(self):
        for f in fields(self):  # lists -> tuples, so rules hash (compiled once per process)
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))

    def rule_patterns(self) -> list[str]:
        """prefix + infix + suffix for each infix, as Spark NLP's Tokenizer.buildRuleFactory."""
        ctx, not_ctx = _char_class(self.context_chars), _char_class(self.context_chars, negate=True)
        prefix = self.prefix_pattern if self.prefix_pattern is not None else rf"\A({ctx}*)"
        suffix = self.suffix_pattern if self.suffix_pattern is not None else rf"({ctx}*)\z"
        # Spark NLP's default infix is ([^ctx](?:.*[^ctx])*): the same language as below, without the
        # nested quantifier that backtracks exponentially on a failed match
        infixes = self.infix_patterns if self.infix_patterns is not None else (rf"({not_ctx}(?s:.*{not_ctx})?)",)
        return [prefix + infix + suffix for infix in infixes]

    def compiled(self) -> "_Compiled":
        return _compile(self)


@dataclass(frozen=True)
class _Compiled:
    breaks: regex.Pattern
    rules: tuple[regex.Pattern, ...]
    exceptions: regex.Pattern | None
    split_pattern: regex.Pattern | None
    split_chars: regex.Pattern | None
    split_char_set: tuple[str, ...]


@lru_cache(maxsize=64)
def _compile(rules: TokenizerRules) -> _Compiled:
    validate_rules(rules)
    exceptions = None
    if rules.exceptions:  # one alternation, as Spark NLP joins them (each with (?i) when case-insensitive)
        exceptions = compile_java("|".join(rules.exceptions), "exceptions", not rules.case_sensitive_exceptions)
    split_chars = None
    if rules.split_chars:  # one char = itself (Spark NLP would read "." as a regex); "\x" = a regex escape
        split_chars = compile_java("|".join(c if len(c) == 2 else re.escape(c) for c in rules.split_chars),
                                   "splitChars")
    return _Compiled(
        breaks=compile_java(break_class(rules.target_pattern), "targetPattern"),
        rules=tuple(compile_java(p, "infixPatterns") for p in rules.rule_patterns()),
        exceptions=exceptions,
        split_pattern=compile_java(rules.split_pattern, "splitPattern") if rules.split_pattern else None,
        split_chars=split_chars,
        split_char_set=tuple(c[-1] for c in rules.split_chars or ()),
    )


def validate_rules(rules: TokenizerRules) -> None:
    """Spark NLP's requirements, as ValueErrors naming the param."""
    if rules.prefix_pattern is not None and not rules.prefix_pattern.startswith("\\A"):
        raise ValueError(f"prefixPattern must begin with \\A, got {rules.prefix_pattern!r}")
    if rules.suffix_pattern is not None and not rules.suffix_pattern.endswith(("\\z", "\\Z")):
        raise ValueError(f"suffixPattern must end with \\z, got {rules.suffix_pattern!r}")
    for infix in rules.infix_patterns or ():
        if "(" not in infix or ")" not in infix:
            raise ValueError(f"infixPatterns must use regex groups (each group is one token), got {infix!r}")
    for c in rules.context_chars:
        if len(c) != 1:
            raise ValueError(f"contextChars must be single characters, got {c!r}")
    for c in rules.split_chars or ():
        if not (len(c) == 1 or (len(c) == 2 and c[0] == "\\")):
            raise ValueError(f"splitChars must be single characters (or a backslash escape like '\\\\.'), got {c!r}")
    check_range("minLength", rules.min_length, 0, 2**31 - 1)
    if rules.max_length is not None:
        check_range("maxLength", rules.max_length, rules.min_length, 2**31 - 1)


DEFAULT_RULES = TokenizerRules()


# -- pure core -------------------------------------------------------------------------------------
def _split_spans(text: str, pattern: regex.Pattern) -> list[tuple[int, int]]:
    """Java's String.split(regex) as spans: no leading piece for a zero-width match at 0, trailing
    empty pieces dropped, the whole text when nothing matches."""
    spans, index = [], 0
    for m in pattern.finditer(text):
        if m.end() == 0:
            continue
        spans.append((index, m.start()))
        index = m.end()
    if not spans:
        return [(0, len(text))]
    spans.append((index, len(text)))
    while spans and spans[-1][0] == spans[-1][1]:
        spans.pop()
    return spans


def _candidate_pieces(cand: str, rules: _Compiled) -> list[tuple[int, int]]:
    """Spans (in the candidate) of the tokens the first matching rule gives; the whole candidate if none."""
    match = next((m for m in (r.search(cand) for r in rules.rules) if m), None)
    if match is None:
        return [(0, len(cand))]
    pieces = []
    for group in range(1, (match.re.groups or 0) + 1):
        start, end = match.span(group)
        if start < 0 or start == end:
            continue
        target = cand[start:end]
        by_pattern = rules.split_pattern is not None and len(_split_spans(target, rules.split_pattern)) > 1
        by_chars = rules.split_chars is not None and any(c in target for c in rules.split_char_set)
        if by_pattern or by_chars:
            splitter = rules.split_pattern if by_pattern else rules.split_chars
            pieces.extend((start + b, start + e) for b, e in _split_spans(target, splitter))
        else:
            pieces.append((start, end))
    return pieces


def tokenize_sentence(content: str, rules: TokenizerRules = DEFAULT_RULES) -> list[tuple[int, int]]:
    """Token spans [start, end) in one sentence's text."""
    compiled = rules.compiled()
    breaks = [m.start() for m in compiled.breaks.finditer(content)]
    protected: list[int] = []  # break positions inside an exception match: no longer breaks
    without_break: set[str] = set()  # exception matches that hold no break character
    if compiled.exceptions is not None:
        for m in compiled.exceptions.finditer(content):
            inside = breaks[bisect_left(breaks, m.start()) : bisect_left(breaks, m.end())]
            if inside:
                protected.extend(inside)
            else:
                without_break.add(m.group())
        protected_set = set(protected)
        breaks = [b for b in breaks if b not in protected_set]
        protected.sort()
    spans, start = [], 0
    for cut in breaks + [len(content)]:
        if cut > start:
            cand = content[start:cut]
            is_exception = compiled.exceptions is not None and (
                bisect_left(protected, cut) > bisect_left(protected, start) or cand in without_break
            )
            if is_exception:
                spans.append((start, cut))
            else:
                spans.extend((start + b, start + e) for b, e in _candidate_pieces(cand, compiled))
        start = cut + 1
    low, high = rules.min_length, rules.max_length
    return [(b, e) for b, e in spans if e > b and e - b >= low and (high is None or e - b <= high)]


def _sentence_index(annotation: Annotation, position: int) -> str:
    try:
        return str(int(annotation.metadata.get("sentence", "0")))
    except (TypeError, ValueError):
        return str(position)


def tokenize(documents: Iterable[Annotation], rules: TokenizerRules = DEFAULT_RULES) -> list[Annotation]:
    """TOKEN annotations for the DOCUMENT annotations (documents or sentences) given; offsets are into
    the full text (each sentence's begin is added), metadata {"sentence": its index}."""
    tokens = []
    for position, doc in enumerate(d for d in documents if d.annotatorType == DOCUMENT):
        text, sentence = doc.result or "", _sentence_index(doc, position)
        for b, e in tokenize_sentence(text, rules):
            tokens.append(Annotation(TOKEN, doc.begin + b, doc.begin + e - 1, text[b:e], {"sentence": sentence}))
    return tokens


def tokenize_text(text: str | None, rules: TokenizerRules = DEFAULT_RULES) -> list[Annotation]:
    """Tokens of one plain string, as after a DocumentAssembler with cleanupMode disabled."""
    text = text or ""
    return tokenize([Annotation(DOCUMENT, 0, len(text) - 1, text, {"sentence": "0"})], rules)


def tokenize_columns(rules: TokenizerRules, *columns: list[Annotation]) -> list[Annotation]:
    """Tokens of every DOCUMENT annotation of a row's input columns, in column order."""
    return tokenize([a for annotations in columns for a in annotations], rules)
