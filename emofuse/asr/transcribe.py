"""Transcribe a manifest's audio into its ``asr_text`` field, with an on-disk transcript cache.

Transcripts are cached per recogniser config (``<cache>/asr/<name>-<config hash>/``), one small
JSON file per utterance keyed by the audio file, its span and its size and modification time,
written atomically: an interrupted run resumes where it stopped and a finished one costs
nothing to repeat. Utterances whose audio cannot be read are collected and named; with
``on_error="raise"`` every good utterance is transcribed and cached first.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
from collections.abc import Sequence
from typing import Literal

from tqdm.auto import tqdm

from emofuse.asr.base import Transcriber
from emofuse.asr.base import TranscriptionError
from emofuse.asr.base import build_transcriber
from emofuse.asr.wer import word_error_rate
from emofuse.cache import default_cache_dir
from emofuse.config import Component
from emofuse.config import config_hash
from emofuse.config import to_dict
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance
from emofuse.files import atomic_write_text

log = logging.getLogger(__name__)


class TranscriptCache:
    """Transcripts by key in ``<root>/asr/<name>-<config hash>/``, one JSON file each."""

    def __init__(self, root: str | os.PathLike[str], component: Component) -> None:
        self.directory = pathlib.Path(root) / "asr" / f"{component.name}-{config_hash(component)}"
        self.directory.mkdir(parents=True, exist_ok=True)
        description = self.directory / "config.json"
        if not description.exists():
            atomic_write_text(description, json.dumps(to_dict(component), indent=2))

    def path(self, key: str) -> pathlib.Path:
        return self.directory / key[:2] / f"{key}.json"

    def load(self, key: str) -> str | None:
        try:
            return str(json.loads(self.path(key).read_text(encoding="utf-8"))["text"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, OSError):
            self.path(key).unlink(missing_ok=True)  # unreadable entry: transcribe again
            return None

    def save(self, key: str, identifier: str, text: str) -> None:
        atomic_write_text(self.path(key), json.dumps({"id": identifier, "text": text}, ensure_ascii=False))


def transcribe_manifest(
    manifest: Manifest,
    *,
    asr: str | Component | Transcriber = "pocketsphinx",
    cache_dir: str | os.PathLike[str] | None = None,
    on_error: Literal["raise", "skip"] = "raise",
    progress: bool = True,
) -> Manifest:
    """A new manifest with ``asr_text`` filled by the recogniser ``asr`` (``"pocketsphinx"``,
    ``"whisper"``, ``"whisper:<model>"``, a component or a recogniser object).

    ``asr_text`` is ``""`` when the recogniser heard nothing. The metadata key ``asr`` names the
    recogniser; the WER against the reference texts is logged (see :func:`manifest_word_error_rate`).
    With ``on_error="skip"`` utterances without readable audio keep ``asr_text`` unset.
    """
    from emofuse.audio.io import AudioError
    from emofuse.audio.io import read_utterance
    from emofuse.features import audio_key

    if on_error not in {"raise", "skip"}:
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    transcriber = build_transcriber(asr)
    cache = TranscriptCache(cache_dir or default_cache_dir(), transcriber.component)
    keys = {u.id: audio_key(u) for u in manifest}
    texts: dict[str, str] = {}
    failures: dict[str, str] = {}
    todo: list[Utterance] = []
    for utterance in manifest:
        cached = cache.load(keys[utterance.id])
        if cached is not None:
            texts[utterance.id] = cached
        elif not utterance.audio:
            failures[utterance.id] = f"utterance {utterance.id} has no audio path"
        else:
            todo.append(utterance)
    if todo:
        log.info("%s: transcribing %d utterances (%d cached)", transcriber.spec, len(todo), len(texts))
    with tqdm(total=len(todo), desc=f"{transcriber.name} transcripts", disable=not progress) as bar:
        for start in range(0, len(todo), transcriber.batch_size):
            batch: list[Utterance] = []
            signals = []
            for utterance in todo[start : start + transcriber.batch_size]:
                try:
                    signals.append(read_utterance(utterance, sampling_rate=transcriber.sampling_rate))
                    batch.append(utterance)
                except AudioError as error:
                    failures[utterance.id] = str(error)
            for utterance, text in zip(batch, transcriber.transcribe_batch(signals) if signals else [], strict=True):
                cache.save(keys[utterance.id], utterance.id, text)
                texts[utterance.id] = text
            bar.update(len(todo[start : start + transcriber.batch_size]))
    if failures:
        listing = "\n".join(f"  {i}: {m}" for i, m in list(failures.items())[:20])
        more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
        message = f"{transcriber.spec}: {len(failures)} of {len(manifest)} utterances could not be transcribed:\n{listing}{more}"
        if on_error == "raise":
            raise TranscriptionError(message + "\n(the others are cached; fix or drop these and re-run, or skip them)", failures)
        log.warning("%s\nTheir asr_text is left unset.", message)
    spec = transcriber.spec
    result = manifest.map(
        lambda u: u.replace(asr_text=texts[u.id], metadata={**u.metadata, "asr": spec}) if u.id in texts else u
    )
    wer = manifest_word_error_rate(result)
    if wer is not None:
        log.info("%s: WER %.1f %% against the reference texts", spec, 100 * wer)
    return result


def manifest_word_error_rate(manifest: Manifest, *, ids: Sequence[str] | None = None) -> float | None:
    """Corpus-level WER of ``asr_text`` against ``text`` over the utterances that have both
    (``None`` when none has)."""
    chosen = manifest if ids is None else manifest.subset(ids)
    pairs = [(u.text, u.asr_text) for u in chosen if u.text and u.text.strip() and u.asr_text is not None]
    if not pairs:
        return None
    return word_error_rate([r for r, _ in pairs], [h for _, h in pairs])
