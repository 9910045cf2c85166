"""WER: normalisation, the corpus-level formula against an independent implementation."""

import doctest
import importlib
import random

import pytest

from emofuse.asr.wer import error_counts
from emofuse.asr.wer import normalize_transcript
from emofuse.asr.wer import word_error_rate


def levenshtein(a, b):
    """Word edit distance written out (the reference implementation)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def test_normalisation_ignores_case_punctuation_and_tags():
    assert normalize_transcript("Oh, I DON'T know... [LAUGHTER] <sil>") == ["oh", "i", "don't", "know"]
    assert normalize_transcript(None) == [] and normalize_transcript("   ") == []
    assert word_error_rate(["Hello, World! [BREATHING]"], ["hello world"]) == 0.0


def test_corpus_level_formula_against_the_written_out_distance():
    rng = random.Random(0)
    vocabulary = "a b c d e f g".split()
    references = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 9))) for _ in range(60)]
    hypotheses = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 9))) for _ in range(60)]
    edits = sum(levenshtein(r.split(), h.split()) for r, h in zip(references, hypotheses, strict=True))
    words = sum(len(r.split()) for r in references)
    assert word_error_rate(references, hypotheses) == pytest.approx(edits / words)
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        counts = error_counts(reference, hypothesis)
        assert counts["substitutions"] + counts["deletions"] + counts["insertions"] == levenshtein(reference.split(), hypothesis.split())
        assert counts["substitutions"] + counts["deletions"] + counts["hits"] == len(reference.split())


def test_missing_hypotheses_count_as_deletions_and_bad_calls_fail():
    assert word_error_rate(["one two", "three"], [None, "three"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="2 references but 1"):
        word_error_rate(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no transcripts"):
        word_error_rate([], [])


@pytest.mark.parametrize("name", ["emofuse.asr.wer", "emofuse.asr.base", "emofuse.text.wordvectors"])
def test_docstring_examples(name):
    assert doctest.testmod(importlib.import_module(name)).failed == 0
