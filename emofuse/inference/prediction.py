"""What a recogniser says about one utterance (:class:`Prediction`), and how it is put together
from the inputs and the systems' outputs."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Literal

import numpy as np

from emofuse.features import FeatureExtractor
from emofuse.features import check_finite
from emofuse.predictions import posterior_column

#: The answer when the calibrated confidence is below the recogniser's ``min_confidence``.
UNCERTAIN = "uncertain"


def discount_neutral(posteriors: np.ndarray, index: int, shares: np.ndarray | None = None) -> np.ndarray:
    """The posteriors (rows of a 2-D array each) tempered by how much emotion the text member
    gives the words: ``p ** (1 - n)`` renormalised, ``n`` being the share of class ``index``
    ("the words carry no emotion"). A lexically neutral sentence ("Say the word chair") then
    says little in either direction, neither outvoting an emotional voice nor vouching much for
    a neutral one; an emotional sentence keeps its say; an undecided (flat) one stays flat.
    ``shares`` gives ``n`` per row when ``posteriors`` were already tempered for another reason
    (a doubtful transcript), so that the words' emotion is judged on what the text member said
    of them, and the two factors multiply instead of the doubt being counted twice.

    >>> discount_neutral(np.array([0.8, 0.1, 0.1]), 0).round(2).tolist()
    [0.43, 0.28, 0.28]
    >>> discount_neutral(np.array([0.0, 0.9, 0.1]), 0).round(2).tolist()
    [0.0, 0.9, 0.1]
    """
    values = np.asarray(posteriors, dtype=np.float64)
    flat = values.reshape(-1, values.shape[-1])
    neutral = flat[:, index] if shares is None else np.asarray(shares, dtype=np.float64).reshape(-1)
    return np.stack([temper(row, 1.0 - float(n)) for row, n in zip(flat, neutral, strict=True)]).reshape(values.shape)


def temper(posteriors: np.ndarray, confidence: float) -> np.ndarray:
    """``posteriors ** confidence``, renormalised (uniform at confidence 0, unchanged at 1).

    >>> temper(np.array([0.9, 0.1]), 0.0).tolist()
    [0.5, 0.5]
    >>> temper(np.array([0.9, 0.1]), 1.0).round(3).tolist()
    [0.9, 0.1]
    """
    confidence = min(max(confidence, 0.0), 1.0)
    logs = confidence * np.log(np.clip(np.asarray(posteriors, dtype=np.float64), 1e-12, None))
    exp = np.exp(logs - logs.max())
    return exp / exp.sum()


@dataclasses.dataclass(frozen=True)
class Prediction:
    """What a recogniser says about one utterance.

    ``posteriors`` (class -> probability, in the recogniser's class order) and ``emotion`` (the
    most probable class) come from the categorical head; ``valence``, ``arousal`` and
    ``dominance`` (in [-1, 1] as trained) from a dimensional head. ``transcript`` is the text
    the text systems read, ``transcript_source`` says whether it was ``given``, came from
    ``asr``, or there was ``none``. ``systems`` names the trained systems that contributed and
    ``members`` holds their own outputs. ``warnings`` says what was odd about the input (no
    speech, clipping, a truncated file, ...); without speech, or when the input could not be
    used at all (``error`` says why), ``emotion`` is ``None`` and ``posteriors`` is empty.
    ``confidence`` is the calibrated probability of the top class (temperature-scaled on
    held-out speakers); below the recogniser's ``min_confidence`` the ``emotion`` is
    ``uncertain`` (the posteriors still say what it leaned to). ``transcript_confidence`` is
    the ASR engine's confidence in its transcript (it weights the text member), and
    ``adapted`` says whether the answer was adapted to the other recordings of the call.
    """

    emotion: str | None
    posteriors: dict[str, float]
    confidence: float | None = None
    valence: float | None = None
    arousal: float | None = None
    dominance: float | None = None
    transcript: str | None = None
    transcript_source: Literal["given", "asr", "none"] = "none"
    transcript_confidence: float | None = None
    adapted: bool = False
    systems: tuple[str, ...] = ()
    members: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    duration: float | None = None
    source: str | None = None
    warnings: tuple[str, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with ``None`` fields left out."""
        data = dataclasses.asdict(self)
        data["systems"] = list(self.systems)
        data["warnings"] = list(self.warnings)
        return {k: v for k, v in data.items() if v is not None and not (k in {"warnings", "adapted"} and not v)}

    def to_row(self) -> dict[str, Any]:
        """One flat row for CSV: ``p_<class>`` columns, no per-member outputs."""
        row: dict[str, Any] = {"source": self.source, "emotion": self.emotion, "confidence": self.confidence}
        row.update({posterior_column(c): p for c, p in self.posteriors.items()})
        for name in ("valence", "arousal", "dominance"):
            if getattr(self, name) is not None:
                row[name] = getattr(self, name)
        row.update({"transcript": self.transcript, "transcript_source": self.transcript_source,
                    "transcript_confidence": self.transcript_confidence,
                    "systems": "+".join(self.systems), "duration": self.duration,
                    "warnings": "; ".join(self.warnings), "error": self.error})
        return row


def input_columns(names: Iterable[str], extractors: Mapping[str, FeatureExtractor], signals: Sequence[np.ndarray | None],
                  transcripts: Sequence[str | None], *, sampling_rate: int, text_lock: threading.Lock,
                  modalities: Mapping[str, str] | None = None) -> dict[str, list[Any]]:
    """Each input's value per item (``None`` where the item lacks its modality): front-end
    features of the signals or transcripts, or the raw ``text`` / ``waveform``. With
    ``modalities`` (input name -> audio or text) a front-end is only touched when some item has
    its modality (a lazily built text encoder is not loaded for speech alone)."""
    from emofuse.audio.io import resample

    columns: dict[str, list[Any]] = {}
    usable_texts = [t if t else None for t in transcripts]
    for name in names:
        if name == "text":
            columns[name] = usable_texts
        elif name == "waveform":
            columns[name] = list(signals)
        elif (modalities[name] if modalities is not None else extractors[name].modality) == "text":
            present = [k for k, t in enumerate(usable_texts) if t is not None]
            column: list[Any] = [None] * len(usable_texts)
            if present:
                extractor = extractors[name]
                with text_lock:  # fast tokenizers are not safe across threads
                    arrays = extractor.extract_texts([usable_texts[k] for k in present])  # type: ignore[misc]
                for k, array in zip(present, arrays, strict=True):
                    column[k] = check_finite(array, f"{name} of text {usable_texts[k]!r:.40}")
            columns[name] = column
        else:
            column = []
            for signal in signals:
                if signal is None:
                    column.append(None)
                    continue
                extractor = extractors[name]
                if extractor.sampling_rate != sampling_rate:
                    signal = resample(signal, sampling_rate, extractor.sampling_rate)
                if extractor.max_duration is not None:
                    signal = signal[: int(extractor.max_duration * extractor.sampling_rate)]
                column.append(check_finite(extractor.extract(signal, extractor.sampling_rate), extractor.name))
            columns[name] = column
    return columns


def assemble_prediction(heads: Mapping[str, str], systems: Mapping[str, Any], order: Sequence[str],
                        outputs: Mapping[str, list[np.ndarray | None]], k: int, *, signal: np.ndarray | None,
                        transcript: str | None, origin: Literal["given", "asr", "none"], source: str | None,
                        sampling_rate: int) -> Prediction:
    """Item ``k``'s :class:`Prediction` from every system's outputs (the heads answer; the
    trained systems that contributed are listed with their own outputs)."""
    from emofuse.inference.directory import RecognizerError

    values: dict[str, Any] = {"posteriors": {}, "emotion": None}
    contributed: list[str] = []
    members: dict[str, dict[str, float]] = {}
    for task, head in heads.items():
        result = outputs[head][k]
        if result is None:
            missing = "audio" if signal is None else "text (no transcript was given and ASR is off or heard nothing)"
            raise RecognizerError(f"{source or 'item'}: the {task} head {head!r} needs {missing}")
        names = systems[head].outputs
        if task == "categorical":
            values["posteriors"] = {c: float(p) for c, p in zip(names, result, strict=True)}
            values["emotion"] = names[int(np.argmax(result))]
        else:
            values.update({n: float(v) for n, v in zip(names, result, strict=True) if n in {"valence", "arousal", "dominance"}})
        for name in order:
            system = systems[name]
            if not system.spec.members and outputs[name][k] is not None and name not in contributed:
                contributed.append(name)
                members[name] = {c: float(v) for c, v in zip(system.outputs, outputs[name][k], strict=True)}
    return Prediction(**values, transcript=transcript, transcript_source=origin, systems=tuple(contributed),
                      members=members if len(members) > 1 else {},
                      duration=None if signal is None else round(signal.size / sampling_rate, 3), source=source)
