"""Features of recordings as they would sound elsewhere: clean, under the named test conditions of
:mod:`emofuse.audio.perturb`, or as random augmented training copies; cached on disk.

Used by the default model's recipe (``scripts/build_default_model.py``: the speech member is
trained on EmoDB and its augmented copies) and by ``benchmarks/robustness.py`` (every test
utterance also perturbed). A cache entry is keyed by the front-end's config, the audio's content
(:func:`emofuse.features.audio_key`) and the condition or copy (with the augmentation's
settings), so a re-run only computes what is new.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from emofuse.audio.perturb import AugmentConfig
from emofuse.cache import FeatureCache
from emofuse.cache import default_cache_dir
from emofuse.config import Component
from emofuse.data.manifest import Utterance
from emofuse.features import FeatureExtractor
from emofuse.features import audio_key
from emofuse.features import build_extractor
from emofuse.features import check_finite


def _variant(component: Component, utterance: Utterance, variant: str, seed: int,
             augmentation: AugmentConfig | None = None) -> np.ndarray:
    """One utterance's features under ``variant`` (``clean``, a condition, or ``copy<k>`` drawn
    with ``augmentation``)."""
    from emofuse.audio.io import read_utterance
    from emofuse.audio.perturb import augment
    from emofuse.audio.perturb import perturb

    extractor = _extractor(component)
    signal = read_utterance(utterance, sampling_rate=extractor.sampling_rate)
    if variant.startswith("copy"):
        signal = augment(signal, extractor.sampling_rate, seed=seed, config=augmentation)
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


def _work(component: Component, cache_dir: str, utterance: Utterance, variant: str, key: str,
          augmentation: AugmentConfig) -> str | None:
    cache = FeatureCache(cache_dir, component.name, component.config)
    try:
        cache.save(key, _variant(component, utterance, variant, _seed(utterance, variant), augmentation))
    except ValueError as error:
        return str(error)
    return None


def variant_features(component: Component, utterances: Sequence[Utterance], variants: Sequence[str], *,
                     cache_dir: str | os.PathLike[str] | None = None, num_workers: int = 1,
                     augmentation: AugmentConfig | None = None,
                     progress: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """``{variant: {utterance id: features}}`` for every utterance under every variant:
    ``clean``, a test condition of :data:`emofuse.audio.perturb.CONDITIONS`, or ``copy<k>``
    (the k-th random augmented copy, drawn with ``augmentation``, default :class:`~emofuse.audio.perturb.AugmentConfig`;
    its settings are part of the cache key). Failures raise a ``ValueError`` naming them."""
    from emofuse.audio.perturb import CONDITIONS

    augmentation = augmentation or AugmentConfig()

    for variant in variants:
        if variant not in CONDITIONS and not (variant.startswith("copy") and variant[4:].isdigit()):
            raise ValueError(f"unknown variant {variant!r}: a test condition ({', '.join(CONDITIONS)}) or copy<k>")
    root = str(cache_dir or default_cache_dir())
    cache = FeatureCache(root, component.name, component.config)
    keys = {(u.id, v): FeatureCache.key(audio_key(u), v, *([augmentation.cache_key()] if v.startswith("copy") else []))
            for u in utterances for v in variants}
    todo = [(u, v) for u in utterances for v in variants if keys[(u.id, v)] not in cache]
    failures: dict[str, str] = {}
    if todo:
        description = f"{component.name} under {len(variants)} variants"
        if num_workers > 1:
            from joblib import Parallel
            from joblib import delayed

            jobs = Parallel(n_jobs=num_workers, return_as="generator", batch_size=4)(
                delayed(_work)(component, root, u, v, keys[(u.id, v)], augmentation) for u, v in todo)
            for (u, v), error in tqdm(zip(todo, jobs, strict=True), total=len(todo), desc=description, disable=not progress):
                if error:
                    failures[f"{u.id} ({v})"] = error
        else:
            for u, v in tqdm(todo, desc=description, disable=not progress):
                error = _work(component, root, u, v, keys[(u.id, v)], augmentation)
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


# The default speech recipe --------------------------------------------------------------------

#: Standardised features are clipped to [-CLIP, CLIP] in the default recipe: one feature far
#: outside EmoDB's range (a voice or language never heard) cannot decide the answer alone. 3 is
#: the usual winsorising bound; on EmoDB leave-one-speaker-out it scores as without
#: (benchmarks/results/robust_groups.md).
CLIP = 3.0

#: Augmented training copies per utterance and source (:data:`AUGMENTATIONS`) in the default recipe.
COPIES = 8

#: The sources of the default recipe's augmented copies, :data:`COPIES` each: the default
#: perturbations (:class:`AugmentConfig`'s defaults) and copies that also sound like another voice
#: (F0 and formants shifted by up to 3 semitones, the rate by 0.9-1.1x, half of them each) with more
#: noise (75 %, 0-30 dB SNR) and more rooms (75 %). Chosen with :data:`FRONT_END` on EmoDB speakers
#: of the other sex (benchmarks/results/unseen_voices.md; since 2026-12-02).
AUGMENTATIONS: dict[str, AugmentConfig] = {
    "default": AugmentConfig(),
    "voice": AugmentConfig(pitch_probability=0.5, tempo_probability=0.5, noise_probability=0.75, snr_db=(0.0, 30.0),
                           room_probability=0.75),
}

#: The default recipe's speech front-end, as a feature entry of a config: ``robust_functionals``
#: without the absolute pitch level (``pitch_level``), which tells more about the speaker than
#: the emotion, and with 8 cepstra instead of 12: the high ones follow a higher voice's harmonics
#: more than the spectral envelope. Chosen on EmoDB speakers of the other sex (:func:`cross_group`;
#: docs/MODEL_CARD.md).
FRONT_END = {"name": "robust_functionals", "pitch_level": False, "n_cepstra": 8}

#: The front-end of the adapted speech member (``--adapt``): :data:`FRONT_END` with the absolute
#: pitch level kept. Standardised with each speaker's own statistics, the level no longer says who
#: speaks but how high this utterance is *for that speaker*, a classic cue of arousal. On EmoDB
#: with the recipe's copies (2026-12-02) the adapted member scored 84.0 ± 8.0 % UA leave one
#: speaker out (83.7 ± 7.1 without the level) and, trained on one sex and tested on the other,
#: 78.5 / 81.1 % (75.7 / 79.5 without; docs/MODEL_CARD.md).
ADAPTED_FRONT_END = {**FRONT_END, "pitch_level": True}


def front_end(entry: Mapping[str, object] = FRONT_END) -> Component:
    """A front-end entry (default :data:`FRONT_END`; or :data:`ADAPTED_FRONT_END`) as a component."""
    from emofuse.components import FEATURES
    from emofuse.config import parse

    options = {k: v for k, v in entry.items() if k != "name"}
    return Component(str(entry["name"]), parse(FEATURES.get(str(entry["name"])).config_class, options))


def recipe_features(component: Component, utterances: Sequence[Utterance], *, copies: int = COPIES,
                    augmentations: dict[str, AugmentConfig] | None = None, cache_dir: str | os.PathLike[str] | None = None,
                    num_workers: int = 1, progress: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """The training features of the default recipe: ``clean`` and ``copies`` augmented copies of
    every utterance per source of ``augmentations`` (default :data:`AUGMENTATIONS`), as
    ``{"clean": ..., "<source> copy<k>": ...}`` (see :func:`variant_features`)."""
    augmentations = AUGMENTATIONS if augmentations is None else augmentations
    variants = [f"copy{k}" for k in range(copies)]
    options = {"cache_dir": cache_dir, "num_workers": num_workers, "progress": progress}
    result = variant_features(component, utterances, ["clean"], **options)
    for source, augmentation in augmentations.items():
        drawn = variant_features(component, utterances, variants, augmentation=augmentation, **options)
        result.update({f"{source} {v}": values for v, values in drawn.items()})
    return result


def fit_logistic(features: np.ndarray, truth: np.ndarray, classes: int, c: float, *,
                 clip: float | None = CLIP) -> dict[str, np.ndarray]:
    """Class-balanced multinomial logistic regression on standardised features (clipped to
    ``[-clip, clip]`` when given), as the arrays of a ``logistic_regression``
    :class:`~emofuse.models.classic.ClassicModel` (balanced: each class weighs as much in the
    loss, so that the most frequent class is not favoured)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features)
    values = scaler.transform(features)
    if clip is not None:
        values = np.clip(values, -clip, clip)
    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(values, truth)
    if len(model.classes_) != classes:
        raise ValueError(f"the training data hold {len(model.classes_)} of the {classes} classes")
    return {"mean": scaler.mean_.copy(), "scale": scaler.scale_.copy(), "classes": model.classes_.astype(np.float64),
            "coef": model.coef_.copy(), "intercept": model.intercept_.copy()}


def speech_system(component: Component, input_name: str, classes: Sequence[str], arrays: dict[str, np.ndarray], *,
                  c: float, normalization: str = "global", fitted: dict | None = None,
                  clip: float | None = CLIP) -> object:
    """A fitted classic system (``logistic_regression`` on one front-end) from :func:`fit_logistic` arrays."""
    from emofuse.models.configs import LogisticRegressionConfig
    from emofuse.models.inputs import InputSpec
    from emofuse.systems.base import SystemSpec
    from emofuse.systems.base import build_system

    spec = SystemSpec(task_type="categorical", outputs=tuple(classes),
                      inputs=(InputSpec(input_name, "audio", "vector", int(arrays["mean"].size)),),
                      model=Component("logistic_regression", LogisticRegressionConfig(c_grid=(c,), clip=clip)),
                      normalization=normalization, features={input_name: component},  # type: ignore[arg-type]
                      fitted={"C": c, "class_weight": "balanced", **(fitted or {})})
    system = build_system(spec)
    system.load_state_dict(arrays)
    return system


def predict_arrays(arrays: dict[str, np.ndarray], features: np.ndarray, classes: int, *,
                   clip: float | None = CLIP) -> np.ndarray:
    """Posteriors of :func:`fit_logistic` arrays (the numpy path a recogniser runs)."""
    from emofuse.models.classic import ClassicModel
    from emofuse.models.configs import LogisticRegressionConfig

    model = ClassicModel("logistic_regression", LogisticRegressionConfig(clip=clip), classes)
    model.load_state(arrays)
    return model.predict_scores(features)


def group_standardize(features: dict[str, np.ndarray], groups: dict[str, str]) -> dict[str, np.ndarray]:
    """Each group's vectors standardised with the group's own mean and deviation (what
    ``--adapt`` does per speaker)."""
    from emofuse.training.inputs import speaker_standardize

    return dict(speaker_standardize(features, groups))  # type: ignore[arg-type]


def leave_one_speaker_out(training: dict[str, dict[str, np.ndarray]], testing: dict[str, dict[str, np.ndarray]],
                          labels: dict[str, str], speakers: dict[str, str], classes: Sequence[str], *,
                          c_grid: Sequence[float] = (0.001, 0.01, 0.1, 1.0), adapt: bool = False,
                          clip: float | None = CLIP, progress: bool = False) -> dict:
    """The default speech recipe under leave-one-speaker-out, as honest as the real use.

    ``training`` holds the features the models train on (``clean`` and augmented ``copy<k>``
    variants), ``testing`` those they are tested on (``clean`` and any test conditions). Per
    fold (one test speaker; the next speaker in sorted order is the dev speaker): C is chosen
    from ``c_grid`` by the dev speaker's clean UA, the model is trained on the other eight
    speakers, and its temperature is fitted on the dev speaker's clean predictions; the test
    speaker is then predicted under every test variant. With ``adapt`` every group (a speaker
    under one variant) is standardised with its own statistics, in training and testing.

    Returns ``{"folds": [...], "raw": {variant: (ids, posteriors)}, "calibrated": {...}}``, the
    test predictions of all folds pooled.
    """
    from emofuse.calibration import apply_temperature
    from emofuse.calibration import fit_temperature
    from emofuse.evaluation.metrics import unweighted_average_recall

    order = sorted(set(speakers.values()))
    index = {c: k for k, c in enumerate(classes)}

    def prepared(variants: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, np.ndarray]]:
        if not adapt:
            return variants
        return {v: group_standardize(values, {i: speakers[i] for i in values}) for v, values in variants.items()}

    training, testing = prepared(training), prepared(testing)

    def stack(variants: dict[str, dict[str, np.ndarray]], ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        rows = [(values[i], index[labels[i]]) for values in variants.values() for i in ids if i in values]
        return np.stack([r[0] for r in rows]).astype(np.float64), np.array([r[1] for r in rows])

    folds, raw, calibrated = [], {v: ([], []) for v in testing}, {v: ([], []) for v in testing}
    for position, test_speaker in enumerate(tqdm(order, desc="folds", disable=not progress)):
        dev_speaker = order[(position + 1) % len(order)]
        train_ids = sorted(i for i, s in speakers.items() if s not in {test_speaker, dev_speaker})
        dev_ids = sorted(i for i, s in speakers.items() if s == dev_speaker)
        test_ids = sorted(i for i, s in speakers.items() if s == test_speaker)
        features, truth = stack(training, train_ids)
        dev_features, dev_truth = stack({"clean": testing["clean"]}, dev_ids)
        best = None
        for c in c_grid:
            arrays = fit_logistic(features, truth, len(classes), c, clip=clip)
            dev_posteriors = predict_arrays(arrays, dev_features, len(classes), clip=clip)
            score = unweighted_average_recall(list(dev_truth), list(dev_posteriors.argmax(axis=1)),
                                              labels=sorted(set(dev_truth.tolist())))
            if best is None or score > best[0] + 1e-12:
                best = (score, c, arrays, dev_posteriors)
        assert best is not None
        dev_score, c, arrays, dev_posteriors = best
        temperature = fit_temperature(dev_truth, dev_posteriors)
        folds.append({"test": test_speaker, "dev": dev_speaker, "C": c, "dev_UA": dev_score, "temperature": temperature})
        for variant, values in testing.items():
            ids = [i for i in test_ids if i in values]
            if not ids:
                continue
            posteriors = predict_arrays(arrays, np.stack([values[i] for i in ids]).astype(np.float64), len(classes), clip=clip)
            raw[variant][0].extend(ids)
            raw[variant][1].append(posteriors)
            calibrated[variant][0].extend(ids)
            calibrated[variant][1].append(apply_temperature(posteriors, temperature))
    pack = {v: (ids, np.concatenate(parts)) for v, (ids, parts) in raw.items() if parts}
    return {"folds": folds, "raw": pack,
            "calibrated": {v: (ids, np.concatenate(parts)) for v, (ids, parts) in calibrated.items() if parts}}


def cross_group(training: dict[str, dict[str, np.ndarray]], testing: dict[str, dict[str, np.ndarray]],
                labels: dict[str, str], speakers: dict[str, str], groups: dict[str, str], classes: Sequence[str], *,
                c_grid: Sequence[float] = (0.001, 0.01, 0.1, 1.0), clip: float | None = CLIP) -> dict:
    """Voices unlike any in training: the default recipe trained on the speakers of one group
    (``groups`` maps a speaker to it, e.g. their sex) and tested on the clean utterances of every
    other group's speakers.

    Per training group, C is chosen by leave-one-speaker-out within that group (each of its
    speakers in turn is the dev speaker; mean dev UA), then the model is trained on all of the
    group's speakers (``training``: clean and copies) and predicts the others (``testing["clean"]``).
    Returns ``{group: {"C", "dev_UA", "ids", "posteriors"}}`` (uncalibrated posteriors).
    """
    from emofuse.evaluation.metrics import unweighted_average_recall

    index = {c: k for k, c in enumerate(classes)}
    unknown = sorted(set(speakers.values()) - set(groups))
    if unknown:
        raise ValueError(f"no group for speakers {unknown}")
    if len(set(groups.values())) < 2:
        raise ValueError("cross_group needs speakers of at least two groups")

    def stack(variants: dict[str, dict[str, np.ndarray]], members: set[str]) -> tuple[np.ndarray, np.ndarray]:
        rows = [(values[i], index[labels[i]]) for values in variants.values() for i in sorted(values)
                if speakers.get(i) in members]
        return np.stack([r[0] for r in rows]).astype(np.float64), np.array([r[1] for r in rows])

    result = {}
    for group in sorted(set(groups.values())):
        members = {s for s, g in groups.items() if g == group}
        if len(members) < 2:
            raise ValueError(f"group {group!r} has one speaker: C cannot be chosen on another")
        dev_scores = {}
        for c in c_grid:
            scores = []
            for dev in sorted(members):
                arrays = fit_logistic(*stack(training, members - {dev}), len(classes), c, clip=clip)
                features, truth = stack({"clean": testing["clean"]}, {dev})
                predicted = predict_arrays(arrays, features, len(classes), clip=clip).argmax(axis=1)
                scores.append(unweighted_average_recall(list(truth), list(predicted), labels=sorted(set(truth.tolist()))))
            dev_scores[c] = float(np.mean(scores))
        chosen = max(c_grid, key=dev_scores.__getitem__)  # the first of equals, as leave_one_speaker_out
        arrays = fit_logistic(*stack(training, members), len(classes), chosen, clip=clip)
        ids = sorted(i for i in testing["clean"] if speakers.get(i) not in members)
        posteriors = predict_arrays(arrays, np.stack([testing["clean"][i] for i in ids]).astype(np.float64),
                                    len(classes), clip=clip)
        result[group] = {"C": chosen, "dev_UA": dev_scores[chosen], "ids": ids, "posteriors": posteriors}
    return result


def scores_of(ids: Sequence[str], posteriors: np.ndarray, labels: dict[str, str], speakers: dict[str, str],
              classes: Sequence[str]) -> dict[str, float]:
    """UA (pooled and mean ± std over speakers), the share of the most predicted class, and ECE."""
    from emofuse.calibration import expected_calibration_error
    from emofuse.evaluation.metrics import unweighted_average_recall

    truth = [labels[i] for i in ids]
    predicted = [classes[k] for k in posteriors.argmax(axis=1)]
    per_speaker = []
    for speaker in sorted({speakers[i] for i in ids}):
        members = [k for k, i in enumerate(ids) if speakers[i] == speaker]
        present = sorted({truth[k] for k in members})
        per_speaker.append(unweighted_average_recall([truth[k] for k in members], [predicted[k] for k in members],
                                                     labels=present))
    counts = np.bincount(posteriors.argmax(axis=1), minlength=len(classes))
    return {"UA": float(unweighted_average_recall(truth, predicted, labels=list(classes))),
            "UA_mean": float(np.mean(per_speaker)), "UA_std": float(np.std(per_speaker)),
            "top_share": float(counts.max() / counts.sum()), "top_class": classes[int(counts.argmax())],
            "ECE": expected_calibration_error(truth, posteriors, labels=classes), "n": len(ids)}
