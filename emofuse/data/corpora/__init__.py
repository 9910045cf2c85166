"""Corpus readers: one module per corpus, each registering itself in :data:`CORPORA`.

Importing this package registers every reader, so ``CORPORA.names()`` lists them all.
"""

from emofuse.data.corpora.base import CORPORA
from emofuse.data.corpora.base import CorpusError
from emofuse.data.corpora.base import prepare_corpus
from emofuse.data.corpora.cremad import prepare_cremad
from emofuse.data.corpora.emobank import prepare_emobank
from emofuse.data.corpora.emodb import prepare_emodb
from emofuse.data.corpora.generic import prepare_manifest
from emofuse.data.corpora.goemotions import prepare_goemotions
from emofuse.data.corpora.iemocap import prepare_iemocap
from emofuse.data.corpora.meld import prepare_meld
from emofuse.data.corpora.msp_podcast import prepare_msp_podcast
from emofuse.data.corpora.paired import pair_texts
from emofuse.data.corpora.ravdess import prepare_ravdess
from emofuse.data.corpora.semeval import prepare_semeval

__all__ = [
    "CORPORA",
    "CorpusError",
    "prepare_corpus",
    "prepare_cremad",
    "prepare_emobank",
    "prepare_emodb",
    "prepare_goemotions",
    "prepare_iemocap",
    "prepare_manifest",
    "prepare_meld",
    "pair_texts",
    "prepare_msp_podcast",
    "prepare_ravdess",
    "prepare_semeval",
]
