"""A trained emotion recogniser as a self-describing directory, and predictions from it.

A recogniser directory holds::

    config.json                 what it is: format version, the heads (which system answers the
                                categorical and/or dimensional question), its systems, the default
                                ASR, label names, versions, where it came from and its scores
    systems/<name>/system.json  every system it runs, saved by the System contract
    systems/<name>/model.safetensors                (exactly the files of a run's fold directory)
    encoders/<front-end>/       (optional) local language models that a front-end needs

Nothing is loaded through pickle. :meth:`Recognizer.from_pretrained` takes a directory, the
name of a bundled model (``default``) or a Hugging Face hub id; :meth:`Recognizer.save_pretrained`
writes the directory back. Calling a recogniser on audio (a path, the bytes of a file, or a
signal) and/or a transcript returns a :class:`Prediction`.

When a modality is missing for an utterance (no words from ASR, text without audio), score
fusions fuse the members that have their inputs, and the prediction names the systems that
contributed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import threading
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Literal

import numpy as np

import emofuse
from emofuse.asr.base import Transcriber
from emofuse.asr.base import build_transcriber
from emofuse.asr.base import check_asr
from emofuse.audio.io import AudioError
from emofuse.components import RAW_INPUTS
from emofuse.config import Component
from emofuse.config import ConfigError
from emofuse.config import parse
from emofuse.features import FeatureExtractor
from emofuse.files import atomic_write_text
from emofuse.files import library_versions
from emofuse.inference.checks import clean_text
from emofuse.inference.checks import inspect_signal
from emofuse.inference.checks import load_signal
from emofuse.inference.directory import CONFIG_NAME
from emofuse.inference.directory import FORMAT
from emofuse.inference.directory import SYSTEMS_DIR
from emofuse.inference.directory import RecognizerConfig
from emofuse.inference.directory import RecognizerError
from emofuse.inference.directory import check_versions
from emofuse.inference.directory import localize_features
from emofuse.inference.directory import portable_features
from emofuse.inference.directory import resolve_recognizer
from emofuse.inference.pipeline import LazyExtractors
from emofuse.inference.pipeline import run_systems
from emofuse.inference.pipeline import set_torch_threads
from emofuse.inference.prediction import UNCERTAIN
from emofuse.inference.prediction import Prediction
from emofuse.inference.prediction import assemble_prediction
from emofuse.systems.base import InvalidSystemError
from emofuse.systems.base import System
from emofuse.systems.base import load_system
from emofuse.systems.base import read_spec

log = logging.getLogger(__name__)

AudioSource = str | os.PathLike[str] | bytes | np.ndarray


class Recognizer:
    """Emotion from speech and words, as trained and exported by emofuse.

    >>> recognizer = Recognizer.from_pretrained("default")          # doctest: +SKIP
    >>> recognizer("call.wav").emotion                               # doctest: +SKIP
    'neu'
    """

    def __init__(self, config: RecognizerConfig, systems: Mapping[str, System], *, asr: str | None = None,
                 directory: pathlib.Path | None = None, speech_check: bool = True, adapt: bool = False,
                 min_confidence: float | None = None) -> None:
        self.config = config
        self.speech_check = speech_check
        if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
            raise RecognizerError(f"min_confidence must be in [0, 1], got {min_confidence}")
        self.min_confidence = min_confidence
        if adapt and not config.adaptation:
            log.info("%s has no adapted systems; adapt standardises nothing", config.name)
        self.adapt = adapt
        self.directory = directory
        self.systems = dict(systems)
        missing = [s for s in config.systems if s not in self.systems]
        if missing:
            raise RecognizerError(f"systems {missing} are listed but not given")
        self._order = self._system_order()
        self.features: dict[str, Component] = {}
        #: The systems that replace those of the order under adaptation.
        self._adapted = [self.config.adaptation[s] for s in self._order if s in self.config.adaptation]
        for name in self._order + self._adapted:  # an adapted system may read a front-end of its own
            for feature, component in self.systems[name].spec.features.items():
                if feature in self.features and self.features[feature] != component:
                    raise RecognizerError(f"front-end {feature!r} is configured differently in two systems")
                self.features[feature] = component
        self._modalities: dict[str, str] = dict(RAW_INPUTS)
        for name in self._order + self._adapted:
            self._modalities.update({i.name: i.modality for i in self.systems[name].spec.inputs})
        for name in sorted(self._needed_inputs() - set(RAW_INPUTS)):
            if name not in self.features:
                raise RecognizerError(f"input {name!r} has no front-end")
        #: Front-ends by input name, built on first use (a text encoder loads only when there is text).
        self.extractors: Mapping[str, FeatureExtractor] = LazyExtractors(
            {n: self.features[n] for n in self._needed_inputs() - set(RAW_INPUTS)})
        for task, head in config.heads.items():
            if self.systems[head].spec.task_type != task:
                raise RecognizerError(f"head {task!r}: system {head!r} is {self.systems[head].spec.task_type}")
        if config.neutral_words is not None and config.neutral_words not in self.classes:
            raise RecognizerError(f"neutral_words: {config.neutral_words!r} is not one of the classes {list(self.classes)}")
        self.asr = check_asr(asr) if asr is not None else config.asr
        self.transcriber: Transcriber | None = build_transcriber(self.asr) if self.reads_text else None
        self._text_lock = threading.Lock()  # fast tokenizers are not safe across threads

    def _system_order(self) -> list[str]:
        """The systems the heads need, members before the fusions that use them."""
        order: list[str] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in path:
                raise RecognizerError(f"system {name!r} is its own member (a cycle)")
            if name not in self.systems:
                raise RecognizerError(f"member {name!r} is not one of the recogniser's systems")
            for member in self.systems[name].spec.members:
                visit(member, (*path, name))
            if name not in order:
                order.append(name)

        for system in self.config.heads.values():
            visit(system, ())
        return order

    def _needed_inputs(self) -> set[str]:
        names = set(self._order) | set(self._adapted)
        return {i.name for s in names for i in self.systems[s].spec.inputs}

    # Loading and saving ---------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, source: str | os.PathLike[str] = "default", *, asr: str | None = None,
                        num_threads: int | None = None, speech_check: bool = True, adapt: bool = False,
                        min_confidence: float | None = None) -> Recognizer:
        """Load a recogniser from a directory, a bundled name (``default``) or a hub id; a
        directory exported to ONNX runs on onnxruntime (:mod:`emofuse.inference.onnx`).

        ``asr`` replaces the recogniser's default speech recogniser (``none``: no ASR).
        ``adapt`` makes :meth:`predict` adapt to the recordings it is given (see there);
        ``min_confidence`` turns answers whose calibrated confidence is lower into ``uncertain``.
        ``num_threads`` sets torch's intra-op threads for the whole process (``None``: leave
        them), or onnxruntime's per session (``None``: one). ``speech_check`` (on by default) runs the voice-activity and signal checks of
        :mod:`emofuse.inference.checks` before predicting. One thread is usually best for single utterances: the models are small, and
        with more threads than free cores (a busy machine, several workers) torch's threads
        wait on each other.
        """
        if num_threads is not None and num_threads < 1:
            raise RecognizerError(f"num_threads must be at least 1, got {num_threads}")
        directory = resolve_recognizer(source)
        config_path = directory / CONFIG_NAME
        try:
            data = json.loads(config_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RecognizerError(f"{directory} is not a recogniser directory (no {CONFIG_NAME})") from None
        except json.JSONDecodeError as error:
            raise RecognizerError(f"{config_path}: invalid JSON: {error}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RecognizerError(f"{config_path} does not describe an {FORMAT}")
        try:
            config = parse(RecognizerConfig, data)
        except ConfigError as error:
            raise RecognizerError(f"{config_path}: {error}") from None
        check_versions(config.versions, config_path)
        from emofuse.inference.onnx import is_onnx_recognizer
        from emofuse.inference.onnx import load_onnx_systems

        if is_onnx_recognizer(directory):  # ONNX export: onnxruntime, no torch
            systems = load_onnx_systems(directory, config, threads=num_threads)
            return cls(config, systems, asr=asr, directory=directory, speech_check=speech_check, adapt=adapt,
                       min_confidence=min_confidence)
        if num_threads is not None:
            set_torch_threads(num_threads)
        systems = {}
        for name in config.systems:
            system_dir = directory / SYSTEMS_DIR / name
            try:
                spec = read_spec(system_dir)
                spec = dataclasses.replace(spec, features=localize_features(spec.features, directory))
                systems[name] = load_system(system_dir, spec=spec)
            except InvalidSystemError as error:
                raise RecognizerError(f"system {name!r}: {error}") from None
        return cls(config, systems, asr=asr, directory=directory, speech_check=speech_check, adapt=adapt,
                   min_confidence=min_confidence)

    def save_pretrained(self, directory: str | os.PathLike[str]) -> pathlib.Path:
        """Write the recogniser to ``directory`` (``config.json``, a directory per system, and a
        copy of every local encoder directory that a front-end needs)."""
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name in self.config.systems:
            system = self.systems[name]
            portable = dataclasses.replace(system.spec, features=portable_features(system.spec.features, directory))
            original, system.spec = system.spec, portable
            try:
                system.save(directory / SYSTEMS_DIR / name)
            finally:
                system.spec = original
        config = dataclasses.replace(self.config, versions=self.config.versions or library_versions())
        atomic_write_text(directory / CONFIG_NAME, json.dumps(config.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return directory

    # Facts ------------------------------------------------------------------------------------
    @property
    def classes(self) -> tuple[str, ...]:
        """The class names of the categorical head (empty without one)."""
        head = self.config.heads.get("categorical")
        return self.systems[head].outputs if head else ()

    @property
    def targets(self) -> tuple[str, ...]:
        """The rating names of the dimensional head (empty without one)."""
        head = self.config.heads.get("dimensional")
        return self.systems[head].outputs if head else ()

    @property
    def sampling_rate(self) -> int:
        return self.config.sampling_rate

    def _input_modality(self, name: str) -> str:
        return self._modalities[name]

    def _system_modalities(self, name: str) -> set[str]:
        """The modalities system ``name`` reads (empty for a score fusion)."""
        return {self._modalities[i.name] for i in self.systems[name].spec.inputs}

    @property
    def reads_text(self) -> bool:
        return any(self._input_modality(i) == "text" for i in self._needed_inputs())

    @property
    def reads_audio(self) -> bool:
        return any(self._input_modality(i) == "audio" for i in self._needed_inputs())

    def describe(self) -> dict[str, Any]:
        """A short JSON-ready description (for ``/health`` and logs)."""
        return {
            "name": self.config.name,
            "classes": list(self.classes),
            "targets": list(self.targets),
            "modalities": [m for m, on in (("audio", self.reads_audio), ("text", self.reads_text)) if on],
            "asr": self.transcriber.spec if self.transcriber is not None else "none",
            "systems": self._order,
            "sampling_rate": self.sampling_rate,
            "emofuse_version": emofuse.__version__,
        }

    def warm_up(self) -> None:
        """Load the lazily loaded parts (language models, this thread's ASR decoder) by
        transcribing and predicting a short tone with a short text."""
        t = np.arange(self.sampling_rate) / self.sampling_rate
        signal = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        if self.reads_text:
            self.transcribe(signal)
        self.predict_signals([signal if self.reads_audio else None], texts=["warm up" if self.reads_text else None])

    # Prediction ---------------------------------------------------------------------------
    def __call__(self, audio: AudioSource | None = None, *, text: str | None = None, sampling_rate: int | None = None,
                 name: str | None = None) -> Prediction:
        """Predict one utterance from audio (path, file bytes, or a signal with its
        ``sampling_rate``) and/or its transcript ``text``; bad input raises a clear error."""
        if audio is None and text is None:
            raise ValueError("give audio, a transcript, or both")
        notes: list[str] = []
        signal = None if audio is None else self.load_audio(audio, sampling_rate=sampling_rate, name=name, warnings=notes)
        source = name or (str(audio) if isinstance(audio, str | os.PathLike) else None)
        return self.predict_signals([signal], texts=[text], sources=[source], warnings=[notes])[0]

    def predict(self, audios: Sequence[AudioSource | None], *, texts: Sequence[str | None] | None = None,
                sampling_rate: int | None = None, batch_size: int = 16,
                errors: Literal["return", "raise"] = "return", adapt: bool | None = None,
                speakers: Sequence[str | None] | None = None) -> list[Prediction]:
        """Predict many utterances, ``batch_size`` at a time: one result per input, in order.

        With ``errors="return"`` an input that cannot be predicted (an unreadable file, a missing
        modality) gives a :class:`Prediction` whose ``error`` says why, and the others are still
        predicted; ``errors="raise"`` raises at the first one.

        ``adapt`` (default: the recogniser's ``adapt`` option) is *transductive*, unsupervised
        adaptation: the systems named in ``config.adaptation`` are replaced by their adapted
        versions, whose inputs are standardised with the statistics of the recordings given here
        (per speaker when ``speakers`` names one per input, else all of them together); no label
        is used, but each answer then depends on the other recordings of the call. Give several
        recordings (ten or more per speaker); all inputs are then predicted as one batch.
        """
        if errors not in {"return", "raise"}:
            raise ValueError(f"errors must be 'return' or 'raise', got {errors!r}")
        if isinstance(audios, str | bytes | os.PathLike | np.ndarray):
            raise ValueError("predict takes a list of inputs; use recognizer(audio) for one")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        texts = list(texts) if texts is not None else [None] * len(audios)
        if len(texts) != len(audios):
            raise RecognizerError(f"{len(audios)} audio items but {len(texts)} texts")
        adapt = self.adapt if adapt is None else adapt
        if speakers is not None and len(speakers) != len(audios):
            raise RecognizerError(f"{len(audios)} audio items but {len(speakers)} speakers")
        if adapt:
            batch_size = max(len(audios), 1)
        results: list[Prediction] = []
        for start in range(0, len(audios), batch_size):
            chunk = list(audios[start : start + batch_size])
            sources = [str(a) if isinstance(a, str | os.PathLike) else None for a in chunk]
            signals: list[np.ndarray | None] = []
            notes: list[list[str]] = []
            failed: dict[int, str] = {}
            for k, audio in enumerate(chunk):
                notes.append([])
                try:
                    signals.append(None if audio is None else
                                   self.load_audio(audio, sampling_rate=sampling_rate, warnings=notes[-1]))
                except (AudioError, ValueError) as error:
                    if errors == "raise":
                        raise
                    signals.append(None)
                    failed[k] = str(error)
            ready = [k for k in range(len(chunk)) if k not in failed]
            groups = None
            if adapt:
                groups = [str(speakers[start + k]) if speakers is not None and speakers[start + k] is not None else ""
                          for k in ready]
            answered = self.predict_each([signals[k] for k in ready], [texts[start + k] for k in ready],
                                          [sources[k] for k in ready], [notes[k] for k in ready], errors=errors,
                                          groups=groups)
            by_item = dict(zip(ready, answered, strict=True))
            results += [by_item[k] if k in by_item else Prediction(emotion=None, posteriors={}, source=sources[k],
                                                                  error=failed[k]) for k in range(len(chunk))]
        return results

    def predict_each(self, signals: list[np.ndarray | None], texts: list[str | None], sources: list[str | None],
                     notes: list[list[str]], *, errors: str = "return",
                     groups: Sequence[str] | None = None) -> list[Prediction]:
        """:meth:`predict_signals`, but if an item fails the batch is predicted item by item, so
        that a bad item gets its ``error`` and the others are still predicted (when adapting,
        ``groups`` given, a failing batch fails as a whole: its statistics need every item)."""
        if not signals:
            return []
        try:
            return self.predict_signals(signals, texts=texts, sources=sources, warnings=notes, groups=groups)
        except (RecognizerError, ValueError) as error:
            if errors == "raise" or len(signals) == 1 or groups is not None:
                if errors == "raise":
                    raise
                return [Prediction(emotion=None, posteriors={}, source=source, error=str(error)) for source in sources]
        return [self.predict_each([s], [t], [n], [w], errors=errors)[0]
                for s, t, n, w in zip(signals, texts, sources, notes, strict=True)]

    def load_audio(self, audio: AudioSource, *, sampling_rate: int | None = None, name: str | None = None,
                   max_duration: float | None = None, warnings: list[str] | None = None) -> np.ndarray:
        """A mono float32 signal at the recogniser's rate from a path, file bytes or an array
        (problems that do not stop it, a truncated file, go to ``warnings``)."""
        return load_signal(audio, self.sampling_rate, sampling_rate=sampling_rate, name=name,
                           max_duration=max_duration, warnings=warnings)

    def transcribe(self, signal: np.ndarray) -> str | None:
        """The ASR transcript of a signal at the recogniser's rate (``None`` without ASR)."""
        if self.transcriber is None:
            return None
        return self.transcriber.transcribe(signal, self.sampling_rate)

    def transcribe_scored(self, signal: np.ndarray) -> tuple[str | None, float | None]:
        """The ASR transcript and the engine's confidence in it (0-1; ``None`` when the engine
        gives none), see :meth:`emofuse.asr.base.Transcriber.transcribe_scored`."""
        if self.transcriber is None:
            return None, None
        return self.transcriber.transcribe_scored(signal, self.sampling_rate)

    def predict_signals(self, signals: Sequence[np.ndarray | None], *, texts: Sequence[str | None] | None = None,
                        sources: Sequence[str | None] | None = None,
                        warnings: Sequence[Sequence[str]] | None = None, asr: bool = True,
                        groups: Sequence[str] | None = None,
                        transcript_confidences: Sequence[float | None] | None = None) -> list[Prediction]:
        """Predict a batch of signals (at :attr:`sampling_rate`, or ``None``) with optional texts.

        Each signal is checked first (:mod:`emofuse.inference.checks`): one without speech gives
        no emotion from its audio (the text alone answers, if there is one) and says why in
        ``warnings``, as do samples beyond full scale (the signal is then scaled down), clipping
        and a DC offset. Items without text are transcribed when the recogniser reads text and
        has ASR (``asr=False``: not in this call). ``warnings`` (one list per item) adds earlier
        notes, a truncated file say. ``groups`` (one name per item) adapts the systems of
        ``config.adaptation`` to these items, per group (see :meth:`predict`).

        A text system's posteriors are tempered by the confidence of the transcript it read
        (``transcript_confidences``, or the ASR engine's; given transcripts count as certain):
        ``p ** c`` renormalised, so that in log-linear fusion the text member's weight is
        multiplied by ``c`` and a transcript the ASR doubts cannot outvote the voice.
        """
        count = len(signals)
        texts = list(texts) if texts is not None else [None] * count
        sources = list(sources) if sources is not None else [None] * count
        notes = [list(w) for w in warnings] if warnings is not None else [[] for _ in range(count)]
        if len(texts) != count or len(sources) != count or len(notes) != count:
            raise RecognizerError("give one text (or None), one source (or None) and one warning list per signal")
        usable: list[np.ndarray | None] = []
        unheard: list[bool] = []
        for k, signal in enumerate(signals):
            unheard.append(False)
            if signal is None:
                usable.append(None)
                continue
            signal = np.asarray(signal)
            if signal.ndim != 1 or signal.size == 0 or not np.issubdtype(signal.dtype, np.number) \
                    or not np.all(np.isfinite(signal)):
                raise ValueError(f"{sources[k] or f'item {k}'}: a signal must be a non-empty, finite 1-D array "
                                 f"(got shape {signal.shape}, dtype {signal.dtype})")
            signal = signal.astype(np.float32)
            if self.speech_check and self.reads_audio:
                report = inspect_signal(signal, self.sampling_rate)
                notes[k] += report.warnings
                peak = float(np.max(np.abs(signal)))
                if peak > 1.0:
                    signal = signal / peak
                if not report.has_speech:
                    unheard[k] = True
                    signal = None
            usable.append(signal)
        transcripts: list[str | None] = []
        origins: list[Literal["given", "asr", "none"]] = []
        confidences: list[float | None] = []
        given_confidences = list(transcript_confidences) if transcript_confidences is not None else [None] * count
        if len(given_confidences) != count:
            raise RecognizerError("give one transcript confidence (or None) per signal")
        for k, (signal, text) in enumerate(zip(usable, texts, strict=True)):
            if text is not None and not isinstance(text, str):
                raise ValueError(f"{sources[k] or f'item {k}'}: a transcript must be a string, got {type(text).__name__}")
            if text is not None and text.strip():
                cleaned, problems = clean_text(text.strip())
                notes[k] += problems
                transcripts.append(cleaned)
                origins.append("given")
                confidences.append(given_confidences[k])
            elif asr and self.reads_text and signal is not None and self.transcriber is not None:
                heard, confidence = self.transcribe_scored(signal)
                transcripts.append(heard or "")
                origins.append("asr")
                confidences.append(confidence)
            else:
                transcripts.append(None)
                origins.append("none")
                confidences.append(None)
        outputs = self.system_outputs(usable, transcripts, groups=groups, transcript_confidences=confidences)
        results = []
        for k in range(count):
            if unheard[k] and not self._answers(outputs, k):
                results.append(Prediction(emotion=None, posteriors={}, transcript=transcripts[k],
                                          transcript_source=origins[k], duration=round(len(signals[k]) / self.sampling_rate, 3),  # type: ignore[arg-type]
                                          source=sources[k], warnings=tuple(notes[k])))
                continue
            prediction = self._prediction(k, outputs, usable[k], transcripts[k], origins[k], sources[k])
            duration = None if signals[k] is None else round(len(signals[k]) / self.sampling_rate, 3)  # type: ignore[arg-type]
            prediction = dataclasses.replace(prediction, warnings=tuple(notes[k]), duration=duration,
                                             transcript_confidence=None if confidences[k] is None else round(confidences[k], 4),
                                             adapted=groups is not None and bool(self.config.adaptation))
            results.append(self._judge(prediction))
        return results

    def _judge(self, prediction: Prediction) -> Prediction:
        """The prediction with its ``confidence`` (the calibrated top posterior), and
        ``uncertain`` as its emotion when that is below :attr:`min_confidence`."""
        if not prediction.posteriors:
            return prediction
        confidence = max(prediction.posteriors.values())
        prediction = dataclasses.replace(prediction, confidence=round(confidence, 4))
        if self.min_confidence is not None and confidence < self.min_confidence:
            return dataclasses.replace(prediction, emotion=UNCERTAIN)
        return prediction

    def _answers(self, outputs: Mapping[str, list[np.ndarray | None]], k: int) -> bool:
        """Whether every head has an output for item ``k``."""
        return all(outputs[head][k] is not None for head in self.config.heads.values())

    def system_outputs(self, signals: Sequence[np.ndarray | None], transcripts: Sequence[str | None], *,
                       groups: Sequence[str] | None = None,
                       transcript_confidences: Sequence[float | None] | None = None) -> dict[str, list[np.ndarray | None]]:
        """Every system's scores per item (``None`` where the system lacks an input), calibrated
        with the recogniser's temperatures; with ``groups``, adapted (see :meth:`predict`)."""
        return run_systems(self, signals, transcripts, groups=groups, transcript_confidences=transcript_confidences)

    def _prediction(self, k: int, outputs: Mapping[str, list[np.ndarray | None]], signal: np.ndarray | None,
                    transcript: str | None, origin: Literal["given", "asr", "none"], source: str | None) -> Prediction:
        return assemble_prediction(self.config.heads, self.systems, self._order, outputs, k, signal=signal,
                                   transcript=transcript, origin=origin, source=source, sampling_rate=self.sampling_rate)
