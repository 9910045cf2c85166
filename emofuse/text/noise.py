"""Simulated ASR errors (IEmoNet): substitutions, insertions and deletions at a target WER.

Heusser et al. train and test their text model on transcripts with artificial errors at 6 %
WER instead of real ASR output. Here the errors are placed so that the measured WER hits the
target: over all ``N`` words of all texts exactly ``round(wer * N)`` word slots get one error
each, split into substitutions, deletions and insertions in the given proportions (by default
60 / 25 / 15 %, a typical ASR mix), with the positions drawn from a seeded generator, so the
same texts, WER and seed give the same transcripts in every process. Errors never cancel in the
alignment: a substitute differs from the word and its neighbours, an insertion goes on the side
of its word away from a deleted neighbour, and the only word of a text is never deleted (a
substitution instead), so no transcript becomes empty.

Words are counted the way :func:`emofuse.asr.wer.word_error_rate` counts them (lower case,
no punctuation, no ``[LAUGHTER]``-style tags); tags and punctuation around untouched words stay.
Substitutes imitate acoustic confusions cheaply: a word of the corpus's own vocabulary with the
same first letter and a similar length, drawn by frequency; insertions are short frequent words.
"""

from __future__ import annotations

import collections
import logging
import re
from collections.abc import Sequence

import numpy as np

from emofuse.data.manifest import Manifest

log = logging.getLogger(__name__)

# Tags first, then runs of word characters: exactly the words that
# emofuse.data.validation.normalize_text (and so the WER) sees.
_TAG = re.compile(r"(\[[^\]]*\]|<[^>]*>)")
_NON_WORD = re.compile(r"([^\w']+)")
_COMMON_WORDS = (
    "the a and to of i you it that is in was he she we they this what for on with my so but not "
    "have be at are all do just no yes oh well like know think right one can get go there here "
    "now then out up about if your me him her them our how when why who an uh um yeah okay"
).split()


class _Vocabulary:
    """Frequency-weighted word sampling: by (first letter, length) for substitutes, short
    words for insertions."""

    def __init__(self, counts: collections.Counter[str], *, size: int = 20000) -> None:
        counts = collections.Counter(counts)
        for word in _COMMON_WORDS:
            counts[word] += 1
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:size]
        self.words = [w for w, _ in ranked]
        self.counts = np.array([c for _, c in ranked], dtype=np.float64)
        self.buckets: dict[tuple[str, int], list[int]] = collections.defaultdict(list)
        for index, word in enumerate(self.words):
            self.buckets[(word[0], len(word))].append(index)
        self._pools: dict[object, tuple[np.ndarray, np.ndarray]] = {}
        self._pool("all", range(len(self.words)))
        self._pool("short", [i for i, w in enumerate(self.words) if len(w) <= 4])

    def _pool(self, key: object, indices: object) -> tuple[np.ndarray, np.ndarray]:
        if key not in self._pools:
            members = np.fromiter(indices, dtype=np.int64)  # type: ignore[arg-type]
            self._pools[key] = (members, np.cumsum(self.counts[members]))
        return self._pools[key]

    def _draw(self, key: object, exclude: set[str], rng: np.random.Generator) -> str | None:
        members, cumulative = self._pools[key]
        if len(members) == 0:
            return None
        for _ in range(20):  # rejection sampling: excluded words are few
            word = self.words[members[int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))]]
            if word not in exclude:
                return word
        allowed = [self.words[i] for i in members if self.words[i] not in exclude]
        return allowed[int(rng.integers(len(allowed)))] if allowed else None

    def substitute(self, word: str, exclude: set[str], rng: np.random.Generator) -> str:
        key = (word[0], len(word))
        self._pool(key, (i for n in range(len(word) - 2, len(word) + 3) for i in self.buckets.get((word[0], n), ())))
        return self._draw(key, exclude, rng) or self._draw("all", exclude, rng) or "uh"

    def insertion(self, exclude: set[str], rng: np.random.Generator) -> str:
        return self._draw("short", exclude, rng) or self._draw("all", exclude, rng) or "uh"


def _split(text: str) -> tuple[list[str], list[int]]:
    """Pieces that join back to ``text``, and the indices of the pieces that are words."""
    pieces: list[str] = []
    for index, chunk in enumerate(_TAG.split(text)):
        pieces += [chunk] if index % 2 else [piece for piece in _NON_WORD.split(chunk) if piece]
    return pieces, [i for i, piece in enumerate(pieces) if not _NON_WORD.fullmatch(piece) and not _TAG.fullmatch(piece)]


def _match_case(word: str, template: str) -> str:
    return word.capitalize() if template[:1].isupper() else word


def simulate_asr_errors(
    texts: Sequence[str],
    *,
    wer: float,
    seed: int,
    substitution: float = 0.6,
    deletion: float = 0.25,
    insertion: float = 0.15,
) -> list[str]:
    """``texts`` with ``round(wer * N)`` word errors over their ``N`` words (see the module).

    ``substitution``, ``deletion`` and ``insertion`` are the proportions of the error types.

    >>> simulate_asr_errors(["the cat sat on the mat today"] * 3, wer=0.2, seed=0)
    ['the cat sat on the me today', 'the cat sat was on the me today', 'the sat on the mat today']
    """
    if not 0.0 <= wer <= 1.0:
        raise ValueError(f"wer must be in [0, 1], got {wer}")
    proportions = np.array([substitution, deletion, insertion], dtype=np.float64)
    if (proportions < 0).any() or proportions.sum() <= 0:
        raise ValueError("substitution, deletion and insertion must be non-negative and not all zero")
    proportions /= proportions.sum()
    split = [_split(text) for text in texts]
    pieces = [parts for parts, _ in split]
    slots = [(t, p) for t, (_, positions) in enumerate(split) for p in positions]
    counts = collections.Counter(pieces[t][p].lower() for t, p in slots)
    total = len(slots)
    errors = int(round(wer * total))
    if errors == 0:
        return list(texts)
    rng = np.random.default_rng(seed)
    vocabulary = _Vocabulary(counts)
    chosen = sorted(rng.choice(total, size=errors, replace=False).tolist())
    kinds_count = np.floor(proportions * errors).astype(int)
    for index in np.argsort(-(proportions * errors - kinds_count))[: errors - kinds_count.sum()]:
        kinds_count[index] += 1  # largest remainders
    kinds = np.repeat(np.array(["substitution", "deletion", "insertion"]), kinds_count)
    rng.shuffle(kinds)
    plan: dict[tuple[int, int], str] = {slots[i]: str(k) for i, k in zip(chosen, kinds, strict=True)}
    positions_of: dict[int, list[int]] = collections.defaultdict(list)
    for t, p in slots:
        positions_of[t].append(p)
    for (t, p), kind in plan.items():
        if kind == "deletion" and len(positions_of[t]) == 1:
            plan[(t, p)] = "substitution"  # never leave a transcript without words
    for (t, p), kind in plan.items():
        order = positions_of[t].index(p)
        around = [plan.get((t, q)) for q in positions_of[t][max(order - 1, 0) : order + 2] if q != p]
        if kind == "insertion" and around == ["deletion", "deletion"]:
            plan[(t, p)] = "substitution"  # between two deletions it would align as a substitution
    result = []
    for t, parts in enumerate(pieces):
        positions = positions_of.get(t, [])
        original = {p: parts[p].lower() for p in positions}
        output = list(parts)
        for order, p in enumerate(positions):
            kind = plan.get((t, p))
            if kind is None:
                continue
            previous = positions[order - 1] if order > 0 else None
            following = positions[order + 1] if order + 1 < len(positions) else None
            neighbours = {original[q] for q in (previous, following) if q is not None}
            if kind == "substitution":
                output[p] = _match_case(vocabulary.substitute(original[p], {original[p], *neighbours}, rng), parts[p])
            elif kind == "deletion":
                output[p] = ""
            else:
                inserted = vocabulary.insertion({original[p], *neighbours}, rng)
                if previous is not None and plan.get((t, previous)) == "deletion":
                    output[p] = f"{parts[p]} {inserted}"  # not next to the deleted word
                else:
                    output[p] = f"{inserted} {parts[p]}"
        result.append(" ".join("".join(output).split()))
    return result


def add_simulated_asr(
    manifest: Manifest,
    *,
    wer: float,
    seed: int,
    substitution: float = 0.6,
    deletion: float = 0.25,
    insertion: float = 0.15,
) -> Manifest:
    """A new manifest whose ``asr_text`` is each reference ``text`` with simulated ASR errors.

    Errors are spread over the whole manifest (see :func:`simulate_asr_errors`); utterances
    without a reference text keep ``asr_text`` empty. The metadata key ``asr`` records
    ``simulated(wer=..., seed=...)`` and the measured WER is logged.
    """
    from emofuse.asr.wer import word_error_rate

    with_text = [u for u in manifest if u.text is not None and u.text.strip()]
    noisy = simulate_asr_errors([u.text for u in with_text], wer=wer, seed=seed, substitution=substitution,  # type: ignore[misc]
                                deletion=deletion, insertion=insertion)
    if with_text:
        measured = word_error_rate([u.text for u in with_text], noisy)  # type: ignore[misc]
        log.info("simulated ASR errors on %d utterances: target WER %.2f %%, measured %.2f %%",
                 len(with_text), 100 * wer, 100 * measured)
    replacement = {u.id: text for u, text in zip(with_text, noisy, strict=True)}
    source = f"simulated(wer={wer:g}, seed={seed})"
    return manifest.map(
        lambda u: u.replace(asr_text=replacement[u.id], metadata={**u.metadata, "asr": source})
        if u.id in replacement else u
    )
