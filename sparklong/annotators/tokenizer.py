"""Tokenizer (an Estimator) and TokenizerModel: DOCUMENT annotations -> TOKEN annotations with Spark
NLP's rule-based semantics, Spark NLP's params and setters. The rules and the tokenization are the
pure core in cores/tokenizer_rules.py (patterns read as Java regexes, cores/java_regex.py); the Spark
layer is one Arrow UDF over it.
"""
from __future__ import annotations

from functools import partial
from typing import Sequence

from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql.functions import col

from ..annotation import DOCUMENT, TOKEN, Annotation, annotation_column
from ..cores.java_regex import compile_java
from ..cores.tokenizer_rules import (
    DEFAULT_CONTEXT_CHARS,
    TokenizerRules,
    break_class,
    tokenize,
    tokenize_columns,
    tokenize_text,
    validate_rules,
)
from ..params import HasInputAnnotationCols, HasOutputAnnotationCol, check_range, set_params
from .annotator_types import AnnotatorTypes


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

    @keyword_only
    def __init__(self, *, inputCols=None, outputCol=None, targetPattern=None, prefixPattern=None,
                 suffixPattern=None, infixPatterns=None, contextChars=None, splitChars=None, splitPattern=None,
                 exceptions=None, caseSensitiveExceptions=None, minLength=None, maxLength=None):
        """The one constructor of Tokenizer and TokenizerModel: Spark NLP's defaults, then the keyword
        arguments through the validating setters."""
        super().__init__()
        self._setDefault(inputCols=[DOCUMENT], outputCol=TOKEN, targetPattern=r"\S+",
                         contextChars=list(DEFAULT_CONTEXT_CHARS), caseSensitiveExceptions=True, minLength=0)
        set_params(self, self._input_kwargs)

    def _opt(self, param):
        return self.getOrDefault(param) if self.isDefined(param) else None

    def _checked(self, **changes):
        """Set params after validating the rules they give (ValueError names the param)."""
        from dataclasses import replace

        validate_rules(replace(self.getRules(), **changes))
        return self

    def _set_affix_pattern(self, param: str, rule: str, value: str):
        """prefixPattern / suffixPattern: valid in the rules and as a Java regex, then set."""
        self._checked(**{rule: value})
        compile_java(value, param)
        return self._set(**{param: value})

    # setters and getters, Spark NLP's names
    def setTargetPattern(self, value: str):
        compile_java(break_class(value), "targetPattern")
        return self._set(targetPattern=value)

    def getTargetPattern(self) -> str:
        return self.getOrDefault(self.targetPattern)

    def setPrefixPattern(self, value: str):
        return self._set_affix_pattern("prefixPattern", "prefix_pattern", value)

    def getPrefixPattern(self) -> str | None:
        return self._opt(self.prefixPattern)

    def setSuffixPattern(self, value: str):
        return self._set_affix_pattern("suffixPattern", "suffix_pattern", value)

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

    def _fit(self, dataset=None) -> "TokenizerModel":
        model = self._copyValues(TokenizerModel())
        model.getRules().compiled()  # every rule compiles, or a ValueError naming the param
        return model


class TokenizerModel(Model, _TokenizerParams, DefaultParamsReadable, DefaultParamsWritable):
    def annotate_local(self, documents: str | Sequence[Annotation]) -> list[Annotation]:
        """Tokens of a plain string (a document at offset 0) or of DOCUMENT annotations, as the DataFrame path."""
        if documents is None or isinstance(documents, str):
            return tokenize_text(documents, self.getRules())
        return tokenize(documents, self.getRules())

    def light_transform(self, row: dict) -> None:
        columns = [row.get(c) or [] for c in self.getInputCols()]
        row[self.getOutputCol()] = tokenize_columns(self.getRules(), *columns)

    def _transform(self, dataset):
        from ..udfs.annotation_udf import annotation_udf

        self.check_input_types(dataset)  # DOCUMENT columns, before any Spark job
        rules = self.getRules()
        rules.compiled()  # fail here, not in an executor
        udf = annotation_udf(partial(tokenize_columns, rules))
        out = self.getOutputCol()
        tokens = udf(*[col(c) for c in self.getInputCols()])
        return dataset.withColumn(out, annotation_column(tokens, out, TOKEN))
