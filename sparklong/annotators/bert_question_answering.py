"""BertForQuestionAnswering: the question answering stage (question_answering_stage.py) on the full-attention
BERT family's checkpoints (model_type bert, roberta, xlm-roberta)."""
from .question_answering_stage import QuestionAnsweringStage
from .stage_families import BERT


class BertForQuestionAnswering(QuestionAnsweringStage):
    family = BERT
    default_pretrained = None  # docs/pretrained.md
