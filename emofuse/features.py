"""One feature contract for every front-end, audio or text.

An extractor is registered under a name with a config dataclass. Audio extractors implement
``extract(signal, sampling_rate) -> array``; text extractors ``extract_texts(texts) -> arrays``.
Arrays are ``(dim,)`` for utterance-level features or ``(frames, dim)`` for sequences.
:func:`extract_features` runs an extractor over a manifest with an on-disk cache keyed by the
config hash, optional worker processes and a progress bar; bad files are collected, named and
either raised after every good file is cached, or skipped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

from emofuse.cache import FeatureCache
from emofuse.cache import default_cache_dir
from emofuse.components import FEATURES
from emofuse.config import Component

if TYPE_CHECKING:  # pandas stays out of a recogniser's start-up
    from emofuse.data.manifest import Manifest
    from emofuse.data.manifest import Utterance

log = logging.getLogger(__name__)


class FeatureError(ValueError):
    """Features that could not be computed; names the utterances and files."""

    def __init__(self, message: str, failures: dict[str, str] | None = None):
        super().__init__(message)
        self.failures = failures or {}


class FeatureExtractor:
    """Base class of front-ends. Subclasses set ``modality`` and implement one extract method."""

    modality: ClassVar[Literal["audio", "text"]] = "audio"
    #: Whether extraction may run in worker processes (False for large neural models).
    parallel: ClassVar[bool] = True

    def __init__(self, config: Any) -> None:
        self.config = config
        self.name = type(self).__name__

    @property
    def sampling_rate(self) -> int:
        return int(getattr(self.config, "sampling_rate", 16000))

    @property
    def max_duration(self) -> float | None:
        return getattr(self.config, "max_duration", None)

    def extract(self, signal: np.ndarray, sampling_rate: int) -> np.ndarray:
        raise NotImplementedError(f"{self.name} does not extract from audio")

    def extract_texts(self, texts: Sequence[str]) -> list[np.ndarray]:
        raise NotImplementedError(f"{self.name} does not extract from text")

    @property
    def component(self) -> Component:
        return Component(self.name, self.config)

    def to(self, device: Any) -> FeatureExtractor:
        """Compute on ``device`` (a ``torch.device``): the extraction engine calls it once per
        process. Front-ends without a neural network ignore it."""
        return self


def build_extractor(component: Component) -> FeatureExtractor:
    extractor = FEATURES.build(component.name, component.config)
    extractor.name = component.name
    return extractor


@dataclasses.dataclass
class FeatureTable:
    """Features of a manifest: ``values[id]`` arrays, and the ids that failed with why."""

    name: str
    values: Mapping[str, np.ndarray]
    failures: dict[str, str]

    @property
    def is_sequence(self) -> bool:
        return next(iter(self.values.values())).ndim == 2 if self.values else False

    @property
    def dim(self) -> int:
        if not self.values:
            raise FeatureError(f"{self.name}: no features were extracted")
        return int(next(iter(self.values.values())).shape[-1])

    def __getitem__(self, identifier: str) -> np.ndarray:
        return self.values[identifier]


#: Content digests of audio files already read by this process, by (path, size, mtime, inode).
_DIGESTS: dict[tuple, str] = {}


def file_digest(path: str | os.PathLike[str]) -> str | None:
    """BLAKE2b digest of a file's bytes (``None`` when it cannot be read), remembered for the
    process while the file's size, modification time and inode stay the same."""
    path = pathlib.Path(path)
    try:
        stat = path.stat()
    except OSError:
        return None
    signature = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if signature not in _DIGESTS:
        import hashlib

        digest = hashlib.blake2b(digest_size=20)
        try:
            with path.open("rb") as stream:
                while chunk := stream.read(1 << 20):
                    digest.update(chunk)
        except OSError:
            return None
        _DIGESTS[signature] = digest.hexdigest()
    return _DIGESTS[signature]


def audio_key(utterance: Utterance) -> str:
    """A cache key of the audio's content and span: it changes when the bytes or the span change,
    and not when the corpus is copied, moved or touched (a fresh copy of a corpus hits the cache
    its original filled). Unreadable files get a key of their path, so that they fail when read."""
    digest = file_digest(utterance.audio or "")
    if digest is None:
        return FeatureCache.key(pathlib.Path(utterance.audio or "").resolve(), utterance.start, utterance.end)
    return FeatureCache.key("audio", digest, utterance.start, utterance.end)


def text_key(text: str) -> str:
    return FeatureCache.key("text", text)


def check_finite(array: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float32)
    if array.size == 0:
        raise FeatureError(f"{what}: the extractor returned no values")
    if not np.all(np.isfinite(array)):
        raise FeatureError(f"{what}: the extractor returned NaN or infinite values")
    return array


def _extract_audio_one(extractor: FeatureExtractor, cache: FeatureCache, utterance: Utterance, key: str) -> np.ndarray | str:
    """Extract and cache one utterance (cache key ``key``); its features, or the error message."""
    from emofuse.audio.io import AudioError
    from emofuse.audio.io import read_utterance

    try:
        signal = read_utterance(utterance, sampling_rate=extractor.sampling_rate)
        if extractor.max_duration is not None:
            signal = signal[: int(extractor.max_duration * extractor.sampling_rate)]
        features = check_finite(extractor.extract(signal, extractor.sampling_rate), f"{utterance.audio}")
    except (AudioError, FeatureError) as error:
        return str(error)
    cache.save(key, features)
    return features


def _extract_audio_in_worker(extractor: FeatureExtractor, cache: FeatureCache, utterance: Utterance, key: str) -> str | None:
    """:func:`_extract_audio_one` in a worker process: only the error travels back (the features
    are read from the cache, which is cheaper than pickling them)."""
    result = _extract_audio_one(extractor, cache, utterance, key)
    return result if isinstance(result, str) else None


def extract_features(
    extractor: FeatureExtractor,
    manifest: Manifest,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    num_workers: int = 1,
    on_error: Literal["raise", "skip"] = "raise",
    transcript: Literal["reference", "asr"] = "reference",
    progress: bool = True,
) -> FeatureTable:
    """Features of every utterance in ``manifest``, computed once and cached on disk.

    With ``on_error="raise"`` all good utterances are extracted and cached first, then a
    :class:`FeatureError` lists every failure; with ``"skip"`` failures are logged and left out.
    """
    if on_error not in {"raise", "skip"}:
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    cache = FeatureCache(cache_dir or default_cache_dir(), extractor.name, extractor.component)
    failures: dict[str, str] = {}
    computed: dict[str, np.ndarray] = {}  # extracted in this process: kept, not read back
    values: dict[str, np.ndarray] = {}
    if extractor.modality == "audio":
        keys = {u.id: audio_key(u) for u in manifest}
        for u in manifest:  # cache hits, each checked (see emofuse.cache)
            cached = cache.load(keys[u.id])
            if cached is not None:
                values[u.id] = cached
        todo = [u for u in manifest if u.id not in values]
        if todo:
            _run_audio(extractor, cache, todo, keys, failures, computed, num_workers=num_workers, progress=progress)
    else:
        texts = {}
        for u in manifest:
            text = u.transcript(transcript)
            if text is None or not text.strip():
                failures[u.id] = f"utterance {u.id} has no {transcript} transcript"
            else:
                texts[u.id] = text
        keys = {i: text_key(t) for i, t in texts.items()}
        for identifier in texts:
            cached = cache.load(keys[identifier])
            if cached is not None:
                values[identifier] = cached
        todo_texts = sorted({t for i, t in texts.items() if i not in values})
        if todo_texts:
            _run_text(extractor, cache, todo_texts, progress=progress)
    if cache.rejected:
        first = next(iter(cache.rejected.items()))
        log.warning("%s: %d cached entries were invalid and are computed again (first: %s)",
                    extractor.name, len(cache.rejected), first[1])
    for u in manifest:
        if u.id in failures or u.id in values:
            continue
        array = computed[u.id] if u.id in computed else cache.load(keys[u.id])
        if array is None:
            failures[u.id] = "cache entry missing after extraction"
            continue
        values[u.id] = array
    values = {u.id: values[u.id] for u in manifest if u.id in values}  # in manifest order
    if failures:
        listing = "\n".join(f"  {i}: {m}" for i, m in list(failures.items())[:20])
        more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
        message = f"{extractor.name}: {len(failures)} of {len(manifest)} utterances failed:\n{listing}{more}"
        if on_error == "raise":
            raise FeatureError(message + "\n(good utterances are cached; fix or drop these and re-run, or set on_error: skip)", failures)
        log.warning("%s\nThey are left out.", message)
    return FeatureTable(extractor.name, values, failures)


def _run_audio(
    extractor: FeatureExtractor,
    cache: FeatureCache,
    todo: list[Utterance],
    keys: dict[str, str],
    failures: dict[str, str],
    computed: dict[str, np.ndarray],
    *,
    num_workers: int,
    progress: bool,
) -> None:
    description = f"{extractor.name} features"
    if num_workers > 1 and extractor.parallel and len(todo) > 1:
        from joblib import Parallel
        from joblib import delayed

        jobs = Parallel(n_jobs=num_workers, return_as="generator", batch_size=8)(
            delayed(_extract_audio_in_worker)(extractor, cache, u, keys[u.id]) for u in todo
        )
        results = zip(todo, jobs, strict=True)
        for utterance, error in tqdm(results, total=len(todo), desc=description, disable=not progress):
            if error is not None:
                failures[utterance.id] = error
        return
    for utterance in tqdm(todo, desc=description, disable=not progress):
        result = _extract_audio_one(extractor, cache, utterance, keys[utterance.id])
        if isinstance(result, str):
            failures[utterance.id] = result
        else:
            computed[utterance.id] = result


def _run_text(extractor: FeatureExtractor, cache: FeatureCache, texts: list[str], *, progress: bool) -> None:
    """Texts in batches of similar length (each batch is padded to its longest text only)."""
    batch_size = int(getattr(extractor.config, "batch_size", 32))
    texts = sorted(texts, key=len)
    with tqdm(total=len(texts), desc=f"{extractor.name} features", disable=not progress) as bar:
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            for text, array in zip(batch, extractor.extract_texts(batch), strict=True):
                cache.save(text_key(text), check_finite(array, f"text {text[:40]!r}"))
            bar.update(len(batch))
