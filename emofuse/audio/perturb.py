"""What changes between recordings, simulated on a clean signal: for training (random
augmentation) and for testing (named, fixed conditions).

- :data:`CONDITIONS` and :func:`perturb`: the fixed test conditions of
  ``benchmarks/robustness.py``: gain (-20 / +10 dB, clipped at full scale as a recorder would),
  an 8 kHz mu-law telephone channel (300-3400 Hz), white and pink noise at 20 / 10 / 5 dB SNR,
  simulated rooms with a Sabine RT60 of 0.3 and 0.8 s (pyroomacoustics image sources), and
  resampling through 22.05 and 44.1 kHz, and a 1.5 s excerpt at a random point (a short phrase
  instead of a sentence, as in a voice command or a carrier phrase).
- :class:`AugmentConfig` and :func:`augment`: random training copies drawn from the same
  families with other parameters (audiomentations for gain, microphone colouring and coloured
  noise; pyroomacoustics for random rooms; a telephone channel; resampling through random
  rates). A seed per copy makes every copy reproducible.

audiomentations and pyroomacoustics are in the ``augment`` extra (training and benchmarks);
predicting needs neither.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from scipy import signal as scipy_signal

from emofuse.audio.io import resample

#: The named test conditions: name -> (kind, parameter).
CONDITIONS: dict[str, tuple[str, float]] = {
    "clean": ("none", 0.0),
    "gain -20 dB": ("gain", -20.0),
    "gain +10 dB": ("gain", 10.0),
    "telephone 8 kHz mu-law": ("telephone", 8000.0),
    "white noise 20 dB": ("white", 20.0),
    "white noise 10 dB": ("white", 10.0),
    "white noise 5 dB": ("white", 5.0),
    "pink noise 20 dB": ("pink", 20.0),
    "pink noise 10 dB": ("pink", 10.0),
    "pink noise 5 dB": ("pink", 5.0),
    "room RT60 0.3 s": ("room", 0.3),
    "room RT60 0.8 s": ("room", 0.8),
    "resampled 22.05 kHz": ("resample", 22050.0),
    "resampled 44.1 kHz": ("resample", 44100.0),
    "excerpt 1.5 s": ("excerpt", 1.5),
}


def _require(package: str) -> None:
    import importlib.util

    if importlib.util.find_spec(package) is None:
        raise ImportError(f"{package} is needed for augmentation and the robustness benchmark: "
                          "pip install 'emofuse[augment]'")


def gain(signal: np.ndarray, decibels: float) -> np.ndarray:
    """``signal`` scaled by ``decibels``, clipped at full scale.

    >>> float(gain(np.array([0.5], dtype=np.float32), 20.0)[0])
    1.0
    """
    return np.clip(signal * 10.0 ** (decibels / 20.0), -1.0, 1.0).astype(np.float32)


def telephone(signal: np.ndarray, sampling_rate: int, *, rate: int = 8000, mu: float = 255.0) -> np.ndarray:
    """A narrow-band telephone channel: 300-3400 Hz, ``rate`` Hz, 8-bit mu-law, back to ``sampling_rate``."""
    narrow = resample(signal.astype(np.float32), sampling_rate, rate)
    sos = scipy_signal.butter(4, [300.0, 3400.0], btype="bandpass", fs=rate, output="sos")
    narrow = np.clip(scipy_signal.sosfilt(sos, narrow), -1.0, 1.0)
    companded = np.sign(narrow) * np.log1p(mu * np.abs(narrow)) / np.log1p(mu)
    quantised = np.round((companded + 1.0) * 127.5) / 127.5 - 1.0  # 8 bits
    expanded = np.sign(quantised) * ((1.0 + mu) ** np.abs(quantised) - 1.0) / mu
    return resample(expanded.astype(np.float32), rate, sampling_rate)


def coloured_noise(length: int, decay_db_per_octave: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise whose power falls ``decay_db_per_octave`` per octave (0 white, -3.01 pink)."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    frequencies = np.arange(spectrum.size, dtype=np.float64)
    frequencies[0] = 1.0
    spectrum *= frequencies ** (decay_db_per_octave / (20.0 * np.log10(2.0)))
    noise = np.fft.irfft(spectrum, n=length)
    return (noise / (np.std(noise) + 1e-12)).astype(np.float32)


def add_noise(signal: np.ndarray, snr_db: float, decay_db_per_octave: float, rng: np.random.Generator) -> np.ndarray:
    """``signal`` plus coloured noise at ``snr_db`` (against the signal's mean power)."""
    power = float(np.mean(signal.astype(np.float64) ** 2))
    noise = coloured_noise(len(signal), decay_db_per_octave, rng) * np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return np.clip(signal + noise, -1.0, 1.0).astype(np.float32)


@functools.lru_cache(maxsize=64)
def room_response(rt60: float, sampling_rate: int, seed: int = 0) -> np.ndarray:
    """The impulse response of a shoebox room with Sabine reverberation time ``rt60`` (s),
    a random size (3-8 x 3-7 x 2.5-3.5 m) and random source and microphone positions."""
    _require("pyroomacoustics")
    import pyroomacoustics

    rng = np.random.default_rng(seed)
    size = np.array([rng.uniform(3, 8), rng.uniform(3, 7), rng.uniform(2.5, 3.5)])
    absorption, order = pyroomacoustics.inverse_sabine(rt60, size)
    room = pyroomacoustics.ShoeBox(size, fs=sampling_rate, materials=pyroomacoustics.Material(absorption),
                                   max_order=min(int(order), 80))
    source = rng.uniform(0.5, 1.0, 3) * (size - 1.0) + 0.5
    microphone = rng.uniform(0.0, 1.0, 3) * (size - 1.0) + 0.5
    room.add_source(source.tolist())
    room.add_microphone(microphone.tolist())
    room.compute_rir()
    response = np.asarray(room.rir[0][0], dtype=np.float64)
    return (response / np.max(np.abs(response))).astype(np.float32)


def reverberate(signal: np.ndarray, response: np.ndarray) -> np.ndarray:
    """``signal`` through a room, at the dry signal's peak level."""
    wet = scipy_signal.fftconvolve(signal, response)[: len(signal)]
    peak = float(np.max(np.abs(wet)))
    return (wet / peak * float(np.max(np.abs(signal))) if peak > 0 else wet).astype(np.float32)


def excerpt(signal: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """``length`` samples of ``signal`` from a random point (all of it when shorter).

    >>> excerpt(np.arange(10.0), 4, np.random.default_rng(0)).size
    4
    """
    if signal.size <= length:
        return signal
    start = int(rng.integers(0, signal.size - length + 1))
    return signal[start : start + length]


def perturb(signal: np.ndarray, sampling_rate: int, condition: str, *, seed: int = 0) -> np.ndarray:
    """``signal`` under the named test ``condition`` (:data:`CONDITIONS`); the noise is drawn
    with ``seed``; rooms are the same for every signal of a condition."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}")
    kind, value = CONDITIONS[condition]
    signal = np.asarray(signal, dtype=np.float32)
    rng = np.random.default_rng(seed)
    if kind == "none":
        return signal
    if kind == "gain":
        return gain(signal, value)
    if kind == "telephone":
        return telephone(signal, sampling_rate, rate=int(value))
    if kind in {"white", "pink"}:
        return add_noise(signal, value, 0.0 if kind == "white" else -3.01, rng)
    if kind == "room":
        return reverberate(signal, room_response(value, sampling_rate, seed=1000 + int(value * 10)))
    if kind == "excerpt":
        return excerpt(signal, int(round(value * sampling_rate)), rng)
    return resample(resample(signal, sampling_rate, int(value)), int(value), sampling_rate)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the random training perturbations (applied in this order)."""

    #: another voice: F0 and formants shifted together (a shorter or longer vocal tract). Off by
    #: default; the default recipe draws a second set of copies with it, with more noise and
    #: rooms (``emofuse.robustness.AUGMENTATIONS``): alone, with the default perturbations,
    #: 5 dB noise cost 10-15 points (benchmarks/results/unseen_voices.md)
    pitch_probability: float = 0.0
    semitones: tuple[float, float] = (-3.0, 3.0)
    #: another speaking rate (the pitch kept); off by default (above)
    tempo_probability: float = 0.0
    tempo: tuple[float, float] = (0.9, 1.1)
    gain_db: tuple[float, float] = (-30.0, 10.0)
    colouring_probability: float = 0.5
    colouring_db: float = 8.0
    room_probability: float = 0.5
    rt60: tuple[float, float] = (0.2, 1.0)
    rooms: int = 16
    noise_probability: float = 0.5
    snr_db: tuple[float, float] = (3.0, 30.0)
    channel_probability: float = 0.4

    def __post_init__(self) -> None:
        for name in ("pitch_probability", "tempo_probability", "colouring_probability", "room_probability",
                     "noise_probability", "channel_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")

    def cache_key(self) -> str:
        """The settings as part of an augmented copy's cache key: the ``repr``, without the
        voice and rate options while they are off (copies cached before they existed are still
        found: they draw nothing when off)."""
        off = {"pitch_probability", "semitones"} if not self.pitch_probability else set()
        off |= {"tempo_probability", "tempo"} if not self.tempo_probability else set()
        values = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.name not in off)
        return f"{type(self).__name__}({values})"


def augment(signal: np.ndarray, sampling_rate: int, *, seed: int, config: AugmentConfig | None = None) -> np.ndarray:
    """One random training copy of ``signal`` (reproducible from ``seed``)."""
    _require("audiomentations")
    import random

    import audiomentations

    config = config or AugmentConfig()
    rng = np.random.default_rng(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))  # audiomentations draws from the global generators
    out = np.asarray(signal, dtype=np.float32)
    # (no draw when off: copies drawn before these options existed stay the same)
    if config.pitch_probability and rng.random() < config.pitch_probability:  # another speaker's voice
        shift = audiomentations.PitchShift(min_semitones=config.semitones[0], max_semitones=config.semitones[1], p=1.0)
        out = shift(out, sample_rate=sampling_rate)
    if config.tempo_probability and rng.random() < config.tempo_probability:  # another speaking rate
        stretch = audiomentations.TimeStretch(min_rate=config.tempo[0], max_rate=config.tempo[1],
                                              leave_length_unchanged=False, p=1.0)
        out = stretch(out, sample_rate=sampling_rate)
    if rng.random() < config.colouring_probability:  # microphone colouring
        equaliser = audiomentations.SevenBandParametricEQ(min_gain_db=-config.colouring_db,
                                                          max_gain_db=config.colouring_db, p=1.0)
        out = equaliser(out, sample_rate=sampling_rate)
    if rng.random() < config.room_probability:
        rt60 = float(rng.uniform(*config.rt60))
        out = reverberate(out, room_response(round(rt60, 1), sampling_rate, seed=int(rng.integers(config.rooms))))
    if rng.random() < config.noise_probability:
        noise = audiomentations.AddColorNoise(min_snr_db=config.snr_db[0], max_snr_db=config.snr_db[1],
                                              min_f_decay=-6.0, max_f_decay=0.0, p=1.0)
        out = noise(out, sample_rate=sampling_rate)
    if rng.random() < config.channel_probability:
        if rng.random() < 0.5:
            out = telephone(out, sampling_rate)
        else:
            rate = int(rng.choice([8000, 11025, 22050, 44100, 48000]))
            out = resample(resample(out, sampling_rate, rate), rate, sampling_rate)
    out = audiomentations.Gain(min_gain_db=config.gain_db[0], max_gain_db=config.gain_db[1], p=1.0)(out, sample_rate=sampling_rate)
    return np.clip(out, -1.0, 1.0).astype(np.float32)
