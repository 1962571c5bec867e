"""Java regexes as Spark NLP takes them (cores/java_regex.py): what Java matches, matched the same way
with the `regex` package; what Java refuses, a ValueError naming the param and the pattern."""
import re

import pytest

from sparklong.cores.java_regex import compile_java
from sparklong.cores.tokenizer_rules import TokenizerRules, tokenize_text


def matches(pattern, text, ignore_case=False):
    return [m.group() for m in compile_java(pattern, "p", ignore_case).finditer(text)]


@pytest.mark.parametrize("pattern, text, expected", [
    # read by `regex` as by Java
    (r"(?<=\s|^)'", "'a 'b c'd", ["'", "'"]),  # look-behind with alternatives of different widths
    (r"(?<=a{1,3})b", "aab", ["b"]),  # bounded variable-width look-behind
    (r"(?i)p\.m\.*", "P.M. p.m", ["P.M.", "p.m"]),
    (r"x(?i)y", "xY XY", ["xY"]),  # an inline flag in the middle applies from there on
    (r"(?i:a)b", "Ab AB", ["Ab"]),
    (r"a++b", "aaab", ["aaab"]), (r"(?>a|ab)c", "abc", []),  # possessive quantifier, atomic group
    (r"[a-z&&[^aeiou]]+", "hello", ["h", "ll"]), (r"[a-c[x-z]]+", "abyq", ["aby"]),  # intersection, union
    (r"\p{L}+", "héllo wörld", ["héllo", "wörld"]), (r"\p{IsLatin}+", "abé αβ", ["abé"]),
    (r"\p{InGreek}+", "abé αβ", ["αβ"]), (r"\pL+", "é1", ["é"]),
    (r"(?<n>a)\k<n>", "aa", ["aa"]),
    # rewritten: Java reads them otherwise than `regex`
    (r"\w+", "héllo", ["h", "llo"]), (r"\d", "1٣", ["1"]), (r"\s", " \u00a0", [" "]),  # ASCII in Java
    (r"(?U)\w+", "héllo", ["héllo"]), (r"(?U:\w+)-\w+", "é-é é-a", ["é-a"]),  # (?U): Unicode classes
    (r"a.b", "a\rb a\u2028b axb", ["axb"]), (r"(?s)a.b", "a\rb", ["a\rb"]), (r"(?d)a.b", "a\rb", ["a\rb"]),
    (r"a\Z", "a\r\n", ["a"]), (r"a\z", "a\n", []),
    (r"\Qa.b\E+", "a.bb axb", ["a.bb"]), (r"[\Q]|\E]+", "x]|", ["]|"]),
    (r"\p{Alpha}+", "héllo", ["h", "llo"]), (r"\p{Punct}+", "$+<!,é", ["$+<!,"]),  # POSIX classes: ASCII
    (r"\P{Alpha}+", "ab12", ["12"]), (r"[\p{Alpha}\d]+", "ab12é", ["ab12"]),
    (r"\p{IsLu}+", "ABc", ["AB"]), (r"\p{javaLowerCase}+", "aéB", ["aé"]),
    (r"\p{javaWhitespace}+", "x \t\u00a0", [" \t"]),
    (r"\v+", "a\n\r\x0bb", ["\n\r\x0b"]), (r"\h+", "a \u00a0\nb", [" \u00a0"]),
    (r"\e\cA", "\x1b\x01", ["\x1b\x01"]), (r"\x{1F600}", "😀", ["😀"]), (r"\0101", "A", ["A"]),
    (r"[a||b]", "|x", ["|"]),  # a class's | is literal in Java
    (r"(?i)ß", "SS ß", ["ß"]),  # simple case folding, as Java's
])
def test_java_patterns_match_as_in_java(pattern, text, expected):
    assert matches(pattern, text) == expected


def test_ignore_case_as_spark_nlp_prefixes_exceptions():
    assert matches("new york|(?-i)LA", "New York la LA", ignore_case=True) == ["New York", "LA"]


@pytest.mark.parametrize("pattern, reason", [
    ("(?<=a+)b", "maximum length"), ("(?<=a{2,})b", "maximum length"),  # unbounded look-behind
    ("x{abc}", "illegal repetition"), (r"\y", r"illegal escape \\y"), (r"\K", r"illegal escape \\K"),
    ("(?P<n>a)", "unknown group construct"), ("(?#note)a", "unknown group construct"),
    ("(?(1)a|b)", "unknown group construct"), (r"\x{110000}", "hexadecimal"), (r"\0", "octal"),
    ("(", "missing \\)"), ("[a", "unterminated character set"),
])
def test_patterns_java_refuses_are_value_errors_naming_param_and_pattern(pattern, reason):
    with pytest.raises(ValueError, match="^" + re.escape(f"customBounds: {pattern!r}") + ".*" + reason):
        compile_java(pattern, "customBounds")


def test_tokenizer_patterns_read_as_java():
    rules = TokenizerRules(infix_patterns=(r"((?<=\s|^)\p{Alpha}++)(\d{1,2}+)",), exceptions=(r"(?i)e\.g\.",))
    assert [t.result for t in tokenize_text("ab12 é3 E.G. x", rules)] == ["ab", "12", "é3", "E.G.", "x"]
