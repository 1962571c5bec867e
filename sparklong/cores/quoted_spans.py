"""Spark NLP's between-punctuation rule (PragmaticContentFormatter.formatBetweenPunctuations, after the
pragmatic segmenter's): text between quotes, square brackets or parentheses that holds only letters,
digits, spaces and . , ? ! (single quotes: also apostrophes) is one piece of its sentence, so no
sentence ends inside it: `"It is late. We go." she said` keeps `It is late.` inside its sentence.

The four patterns are Spark NLP's, read as the Java regexes they are (cores/java_regex.py); each
gives the span of the quoted content.
"""
from __future__ import annotations

from .java_regex import compile_java

_BETWEEN = tuple(compile_java(pattern, "between-punctuation rule") for pattern in (
    r"(?<=\s|^)'([\w\s?!\.,|'\w]+)'(?:\W)",  # single quotes, opened after a space or at the start
    r'"([\w\s?!\.,]+)"',  # double quotes
    r"\[([\w\s?!\.,]+)\]",  # square brackets
    r"\(([\w\s?!\.,]+)\)",  # parentheses
))


def quoted_spans(text: str, start: int, stop: int) -> list[tuple[int, int]]:
    """[begin, end) of the content of each quotation or bracket in text[start:stop] that holds no
    sentence end."""
    return [m.span(1) for pattern in _BETWEEN for m in pattern.finditer(text, start, stop)]


def inside(spans: list[tuple[int, int]], begin: int, end: int) -> bool:
    """Is text[begin:end] inside one of the spans, not at its end (where `"Stop."` may still end)?"""
    return any(b <= begin and end < e for b, e in spans)
