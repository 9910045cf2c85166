"""Checks a fold set instead of trusting convention: speaker independence, disjoint ids, text overlap.

:func:`validate_folds` returns a :class:`ValidationReport`; :meth:`ValidationReport.enforce`
raises :class:`LeakageError` for a leaking fold set unless the caller explicitly allows it.
The runner calls both before any training.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Sequence

from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance
from emofuse.data.protocols import Fold


class LeakageError(ValueError):
    """A fold set that shares speakers or utterances between training and testing."""


_TAG = re.compile(r"\[[^\]]*\]|<[^>]*>")
_NON_WORD = re.compile(r"[^\w\s']+")


def normalize_text(text: str) -> str:
    """Lower-case words without tags (``[LAUGHTER]``) or punctuation, for overlap checks.

    >>> normalize_text("Oh my goodness, this is WONDERFUL! [LAUGHTER]")
    'oh my goodness this is wonderful'
    """
    text = _TAG.sub(" ", text.lower())
    return " ".join(_NON_WORD.sub(" ", text).split())


@dataclasses.dataclass(frozen=True)
class FoldCheck:
    """Facts about one fold."""

    fold: str
    train: int
    dev: int
    test: int
    train_speakers: int
    dev_speakers: int
    test_speakers: int
    speakers_shared_train_test: tuple[str, ...]
    speakers_shared_dev_test: tuple[str, ...]
    ids_shared: tuple[str, ...]
    unknown_ids: tuple[str, ...]
    test_without_speaker: int
    test_texts: int
    test_texts_seen_in_train: int

    @property
    def text_overlap(self) -> float:
        """Fraction of test utterances (with text) whose normalised text occurs in training."""
        return self.test_texts_seen_in_train / self.test_texts if self.test_texts else 0.0


@dataclasses.dataclass(frozen=True)
class ValidationReport:
    """The validator's verdict on a fold set."""

    folds: tuple[FoldCheck, ...]

    @property
    def speaker_independent(self) -> bool:
        return all(not f.speakers_shared_train_test and not f.speakers_shared_dev_test for f in self.folds)

    @property
    def ids_disjoint(self) -> bool:
        return all(not f.ids_shared and not f.unknown_ids for f in self.folds)

    @property
    def unverifiable(self) -> int:
        """Test utterances without a speaker: independence cannot be proved for them."""
        return sum(f.test_without_speaker for f in self.folds)

    @property
    def max_text_overlap(self) -> float:
        return max((f.text_overlap for f in self.folds), default=0.0)

    def verdict(self) -> str:
        if not self.ids_disjoint:
            return "invalid: utterances shared between train/dev/test or unknown ids"
        if not self.speaker_independent:
            return "not speaker-independent"
        if self.unverifiable:
            return f"speaker-independent for known speakers ({self.unverifiable} test utterances without a speaker)"
        return "speaker-independent"

    def enforce(self, *, allow_speaker_overlap: bool = False) -> None:
        """Raise :class:`LeakageError` for a leaking fold set.

        Shared or unknown ids are always an error; shared speakers only without
        ``allow_speaker_overlap`` (which protocols such as random k-fold need).
        """
        for check in self.folds:
            if check.unknown_ids:
                raise LeakageError(
                    f"fold {check.fold}: {len(check.unknown_ids)} ids are not in the manifest "
                    f"(first: {check.unknown_ids[0]})"
                )
            if check.ids_shared:
                raise LeakageError(
                    f"fold {check.fold}: {len(check.ids_shared)} utterances are in more than one of "
                    f"train/dev/test (first: {check.ids_shared[0]})"
                )
        if allow_speaker_overlap:
            return
        for check in self.folds:
            if check.speakers_shared_train_test or check.speakers_shared_dev_test:
                shared = sorted({*check.speakers_shared_train_test, *check.speakers_shared_dev_test})
                raise LeakageError(
                    f"fold {check.fold} is not speaker-independent: speakers {', '.join(shared)} are in "
                    "the test set and in train or dev. Use a speaker-independent protocol, or set "
                    "allow_speaker_overlap: true to run it anyway (results are then not speaker-independent)."
                )

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict(),
            "speaker_independent": self.speaker_independent,
            "ids_disjoint": self.ids_disjoint,
            "max_text_overlap": round(self.max_text_overlap, 4),
            "folds": [
                {**dataclasses.asdict(f), "text_overlap": round(f.text_overlap, 4)} for f in self.folds
            ],
        }


def speaker_key(utterance: Utterance) -> str:
    """Speakers are told apart per corpus: EmoDB's ``03`` is not RAVDESS's ``03``."""
    return f"{utterance.corpus}:{utterance.speaker}" if utterance.corpus else str(utterance.speaker)


def validate_folds(manifest: Manifest, folds: Sequence[Fold]) -> ValidationReport:
    """Check every fold of ``folds`` against the speakers and texts in ``manifest``."""
    checks = []
    for fold in folds:
        parts = {"train": fold.train, "dev": fold.dev, "test": fold.test}
        unknown = tuple(sorted({i for ids in parts.values() for i in ids if i not in manifest}))
        counts = collections.Counter(i for ids in parts.values() for i in ids)
        shared = {identifier for identifier, count in counts.items() if count > 1}

        def speakers(ids: Sequence[str]) -> set[str]:
            return {speaker_key(manifest[i]) for i in ids if i in manifest and manifest[i].speaker is not None}

        train_speakers, dev_speakers, test_speakers = speakers(fold.train), speakers(fold.dev), speakers(fold.test)
        train_texts = {normalize_text(manifest[i].text) for i in fold.train if i in manifest and manifest[i].text}
        test_texts = [normalize_text(manifest[i].text) for i in fold.test if i in manifest and manifest[i].text]
        checks.append(
            FoldCheck(
                fold=fold.name,
                train=len(fold.train),
                dev=len(fold.dev),
                test=len(fold.test),
                train_speakers=len(train_speakers),
                dev_speakers=len(dev_speakers),
                test_speakers=len(test_speakers),
                speakers_shared_train_test=tuple(sorted(train_speakers & test_speakers)),
                speakers_shared_dev_test=tuple(sorted(dev_speakers & test_speakers)),
                ids_shared=tuple(sorted(shared)),
                unknown_ids=unknown,
                test_without_speaker=sum(1 for i in fold.test if i in manifest and manifest[i].speaker is None),
                test_texts=len(test_texts),
                test_texts_seen_in_train=sum(1 for t in test_texts if t in train_texts),
            )
        )
    return ValidationReport(tuple(checks))
