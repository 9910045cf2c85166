"""openSMILE feature sets (optional extra ``opensmile``): functionals and low-level descriptors.

- ``opensmile``: any openSMILE-python feature set (``IS09`` 384 functionals, ``eGeMAPSv02`` 88,
  ``ComParE_2016`` 6373, ...) at the ``functionals`` level (a vector per utterance), or its
  low-level descriptors (``lld``, ``lld_deltas``: ``(frames, dim)`` at a 10 ms hop).
- ``is09_windows``: IEmoNet's speech input (Heusser et al. 2019, after Tarantino et al. 2019):
  the 384 IS09 functionals computed by openSMILE over sliding windows of 300 ms moved by a
  tenth of a window (30 ms, i.e. 0.9 overlap), padded with zeros or truncated to 384 windows.
  An utterance shorter than one window gives one window of functionals over all of it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import pathlib
import tempfile
import warnings
from typing import Literal
from typing import get_args

import numpy as np

from emofuse.features import FeatureError
from emofuse.features import FeatureExtractor
from emofuse.registry import builds

log = logging.getLogger(__name__)

#: Feature sets of opensmile-python (``opensmile.FeatureSet`` names).
FeatureSet = Literal[
    "ComParE_2016",
    "GeMAPS",
    "GeMAPSv01b",
    "eGeMAPS",
    "eGeMAPSv01b",
    "eGeMAPSv02",
    "emobase",
    "IS09",
    "IS10",
    "IS11",
    "IS12",
    "IS13",
]
FEATURE_SETS: tuple[str, ...] = get_args(FeatureSet)
Level = Literal["functionals", "lld", "lld_deltas"]
LEVELS: tuple[str, ...] = get_args(Level)


def _opensmile():  # noqa: ANN202 (the optional module)
    try:
        import opensmile
    except ImportError:
        raise FeatureError("openSMILE features need the optional extra: pip install 'emofuse[opensmile]'") from None
    return opensmile


@dataclasses.dataclass(frozen=True)
class OpenSmileConfig:
    """An openSMILE feature set at one level. ``lld_deltas`` joins the descriptors with their
    deltas frame by frame (for sets that define deltas, such as IS09 and ComParE_2016).
    ``num_frames`` truncates descriptor sequences to that many frames and zero-pads shorter ones
    (IEmoNet-style fixed-length input; ``null`` keeps every frame)."""

    feature_set: FeatureSet = "ComParE_2016"
    level: Level = "functionals"
    num_frames: int | None = None
    sampling_rate: int = 16000
    max_duration: float | None = None

    def __post_init__(self) -> None:
        if self.feature_set.startswith(("eGeMAPS", "GeMAPS")) and self.level == "lld_deltas":
            raise ValueError(f"{self.feature_set} defines no delta descriptors; use level 'lld'")
        if self.num_frames is not None and (self.num_frames < 1 or self.level == "functionals"):
            raise ValueError("num_frames must be positive and applies to the lld and lld_deltas levels only")


@functools.lru_cache(maxsize=16)
def smile(feature_set: str, level: str, frame_mode: str | None = None):  # noqa: ANN201
    """An ``opensmile.Smile`` per process (building one parses its config files)."""
    opensmile = _opensmile()
    levels = {
        "functionals": opensmile.FeatureLevel.Functionals,
        "lld": opensmile.FeatureLevel.LowLevelDescriptors,
        "lld_deltas": opensmile.FeatureLevel.LowLevelDescriptors_Deltas,
    }
    options = {"frameModeFunctionalsConf": frame_mode} if frame_mode else None
    return opensmile.Smile(feature_set=opensmile.FeatureSet[feature_set], feature_level=levels[level], options=options)


def _process(engine, signal: np.ndarray, sampling_rate: int) -> np.ndarray:  # noqa: ANN001
    """Run openSMILE; its warnings (segments too short) and errors become ``FeatureError``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            frame = engine.process_signal(signal, sampling_rate)
        except (RuntimeError, ValueError) as error:
            raise FeatureError(f"openSMILE failed: {error}") from None
    return frame.to_numpy(dtype=np.float32)


def opensmile_features(signal: np.ndarray, sampling_rate: int, config: OpenSmileConfig) -> np.ndarray:
    """``(dim,)`` functionals or ``(frames, dim)`` descriptors of one signal."""
    if config.level == "functionals":
        return _process(smile(config.feature_set, "functionals"), signal, sampling_rate)[0]
    descriptors = _process(smile(config.feature_set, "lld"), signal, sampling_rate)
    if config.level == "lld_deltas":
        # deltas may have a frame or two more than the descriptors: keep the common frames
        deltas = _process(smile(config.feature_set, "lld_deltas"), signal, sampling_rate)
        frames = min(len(descriptors), len(deltas))
        descriptors = np.concatenate([descriptors[:frames], deltas[:frames]], axis=1)
    if len(descriptors) == 0:
        raise FeatureError(f"openSMILE {config.feature_set} returned no frames (signal of {signal.size / sampling_rate:.3f} s)")
    return descriptors if config.num_frames is None else fixed_length(descriptors, config.num_frames)


def fixed_length(frames: np.ndarray, num_frames: int, *, pad: bool = True) -> np.ndarray:
    """The first ``num_frames`` rows, zero-padded up to ``num_frames`` when ``pad``."""
    frames = frames[:num_frames]
    if pad and len(frames) < num_frames:
        frames = np.concatenate([frames, np.zeros((num_frames - len(frames), frames.shape[1]), frames.dtype)])
    return frames


@builds(OpenSmileConfig)
class OpenSmile(FeatureExtractor):
    """openSMILE functionals ``(dim,)`` or low-level descriptors ``(frames, dim)``."""

    def extract(self, signal: np.ndarray, sampling_rate: int) -> np.ndarray:
        return opensmile_features(signal, sampling_rate, self.config)


@dataclasses.dataclass(frozen=True)
class IS09WindowsConfig:
    """IS09 functionals over sliding windows of ``window_ms`` moved by ``stride`` of a window,
    truncated to ``num_frames`` windows and, with ``pad``, zero-padded up to it (``num_frames:
    null`` keeps every window)."""

    window_ms: float = 300.0
    stride: float = 0.1
    num_frames: int | None = 384
    pad: bool = True
    sampling_rate: int = 16000
    max_duration: float | None = None

    def __post_init__(self) -> None:
        if self.window_ms < 30:
            raise ValueError(f"window_ms must be at least 30 ms (several 10 ms IS09 frames), got {self.window_ms}")
        if not 0.0 < self.stride <= 1.0:
            raise ValueError(f"stride must be a fraction of the window in (0, 1], got {self.stride}")
        if self.num_frames is not None and self.num_frames < 1:
            raise ValueError("num_frames must be positive (or null)")


def frame_mode_file(window_s: float, step_s: float) -> str:
    """An openSMILE include file that makes functionals slide over fixed windows (written once
    per process into the temporary directory; the path depends only on its content)."""
    text = f"frameMode = fixed\nframeSize = {window_s:.6f}\nframeStep = {step_s:.6f}\nframeCenterSpecial = left\n"
    digest = hashlib.sha1(text.encode()).hexdigest()[:12]
    path = pathlib.Path(tempfile.gettempdir()) / f"emofuse-framemode-{digest}.conf.inc"
    if not path.is_file():
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".emofuse-framemode-")
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    return str(path)


def is09_windows(signal: np.ndarray, sampling_rate: int, config: IS09WindowsConfig) -> np.ndarray:
    """``(num_frames, 384)`` windowed IS09 functionals (``(windows, 384)`` without a fixed length)."""
    window_s = config.window_ms / 1000.0
    path = frame_mode_file(window_s, window_s * config.stride)
    windows = _process(smile("IS09", "functionals", path), signal, sampling_rate)
    windows = windows[np.all(np.isfinite(windows), axis=1)]  # openSMILE fills NaN for too-short input
    if len(windows) == 0:  # shorter than one window: the functionals of the whole signal
        windows = _process(smile("IS09", "functionals"), signal, sampling_rate)[:1]
    return windows if config.num_frames is None else fixed_length(windows, config.num_frames, pad=config.pad)


@builds(IS09WindowsConfig)
class IS09Windows(FeatureExtractor):
    """IEmoNet's SER input: ``(384, 384)`` IS09 functionals of 300 ms windows every 30 ms."""

    def extract(self, signal: np.ndarray, sampling_rate: int) -> np.ndarray:
        return is09_windows(signal, sampling_rate, self.config)
