"""Text: pretrained language models and text front-ends."""

from emofuse.text.lm import DEFAULT_TEXT_MODEL
from emofuse.text.lm import ModelLoadError
from emofuse.text.lm import TextEmbedding
from emofuse.text.lm import TextEmbeddingConfig
from emofuse.text.lm import load_encoder
from emofuse.text.lm import resolve_model

__all__ = ["DEFAULT_TEXT_MODEL", "ModelLoadError", "TextEmbedding", "TextEmbeddingConfig", "load_encoder", "resolve_model"]
