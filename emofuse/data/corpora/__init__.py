"""Corpus readers: one module per corpus (registered by name in :data:`emofuse.components.CORPORA`)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "base": [
        "CorpusError",
        "prepare_corpus",
    ],
    "cremad": [
        "prepare_cremad",
    ],
    "emobank": [
        "prepare_emobank",
    ],
    "emodb": [
        "prepare_emodb",
    ],
    "generic": [
        "prepare_manifest",
    ],
    "goemotions": [
        "prepare_goemotions",
    ],
    "iemocap": [
        "prepare_iemocap",
    ],
    "meld": [
        "prepare_meld",
    ],
    "msp_podcast": [
        "prepare_msp_podcast",
    ],
    "paired": [
        "pair_texts",
    ],
    "ravdess": [
        "prepare_ravdess",
    ],
    "semeval": [
        "prepare_semeval",
    ],
})
