"""Text: pretrained language models, word vectors, simulated ASR errors, and the text models.

Importing this package also registers the text models ``lm_classifier`` and ``text_lstm``.
"""

import emofuse.models.lm_classifier  # noqa: F401  (registers the lm_classifier model)
import emofuse.models.text_lstm  # noqa: F401  (registers the text_lstm model)
from emofuse.text.lm import DEFAULT_TEXT_MODEL
from emofuse.text.lm import ModelLoadError
from emofuse.text.lm import TextEmbedding
from emofuse.text.lm import TextEmbeddingConfig
from emofuse.text.lm import load_encoder
from emofuse.text.lm import load_pretrained
from emofuse.text.lm import resolve_model
from emofuse.text.noise import add_simulated_asr
from emofuse.text.noise import simulate_asr_errors
from emofuse.text.wordvectors import WordVectors
from emofuse.text.wordvectors import WordVectorsConfig
from emofuse.text.wordvectors import WordVectorsError
from emofuse.text.wordvectors import load_word_vectors
from emofuse.text.wordvectors import word_ids
from emofuse.text.wordvectors import words

__all__ = [
    "DEFAULT_TEXT_MODEL",
    "ModelLoadError",
    "TextEmbedding",
    "TextEmbeddingConfig",
    "WordVectors",
    "WordVectorsConfig",
    "WordVectorsError",
    "add_simulated_asr",
    "load_encoder",
    "load_pretrained",
    "load_word_vectors",
    "resolve_model",
    "simulate_asr_errors",
    "word_ids",
    "words",
]
