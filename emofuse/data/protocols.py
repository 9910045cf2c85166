"""Evaluation protocols: named objects that split a manifest into folds of train / dev / test ids.

Protocols are separate from models: a model never splits or seeds data itself. Every protocol
here, except random k-fold, is speaker-independent by construction, and
:func:`emofuse.data.validation.validate_folds` proves it on the ids it returns.
"""

from __future__ import annotations

import collections
import dataclasses
import random
from collections.abc import Sequence
from typing import Literal

from emofuse.components import PROTOCOLS
from emofuse.config import Component
from emofuse.config import component_field
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance
from emofuse.registry import builds


class ProtocolError(ValueError):
    """A protocol that cannot be applied to this manifest."""


@dataclasses.dataclass(frozen=True)
class Fold:
    """One split: utterance ids for training, model selection (dev) and testing."""

    name: str
    train: tuple[str, ...]
    dev: tuple[str, ...]
    test: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"name": self.name, "train": list(self.train), "dev": list(self.dev), "test": list(self.test)}

    @classmethod
    def from_dict(cls, data: dict) -> Fold:
        return cls(data["name"], tuple(data["train"]), tuple(data["dev"]), tuple(data["test"]))




def make_folds(protocol: Component, manifest: Manifest) -> list[Fold]:
    """The folds of a configured protocol on a manifest."""
    folds = PROTOCOLS.build(protocol.name, protocol.config, manifest)
    if not folds:
        raise ProtocolError(f"protocol {protocol.name!r} produced no folds")
    for fold in folds:
        if not fold.train or not fold.test:
            raise ProtocolError(f"protocol {protocol.name!r}: fold {fold.name} has an empty train or test set")
    return folds


# Helpers ---------------------------------------------------------------------------------


def split_dev(
    utterances: Sequence[Utterance], *, fraction: float, seed: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split ids into (train, dev), stratified by label where there is one.

    Each class keeps at least one training example; the split depends only on the ids, labels
    and seed, never on global random state.
    """
    if not 0.0 <= fraction < 1.0:
        raise ProtocolError(f"dev_fraction must be in [0, 1), got {fraction}")
    ids = sorted(u.id for u in utterances)
    if fraction == 0.0 or not ids:
        return tuple(ids), ()
    labels = {u.id: u.label for u in utterances}
    groups: dict[str | None, list[str]] = collections.defaultdict(list)
    for identifier in ids:
        groups[labels[identifier]].append(identifier)
    rng = random.Random(seed)
    dev: list[str] = []
    for label in sorted(groups, key=str):
        members = groups[label]
        rng.shuffle(members)
        take = min(round(len(members) * fraction), len(members) - 1)
        dev.extend(members[:take])
    dev_set = set(dev)
    return tuple(i for i in ids if i not in dev_set), tuple(sorted(dev_set))


def _require(manifest: Manifest, field: str, protocol: str) -> None:
    missing = [u.id for u in manifest if getattr(u, field) is None]
    if missing:
        raise ProtocolError(
            f"protocol {protocol!r} needs a {field} for every utterance; "
            f"{len(missing)} have none (first: {missing[0]})"
        )


def _sorted_values(values: set[str]) -> list[str]:
    return sorted(values, key=lambda v: (len(v), v))


# Leave one session out -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LeaveOneSessionOutConfig:
    """One fold per session. Dev: a stratified ``dev_fraction`` of the training sessions'
    utterances (``dev: fraction``) or the whole next session (``dev: next_session``)."""

    dev: Literal["fraction", "next_session"] = "fraction"
    dev_fraction: float = 0.2
    seed: int = 0


@builds(LeaveOneSessionOutConfig)
def leave_one_session_out(config: LeaveOneSessionOutConfig, manifest: Manifest) -> list[Fold]:
    _require(manifest, "session", "leave_one_session_out")
    sessions = _sorted_values({u.session for u in manifest})
    if len(sessions) < 2 + (config.dev == "next_session"):
        raise ProtocolError(f"leave_one_session_out needs more sessions, found {sessions}")
    folds = []
    for index, session in enumerate(sessions):
        test = tuple(u.id for u in manifest if u.session == session)
        if config.dev == "next_session":
            dev_session = sessions[(index + 1) % len(sessions)]
            dev = tuple(u.id for u in manifest if u.session == dev_session)
            train = tuple(u.id for u in manifest if u.session not in {session, dev_session})
        else:
            pool = [u for u in manifest if u.session != session]
            train, dev = split_dev(pool, fraction=config.dev_fraction, seed=config.seed + index)
        folds.append(Fold(f"session_{session}", train, dev, test))
    return folds


# Leave one speaker out -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LeaveOneSpeakerOutConfig:
    """One fold per speaker. Dev: the test speaker's interlocutor (the other speaker of the
    same session, as in IEMOCAP), the next speaker in sorted order, or a stratified fraction of
    the training speakers' utterances."""

    dev: Literal["interlocutor", "next_speaker", "fraction"] = "next_speaker"
    dev_fraction: float = 0.2
    seed: int = 0


def interlocutor(manifest: Manifest, speaker: str) -> str:
    """The other speaker of ``speaker``'s session."""
    sessions = {u.session for u in manifest if u.speaker == speaker}
    others = {u.speaker for u in manifest if u.session in sessions and u.speaker != speaker}
    if len(others) != 1:
        raise ProtocolError(
            f"speaker {speaker} has {len(others)} interlocutors ({sorted(map(str, others))}); "
            "the interlocutor protocol needs sessions of exactly two speakers"
        )
    return others.pop()


@builds(LeaveOneSpeakerOutConfig)
def leave_one_speaker_out(config: LeaveOneSpeakerOutConfig, manifest: Manifest) -> list[Fold]:
    _require(manifest, "speaker", "leave_one_speaker_out")
    speakers = _sorted_values({u.speaker for u in manifest})
    if len(speakers) < 3:
        raise ProtocolError(f"leave_one_speaker_out needs at least 3 speakers, found {speakers}")
    folds = []
    for index, speaker in enumerate(speakers):
        test = tuple(u.id for u in manifest if u.speaker == speaker)
        if config.dev == "fraction":
            pool = [u for u in manifest if u.speaker != speaker]
            train, dev = split_dev(pool, fraction=config.dev_fraction, seed=config.seed + index)
        else:
            if config.dev == "interlocutor":
                _require(manifest, "session", "leave_one_speaker_out (interlocutor dev)")
                dev_speaker = interlocutor(manifest, speaker)
            else:
                dev_speaker = speakers[(index + 1) % len(speakers)]
            dev = tuple(u.id for u in manifest if u.speaker == dev_speaker)
            train = tuple(u.id for u in manifest if u.speaker not in {speaker, dev_speaker})
        folds.append(Fold(f"speaker_{speaker}", train, dev, test))
    return folds


# Cross gender ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CrossGenderConfig:
    """Voices unlike any in training: one fold per gender, tested on every speaker of that gender
    and trained on the speakers of the others. Dev: one training speaker (the ``dev_speaker``-th
    in sorted order of each training pool), or a stratified ``dev_fraction`` of the training
    speakers' utterances (``dev: fraction``)."""

    dev: Literal["speaker", "fraction"] = "speaker"
    dev_speaker: int = 0
    dev_fraction: float = 0.2
    seed: int = 0


@builds(CrossGenderConfig)
def cross_gender(config: CrossGenderConfig, manifest: Manifest) -> list[Fold]:
    _require(manifest, "gender", "cross_gender")
    _require(manifest, "speaker", "cross_gender")
    genders = _sorted_values({str(u.gender) for u in manifest})
    if len(genders) < 2:
        raise ProtocolError(f"cross_gender needs speakers of at least two genders, found {genders}")
    genders_of: dict[str, set] = {}
    for u in manifest:
        genders_of.setdefault(str(u.speaker), set()).add(u.gender)
    mixed = sorted(s for s, found in genders_of.items() if len(found) > 1)
    if mixed:
        raise ProtocolError(f"cross_gender: speakers with more than one gender: {mixed[:5]}")
    folds = []
    for index, gender in enumerate(genders):
        test = tuple(u.id for u in manifest if str(u.gender) == gender)
        pool = [u for u in manifest if str(u.gender) != gender]
        if config.dev == "fraction":
            train, dev = split_dev(pool, fraction=config.dev_fraction, seed=config.seed + index)
        else:
            speakers = _sorted_values({str(u.speaker) for u in pool})
            if len(speakers) < 2:
                raise ProtocolError(f"cross_gender: the speakers other than {gender} are {speakers}; a dev speaker "
                                    "needs at least two (or dev: fraction)")
            dev_speaker = speakers[config.dev_speaker % len(speakers)]
            dev = tuple(u.id for u in pool if str(u.speaker) == dev_speaker)
            train = tuple(u.id for u in pool if str(u.speaker) != dev_speaker)
        folds.append(Fold(f"test_{gender}", train, dev, test))
    return folds


# Random k-fold (not speaker-independent) -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RandomKFoldConfig:
    """Shuffled utterances in ``folds`` parts with a fixed seed (IEmoNet's protocol).

    Speakers appear in both train and test, so runs must set ``allow_speaker_overlap``.
    """

    folds: int = 10
    seed: int = 0
    dev_fraction: float = 0.1


@builds(RandomKFoldConfig)
def random_kfold(config: RandomKFoldConfig, manifest: Manifest) -> list[Fold]:
    if config.folds < 2 or config.folds > len(manifest):
        raise ProtocolError(f"random_kfold needs 2 <= folds <= {len(manifest)}, got {config.folds}")
    ids = sorted(manifest.ids)
    random.Random(config.seed).shuffle(ids)
    parts = [ids[k :: config.folds] for k in range(config.folds)]
    folds = []
    for index, test in enumerate(parts):
        test_set = set(test)
        pool = [manifest[i] for i in ids if i not in test_set]
        train, dev = split_dev(pool, fraction=config.dev_fraction, seed=config.seed + index)
        folds.append(Fold(f"fold_{index + 1:02d}", train, dev, tuple(sorted(test))))
    return folds


# Hold-out sessions -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HoldoutSessionConfig:
    """Train on all sessions but ``test_sessions`` (with a stratified dev fraction), test on those
    (Atmaja & Akagi: sessions 1-4 train with 20 % dev, session 5 test)."""

    test_sessions: tuple[str, ...] = ("5",)
    dev_fraction: float = 0.2
    seed: int = 0


@builds(HoldoutSessionConfig)
def holdout_session(config: HoldoutSessionConfig, manifest: Manifest) -> list[Fold]:
    _require(manifest, "session", "holdout_session")
    held = set(config.test_sessions)
    unknown = held - {u.session for u in manifest}
    if unknown:
        raise ProtocolError(f"holdout_session: sessions {sorted(unknown)} are not in the manifest")
    test = tuple(u.id for u in manifest if u.session in held)
    train, dev = split_dev([u for u in manifest if u.session not in held], fraction=config.dev_fraction, seed=config.seed)
    return [Fold("holdout_" + "_".join(sorted(held)), train, dev, test)]


# Official splits -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OfficialSplitsConfig:
    """The corpus's own partition from the ``split`` metadata (MSP-Podcast: Train / Development /
    Test1). One fold per test split."""

    train: str = "Train"
    dev: str = "Development"
    test: tuple[str, ...] = ("Test1",)
    key: str = "split"


@builds(OfficialSplitsConfig)
def official_splits(config: OfficialSplitsConfig, manifest: Manifest) -> list[Fold]:
    splits = {u.id: u.metadata.get(config.key) for u in manifest}
    present = set(splits.values())
    for name in (config.train, config.dev, *config.test):
        if name not in present:
            raise ProtocolError(
                f"official_splits: no utterance has {config.key}={name!r} (found: {sorted(map(str, present))})"
            )
    train = tuple(i for i, s in splits.items() if s == config.train)
    dev = tuple(i for i, s in splits.items() if s == config.dev)
    return [Fold(test, train, dev, tuple(i for i, s in splits.items() if s == test)) for test in config.test]


# Few-shot subsets ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FewShotConfig:
    """Another protocol's folds with the training set cut to ``n_per_class`` examples of each
    class (for data-size curves); dev and test are unchanged."""

    n_per_class: int
    base: Component = component_field(PROTOCOLS, default="leave_one_session_out")
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_per_class < 1:
            raise ValueError(f"n_per_class must be positive, got {self.n_per_class}")


@builds(FewShotConfig)
def few_shot(config: FewShotConfig, manifest: Manifest) -> list[Fold]:
    folds = make_folds(config.base, manifest)
    result = []
    for index, fold in enumerate(folds):
        by_class: dict[str | None, list[str]] = collections.defaultdict(list)
        for identifier in sorted(fold.train):
            by_class[manifest[identifier].label].append(identifier)
        if None in by_class:
            raise ProtocolError("few_shot needs a class label on every training utterance")
        rng = random.Random(config.seed * 1000 + index)
        train = []
        for label in sorted(by_class, key=str):
            members = by_class[label]
            rng.shuffle(members)
            train.extend(members[: config.n_per_class])
        result.append(Fold(fold.name, tuple(sorted(train)), fold.dev, fold.test))
    return result


# Script-disjoint IEMOCAP -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ScriptDisjointConfig:
    """Leave one session out with no script text shared between train and test.

    IEMOCAP's scripted dialogues are the same scripts in every session. In fold ``k`` (test
    session ``s_k``) one script is the test script; the test set holds ``s_k``'s improvised
    turns and its turns of the test script; training holds the other sessions' improvised
    turns and their turns of the other scripts. Scripted turns of ``s_k`` from other scripts
    are left out of that fold. Needs the ``scripted`` and ``script`` metadata.
    """

    dev_fraction: float = 0.2
    seed: int = 0


@builds(ScriptDisjointConfig)
def script_disjoint(config: ScriptDisjointConfig, manifest: Manifest) -> list[Fold]:
    _require(manifest, "session", "script_disjoint")
    missing = [u.id for u in manifest if "scripted" not in u.metadata]
    if missing:
        raise ProtocolError(f"script_disjoint needs 'scripted' metadata; missing for {missing[0]}")

    def script(u: Utterance) -> str | None:
        return str(u.metadata.get("script")) if _truthy(u.metadata["scripted"]) else None

    sessions = _sorted_values({u.session for u in manifest})
    scripts = sorted({s for u in manifest if (s := script(u))})
    folds = []
    for index, session in enumerate(sessions):
        test_script = scripts[index % len(scripts)] if scripts else None
        test = tuple(u.id for u in manifest if u.session == session and script(u) in (None, test_script))
        pool = [u for u in manifest if u.session != session and (script(u) is None or script(u) != test_script)]
        train, dev = split_dev(pool, fraction=config.dev_fraction, seed=config.seed + index)
        folds.append(Fold(f"session_{session}", train, dev, test))
    return folds


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes", "scripted"}
    return bool(value)
