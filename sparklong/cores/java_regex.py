"""Java regexes, as Spark NLP takes them (Tokenizer patterns, SentenceDetector's customBounds), run on
Python's `re`.

They run with re.ASCII (JAVA_FLAGS), which gives Java's defaults (\\s \\w \\d and (?i) ASCII-only).
Java's `\\z` (end of input) is read as Python's `\\Z`, Java's `\\Z` (before a final line break) as a
look-ahead, and Unicode categories (\\p{L}, \\pL, \\p{IsLu}, \\P{N}, ...) as explicit ranges.
"""
from __future__ import annotations

import re
from functools import lru_cache

JAVA_FLAGS = re.ASCII  # Java's default character classes and case folding


def _from_java(pattern: str) -> str:
    """Java regex -> Python `re`: \\z (end of input) is \\Z, Java's \\Z (before a final newline) a lookahead,
    and Unicode categories \\p{L} / \\pL / \\p{IsLu} / \\P{N} ... become explicit ranges."""
    out, i, depth = [], 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            prop = _PROPERTY.match(pattern, i)
            if prop:
                ranges = _category_ranges(prop.group(2) or prop.group(3))
                if prop.group(1) == "P" and depth:
                    raise re.error(f"negated category {prop.group()} inside a character class")
                out.append(ranges if depth else ("[^" if prop.group(1) == "P" else "[") + ranges + "]")
                i = prop.end()
                continue
            pair = pattern[i : i + 2]
            out.append({"\\z": "\\Z", "\\Z": "(?=\\n?\\Z)"}.get(pair, pair))
            i += 2
            continue
        depth += 1 if c == "[" else -1 if c == "]" and depth else 0
        out.append(c)
        i += 1
    return "".join(out)


_PROPERTY = re.compile(r"\\([pP])(?:\{(?:Is)?([A-Z][a-z]?)\}|([A-Z]))")


@lru_cache(maxsize=None)
def _category_ranges(category: str) -> str:
    """The body of a character class holding every code point of a Unicode general category (L, Lu, N...)."""
    import unicodedata

    ranges, start, prev = [], None, None
    for code in range(0x110000):
        if unicodedata.category(chr(code)).startswith(category):
            if start is None:
                start = code
            prev = code
        elif start is not None:
            ranges.append((start, prev))
            start = None
    if start is not None:
        ranges.append((start, prev))
    if not ranges:
        raise re.error(f"unknown Unicode category {category!r}")
    esc = lambda code: re.escape(chr(code))  # noqa: E731
    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)


def compile_java(pattern: str, param: str, flags: int = 0) -> re.Pattern:
    """A Java regex compiled for Python's `re`; a pattern that does not compile is a ValueError naming `param`."""
    try:
        return re.compile(_from_java(pattern), JAVA_FLAGS | flags)
    except re.error as err:
        raise ValueError(f"{param}: invalid regular expression {pattern!r} ({err}; Python `re` syntax, "
                         "Java-only constructs such as \\Q...\\E are not supported)") from None
