"""Tokenizer (an Estimator) and TokenizerModel: DOCUMENT annotations -> TOKEN annotations with Spark
NLP's rule-based semantics (its TokenizerModel.tag):

1. exceptions (regexes) are protected: inside each match, break characters stop breaking;
2. the text is cut into candidates, maximal runs of characters that are not breaks; Spark NLP builds
   the break class `[^(?:<targetPattern>)]`, so the default "\\S+" cuts on whitespace;
3. a candidate holding a protected exception, or equal to an exception match, is kept whole;
4. otherwise the first rule prefix+infix+suffix that matches gives one token per regex group, and a
   group holding splitChars / splitPattern is split further; no rule matches -> the candidate as is;
5. empty tokens and tokens outside [minLength, maxLength] are dropped.

Patterns are Java regexes in Spark NLP. Here they run on Python's `re` with re.ASCII, which gives
Java's defaults (\\s \\w \\d and (?i) ASCII-only); Java's `\\z` is read as Python's `\\Z`.
Offsets are code points into the document and always exact: token.result == text[begin:end + 1].

Pure core: `TokenizerRules` + `tokenize(documents, rules)`; the Spark layer is one Arrow UDF.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, fields
from functools import lru_cache, partial
from typing import Iterable, Sequence

from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql.functions import col

from ..annotation import DOCUMENT, TOKEN, Annotation
from ..params import HasInputAnnotationCols, HasOutputAnnotationCol, check_range, set_params
from .annotator_types import AnnotatorTypes

DEFAULT_CONTEXT_CHARS = (".", ",", ";", ":", "!", "?", "*", "-", "(", ")", '"', "'")
_FLAGS = re.ASCII  # Java's default character classes and case folding


# -- regexes ---------------------------------------------------------------------------------------
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
    try:
        return re.compile(_from_java(pattern), _FLAGS | flags)
    except re.error as err:
        raise ValueError(f"{param}: invalid regular expression {pattern!r} ({err}; Python `re` syntax, "
                         "Java-only constructs such as \\Q...\\E are not supported)") from None


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
    breaks: re.Pattern
    rules: tuple[re.Pattern, ...]
    exceptions: re.Pattern | None
    split_pattern: re.Pattern | None
    split_chars: re.Pattern | None
    split_char_set: tuple[str, ...]


@lru_cache(maxsize=64)
def _compile(rules: TokenizerRules) -> _Compiled:
    validate_rules(rules)
    exceptions = None
    if rules.exceptions:
        flags = 0 if rules.case_sensitive_exceptions else re.IGNORECASE
        exceptions = compile_java("|".join(rules.exceptions), "exceptions", flags)
    split_chars = None
    if rules.split_chars:  # one char = itself (Spark NLP would read "." as a regex); "\x" = a regex escape
        split_chars = re.compile("|".join(c if len(c) == 2 else re.escape(c) for c in rules.split_chars), _FLAGS)
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
def _split_spans(text: str, pattern: re.Pattern) -> list[tuple[int, int]]:
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


def _tokenize_columns(rules: TokenizerRules, *columns: list[Annotation]) -> list[Annotation]:
    return tokenize([a for annotations in columns for a in annotations], rules)


# -- Spark layer -----------------------------------------------------------------------------------
def _list(value) -> list[str]:
    return TypeConverters.toListString(list(value) if isinstance(value, tuple) else value)


class _TokenizerParams(HasInputAnnotationCols, HasOutputAnnotationCol, AnnotatorTypes):
    inputAnnotatorTypes = (DOCUMENT,)
    variadicInputs = True  # every input column holds DOCUMENT annotations (documents or sentences)
    outputAnnotatorType = TOKEN

    targetPattern = Param(Params._dummy(), "targetPattern", "pattern to grab from text as token candidates",
                          TypeConverters.toString)
    prefixPattern = Param(Params._dummy(), "prefixPattern", "regex with groups, begins with \\A: token prefixes",
                          TypeConverters.toString)
    suffixPattern = Param(Params._dummy(), "suffixPattern", "regex with groups, ends with \\z: token suffixes",
                          TypeConverters.toString)
    infixPatterns = Param(Params._dummy(), "infixPatterns", "regexes with groups matching tokens inside a target",
                          TypeConverters.toListString)
    contextChars = Param(Params._dummy(), "contextChars", "characters split off token boundaries",
                         TypeConverters.toListString)
    splitChars = Param(Params._dummy(), "splitChars", "characters to split tokens inside", TypeConverters.toListString)
    splitPattern = Param(Params._dummy(), "splitPattern", "regex to split tokens inside (over splitChars)",
                         TypeConverters.toString)
    exceptions = Param(Params._dummy(), "exceptions", "regexes of tokens the rules do not split",
                       TypeConverters.toListString)
    caseSensitiveExceptions = Param(Params._dummy(), "caseSensitiveExceptions", "match exceptions with case",
                                    TypeConverters.toBoolean)
    minLength = Param(Params._dummy(), "minLength", "minimum token length", TypeConverters.toInt)
    maxLength = Param(Params._dummy(), "maxLength", "maximum token length", TypeConverters.toInt)

    def _set_tokenizer_defaults(self):
        self._setDefault(inputCols=[DOCUMENT], outputCol=TOKEN, targetPattern=r"\S+",
                         contextChars=list(DEFAULT_CONTEXT_CHARS), caseSensitiveExceptions=True, minLength=0)

    def _opt(self, param):
        return self.getOrDefault(param) if self.isDefined(param) else None

    def _checked(self, **changes):
        """Set params after validating the rules they give (ValueError names the param)."""
        from dataclasses import replace

        validate_rules(replace(self.getRules(), **changes))
        return self

    # setters and getters, Spark NLP's names
    def setTargetPattern(self, value: str):
        compile_java(break_class(value), "targetPattern")
        return self._set(targetPattern=value)

    def getTargetPattern(self) -> str:
        return self.getOrDefault(self.targetPattern)

    def setPrefixPattern(self, value: str):
        self._checked(prefix_pattern=value)
        compile_java(value, "prefixPattern")
        return self._set(prefixPattern=value)

    def getPrefixPattern(self) -> str | None:
        return self._opt(self.prefixPattern)

    def setSuffixPattern(self, value: str):
        self._checked(suffix_pattern=value)
        compile_java(value, "suffixPattern")
        return self._set(suffixPattern=value)

    def getSuffixPattern(self) -> str | None:
        return self._opt(self.suffixPattern)

    def setInfixPatterns(self, value: list[str]):
        value = _list(value)
        self._checked(infix_patterns=tuple(value))
        for pattern in value:
            compile_java(pattern, "infixPatterns")
        return self._set(infixPatterns=value)

    def addInfixPattern(self, value: str):
        """Put a pattern first (most specific first). As in Spark NLP's Python API, on an unset list
        this starts a new one, replacing the default infix rule."""
        return self.setInfixPatterns([value] + list(self.getInfixPatterns() or []))

    def getInfixPatterns(self) -> list[str] | None:
        return self._opt(self.infixPatterns)

    def setContextChars(self, value: list[str]):
        value = _list(value)
        self._checked(context_chars=tuple(value))
        return self._set(contextChars=value)

    def addContextChars(self, value: str):
        return self.setContextChars(self.getContextChars() + [value])

    def getContextChars(self) -> list[str]:
        return list(self.getOrDefault(self.contextChars))

    def setSplitChars(self, value: list[str]):
        value = _list(value)
        self._checked(split_chars=tuple(value))
        return self._set(splitChars=value)

    def addSplitChars(self, value: str):
        return self.setSplitChars(list(self.getSplitChars() or []) + [value])

    def getSplitChars(self) -> list[str] | None:
        return self._opt(self.splitChars)

    def setSplitPattern(self, value: str):
        compile_java(value, "splitPattern")
        return self._set(splitPattern=value)

    def getSplitPattern(self) -> str | None:
        return self._opt(self.splitPattern)

    def setExceptions(self, value: list[str]):
        value = _list(value)
        for pattern in value:
            compile_java(pattern, "exceptions")
        return self._set(exceptions=value)

    def addException(self, value: str):
        return self.setExceptions(list(self.getExceptions() or []) + [value])

    def getExceptions(self) -> list[str] | None:
        return self._opt(self.exceptions)

    def setCaseSensitiveExceptions(self, value: bool):
        return self._set(caseSensitiveExceptions=value)

    def getCaseSensitiveExceptions(self) -> bool:
        return self.getOrDefault(self.caseSensitiveExceptions)

    def setMinLength(self, value: int):
        check_range("minLength", int(value), 0, 2**31 - 1)
        return self._set(minLength=value)

    def getMinLength(self) -> int:
        return self.getOrDefault(self.minLength)

    def setMaxLength(self, value: int):
        check_range("maxLength", int(value), self.getMinLength(), 2**31 - 1)
        return self._set(maxLength=value)

    def getMaxLength(self) -> int | None:
        return self._opt(self.maxLength)

    def getRules(self) -> TokenizerRules:
        """The pure core's configuration from these params."""
        infixes = self.getInfixPatterns()
        return TokenizerRules(
            target_pattern=self.getTargetPattern(),
            prefix_pattern=self.getPrefixPattern(),
            suffix_pattern=self.getSuffixPattern(),
            infix_patterns=tuple(infixes) if infixes is not None else None,
            context_chars=tuple(self.getContextChars()),
            split_chars=tuple(self.getSplitChars()) if self.getSplitChars() else None,
            split_pattern=self.getSplitPattern() or None,
            exceptions=tuple(self.getExceptions() or ()),
            case_sensitive_exceptions=self.getCaseSensitiveExceptions(),
            min_length=self.getMinLength(),
            max_length=self.getMaxLength(),
        )


class Tokenizer(Estimator, _TokenizerParams, DefaultParamsReadable, DefaultParamsWritable):
    """Rule-based tokenizer; `fit` (which reads no data) compiles the rules into a TokenizerModel."""

    @keyword_only
    def __init__(self, *, inputCols=None, outputCol=None, targetPattern=None, prefixPattern=None,
                 suffixPattern=None, infixPatterns=None, contextChars=None, splitChars=None, splitPattern=None,
                 exceptions=None, caseSensitiveExceptions=None, minLength=None, maxLength=None):
        super().__init__()
        self._set_tokenizer_defaults()
        set_params(self, self._input_kwargs)

    def _fit(self, dataset=None) -> "TokenizerModel":
        model = self._copyValues(TokenizerModel())
        model.getRules().compiled()  # every rule compiles, or a ValueError naming the param
        return model


class TokenizerModel(Model, _TokenizerParams, DefaultParamsReadable, DefaultParamsWritable):
    @keyword_only
    def __init__(self, *, inputCols=None, outputCol=None, targetPattern=None, prefixPattern=None,
                 suffixPattern=None, infixPatterns=None, contextChars=None, splitChars=None, splitPattern=None,
                 exceptions=None, caseSensitiveExceptions=None, minLength=None, maxLength=None):
        super().__init__()
        self._set_tokenizer_defaults()
        set_params(self, self._input_kwargs)

    def annotate_local(self, documents: str | Sequence[Annotation]) -> list[Annotation]:
        """Tokens of a plain string (a document at offset 0) or of DOCUMENT annotations, as the DataFrame path."""
        if documents is None or isinstance(documents, str):
            return tokenize_text(documents, self.getRules())
        return tokenize(documents, self.getRules())

    def light_transform(self, row: dict) -> None:
        columns = [row.get(c) or [] for c in self.getInputCols()]
        row[self.getOutputCol()] = _tokenize_columns(self.getRules(), *columns)

    def _transform(self, dataset):
        from ..udfs.annotation_udf import annotation_udf

        self.check_input_types(dataset)  # DOCUMENT columns, before any Spark job
        rules = self.getRules()
        rules.compiled()  # fail here, not in an executor
        udf = annotation_udf(partial(_tokenize_columns, rules))
        out = self.getOutputCol()
        tokens = udf(*[col(c) for c in self.getInputCols()]).alias(out, metadata={"annotatorType": TOKEN})
        return dataset.withColumn(out, tokens)
