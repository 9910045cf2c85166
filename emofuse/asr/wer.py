"""Word error rate of transcripts against reference texts, after normalisation.

Both sides are normalised the same way before counting (:func:`normalize_transcript`): lower
case, ``[LAUGHTER]``-style tags and punctuation removed, so that a transcriber's formatting is
not counted as errors.
"""

from __future__ import annotations

from collections.abc import Sequence

import audmetric

from emofuse.data.validation import normalize_text


def normalize_transcript(text: str | None) -> list[str]:
    """The words that WER counts.

    >>> normalize_transcript("Oh, I DON'T know... [LAUGHTER]")
    ['oh', 'i', "don't", 'know']
    """
    return normalize_text(text or "").split()


def word_error_rate(references: Sequence[str | None], hypotheses: Sequence[str | None]) -> float:
    """Corpus-level WER: all word edits over all reference words.

    .. math:: WER = \\frac{\\sum_i S_i + D_i + I_i}{\\sum_i N_i}

    with ``S``, ``D``, ``I`` the substitutions, deletions and insertions of the minimal
    alignment of hypothesis ``i`` to reference ``i`` (``N_i`` words); missing texts count as
    empty. Computed with :func:`audmetric.word_error_rate` (``corpus_level=True``).

    >>> word_error_rate(["The cat sat.", "on the mat"], ["the cat sat down", "on a mat"])
    0.3333333333333333
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references:
        raise ValueError("no transcripts to score")
    truth = [normalize_transcript(r) for r in references]
    prediction = [normalize_transcript(h) for h in hypotheses]
    return audmetric.word_error_rate(truth, prediction, corpus_level=True)


def error_counts(reference: str | None, hypothesis: str | None) -> dict[str, int]:
    """Substitutions, deletions, insertions and hits of a minimal word alignment.

    >>> error_counts("the cat sat on the mat", "the bat sat the mat today")
    {'substitutions': 1, 'deletions': 1, 'insertions': 1, 'hits': 4, 'words': 6}
    """
    truth, prediction = normalize_transcript(reference), normalize_transcript(hypothesis)
    rows, columns = len(truth) + 1, len(prediction) + 1
    cost = [[0] * columns for _ in range(rows)]
    for i in range(rows):
        cost[i][0] = i
    for j in range(columns):
        cost[0][j] = j
    for i in range(1, rows):
        for j in range(1, columns):
            cost[i][j] = min(cost[i - 1][j] + 1, cost[i][j - 1] + 1,
                             cost[i - 1][j - 1] + (truth[i - 1] != prediction[j - 1]))
    counts = {"substitutions": 0, "deletions": 0, "insertions": 0, "hits": 0}
    i, j = len(truth), len(prediction)
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i][j] == cost[i - 1][j - 1] + (truth[i - 1] != prediction[j - 1]):
            counts["hits" if truth[i - 1] == prediction[j - 1] else "substitutions"] += 1
            i, j = i - 1, j - 1
        elif i > 0 and cost[i][j] == cost[i - 1][j] + 1:
            counts["deletions"] += 1
            i -= 1
        else:
            counts["insertions"] += 1
            j -= 1
    return {**counts, "words": len(truth)}
