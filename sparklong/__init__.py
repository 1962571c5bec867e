"""sparklong: long-document encoders (Longformer, ModernBERT, the BERT family) as Spark NLP-style annotators over PySpark
DataFrames."""
from .session import start

__version__ = "0.1.0"

_ANNOTATORS = {
    "LongformerEmbeddings": ".annotators.longformer_embeddings",
    "LongformerSentenceEmbeddings": ".annotators.longformer_sentence_embeddings",
    "LongformerForQuestionAnswering": ".annotators.longformer_question_answering",
    "LongformerForSequenceClassification": ".annotators.longformer_sequence_classification",
    "LongformerForTokenClassification": ".annotators.longformer_token_classification",
    "ModernBertEmbeddings": ".annotators.modernbert_embeddings",
    "ModernBertSentenceEmbeddings": ".annotators.modernbert_sentence_embeddings",
    "ModernBertForQuestionAnswering": ".annotators.modernbert_question_answering",
    "ModernBertForSequenceClassification": ".annotators.modernbert_sequence_classification",
    "ModernBertForTokenClassification": ".annotators.modernbert_token_classification",
    "BertEmbeddings": ".annotators.bert_embeddings",
    "BertSentenceEmbeddings": ".annotators.bert_sentence_embeddings",
    "BertForQuestionAnswering": ".annotators.bert_question_answering",
    "BertForSequenceClassification": ".annotators.bert_sequence_classification",
    "BertForTokenClassification": ".annotators.bert_token_classification",
    "SentenceEmbeddings": ".annotators.sentence_embeddings",
    "EmbeddingsFinisher": ".annotators.embeddings_finisher",
    "NerConverter": ".annotators.ner_converter",
    "Finisher": ".annotators.finisher",
    "DocumentAssembler": ".annotators.document_assembler",
    "MultiDocumentAssembler": ".annotators.document_assembler",
    "SentenceDetector": ".annotators.sentence_detector",
    "Tokenizer": ".annotators.tokenizer",
    "TokenizerModel": ".annotators.tokenizer",
    "LightPipeline": ".light_pipeline",
}

__all__ = ["start", *_ANNOTATORS]


def __getattr__(name: str):
    """Import annotators on first use, so `import sparklong` stays light (no pyspark/torch at import)."""
    if name in _ANNOTATORS:
        import importlib

        return getattr(importlib.import_module(_ANNOTATORS[name], __name__), name)
    raise AttributeError(f"module 'sparklong' has no attribute {name!r}")
