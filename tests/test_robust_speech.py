"""The robust speech front-end, the pitch tracker, perturbations and augmentation, calibration."""

import importlib.util

import numpy as np
import pytest

from emofuse.audio.functionals import RobustFunctionalsConfig
from emofuse.audio.functionals import feature_names
from emofuse.audio.functionals import robust_functionals
from emofuse.audio.perturb import CONDITIONS
from emofuse.audio.perturb import add_noise
from emofuse.audio.perturb import gain
from emofuse.audio.perturb import perturb
from emofuse.audio.perturb import telephone
from emofuse.audio.pitch import track_pitch
from emofuse.calibration import apply_temperature
from emofuse.calibration import expected_calibration_error
from emofuse.calibration import fit_temperature
from emofuse.calibration import reliability

RATE = 16000


def voice(seconds: float = 1.5, f0: float = 180.0, *, seed: int = 0, glide: float = 0.0) -> np.ndarray:
    """A vowel-like harmonic signal with a pitch glide, a syllable rhythm and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    frequency = f0 * 2 ** (glide * t / seconds / 12)
    phase = 2 * np.pi * np.cumsum(frequency) / RATE
    harmonics = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    signal = 0.3 * envelope * harmonics + 0.003 * rng.standard_normal(t.size)
    return (signal / np.max(np.abs(signal)) * 0.5).astype(np.float32)


def test_crepe_tracks_the_pitch_of_a_harmonic_tone():
    track = track_pitch(voice(f0=200.0), RATE, hop=0.02)
    voiced = track.voiced(0.5)
    assert voiced.mean() > 0.8
    assert np.median(track.frequency[voiced]) == pytest.approx(200.0, rel=0.03)


def test_pitch_mask_limits_the_frames_the_network_sees():
    signal = voice()
    mask = np.zeros(len(signal) // 320 + 1, dtype=bool)
    mask[10:20] = True
    track = track_pitch(signal, RATE, hop=0.02, mask=mask)
    assert np.all(track.periodicity[~mask] == 0) and np.all(track.periodicity[mask] > 0)


@pytest.fixture(scope="module")
def energy_config():
    return RobustFunctionalsConfig(vad="energy")


def test_functionals_have_one_named_value_each_and_are_finite(energy_config):
    features = robust_functionals(voice(), RATE, energy_config)
    assert features.shape == (len(feature_names(energy_config)),)
    assert np.all(np.isfinite(features))
    names = feature_names(energy_config)
    assert features[names.index("f0_p50")] == pytest.approx(12 * np.log2(180 / 27.5), abs=0.5)


def test_every_feature_has_a_group(energy_config):
    from emofuse.audio.functionals import GROUPS
    from emofuse.audio.functionals import feature_group

    groups = [feature_group(n) for n in feature_names(energy_config)]
    assert set(groups) == set(GROUPS)
    assert sorted(groups, key=GROUPS.index) == groups  # each group's columns are contiguous, in GROUPS order
    counts = {g: groups.count(g) for g in GROUPS}
    assert counts == {"pitch": 9, "voicing": 5, "energy": 7, "spectral": 12, "cepstra": 2 * energy_config.n_cepstra,
                      "cepstral_means": energy_config.n_cepstra, "timing": 4}


def test_functionals_do_not_change_with_the_gain(energy_config):
    signal = voice(seed=1)
    reference = robust_functionals(signal, RATE, energy_config)
    for decibels in (-30.0, -12.0):
        quieter = robust_functionals(signal * 10 ** (decibels / 20), RATE, energy_config)
        np.testing.assert_allclose(quieter, reference, rtol=1e-3, atol=1e-3)


def test_functionals_follow_the_voice(energy_config):
    names = feature_names(energy_config)
    low = robust_functionals(voice(f0=120.0), RATE, energy_config)
    high = robust_functionals(voice(f0=240.0, glide=6.0), RATE, energy_config)
    assert high[names.index("f0_mean")] > low[names.index("f0_mean")] + 10
    assert high[names.index("f0_range")] > low[names.index("f0_range")] + 2


def test_without_the_pitch_level_only_the_level_columns_go_and_a_transposed_voice_looks_alike():
    full_config = RobustFunctionalsConfig(vad="energy")
    movement_config = RobustFunctionalsConfig(vad="energy", pitch_level=False)
    names, kept = feature_names(full_config), feature_names(movement_config)
    assert set(names) - set(kept) == {"f0_mean", "f0_p10", "f0_p50", "f0_p90"}
    assert [n for n in names if n in kept] == list(kept)  # the rest in the same order
    signal = voice(f0=150.0, glide=4.0, seed=2)
    full = robust_functionals(signal, RATE, full_config)
    movement = robust_functionals(signal, RATE, movement_config)
    assert movement.shape == (len(kept),)
    np.testing.assert_array_equal(movement, full[[names.index(n) for n in kept]])
    # an octave up (the same glide): the level moves 12 semitones, the movement does not
    higher = robust_functionals(voice(f0=300.0, glide=4.0, seed=2), RATE, full_config)
    assert higher[names.index("f0_p50")] - full[names.index("f0_p50")] == pytest.approx(12.0, abs=0.7)
    for name in ("f0_std", "f0_range"):
        assert higher[names.index(name)] == pytest.approx(full[names.index(name)], abs=0.5), name


def test_cross_group_trains_on_one_group_and_tests_on_the_other():
    from emofuse.robustness import cross_group

    rng = np.random.default_rng(0)
    classes = ("neu", "hap", "sad", "ang")
    clean, copies, labels, speakers = {}, {}, {}, {}
    groups = {f"s{k}": ("F" if k < 3 else "M") for k in range(6)}
    for speaker, sex in groups.items():
        offset = 3.0 if sex == "F" else 0.0  # a group-wide shift in the first (uninformative) feature
        for k in range(24):
            identifier = f"{speaker}_{k}"
            label = classes[k % 4]
            vector = rng.normal(size=6)
            vector[1 + k % 4] += 3.0  # the class shows in one feature
            vector[0] += offset
            clean[identifier], copies[identifier] = vector, vector + rng.normal(scale=0.1, size=6)
            labels[identifier], speakers[identifier] = label, speaker
    result = cross_group({"clean": clean, "copy0": copies}, {"clean": clean}, labels, speakers, groups, classes)
    assert set(result) == {"F", "M"}
    for group, part in result.items():
        assert {speakers[i] for i in part["ids"]} == {s for s, g in groups.items() if g != group}
        assert part["posteriors"].shape == (72, 4)
        accuracy = np.mean([classes[k] == labels[i] for i, k in zip(part["ids"], part["posteriors"].argmax(axis=1), strict=True)])
        assert accuracy > 0.8, group
    with pytest.raises(ValueError, match="no group"):
        cross_group({"clean": clean}, {"clean": clean}, labels, speakers, {"s0": "F"}, classes)


def test_every_condition_keeps_the_length_and_stays_in_range():
    signal = voice(seconds=1.0)
    for condition in CONDITIONS:
        if CONDITIONS[condition][0] == "room" and importlib.util.find_spec("pyroomacoustics") is None:
            continue
        out = perturb(signal, RATE, condition, seed=3)
        if CONDITIONS[condition][0] != "excerpt":  # (an excerpt of 1.5 s keeps a 1 s signal whole)
            assert abs(len(out) - len(signal)) <= 2, condition
        assert np.all(np.isfinite(out)) and np.max(np.abs(out)) <= 1.0, condition
    with pytest.raises(ValueError, match="unknown condition"):
        perturb(signal, RATE, "underwater")


def test_an_excerpt_is_a_stretch_of_the_signal_drawn_with_the_seed():
    signal = np.arange(3 * RATE, dtype=np.float32) / (3 * RATE)
    first, again, other = (perturb(signal, RATE, "excerpt 1.5 s", seed=s) for s in (1, 1, 2))
    assert len(first) == int(1.5 * RATE)
    start = int(np.searchsorted(signal, first[0]))
    np.testing.assert_array_equal(first, signal[start : start + len(first)])
    np.testing.assert_array_equal(first, again)
    assert first[0] != other[0]
    np.testing.assert_array_equal(perturb(signal[:RATE], RATE, "excerpt 1.5 s", seed=1), signal[:RATE])


def test_fewer_cepstra_only_drop_the_high_cepstra_columns():
    full_config = RobustFunctionalsConfig(vad="energy")
    low_config = RobustFunctionalsConfig(vad="energy", n_cepstra=8)
    names, kept = feature_names(full_config), feature_names(low_config)
    assert set(names) - set(kept) == {f"cep{k}_{s}" for k in range(9, 13) for s in ("std", "delta_std", "mean")}
    signal = voice(f0=220.0, glide=3.0, seed=4)
    np.testing.assert_allclose(robust_functionals(signal, RATE, low_config),
                               robust_functionals(signal, RATE, full_config)[[names.index(n) for n in kept]], rtol=1e-6, atol=1e-6)


def test_gain_clips_and_noise_has_the_asked_snr():
    signal = voice(seconds=1.0)
    assert np.max(gain(signal, 20.0)) == 1.0
    noisy = add_noise(signal * 0.5, 10.0, 0.0, np.random.default_rng(0))
    noise = noisy - signal * 0.5
    snr = 10 * np.log10(np.mean((signal * 0.5) ** 2) / np.mean(noise**2))
    assert snr == pytest.approx(10.0, abs=0.3)


def test_telephone_removes_what_is_above_its_band():
    t = np.arange(RATE) / RATE
    high = (0.3 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32)
    assert np.std(telephone(high, RATE)) < 0.01 * np.std(high)


@pytest.mark.skipif(importlib.util.find_spec("audiomentations") is None, reason="needs the augment extra")
def test_augmentation_is_reproducible_from_its_seed():
    from emofuse.audio.perturb import augment

    signal = voice(seconds=1.0)
    first, again, other = augment(signal, RATE, seed=5), augment(signal, RATE, seed=5), augment(signal, RATE, seed=6)
    np.testing.assert_array_equal(first, again)
    assert first.shape == signal.shape and not np.array_equal(first, other)


def test_expected_calibration_error_against_the_formula():
    rng = np.random.default_rng(0)
    posteriors = rng.dirichlet(np.ones(4), size=300)
    truth = rng.integers(0, 4, 300)
    confidence, correct = posteriors.max(axis=1), posteriors.argmax(axis=1) == truth
    total = 0.0
    for low in np.arange(10) / 10:  # the formula written out, bins (low, low + 0.1]
        members = (confidence > low) & (confidence <= low + 0.1)
        if members.any():
            total += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    assert expected_calibration_error(truth, posteriors) == pytest.approx(total)
    assert sum(r["count"] for r in reliability(truth, posteriors)) == 300


def test_temperature_scaling_recovers_a_known_temperature_and_keeps_the_answers():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (4000, 4))
    calibrated = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(4, p=p) for p in calibrated])
    overconfident = apply_temperature(calibrated, 1 / 3)  # three times sharper than the truth
    temperature = fit_temperature(truth, overconfident)
    assert temperature == pytest.approx(3.0, rel=0.1)
    rescaled = apply_temperature(overconfident, temperature)
    assert np.array_equal(rescaled.argmax(axis=1), overconfident.argmax(axis=1))
    assert expected_calibration_error(truth, rescaled) < expected_calibration_error(truth, overconfident) / 3
    with pytest.raises(ValueError, match="labels"):
        fit_temperature(["neu"], overconfident[:1])


def one_utterance_quiet_and_noisy(tmp_path):  # noqa: ANN001, ANN201
    """A 1 s voice as an utterance, a front-end, and two augmentations: -3 dB only, and 0 dB SNR noise."""
    import soundfile

    from emofuse.audio.perturb import AugmentConfig
    from emofuse.config import Component
    from emofuse.data.manifest import Utterance

    path = tmp_path / "a.wav"
    soundfile.write(path, voice(seconds=1.0), RATE)
    still = dict(gain_db=(-3.0, -3.0), colouring_probability=0.0, room_probability=0.0, channel_probability=0.0)
    return (Utterance("a", audio=str(path)), Component("robust_functionals", RobustFunctionalsConfig(vad="energy")),
            AugmentConfig(noise_probability=0.0, **still), AugmentConfig(noise_probability=1.0, snr_db=(0.0, 0.0), **still))


@pytest.mark.skipif(importlib.util.find_spec("audiomentations") is None, reason="needs the augment extra")
def test_augmented_copies_are_cached_per_augmentation_setting(tmp_path):
    from emofuse.robustness import variant_features

    utterance, component, quiet, noisy = one_utterance_quiet_and_noisy(tmp_path)
    first = variant_features(component, [utterance], ["copy0"], cache_dir=tmp_path / "cache", augmentation=quiet,
                             progress=False)["copy0"]["a"]
    other = variant_features(component, [utterance], ["copy0"], cache_dir=tmp_path / "cache", augmentation=noisy,
                             progress=False)["copy0"]["a"]
    again = variant_features(component, [utterance], ["copy0"], cache_dir=tmp_path / "cache", augmentation=quiet,
                             progress=False)["copy0"]["a"]
    assert not np.allclose(first, other)  # another setting is computed, not served from the cache
    np.testing.assert_array_equal(first, again)


@pytest.mark.skipif(importlib.util.find_spec("audiomentations") is None, reason="needs the augment extra")
def test_the_recipe_features_hold_the_clean_utterances_and_each_source_s_copies(tmp_path):
    from emofuse.audio.perturb import AugmentConfig
    from emofuse.robustness import AUGMENTATIONS
    from emofuse.robustness import recipe_features
    from emofuse.robustness import variant_features

    utterance, component, quiet, noisy = one_utterance_quiet_and_noisy(tmp_path)
    sources = {"quiet": quiet, "noisy": noisy}
    features = recipe_features(component, [utterance], copies=2, augmentations=sources, cache_dir=tmp_path / "cache",
                               progress=False)
    assert list(features) == ["clean", "quiet copy0", "quiet copy1", "noisy copy0", "noisy copy1"]
    alone = variant_features(component, [utterance], ["copy1"], cache_dir=tmp_path / "other", augmentation=sources["noisy"],
                             progress=False)
    np.testing.assert_array_equal(features["noisy copy1"]["a"], alone["copy1"]["a"])  # the same copy, drawn alike
    assert not np.allclose(features["quiet copy1"]["a"], features["noisy copy1"]["a"])
    assert set(AUGMENTATIONS) == {"default", "voice"} and AUGMENTATIONS["default"] == AugmentConfig()


def test_augmented_copies_can_sound_like_another_voice_and_rate():
    from emofuse.audio.perturb import AugmentConfig
    from emofuse.audio.perturb import augment

    def f0(signal):  # the strongest spectral peak below 400 Hz (the fundamental of voice())
        spectrum = np.abs(np.fft.rfft(signal * np.hanning(signal.size)))
        frequencies = np.fft.rfftfreq(signal.size, 1 / RATE)
        band = (frequencies > 80) & (frequencies < 400)
        return frequencies[band][np.argmax(spectrum[band])]

    still = dict(gain_db=(0.0, 0.0), colouring_probability=0.0, room_probability=0.0, noise_probability=0.0,
                 channel_probability=0.0)
    signal = voice(seconds=2.0, f0=150.0)
    same = augment(signal, RATE, seed=1, config=AugmentConfig(pitch_probability=0.0, tempo_probability=0.0, **still))
    assert same.size == signal.size and abs(f0(same) - 150.0) < 3.0
    higher = augment(signal, RATE, seed=1, config=AugmentConfig(pitch_probability=1.0, semitones=(3.0, 3.0),
                                                                tempo_probability=0.0, **still))
    assert higher.size == signal.size and abs(f0(higher) / 150.0 - 2 ** (3 / 12)) < 0.03
    faster = augment(signal, RATE, seed=1, config=AugmentConfig(pitch_probability=0.0, tempo_probability=1.0,
                                                                tempo=(1.25, 1.25), **still))
    assert abs(faster.size - signal.size / 1.25) < 0.02 * signal.size and abs(f0(faster) - 150.0) < 3.0
    with pytest.raises(ValueError, match="pitch_probability"):
        AugmentConfig(pitch_probability=1.5)
