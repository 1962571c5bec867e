"""Java regexes, as Spark NLP takes them (Tokenizer patterns, SentenceDetector's customBounds), compiled
with the `regex` package.

`regex` in its version-1 mode already reads most of what Java reads: look-behind of bounded variable
width (`(?<=\\s|^)`), inline flags anywhere, scoped to the end of their group (`a(?i)b`, `(?i:x)`),
possessive quantifiers, atomic groups, nested classes and `&&` intersection (`[a-z&&[^aeiou]]`),
\\p{L} / \\p{IsLatin} / \\p{InGreek} / \\p{sc=Latin}, \\h, \\R, \\X, \\G, \\z, \\N{name}.
`java_to_regex` rewrites only what Java reads otherwise, and refuses what Java refuses:

- \\d \\s \\w (and \\D \\S \\W) are ASCII, as Java's default; (?U) makes them Unicode, as in Java;
- `.` stops at every Java line terminator (\\n \\r \\u0085 \\u2028 \\u2029), not only \\n, unless (?s);
  with (?d) (UNIX_LINES) only \\n, as `regex` does;
- Java's \\Z (end, or before a final line terminator), \\v and \\V (vertical whitespace), \\h and \\H,
  \\e, \\cX, \\x{h...h}, \\0ooo (octal), \\k<name>, \\Q...\\E (quoted text);
- \\p{Alpha}, \\p{Punct}, ... (POSIX classes, ASCII in Java), \\p{javaLowerCase}, ... (java.lang.Character
  classes), \\p{IsLu} (a category with Is), \\p{LD}, \\p{L1}, \\p{blk=...};
- Java's flags d, u and U have no `regex` letter: d and U are followed here, u (Unicode case folding)
  is what `regex` does anyway; case folding is simple (one character to one), as Java's;
- inside a class, | and ~ are literal, as in Java (`regex` reads || and ~~ as set operators);
- refused, as Java refuses them: an unknown escape letter (\\y, \\K), a `{` that is no quantifier, a
  group syntax Java lacks ((?P<n>...), (?#...), (?(1)a|b)), a look-behind without a maximum length.

Left as `regex` reads them (documented in docs/annotators.md): `^` and `$` know only \\n as a line
terminator; (?i) also folds non-ASCII letters (Java only with (?u)); \\b is Unicode-aware (as Java 8-18).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

import regex

# Java's predefined classes where they differ from `regex`'s (as set bodies, valid inside a class too)
_ASCII_SHORTHANDS = {"d": "0-9", "s": r" \t\n\x0B\f\r", "w": "a-zA-Z_0-9"}
_VERTICAL = r"\n\x0B\f\r\x85\u2028\u2029"
_HORIZONTAL = r" \t\xA0\u1680\u180E\u2000-\u200A\u202F\u205F\u3000"
_DOT = r"[^\n\r\x85\u2028\u2029]"
_END_BEFORE_TERMINATOR = r"(?=(?:\r\n|[\n\r\x85\u2028\u2029])?\z)"  # Java's \Z
# \p{...} names Java reads otherwise than `regex` (or that `regex` lacks), as set expressions
_PROPERTIES = {
    # POSIX classes: US-ASCII only in Java
    "Lower": "[a-z]", "Upper": "[A-Z]", "ASCII": r"[\x00-\x7F]", "Alpha": "[a-zA-Z]", "Digit": "[0-9]",
    "Alnum": "[a-zA-Z0-9]", "Punct": r"[!-/:-@\[-`{-\~]", "Graph": r"[!-\~]", "Print": r"[ -\~]",
    "Blank": r"[ \t]", "Cntrl": r"[\x00-\x1F\x7F]", "XDigit": "[0-9a-fA-F]", "Space": r"[ \t\n\x0B\f\r]",
    # java.lang.Character classes
    "javaLowerCase": r"[\p{Lowercase}]", "javaUpperCase": r"[\p{Uppercase}]", "javaTitleCase": r"[\p{Lt}]",
    "javaWhitespace": r"[[\t-\r\x1C-\x1F\p{Z}]--[\xA0\u2007\u202F]]", "javaSpaceChar": r"[\p{Z}]",
    "javaMirrored": r"[\p{Bidi_Mirrored}]", "javaLetter": r"[\p{L}]", "javaDigit": r"[\p{Nd}]",
    "javaLetterOrDigit": r"[\p{L}\p{Nd}]", "javaAlphabetic": r"[\p{Alphabetic}]",
    "javaIdeographic": r"[\p{Ideographic}]", "javaISOControl": r"[\x00-\x1F\x7F-\x9F]", "javaDefined": r"[^\p{Cn}]",
    # Java's own category names
    "LD": r"[\p{L}\p{Nd}]", "L1": r"[\x00-\xFF]",
}
_CATEGORIES = frozenset("L Lu Ll Lt Lm Lo LC M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po S Sm Sc Sk So Z Zs Zl "
                        "Zp C Cc Cf Co Cs Cn".split())
_JAVA_ESCAPE_LETTERS = frozenset("tnrfaecdDsSwWhHvVRXNbBAGZzQpPkxu")
_FLAG_GROUP = re.compile(r"\(\?([idmsuxU]*)(?:-([idmsuxU]*))?([:)])")
_GROUP_NAME = re.compile(r"\(\?<([a-zA-Z][a-zA-Z0-9]*)>")
_QUANTIFIER = re.compile(r"\{\d+(,\d*)?\}")
_PROPERTY = re.compile(r"\\([pP])(?:\{([^}]*)\}|([A-Za-z]))")
_OCTAL = re.compile(r"\\0([0-3][0-7]{2}|[0-7]{1,2})")
_NAMED_REFERENCE = re.compile(r"\\k<([a-zA-Z][a-zA-Z0-9]*)>")


class JavaPatternError(ValueError):
    """A pattern Java's java.util.regex.Pattern would refuse (or one `regex` cannot read)."""


@dataclass(frozen=True)
class _Scope:
    """The flags in force in one group, and whether the group is (inside) a look-behind."""

    dotall: bool = False
    unix_lines: bool = False
    unicode_classes: bool = False
    lookbehind: bool = False

    def with_flags(self, on: str, off: str) -> "_Scope":
        scope = self
        for letters, value in ((on, True), (off, False)):
            for letter, name in (("s", "dotall"), ("d", "unix_lines"), ("U", "unicode_classes")):
                if letter in letters:
                    scope = replace(scope, **{name: value})
        return scope


def compile_java(pattern: str, param: str, ignore_case: bool = False) -> regex.Pattern:
    """A Java regex compiled with `regex`; a pattern Java would refuse is a ValueError naming `param`."""
    try:
        return _compile(pattern, ignore_case)
    except (JavaPatternError, regex.error) as err:
        reason = getattr(err, "msg", None) or str(err)  # regex's positions count in the translated text
        raise ValueError(f"{param}: {pattern!r} is not a valid Java regular expression ({reason})") from None


@lru_cache(maxsize=256)
def _compile(pattern: str, ignore_case: bool) -> regex.Pattern:
    # (?-f): simple case folding, as Java's (version 1 folds fully by default: "ß" would match "SS")
    return regex.compile("(?-f)" + java_to_regex(pattern), regex.V1 | (regex.IGNORECASE if ignore_case else 0))


def java_to_regex(pattern: str) -> str:
    """The `regex` (version 1) pattern that matches what the Java pattern matches; JavaPatternError for
    what Java refuses."""
    out: list[str] = []
    scopes = [_Scope()]  # one per open group; the innermost last
    depth = 0  # character-class nesting
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            text, i = _escape(pattern, i, scopes[-1], depth > 0)
            out.append(text)
            continue
        if depth:
            depth += c == "["
            depth -= c == "]"
            out.append("\\" + c if c in "|~" else c)
        elif c == "[":
            depth = 1
            out.append(c)
            if pattern.startswith("^", i + 1):
                out.append("^")
                i += 1
            if pattern.startswith("]", i + 1):  # a leading ] is literal in both
                out.append("\\]")
                i += 1
        elif c == "(":
            text, i = _open_group(pattern, i, scopes)
            out.append(text)
            continue
        elif c == ")":
            if len(scopes) > 1:
                scopes.pop()
            out.append(c)
        elif c == ".":
            out.append("." if scopes[-1].dotall or scopes[-1].unix_lines else _DOT)
        elif c == "{":
            quantifier = _QUANTIFIER.match(pattern, i)
            if quantifier is None:
                raise JavaPatternError(f"illegal repetition at {i}: Java reads {{ only as a quantifier {{n}}, "
                                       "{n,} or {n,m}; write \\{ for the character")
            if scopes[-1].lookbehind and quantifier.group(1) == ",":
                raise _unbounded_lookbehind(i)
            out.append(quantifier.group())
            i = quantifier.end()
            continue
        elif c in "*+" and scopes[-1].lookbehind and not _possessive_mark(pattern, i):
            raise _unbounded_lookbehind(i)
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _possessive_mark(pattern: str, i: int) -> bool:
    """Is the + at `i` the possessive mark of a bounded quantifier (a?+, a{1,2}+) rather than a repeat?"""
    return pattern[i] == "+" and i > 0 and pattern[i - 1] in "?}" and not _escaped(pattern, i - 1)


def _escaped(pattern: str, i: int) -> bool:
    backslashes = 0
    while i - 1 - backslashes >= 0 and pattern[i - 1 - backslashes] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def _unbounded_lookbehind(i: int) -> JavaPatternError:
    return JavaPatternError(f"look-behind group does not have an obvious maximum length (at {i}); Java needs "
                            "a bounded one: {n,m} instead of * or +")


def _open_group(pattern: str, i: int, scopes: list[_Scope]) -> tuple[str, int]:
    """The `regex` text of the group opening at `i`, the position after it; pushes its scope (a flag
    group without a colon changes the current scope instead)."""
    scope = scopes[-1]
    if not pattern.startswith("(?", i):
        scopes.append(scope)
        return "(", i + 1
    for opening in ("(?:", "(?=", "(?!", "(?>"):
        if pattern.startswith(opening, i):
            scopes.append(scope)
            return opening, i + len(opening)
    for opening in ("(?<=", "(?<!"):
        if pattern.startswith(opening, i):
            scopes.append(replace(scope, lookbehind=True))
            return opening, i + len(opening)
    named = _GROUP_NAME.match(pattern, i)
    if named:
        scopes.append(scope)
        return named.group(), named.end()
    flags = _FLAG_GROUP.match(pattern, i)
    if flags is None:
        raise JavaPatternError(f"unknown group construct {pattern[i:i + 3]!r} at {i} (Java knows (?:, (?=, (?!, "
                               "(?<=, (?<!, (?>, (?<name>, and flags (?idmsuxU-idmsuxU) / (?idmsuxU-idmsuxU:...)")
    on, off, end = flags.group(1), flags.group(2) or "", flags.group(3)
    changed = scope.with_flags(on, off)
    if end == ":":
        scopes.append(changed)
    else:
        scopes[-1] = changed
    on, off = (re.sub("[duU]", "", letters) for letters in (on, off))  # no `regex` letter; followed here
    if not on and not off:
        return ("(?:" if end == ":" else ""), flags.end()
    return "(?" + on + ("-" + off if off else "") + end, flags.end()


def _escape(pattern: str, i: int, scope: _Scope, in_class: bool) -> tuple[str, int]:
    """The `regex` text of the escape at `i` (a backslash), the position after it."""
    if i + 1 >= len(pattern):
        raise JavaPatternError("unexpected end of pattern after a backslash")
    c = pattern[i + 1]
    if c in "dswDSW" and not scope.unicode_classes:
        body = _ASCII_SHORTHANDS[c.lower()]
        return ("[^" if c.isupper() else "[") + body + "]", i + 2
    if c in "vV":
        return ("[^" if c == "V" else "[") + _VERTICAL + "]", i + 2
    if c in "hH":
        return ("[^" if c == "H" else "[") + _HORIZONTAL + "]", i + 2
    if c == "Z" and not in_class:
        return _END_BEFORE_TERMINATOR, i + 2
    if c == "e":
        return r"\x1B", i + 2
    if c == "c":
        if i + 2 >= len(pattern):
            raise JavaPatternError("\\c needs a control letter after it")
        return _char(ord(pattern[i + 2]) ^ 64), i + 3
    if c == "x" and pattern.startswith("{", i + 2):
        end = pattern.find("}", i + 3)
        digits = pattern[i + 3 : end] if end > 0 else ""
        if not re.fullmatch(r"[0-9a-fA-F]{1,6}", digits) or int(digits, 16) > 0x10FFFF:
            raise JavaPatternError(f"bad hexadecimal code point \\x{{{digits}}} at {i}")
        return _char(int(digits, 16)), end + 1
    if c == "0":
        octal = _OCTAL.match(pattern, i)
        if octal is None:
            raise JavaPatternError(f"illegal octal escape at {i}: \\0 takes one to three octal digits")
        return _char(int(octal.group(1), 8)), octal.end()
    if c == "k":
        name = _NAMED_REFERENCE.match(pattern, i)
        if name is None:
            raise JavaPatternError(f"\\k at {i} is not followed by a group name in <>")
        return f"(?P={name.group(1)})", name.end()
    if c == "Q":
        end = pattern.find("\\E", i + 2)
        quoted = pattern[i + 2 : end if end >= 0 else len(pattern)]
        return "".join(regex.escape(q, special_only=False) for q in quoted), (end + 2 if end >= 0 else len(pattern))
    if c in "pP":
        return _property(pattern, i)
    if c.isalpha() and c not in _JAVA_ESCAPE_LETTERS:
        raise JavaPatternError(f"illegal escape \\{c} at {i} (Java has no such escape)")
    return pattern[i : i + 2], i + 2


def _char(code: int) -> str:
    return f"\\U{code:08x}"


def _property(pattern: str, i: int) -> tuple[str, int]:
    """\\p{Name} / \\pL and their \\P negations, with Java's names read as Java reads them."""
    m = _PROPERTY.match(pattern, i)
    if m is None:
        raise JavaPatternError(f"\\{pattern[i + 1]} at {i} needs a property name: \\pL or \\p{{Name}}")
    negate, name = m.group(1) == "P", m.group(2) if m.group(2) is not None else m.group(3)
    if name.startswith("Is") and name[2:] in _CATEGORIES:
        name = name[2:]  # \p{IsLu}: Java's category with Is
    if name.startswith("blk="):
        name = "block=" + name[4:]
    expression = _PROPERTIES.get(name)
    if expression is None:
        return ("\\P" if negate else "\\p") + "{" + name + "}", m.end()
    return ("[^" + expression + "]" if negate else expression), m.end()
