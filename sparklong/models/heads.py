"""Task modules: the encoder plus a Hugging Face-compatible head (parameter names as HF saves them)."""
from __future__ import annotations

import torch
from torch import nn

from .config import LongformerConfig
from .encoder import Encoder


class _Task(nn.Module):
    head_prefixes: tuple[str, ...] = ()  # HF key prefixes of the head's weights
    labels_weight: str | None = None  # the weight whose rows are the labels

    def __init__(self, cfg: LongformerConfig, attention: str = "auto", export: bool = False):
        super().__init__()
        self.config = cfg
        self.encoder = Encoder(cfg, attention, export)

    @staticmethod
    def default_global_mask(cfg: LongformerConfig, input_ids: torch.Tensor) -> torch.Tensor | None:
        """The task's global attention when the caller passes none (also used by the ONNX runtime)."""
        return None

    def encode(self, input_ids, attention_mask, global_attention_mask) -> torch.Tensor:
        if global_attention_mask is None:
            global_attention_mask = self.default_global_mask(self.config, input_ids)
        return self.encoder(input_ids, attention_mask, global_attention_mask)  # [B, L, E]


class ForEmbeddings(_Task):
    """Last hidden state [B, L, E], as HF LongformerModel."""

    @torch.inference_mode()
    def forward(self, input_ids, attention_mask=None, global_attention_mask=None):
        return self.encode(input_ids, attention_mask, global_attention_mask)


class ForQuestionAnswering(_Task):
    """(start_logits, end_logits) [B, L]; question tokens (before the first </s>) global by default."""

    head_prefixes = ("qa_outputs.",)

    def __init__(self, cfg: LongformerConfig, attention: str = "auto", export: bool = False):
        super().__init__(cfg, attention, export)
        self.qa_outputs = nn.Linear(cfg.hidden_size, 2)

    @staticmethod
    def default_global_mask(cfg, input_ids):
        is_sep = input_ids.eq(cfg.sep_token_id)  # [B, L]
        if not bool(is_sep.any(dim=1).all()):
            raise ValueError(
                "question answering needs a </s> after the question in every row to place global attention; "
                "pass global_attention_mask explicitly otherwise"
            )
        first_sep = is_sep.int().argmax(dim=1, keepdim=True)  # [B, 1]
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]
        return (positions < first_sep).long()

    @torch.inference_mode()
    def forward(self, input_ids, attention_mask=None, global_attention_mask=None):
        return start_end_logits(self.qa_outputs(self.encode(input_ids, attention_mask, global_attention_mask)))


class EncoderTask(nn.Module):
    """A task module of a one-file architecture (modernbert.py, bert.py): its encoder under `model.`
    (encoder_class: input_ids [B, L] and attention_mask -> the last hidden state [B, L, E]) and the head a
    subclass adds in task_output. As it is, the embeddings task: the last hidden state."""

    encoder_class: type[nn.Module]  # the architecture's encoder, built from its config
    head_prefixes: tuple[str, ...] = ()  # checkpoint key prefixes of the head's weights (loading.py reads them)
    labels_weight: str | None = None  # the weight whose rows are the labels

    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.model = self.encoder_class(cfg)

    @torch.inference_mode()
    def forward(self, input_ids, attention_mask=None, global_attention_mask=None):
        """global_attention_mask is accepted for the engine's common call and ignored: these architectures
        have no global tokens (every token of a full-attention layer sees every other)."""
        return self.task_output(self.model(input_ids, attention_mask), attention_mask)

    def task_output(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None):
        """The task's output from the last hidden state [B, L, E]: for embeddings, the state itself."""
        return hidden


def start_end_logits(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A span head's [B, L, 2] logits -> (start_logits, end_logits), each [B, L] (every QA task's output)."""
    start, end = logits.unbind(-1)
    return start.contiguous(), end.contiguous()


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """The mean of hidden [B, L, E] over each row's real tokens (attention_mask 1) -> [B, E]; all tokens
    when there is no mask."""
    if attention_mask is None:
        return hidden.mean(dim=1)
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)  # [B, L, 1]
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1)


class ClassificationHead(nn.Module):
    """RoBERTa's sequence head (Longformer's too): dense -> tanh -> out_proj on the first token's state."""

    def __init__(self, cfg: LongformerConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.out_proj = nn.Linear(cfg.hidden_size, cfg.num_labels)

    def forward(self, first_token: torch.Tensor) -> torch.Tensor:
        return self.out_proj(torch.tanh(self.dense(first_token)))


class ForSequenceClassification(_Task):
    """Logits [B, num_labels] from the <s> token, which gets global attention by default."""

    head_prefixes = ("classifier.dense.", "classifier.out_proj.")
    labels_weight = "classifier.out_proj.weight"

    def __init__(self, cfg: LongformerConfig, attention: str = "auto", export: bool = False):
        super().__init__(cfg, attention, export)
        self.classifier = ClassificationHead(cfg)

    @staticmethod
    def default_global_mask(cfg, input_ids):
        mask = torch.zeros_like(input_ids)
        mask[:, 0] = 1
        return mask

    @torch.inference_mode()
    def forward(self, input_ids, attention_mask=None, global_attention_mask=None):
        hidden = self.encode(input_ids, attention_mask, global_attention_mask)
        return self.classifier(hidden[:, 0])


class ForTokenClassification(_Task):
    """Logits [B, L, num_labels] for every token."""

    head_prefixes = ("classifier.",)
    labels_weight = "classifier.weight"

    def __init__(self, cfg: LongformerConfig, attention: str = "auto", export: bool = False):
        super().__init__(cfg, attention, export)
        self.classifier = nn.Linear(cfg.hidden_size, cfg.num_labels)

    @torch.inference_mode()
    def forward(self, input_ids, attention_mask=None, global_attention_mask=None):
        return self.classifier(self.encode(input_ids, attention_mask, global_attention_mask))


TASKS: dict[str, type[_Task]] = {
    "embeddings": ForEmbeddings,
    "question_answering": ForQuestionAnswering,
    "sequence_classification": ForSequenceClassification,
    "token_classification": ForTokenClassification,
}
