"""Features of recordings as they would sound elsewhere: clean, under the named test conditions of
:mod:`emofuse.audio.perturb`, or as random augmented training copies; cached on disk.

Used by the default model's recipe (``scripts/build_default_model.py``: the speech member is
trained on EmoDB and its augmented copies) and by ``benchmarks/robustness.py`` (every test
utterance also perturbed). A cache entry is keyed by the front-end's config, the file (path,
size, modification time) and the condition or copy, so a re-run only computes what is new.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from emofuse.cache import FeatureCache
from emofuse.cache import default_cache_dir
from emofuse.config import Component
from emofuse.data.manifest import Utterance
from emofuse.features import FeatureExtractor
from emofuse.features import audio_key
from emofuse.features import build_extractor
from emofuse.features import check_finite


def _variant(component: Component, utterance: Utterance, variant: str, seed: int) -> np.ndarray:
    """One utterance's features under ``variant`` (``clean``, a condition, or ``copy<k>``)."""
    from emofuse.audio.io import read_utterance
    from emofuse.audio.perturb import augment
    from emofuse.audio.perturb import perturb

    extractor = _extractor(component)
    signal = read_utterance(utterance, sampling_rate=extractor.sampling_rate)
    if variant.startswith("copy"):
        signal = augment(signal, extractor.sampling_rate, seed=seed)
    elif variant != "clean":
        signal = perturb(signal, extractor.sampling_rate, variant, seed=seed)
    if extractor.max_duration is not None:
        signal = signal[: int(extractor.max_duration * extractor.sampling_rate)]
    return check_finite(extractor.extract(signal, extractor.sampling_rate), f"{utterance.audio} ({variant})")


_EXTRACTORS: dict[str, FeatureExtractor] = {}


def _extractor(component: Component) -> FeatureExtractor:
    key = repr(component)
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = build_extractor(component)
    return _EXTRACTORS[key]


def _seed(utterance: Utterance, variant: str) -> int:
    return int(FeatureCache.key(utterance.id, variant)[:8], 16)


def _work(component: Component, cache_dir: str, utterance: Utterance, variant: str, key: str) -> str | None:
    cache = FeatureCache(cache_dir, component.name, component.config)
    try:
        cache.save(key, _variant(component, utterance, variant, _seed(utterance, variant)))
    except ValueError as error:
        return str(error)
    return None


def variant_features(component: Component, utterances: Sequence[Utterance], variants: Sequence[str], *,
                     cache_dir: str | os.PathLike[str] | None = None, num_workers: int = 1,
                     progress: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """``{variant: {utterance id: features}}`` for every utterance under every variant:
    ``clean``, a test condition of :data:`emofuse.audio.perturb.CONDITIONS`, or ``copy<k>``
    (the k-th random augmented copy). Failures raise a ``ValueError`` naming them."""
    from emofuse.audio.perturb import CONDITIONS

    for variant in variants:
        if variant not in CONDITIONS and not (variant.startswith("copy") and variant[4:].isdigit()):
            raise ValueError(f"unknown variant {variant!r}: a test condition ({', '.join(CONDITIONS)}) or copy<k>")
    root = str(cache_dir or default_cache_dir())
    cache = FeatureCache(root, component.name, component.config)
    keys = {(u.id, v): FeatureCache.key(audio_key(u), v) for u in utterances for v in variants}
    todo = [(u, v) for u in utterances for v in variants if keys[(u.id, v)] not in cache]
    failures: dict[str, str] = {}
    if todo:
        description = f"{component.name} under {len(variants)} variants"
        if num_workers > 1:
            from joblib import Parallel
            from joblib import delayed

            jobs = Parallel(n_jobs=num_workers, return_as="generator", batch_size=4)(
                delayed(_work)(component, root, u, v, keys[(u.id, v)]) for u, v in todo)
            for (u, v), error in tqdm(zip(todo, jobs, strict=True), total=len(todo), desc=description, disable=not progress):
                if error:
                    failures[f"{u.id} ({v})"] = error
        else:
            for u, v in tqdm(todo, desc=description, disable=not progress):
                error = _work(component, root, u, v, keys[(u.id, v)])
                if error:
                    failures[f"{u.id} ({v})"] = error
    if failures:
        raise ValueError(f"{len(failures)} features failed: " + "; ".join(f"{k}: {m}" for k, m in list(failures.items())[:5]))
    result: dict[str, dict[str, np.ndarray]] = {v: {} for v in variants}
    for u in utterances:
        for v in variants:
            array = cache.load(keys[(u.id, v)])
            if array is None:
                raise ValueError(f"{u.id} ({v}): cache entry missing after extraction")
            result[v][u.id] = array
    return result
