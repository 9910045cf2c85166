"""Pseudo-bimodal corpora: real audio paired with real text of the same emotion.

Without a public bimodal corpus, each utterance of an audio corpus (EmoDB's 4-class subset, say)
gets a text of the same class drawn, with a fixed seed and without replacement, from a text
corpus (GoEmotions-Ekman or MELD). Every text is used at most once, so no text is shared
between training and test in any fold. Both modalities are real and, given the label,
independent: a fusion must beat both to be worth anything.
"""

from __future__ import annotations

import collections
import dataclasses
import random

from emofuse.components import CORPORA
from emofuse.config import Component
from emofuse.config import component_field
from emofuse.data.corpora.base import CorpusError
from emofuse.data.manifest import Manifest
from emofuse.registry import builds


@dataclasses.dataclass(frozen=True)
class PairedConfig:
    """``audio`` and ``text`` are corpus configs whose label maps give the same classes;
    ``text_split`` restricts the texts to one split of the text corpus (metadata ``split``)."""

    audio: Component = component_field(CORPORA)
    text: Component = component_field(CORPORA)
    text_split: str | None = "train"
    seed: int = 0


def pair_texts(audio: Manifest, texts: Manifest, *, seed: int = 0, text_split: str | None = None) -> Manifest:
    """Give every labelled audio utterance a distinct text of the same label.

    The text's id and corpus go to the metadata (``text_id``, ``text_corpus``); utterances
    without a label are left out.
    """
    pool: dict[str, list] = collections.defaultdict(list)
    for utterance in texts:
        if utterance.label is None or not (utterance.text or "").strip():
            continue
        if text_split is not None and utterance.metadata.get("split") != text_split:
            continue
        pool[utterance.label].append(utterance)
    rng = random.Random(seed)
    for label in pool:
        pool[label].sort(key=lambda u: u.id)
        rng.shuffle(pool[label])
    labelled = [u for u in audio if u.label is not None]
    needed = collections.Counter(u.label for u in labelled)
    for label, count in needed.items():
        if len(pool[label]) < count:
            raise CorpusError(f"pairing needs {count} texts of class {label!r}, the text corpus has {len(pool[label])}")
    taken: dict[str, int] = collections.Counter()
    paired = []
    for utterance in labelled:
        source = pool[utterance.label][taken[utterance.label]]
        taken[utterance.label] += 1
        paired.append(utterance.replace(
            text=source.text,
            asr_text=None,
            metadata={**utterance.metadata, "text_id": source.id, "text_corpus": source.corpus or ""},
        ))
    return Manifest(paired)


@builds(PairedConfig)
def read_paired(config: PairedConfig) -> Manifest:
    audio = CORPORA.build(config.audio.name, config.audio.config)
    texts = CORPORA.build(config.text.name, config.text.config)
    audio_classes = {u.label for u in audio} - {None}
    text_classes = {u.label for u in texts} - {None}
    if not audio_classes <= text_classes:
        raise CorpusError(f"the text corpus has no texts of classes {sorted(audio_classes - text_classes)}; "
                          "give both corpora label maps onto the same classes")
    return pair_texts(audio, texts, seed=config.seed, text_split=config.text_split)
