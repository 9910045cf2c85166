"""Simulated ASR errors: measured WER on target, reproducible per seed, transcripts never empty."""

import collections
import doctest
import importlib
import random

import pytest

from emofuse.asr.wer import error_counts
from emofuse.asr.wer import word_error_rate
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance
from emofuse.text.noise import add_simulated_asr
from emofuse.text.noise import simulate_asr_errors

WORDS = ("i really do not know what you are talking about she was so happy to see him again "
         "get out of here now we lost everything and it hurts the meeting is at noon").split()


def sentences(count=200, seed=0):
    rng = random.Random(seed)
    texts = []
    for index in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 14))]
        words[0] = words[0].capitalize()
        text = " ".join(words) + rng.choice([".", "!", "?", ""])
        if index % 17 == 0:
            text = "[LAUGHTER] " + text  # tags are not words
        texts.append(text)
    return texts


def words_in(texts):
    return sum(error_counts(t, t)["words"] for t in texts)


@pytest.mark.parametrize("target", [0.06, 0.15, 0.3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_measured_wer_is_within_one_point_of_the_target(target, seed):
    texts = sentences(200, seed=seed)
    assert words_in(texts) >= 1000
    noisy = simulate_asr_errors(texts, wer=target, seed=seed)
    assert abs(word_error_rate(texts, noisy) - target) <= 0.01


def test_error_types_follow_the_proportions():
    texts = sentences(300)
    noisy = simulate_asr_errors(texts, wer=0.1, seed=0, substitution=0.5, deletion=0.3, insertion=0.2)
    counts = collections.Counter()
    for reference, hypothesis in zip(texts, noisy, strict=True):
        counts.update(error_counts(reference, hypothesis))
    errors = counts["substitutions"] + counts["deletions"] + counts["insertions"]
    assert errors == round(0.1 * counts["words"])
    assert abs(counts["substitutions"] / errors - 0.5) < 0.05
    assert abs(counts["deletions"] / errors - 0.3) < 0.05
    assert abs(counts["insertions"] / errors - 0.2) < 0.05
    only_deletions = simulate_asr_errors(texts, wer=0.1, seed=0, substitution=0, deletion=1, insertion=0)
    assert all(len(h.split()) <= len(r.split()) for r, h in zip(texts, only_deletions, strict=True))


def test_reproducible_for_a_seed():
    texts = sentences(100)
    first = simulate_asr_errors(texts, wer=0.2, seed=7)
    assert first == simulate_asr_errors(texts, wer=0.2, seed=7)
    assert first != simulate_asr_errors(texts, wer=0.2, seed=8)


def test_untouched_words_keep_their_form_and_no_transcript_becomes_empty():
    texts = ["Hello, [LAUGHTER] world -- it's me!", "yes", "no", "Okay.", "", "   ", "[BREATHING]"]
    noisy = simulate_asr_errors(texts * 20, wer=0.5, seed=3)
    for reference, hypothesis in zip(texts * 20, noisy, strict=True):
        if error_counts(reference, reference)["words"]:
            assert hypothesis.strip(), f"{reference!r} became empty"
        else:
            assert hypothesis == " ".join(reference.split())  # nothing to change
    assert simulate_asr_errors(texts, wer=0.0, seed=0) == texts
    assert "[LAUGHTER]" in simulate_asr_errors(["Hello, [LAUGHTER] world -- it's me!"], wer=0.25, seed=0)[0]


def test_invalid_options():
    with pytest.raises(ValueError, match="wer"):
        simulate_asr_errors(["a b"], wer=1.5, seed=0)
    with pytest.raises(ValueError, match="not all zero"):
        simulate_asr_errors(["a b"], wer=0.1, seed=0, substitution=0, deletion=0, insertion=0)


def test_add_simulated_asr_fills_asr_text_and_returns_a_new_manifest():
    texts = sentences(120)
    manifest = Manifest([Utterance(f"u{i}", text=t) for i, t in enumerate(texts)] + [Utterance("no_text")])
    noisy = add_simulated_asr(manifest, wer=0.06, seed=0)
    assert manifest[0].asr_text is None  # the input is unchanged
    assert noisy["no_text"].asr_text is None and "asr" not in noisy["no_text"].metadata
    assert noisy[0].metadata["asr"] == "simulated(wer=0.06, seed=0)"
    references = [u.text for u in noisy if u.text]
    hypotheses = [u.asr_text for u in noisy if u.text]
    assert abs(word_error_rate(references, hypotheses) - 0.06) <= 0.01
    assert add_simulated_asr(manifest, wer=0.06, seed=0) == noisy


def test_docstring_examples():
    module = importlib.import_module("emofuse.text.noise")
    assert doctest.testmod(module).failed == 0
