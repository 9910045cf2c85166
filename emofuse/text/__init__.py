"""Text: pretrained language models, word vectors, simulated ASR errors, and the text models.

Importing this package also registers the text models ``lm_classifier`` and ``text_lstm``."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "lm": [
        "ModelLoadError",
        "TextEmbedding",
        "TextEmbeddingConfig",
        "load_encoder",
        "load_pretrained",
        "resolve_model",
    ],
    "noise": [
        "add_simulated_asr",
        "simulate_asr_errors",
    ],
    "wordvectors": [
        "WordVectors",
        "WordVectorsConfig",
        "WordVectorsError",
        "load_word_vectors",
        "word_ids",
        "words",
    ],
})
