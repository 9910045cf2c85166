"""Data: the utterance manifest, label maps, corpus readers, protocols and their validator."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "corpora": [
        "CorpusError",
        "prepare_cremad",
        "prepare_emobank",
        "prepare_emodb",
        "prepare_goemotions",
        "prepare_iemocap",
        "prepare_manifest",
        "prepare_meld",
        "prepare_msp_podcast",
        "prepare_ravdess",
        "prepare_semeval",
    ],
    "labels": [
        "FOUR_CLASSES",
        "LabelMap",
        "get_label_map",
        "normalize_rating",
        "register_label_map",
    ],
    "manifest": [
        "Manifest",
        "ManifestError",
        "Utterance",
    ],
    "protocols": [
        "Fold",
        "ProtocolError",
        "make_folds",
    ],
    "validation": [
        "LeakageError",
        "ValidationReport",
        "validate_folds",
    ],
})
