"""Spark NLP-style annotators: one file each, a thin Spark layer over a pure-Python core."""
from .document_assembler import DocumentAssembler, MultiDocumentAssembler
from .tokenizer import Tokenizer, TokenizerModel

__all__ = ["DocumentAssembler", "MultiDocumentAssembler", "Tokenizer", "TokenizerModel"]
