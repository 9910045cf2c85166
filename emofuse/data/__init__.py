"""Data: the utterance manifest, label maps, corpus readers, protocols and their validator."""

from emofuse.data.corpora import CORPORA
from emofuse.data.corpora import CorpusError
from emofuse.data.corpora import prepare_cremad
from emofuse.data.corpora import prepare_emobank
from emofuse.data.corpora import prepare_emodb
from emofuse.data.corpora import prepare_goemotions
from emofuse.data.corpora import prepare_iemocap
from emofuse.data.corpora import prepare_manifest
from emofuse.data.corpora import prepare_meld
from emofuse.data.corpora import prepare_msp_podcast
from emofuse.data.corpora import prepare_ravdess
from emofuse.data.corpora import prepare_semeval
from emofuse.data.labels import FOUR_CLASSES
from emofuse.data.labels import LabelMap
from emofuse.data.labels import get_label_map
from emofuse.data.labels import normalize_rating
from emofuse.data.labels import register_label_map
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import ManifestError
from emofuse.data.manifest import Utterance
from emofuse.data.protocols import PROTOCOLS
from emofuse.data.protocols import Fold
from emofuse.data.protocols import ProtocolError
from emofuse.data.protocols import make_folds
from emofuse.data.validation import LeakageError
from emofuse.data.validation import ValidationReport
from emofuse.data.validation import validate_folds

__all__ = [
    "CORPORA",
    "FOUR_CLASSES",
    "PROTOCOLS",
    "CorpusError",
    "Fold",
    "LabelMap",
    "LeakageError",
    "Manifest",
    "ManifestError",
    "ProtocolError",
    "Utterance",
    "ValidationReport",
    "get_label_map",
    "make_folds",
    "normalize_rating",
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
    "register_label_map",
    "validate_folds",
]
