"""Emotion label codes, label maps and rating scales.

Corpora keep their original label codes in ``Utterance.emotion``; a :class:`LabelMap` maps codes
to the classes of a task (``Utterance.label``) or drops them. Across corpora the four-class task
uses the IEMOCAP codes ``neu``, ``hap``, ``sad``, ``ang`` as class names.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

FOUR_CLASSES: tuple[str, ...] = ("neu", "hap", "sad", "ang")

#: Human-readable names for class codes, used in reports.
DISPLAY_NAMES: dict[str, str] = {
    "neu": "neutral",
    "hap": "happy",
    "exc": "excited",
    "sad": "sad",
    "ang": "angry",
    "fru": "frustrated",
    "sur": "surprised",
    "fea": "fearful",
    "dis": "disgusted",
    "bor": "bored",
    "cal": "calm",
    "con": "contempt",
    "oth": "other",
    "xxx": "no agreement",
    "pos": "positive",
    "neg": "negative",
}


class LabelError(ValueError):
    """A label code that the corpus or label map does not know."""


@dataclasses.dataclass(frozen=True)
class LabelMap:
    """Maps corpus label codes to task classes; codes mapped to ``None`` are left out.

    >>> four = LabelMap("four", {"neu": "neu", "hap": "hap", "exc": "hap", "fru": None})
    >>> four("exc"), four("fru")
    ('hap', None)
    >>> four.classes
    ('neu', 'hap')
    """

    name: str
    mapping: Mapping[str, str | None]
    class_order: tuple[str, ...] | None = None

    @property
    def classes(self) -> tuple[str, ...]:
        if self.class_order is not None:
            return self.class_order
        seen: dict[str, None] = {}
        for target in self.mapping.values():
            if target is not None:
                seen.setdefault(target)
        return tuple(seen)

    def __call__(self, code: str | None) -> str | None:
        if code is None:
            return None
        if code not in self.mapping:
            raise LabelError(
                f"label code {code!r} is not covered by label map {self.name!r} "
                f"(known codes: {', '.join(sorted(self.mapping))})"
            )
        return self.mapping[code]


IEMOCAP_CODES: tuple[str, ...] = ("neu", "hap", "exc", "sad", "ang", "fru", "sur", "fea", "dis", "oth", "xxx")

#: IEMOCAP category names as written in the per-evaluator lines, mapped to codes.
IEMOCAP_NAMES: dict[str, str] = {
    "neutral": "neu",
    "neutral state": "neu",
    "happiness": "hap",
    "excited": "exc",
    "sadness": "sad",
    "anger": "ang",
    "frustration": "fru",
    "surprise": "sur",
    "fear": "fea",
    "disgust": "dis",
    "other": "oth",
}

LABEL_MAPS: dict[str, LabelMap] = {}


def register_label_map(label_map: LabelMap) -> LabelMap:
    if label_map.name in LABEL_MAPS:
        raise ValueError(f"label map {label_map.name!r} is already registered")
    LABEL_MAPS[label_map.name] = label_map
    return label_map


def get_label_map(name: str) -> LabelMap:
    """A registered label map by name (the corpus readers register their own on import; an
    unknown name imports them all first)."""
    if name not in LABEL_MAPS:
        from emofuse.components import CORPORA

        for corpus in CORPORA.names():
            try:
                CORPORA.get(corpus)
            except KeyError:  # a reader that needs a missing extra
                continue
    try:
        return LABEL_MAPS[name]
    except KeyError:
        raise LabelError(
            f"unknown label map {name!r}; available: {', '.join(sorted(LABEL_MAPS))}"
        ) from None


register_label_map(
    LabelMap(
        "iemocap_four_class",
        {c: {"neu": "neu", "hap": "hap", "exc": "hap", "sad": "sad", "ang": "ang"}.get(c) for c in IEMOCAP_CODES},
        FOUR_CLASSES,
    )
)
register_label_map(
    LabelMap(
        "iemocap_full",
        {c: (None if c == "xxx" else c) for c in IEMOCAP_CODES},
    )
)
register_label_map(
    LabelMap(
        "iemocap_four_class_no_excited",
        {c: {"neu": "neu", "hap": "hap", "sad": "sad", "ang": "ang"}.get(c) for c in IEMOCAP_CODES},
        FOUR_CLASSES,
    )
)


def normalize_rating(value: float, *, low: float, high: float, clip: bool = False) -> float:
    """Map a rating on ``[low, high]`` to ``[-1, 1]``.

    .. math:: r' = 2 (r - low) / (high - low) - 1

    With ``clip`` values outside the scale are clipped first; without it they are an error.

    >>> normalize_rating(3.0, low=1, high=5)
    0.0
    >>> normalize_rating(5.5, low=1, high=5, clip=True)
    1.0
    """
    value = float(value)
    if math.isnan(value):
        raise ValueError("rating is NaN")
    if value < low or value > high:
        if not clip:
            raise ValueError(f"rating {value} is outside the scale [{low}, {high}]")
        value = min(max(value, low), high)
    return 2.0 * (value - low) / (high - low) - 1.0
