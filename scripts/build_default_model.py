"""Build the bundled default recogniser (``emofuse/assets/default_model``) from ../shared data.

    .venv/bin/python scripts/build_default_model.py                  # speech, text (from the bundle), fusion, bundle
    .venv/bin/python scripts/build_default_model.py --text train     # also retrain the text member (35 min)
    .venv/bin/python scripts/build_default_model.py --examples       # only the example clips (espeak-ng)

Everything is chosen on held-out EmoDB speakers, never on the utterances it is scored on:

1. **Speech** (``SPEECH`` below): the ``robust_functionals`` front-end (level- and
   channel-invariant functionals, CREPE pitch movement without its absolute level, 8 cepstra,
   Silero speech timing) on every EmoDB utterance of the 4 classes and on ``COPIES`` augmented
   copies of each per source of ``AUGMENTATIONS`` (random gain -30..+10 dB, microphone
   colouring, rooms, coloured noise, telephone band and resampling; in the second source also
   another voice and speaking rate, more noise and more rooms: :func:`emofuse.audio.perturb.augment`),
   then class-balanced logistic regression.
   Leave-one-speaker-out (10 folds; the next speaker is the dev speaker that chooses C and fits
   the temperature) gives the speaker-independent accuracy and calibration. The bundled model
   is trained on all ten speakers with the C chosen in most folds; its temperature is fitted on
   the pooled out-of-fold predictions (every utterance scored by a model that never heard its
   speaker). Voices unlike any in training: trained on one sex's five speakers, tested on the
   other's (:func:`emofuse.robustness.cross_group`).
2. **Adapted speech** (``speech_adapted``): the same recipe on features standardised per speaker
   (per speaker and copy in training), for ``--adapt``; its front-end keeps the absolute pitch
   level (``ADAPTED_FRONT_END``), which the standardisation makes relative to the speaker's own;
   its own LOSO numbers and temperature.
3. **Text**: GoEmotions-Ekman mapped to 4 classes, frozen MiniLM + a linear head, kept as a
   classic (numpy) system. By default the text member already in the bundle is reused
   (``--text bundle``; it is converted to a ``logistic_regression`` system with identical
   outputs when it is still the older MLP form); ``--text train`` retrains it as before
   (GoEmotions train split cut into train / val, class-balanced caps, tested on the official
   dev split). Its temperature is fitted on the held-out ``val`` texts of the pairs below.
4. **Fusion on held-out pairs** (../shared/DATA.md): every EmoDB utterance paired with a
   GoEmotions text of the same class (``val`` texts for calibration, ``dev`` texts for
   testing). Per speech fold the weight of ``w log P_speech + (1 - w) log P_text`` (calibrated
   members) is fitted on the dev speaker's pairs and tested on the test speaker's; the
   bundled weight is fitted on all dev pairs pooled, and the fused temperature on the pooled
   fused dev pairs. The text member is fused tempered by how much emotion it gives the words
   (``p ** (1 - p[NEUTRAL_WORDS])``; :attr:`emofuse.inference.RecognizerConfig.neutral_words`),
   in fitting as in the bundle. **Lexically neutral words**: each EmoDB utterance fused with the English
   translation of the sentence its speaker said (``EMODB_SENTENCES``; the words carry no
   emotion, as in most acted corpora) against speech alone, with and without that tempering.
5. **Bundle**: ``speech``, ``speech_adapted``, ``text`` and ``fused`` with their temperatures,
   pocketsphinx as the default ASR; the numbers go into ``config.json`` (``metrics``),
   ``--work``/report.json and docs/MODEL_CARD.md (with a reliability diagram, ``docs/reliability.png``).

Features are cached under ``--work`` (default ``$TMPDIR/emofuse_default_model``); a re-run only
computes what is new. Nothing from ../shared is copied into the repository: only weights and
configs are written. The example clips are synthesised with espeak-ng (``apt-get install
espeak-ng``) from the sentences in ``EXAMPLES``.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import pathlib
import random
import subprocess
import tempfile

import numpy as np
import pandas as pd

from emofuse.robustness import ADAPTED_FRONT_END
from emofuse.robustness import AUGMENTATIONS
from emofuse.robustness import CLIP
from emofuse.robustness import COPIES
from emofuse.robustness import FRONT_END

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("EMOFUSE_SHARED", ROOT.parent / "shared"))
BUNDLE = ROOT / "emofuse" / "assets" / "default_model"
EXAMPLES_DIR = ROOT / "emofuse" / "assets" / "examples"
SEED = 0
CLASSES = ("neu", "hap", "sad", "ang")

log = logging.getLogger("build_default_model")

# ==== SPEECH SYSTEM ==============================================================================
# Core-install front-end only (numpy, scipy, onnxruntime): openSMILE's licence keeps it out of the default.
SPEECH = {
    "features": {"robust": FRONT_END},  # no absolute pitch level, 8 cepstra (chosen on speakers of the other sex)
    "adapted_features": {"robust_adapted": ADAPTED_FRONT_END},  # --adapt: the pitch level kept, made relative per speaker
    "copies": COPIES,                 # augmented training copies per utterance and source
    "augmentations": AUGMENTATIONS,   # the sources: the default perturbations; other voices, more noise and rooms
    "c_grid": [0.001, 0.01, 0.1, 1.0],
    "clip": CLIP,                     # standardised features clipped to [-3, 3], the default recipe's bound
}
# ================================================================================================

TEXT = {
    "features": {"minilm": {"name": "text_embedding", "model": "sentence-transformers/all-MiniLM-L6-v2", "pooling": "mean"}},
    "system": {
        "inputs": ["minilm"],
        "model": {"name": "mlp", "hidden_sizes": [], "dropout": 0.1},
        "training": {"max_epochs": 30, "batch_size": 64, "optimizer": "adam", "learning_rate": 3.0e-3,
                     "early_stopping_patience": 5},
    },
}
#: Class-balanced caps on the GoEmotions comments embedded for training and validation (the
#: MiniLM embeddings dominate the build time on a small CPU); the official dev split (the test
#: set) is used whole.
MAX_TRAIN_PER_CLASS = 2500
MAX_VAL_PER_CLASS = 400
FUSION = {"name": "late", "method": "weighted", "criterion": "UA", "grid_step": 0.01}
#: The text member's class for words without emotion (the text member is fused tempered by 1 - its share).
NEUTRAL_WORDS = "neu"
#: EmoDB's ten sentences in the English of its documentation, by text id: what the speakers
#: said, without emotion in the words.
EMODB_SENTENCES = {
    "a01": "The tablecloth is lying on the fridge.",
    "a02": "She will hand it in on Wednesday.",
    "a04": "Tonight I could tell him.",
    "a05": "The black sheet of paper is located up there beside the piece of timber.",
    "a07": "In seven hours it will be.",
    "b01": "What about the bags standing there under the table?",
    "b02": "They just carried it upstairs and now they are going down again.",
    "b03": "Currently at the weekends I always went home and saw Agnes.",
    "b09": "I will just discard this and then go for a drink with Karl.",
    "b10": "It will be in the place where we always store it.",
}

#: Example clips: (file stem, espeak-ng voice, speed wpm, pitch 0-99, amplitude, sentence).
EXAMPLES = [
    ("happy", "en-us+f2", 175, 75, 110, "This is wonderful news. I am so happy for you!"),
    ("sad", "en-us+f2", 115, 30, 70, "I miss her so much. Everything feels empty now."),
    ("angry", "en-us+f2", 190, 55, 180, "Get out of my office right now. I am furious with you!"),
]
#: The longer example: sentences one after another with pauses (a small dialogue turn).
LONG_EXAMPLE = [
    ("en-us+f2", 160, 45, 100, "Good morning. The meeting is at ten o'clock in the small office."),
    ("en-us+f2", 175, 75, 110, "Oh that is wonderful news, I love it, thank you so much!"),
    ("en-us+f2", 115, 30, 70, "But I miss my old team. I feel so sad and lonely without them."),
    ("en-us+f2", 190, 55, 180, "And stop interrupting me! I am furious, this is completely unacceptable!"),
]


def text_experiment(work: pathlib.Path, manifest: pathlib.Path) -> dict:
    return {
        "name": "default_text_goemotions4",
        "description": "Bundled default, text: GoEmotions-Ekman mapped to 4 classes; frozen MiniLM + linear head.",
        "data": {"manifest": str(manifest)},
        "task": {"type": "categorical", "class_weighting": "inverse_frequency"},
        "protocol": {"name": "official_splits", "train": "train", "dev": "val", "test": ["dev"]},
        "seeds": [SEED],
        "features": TEXT["features"],
        "extraction": {"cache_dir": str(work / "cache")},
        "systems": {"text": TEXT["system"]},
    }


def goemotions_manifest(work: pathlib.Path) -> pathlib.Path:
    """GoEmotions-Ekman, single-label, 4 classes; official train cut into train (90 %) and val."""
    from emofuse import prepare_goemotions

    manifest = prepare_goemotions(SHARED / "data" / "text" / "goemotions", taxonomy="ekman", single_label_only=True,
                                  label_map="goemotions_ekman_four_class").filter(lambda u: u.label is not None)
    rng = random.Random(SEED)
    split: dict[str, str] = {}
    by_class: dict[str, list[str]] = collections.defaultdict(list)
    for utterance in manifest:
        if utterance.metadata["split"] == "train":
            by_class[str(utterance.label)].append(utterance.id)
    for label in sorted(by_class):
        ids = sorted(by_class[label])
        rng.shuffle(ids)
        cut = round(0.1 * len(ids))
        split.update({i: "val" for i in ids[:cut][:MAX_VAL_PER_CLASS]})
        split.update({i: "train" for i in ids[cut:][:MAX_TRAIN_PER_CLASS]})
    manifest = manifest.filter(lambda u: u.metadata["split"] != "train" or u.id in split)
    manifest = manifest.map(lambda u: u.replace(metadata={**u.metadata, "split": split.get(u.id, u.metadata["split"])}))
    path = work / "goemotions_ekman4.csv"
    manifest.save(path)
    return path


def draw_texts(manifest_path: pathlib.Path, split: str, labels: dict[str, str], *, seed: int) -> dict[str, str]:
    """For each utterance id in ``labels``, a distinct text of the same class from ``split``."""
    frame = pd.read_csv(manifest_path, dtype={"id": str})
    frame = frame[frame["split"] == split]
    rng = random.Random(seed)
    pools = {}
    for label, group in frame.groupby("label"):
        texts = sorted(group["text"].astype(str).unique())
        rng.shuffle(texts)
        pools[label] = texts
    drawn = {}
    for identifier in sorted(labels):
        pool = pools[labels[identifier]]
        if not pool:
            raise SystemExit(f"not enough {labels[identifier]} texts in GoEmotions {split}")
        drawn[identifier] = pool.pop()
    return drawn


def emodb_speech(work: pathlib.Path) -> dict:
    """Features of EmoDB (4 classes) and its augmented copies; LOSO of the plain and the adapted
    recipe; the final systems trained on all ten speakers."""
    from emofuse import prepare_emodb
    from emofuse.calibration import apply_temperature
    from emofuse.calibration import expected_calibration_error
    from emofuse.calibration import fit_temperature
    from emofuse.robustness import cross_group
    from emofuse.robustness import fit_logistic
    from emofuse.robustness import front_end
    from emofuse.robustness import group_standardize
    from emofuse.robustness import leave_one_speaker_out
    from emofuse.robustness import recipe_features
    from emofuse.robustness import scores_of
    from emofuse.robustness import speech_system

    manifest = prepare_emodb(SHARED / "data" / "emodb", label_map="emodb_four_class").filter(lambda u: u.label is not None)
    utterances = list(manifest)
    labels = {u.id: str(u.label) for u in utterances}
    speakers = {u.id: str(u.speaker) for u in utterances}
    augmentations = {source: config.cache_key() for source, config in SPEECH["augmentations"].items()}
    study: dict = {}
    crossing = {}  # the features of the cross-sex study, plain and adapted (training and testing)
    for mode, adapt, features in (("speech", False, SPEECH["features"]), ("speech_adapted", True, SPEECH["adapted_features"])):
        (name, entry), = features.items()
        component = front_end(entry)
        training = recipe_features(component, utterances, copies=SPEECH["copies"], augmentations=SPEECH["augmentations"],
                                   cache_dir=work / "cache", num_workers=2)
        testing = {"clean": training["clean"]}
        train = training  # the final model: every speaker, clean + copies
        if adapt:  # each speaker (and copy) standardised with their own statistics, as --adapt per speaker
            train = {v: group_standardize(values, {i: f"{speakers[i]}|{v}" for i in values}) for v, values in training.items()}
        crossing["cross_sex_adapted" if adapt else "cross_sex"] = (
            train, {"clean": group_standardize(testing["clean"], speakers)} if adapt else testing)
        result = leave_one_speaker_out(training, testing, labels, speakers, CLASSES, c_grid=SPEECH["c_grid"], adapt=adapt,
                                       clip=SPEECH["clip"])
        ids, raw = result["raw"]["clean"]
        _, calibrated = result["calibrated"]["clean"]
        summary = {"raw": scores_of(ids, raw, labels, speakers, CLASSES),
                   "calibrated": scores_of(ids, calibrated, labels, speakers, CLASSES), "folds": result["folds"]}
        chosen = collections.Counter(f["C"] for f in result["folds"]).most_common(1)[0][0]
        temperature = fit_temperature([CLASSES.index(labels[i]) for i in ids], raw)
        rows = [(values[i], CLASSES.index(labels[i])) for values in train.values() for i in sorted(values)]
        arrays = fit_logistic(np.stack([r[0] for r in rows]).astype(np.float64), np.array([r[1] for r in rows]),
                              len(CLASSES), chosen, clip=SPEECH["clip"])
        system = speech_system(component, name, CLASSES, arrays, c=chosen, normalization="speaker" if adapt else "global",
                               fitted={"copies": SPEECH["copies"], "augmentations": augmentations}, clip=SPEECH["clip"])
        study[mode] = {"system": system, "temperature": temperature, "C": chosen, "loso": summary,
                       "ids": ids, "raw": raw, "calibrated": calibrated,
                       "ece_pooled_temperature": expected_calibration_error(
                           [labels[i] for i in ids], apply_temperature(raw, temperature), labels=CLASSES)}
        log.info("%s: LOSO UA %.1f ± %.1f (pooled %.1f), ECE %.3f -> %.3f, C %s, T %.2f", mode,
                 100 * summary["calibrated"]["UA_mean"], 100 * summary["calibrated"]["UA_std"],
                 100 * summary["calibrated"]["UA"], summary["raw"]["ECE"], summary["calibrated"]["ECE"], chosen, temperature)
    sexes = {str(u.speaker): str(u.gender) for u in utterances}
    for key, (training, testing) in crossing.items():
        crossed = cross_group(training, testing, labels, speakers, sexes, CLASSES, c_grid=SPEECH["c_grid"], clip=SPEECH["clip"])
        study[key] = {f"trained on {group}, tested on the others": {
            "C": part["C"], "dev_UA": part["dev_UA"], **scores_of(part["ids"], part["posteriors"], labels, speakers, CLASSES)}
            for group, part in crossed.items()}
        log.info("%s: trained on one sex, tested on the other: %s", key, ", ".join(
            f"{group} {100 * part['UA']:.1f} (top {part['top_class']} {100 * part['top_share']:.0f} %)"
            for group, part in study[key].items()))
    study["labels"], study["speakers"], study["folds"] = labels, speakers, study["speech"]["loso"]["folds"]
    study["sentences"] = {u.id: str(u.metadata["text_id"]) for u in utterances}
    study["augmentations"] = augmentations  # each copy source's settings, for the bundle's provenance
    return study


def text_member(work: pathlib.Path, retrain: bool):  # noqa: ANN201
    """The text system as a classic linear system: from the bundle, or retrained."""
    from emofuse.systems.base import load_system

    if retrain:
        from emofuse import load_experiment
        from emofuse import run_experiment
        from emofuse.inference.export import build_from_run

        goemotions = goemotions_manifest(work)
        run_experiment(load_experiment(text_experiment(work, goemotions)), work / "text", progress=True)
        recognizer = build_from_run(work / "text", system="text", asr="none")
        return as_classic(recognizer.systems["text"]), recognizer.config.metrics
    return as_classic(load_system(BUNDLE / "systems" / "text")), {}


def as_classic(system):  # noqa: ANN001, ANN201
    """A text system whose model is one linear layer on standardised embeddings (``mlp`` without
    hidden layers) as the identical ``logistic_regression`` classic system (numpy only)."""
    import dataclasses

    from emofuse.config import Component
    from emofuse.models.configs import LogisticRegressionConfig
    from emofuse.systems.base import build_system

    if system.spec.model.name == "logistic_regression":
        return system
    if system.spec.model.name != "mlp" or system.spec.model.config.hidden_sizes:
        raise SystemExit(f"cannot convert a {system.spec.model.name} text system to a linear one")
    state = system.state_dict()
    arrays = {"mean": state["standardizers.0.mean"], "scale": state["standardizers.0.std"],
              "classes": np.arange(len(system.outputs), dtype=np.float64),
              "coef": state["model.head.weight"], "intercept": state["model.head.bias"]}
    spec = dataclasses.replace(system.spec, model=Component("logistic_regression", LogisticRegressionConfig(c_grid=(1.0,))),
                               fitted={**system.spec.fitted, "converted_from": "mlp with a linear head (same outputs)"})
    converted = build_system(spec)
    converted.load_state_dict({k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()})
    return converted


def fusion_study(speech: dict, text_system, goemotions: pathlib.Path) -> dict:  # noqa: ANN001
    """Per speech fold: fit the fusion weight on the dev speaker's pairs, test on the test
    speaker's pairs; the pooled weight and the temperatures of the text member and of the fusion."""
    import threading

    from emofuse.calibration import apply_temperature
    from emofuse.calibration import expected_calibration_error
    from emofuse.calibration import fit_temperature
    from emofuse.evaluation.metrics import categorical_scores
    from emofuse.features import build_extractor
    from emofuse.fusion import LateFusion
    from emofuse.fusion import LateFusionConfig
    from emofuse.inference.prediction import discount_neutral
    from emofuse.inference.prediction import input_columns
    from emofuse.systems.base import SystemData

    labels, speakers = speech["labels"], speech["speakers"]
    calibration_texts = draw_texts(goemotions, "val", labels, seed=SEED)
    test_texts = draw_texts(goemotions, "dev", labels, seed=SEED + 1)
    assert not set(calibration_texts.values()) & set(test_texts.values())
    (feature_name, component), = text_system.spec.features.items()
    extractor = {feature_name: build_extractor(component)}

    def text_posteriors(texts: dict[str, str]) -> dict[str, np.ndarray]:
        ids = sorted(texts)
        columns = input_columns([feature_name], extractor, [None] * len(ids), [texts[i] for i in ids],
                                sampling_rate=16000, text_lock=threading.Lock(), modalities={feature_name: "text"})
        data = SystemData(tuple(ids), inputs={feature_name: dict(zip(ids, columns[feature_name], strict=True))})
        return dict(zip(ids, text_system.predict(data).scores, strict=True))

    text_dev_raw, text_test_raw = text_posteriors(calibration_texts), text_posteriors(test_texts)
    ids = sorted(text_dev_raw)
    text_truth = [CLASSES.index(labels[i]) for i in ids]
    text_temperature = fit_temperature(text_truth, np.stack([text_dev_raw[i] for i in ids]))
    text_dev = {i: apply_temperature(v[None], text_temperature)[0] for i, v in text_dev_raw.items()}
    text_test = {i: apply_temperature(v[None], text_temperature)[0] for i, v in text_test_raw.items()}
    neutral = CLASSES.index(NEUTRAL_WORDS)

    def fused_text(texts: np.ndarray) -> np.ndarray:  # the text member as the bundle fuses it
        return discount_neutral(texts, neutral)

    speech_posteriors = dict(zip(speech["speech"]["ids"], speech["speech"]["calibrated"], strict=True))
    config = LateFusionConfig(method=FUSION["method"], criterion=FUSION["criterion"], grid_step=FUSION["grid_step"])
    rows, pooled_speech, pooled_text, pooled_truth = [], [], [], []
    for fold in speech["folds"]:
        parts = {}
        for split, texts, who in (("dev", text_dev, fold["dev"]), ("test", text_test, fold["test"])):
            members = sorted(i for i, s in speakers.items() if s == who)
            parts[split] = (np.stack([speech_posteriors[i] for i in members]), np.stack([texts[i] for i in members]),
                            [labels[i] for i in members])
        speech_dev, text_dev_fold, truth_dev = parts["dev"]
        pooled_speech.append(speech_dev)
        pooled_text.append(text_dev_fold)
        pooled_truth += truth_dev
        fusion = LateFusion(config, task_type="categorical").fit([speech_dev, fused_text(text_dev_fold)],
                                                                np.array([CLASSES.index(t) for t in truth_dev]))
        speech_test, text_test_fold, truth_test = parts["test"]
        fused = fusion([speech_test, fused_text(text_test_fold)])
        row = {"fold": fold["test"], "weight_speech": fusion.weights[0], "n_test": len(truth_test)}
        for system, scores in (("speech", speech_test), ("text", text_test_fold), ("fused", fused)):
            result = categorical_scores(truth_test, [CLASSES[i] for i in scores.argmax(axis=1)], labels=list(CLASSES))
            row[f"{system}_UA"], row[f"{system}_WA"] = result["UA"], result["WA"]
        rows.append(row)
    folds = pd.DataFrame(rows)
    truth = np.array([CLASSES.index(t) for t in pooled_truth])
    speech_all, text_all = np.concatenate(pooled_speech), np.concatenate(pooled_text)
    fusion = LateFusion(config, task_type="categorical").fit([speech_all, fused_text(text_all)], truth)
    fused_dev = fusion([speech_all, fused_text(text_all)])
    fused_temperature = fit_temperature(truth, fused_dev)
    plain = LateFusion(config, task_type="categorical").fit([speech_all, text_all], truth)  # without the tempering
    said = {text_id: apply_temperature(v[None], text_temperature)[0] for text_id, v in text_posteriors(EMODB_SENTENCES).items()}
    neutral_words = {}
    for mode in ("speech", "speech_adapted"):
        ids = speech[mode]["ids"]
        truth_words = [labels[i] for i in ids]
        voice = np.asarray(speech[mode]["calibrated"])
        words = np.stack([said[speech["sentences"][i]] for i in ids])
        for name, scores in (("speech alone", voice), ("fused", fusion([voice, fused_text(words)])),
                             ("fused without the tempering", plain([voice, words]))):
            predicted = [CLASSES[k] for k in scores.argmax(axis=1)]
            top, count = collections.Counter(predicted).most_common(1)[0]
            neutral_words[f"{mode}: {name}"] = {
                "UA": categorical_scores(truth_words, predicted, labels=list(CLASSES))["UA"], "top_class": top,
                "top_share": count / len(predicted)}
        neutral_words[f"{mode}: weights"] = {"tempered": list(fusion.weights), "without the tempering": list(plain.weights)}
    log.info("lexically neutral words (EmoDB's sentences in English): %s", ", ".join(
        f"{k} {100 * v['UA']:.1f}" for k, v in neutral_words.items() if "UA" in v))
    summary = {f"{c}_{s}": float(getattr(folds[c], s)()) for c in folds.columns if c.endswith(("_UA", "_WA", "weight_speech"))
               for s in ("mean", "std")}
    return {"folds": folds.to_dict(orient="records"), "summary": summary,
            "pooled": {k: v.tolist() for k, v in fusion.state().items()},
            "temperatures": {"text": text_temperature, "fused": fused_temperature},
            "ece": {"text_val_raw": expected_calibration_error(text_truth, np.stack([text_dev_raw[i] for i in ids])),
                    "text_val_calibrated": expected_calibration_error(text_truth, np.stack([text_dev[i] for i in ids])),
                    "fused_dev_raw": expected_calibration_error(truth, fused_dev),
                    "fused_dev_calibrated": expected_calibration_error(truth, apply_temperature(fused_dev, fused_temperature))},
            "pairs": {"calibration": len(calibration_texts), "test": len(test_texts)}, "neutral_words": neutral_words}


def build(work: pathlib.Path, *, retrain_text: bool) -> None:
    import shutil

    from emofuse.calibration import plot_reliability
    from emofuse.calibration import reliability
    from emofuse.config import Component
    from emofuse.fusion import LateFusionConfig
    from emofuse.inference.directory import RecognizerConfig
    from emofuse.inference.directory import display_names
    from emofuse.inference.recognizer import Recognizer
    from emofuse.systems.base import SystemSpec
    from emofuse.systems.base import build_system

    for needed in (SHARED / "data" / "emodb", SHARED / "data" / "text" / "goemotions"):
        if not needed.exists():
            raise SystemExit(f"needs {needed} (../shared is not available)")
    work.mkdir(parents=True, exist_ok=True)
    log.info("1/4 speech: EmoDB 4 classes + augmented copies, leave-one-speaker-out")
    speech = emodb_speech(work)
    log.info("2/4 text member")
    text, text_metrics = text_member(work, retrain_text)
    log.info("3/4 fusion on held-out EmoDB x GoEmotions pairs")
    study = fusion_study(speech, text, goemotions_manifest(work))
    fusion = Component("late", LateFusionConfig(method=FUSION["method"], criterion=FUSION["criterion"], grid_step=FUSION["grid_step"]))
    fused = build_system(SystemSpec(task_type="categorical", outputs=CLASSES, members=("speech", "text"), fusion=fusion,
                                    fitted={"weights": study["pooled"]["weights"]}))
    fused.load_state_dict({"weights": np.asarray(study["pooled"]["weights"], dtype=np.float64)})
    temperatures = {"speech": speech["speech"]["temperature"], "speech_adapted": speech["speech_adapted"]["temperature"],
                    **study["temperatures"]}
    loso = {mode: {"raw": speech[mode]["loso"]["raw"], "calibrated": speech[mode]["loso"]["calibrated"],
                   "C": speech[mode]["C"], "folds": speech[mode]["loso"]["folds"]} for mode in ("speech", "speech_adapted")}
    metrics = {
        "speech_emodb_loso": {"protocol": "EmoDB 4 classes, leave-one-speaker-out, 10 folds (the next speaker chooses C "
                                          "and fits the temperature); one file at a time", **loso["speech"]},
        "speech_emodb_cross_sex": {"protocol": "EmoDB 4 classes, trained on the 5 speakers of one sex (C chosen by "
                                               "leave-one-speaker-out among them), tested on the 5 of the other; "
                                               "one file at a time, uncalibrated", **speech["cross_sex"]},
        "speech_adapted_emodb_loso": {"protocol": "as above, each speaker's test files standardised with their own "
                                                  "statistics (--adapt per speaker)", **loso["speech_adapted"]},
        "speech_adapted_emodb_cross_sex": {"protocol": "as the cross-sex row, every speaker (and training copy) "
                                                       "standardised with their own statistics (--adapt per speaker)",
                                           **speech["cross_sex_adapted"]},
        "text_goemotions_dev": text_metrics or {"note": "text member of the previous bundle, unchanged (61.3 % UA on the "
                                                        "GoEmotions-Ekman dev split, 4 classes)"},
        "fusion_heldout_pairs": {"protocol": "EmoDB x GoEmotions same-class pairs; per speech fold, weight fitted on the "
                                             "dev speaker's pairs (val texts), tested on the test speaker's pairs (dev "
                                             "texts); calibrated members", **study["summary"]},
        "fusion_neutral_words": {"protocol": "each EmoDB utterance's out-of-fold speech posteriors (LOSO, calibrated) "
                                             "fused with the bundled weight and the text member's posteriors of the English "
                                             "translation of the sentence its speaker said (words without emotion); the "
                                             "comparison without the tempering uses a weight fitted on the same pairs without it",
                                 **study["neutral_words"]},
        "calibration": {"temperatures": temperatures, **study["ece"]},
    }
    log.info("4/4 bundle")
    systems = {"speech": speech["speech"]["system"], "speech_adapted": speech["speech_adapted"]["system"], "text": text,
               "fused": fused}
    config = RecognizerConfig(
        name="emofuse-default-4class", heads={"categorical": "fused"}, systems=tuple(systems), asr="pocketsphinx",
        label_names=display_names(CLASSES),
        description="Speech (level- and channel-robust functionals with CREPE pitch movement and Silero speech timing, class-balanced "
                    "logistic regression; EmoDB with augmented copies, acted German) and text (frozen all-MiniLM-L6-v2 + "
                    "linear head, GoEmotions Reddit comments), temperature-calibrated on held-out speakers and texts, "
                    "weighted late fusion with the text member weighted by the transcript's confidence and by how much emotion "
                    "its words carry; pocketsphinx (US "
                    "English) transcribes when no text is given. Classes: neutral, happy, sad, angry. See docs/MODEL_CARD.md.",
        provenance={"script": "scripts/build_default_model.py",
                    "speech": {"corpus": "emodb", "label_map": "emodb_four_class", "copies": SPEECH["copies"],
                               "augmentations": speech["augmentations"],
                               "speakers": "all 10"},
                    "fusion": {"calibration": "pooled dev pairs of the 10 speech folds", "pairs": study["pairs"], "seed": SEED}},
        metrics=metrics, temperatures=temperatures, adaptation={"speech": "speech_adapted"}, neutral_words=NEUTRAL_WORDS,
    )
    shutil.rmtree(BUNDLE, ignore_errors=True)
    Recognizer(config, systems).save_pretrained(BUNDLE)
    log.info("wrote %s", BUNDLE)
    ids = speech["speech"]["ids"]
    truth = [speech["labels"][i] for i in ids]
    curves = {f"before (ECE {loso['speech']['raw']['ECE']:.3f})": reliability(truth, speech["speech"]["raw"], labels=CLASSES),
              f"temperature-scaled (ECE {loso['speech']['calibrated']['ECE']:.3f})":
                  reliability(truth, speech["speech"]["calibrated"], labels=CLASSES)}
    plot_reliability(curves, str(ROOT / "docs" / "reliability.png"),
                     title="speech member, EmoDB leave-one-speaker-out\n(temperature per fold from the dev speaker)")
    (work / "report.json").write_text(json.dumps(metrics, indent=2, default=float))
    log.info("measured:\n%s", json.dumps(metrics, indent=2, default=float))


def make_examples() -> None:
    """Synthesise the example clips (16 kHz mono 16-bit WAV) with espeak-ng."""
    import soundfile

    from emofuse.audio.io import read_audio

    EXAMPLES_DIR.mkdir(parents=True, exist_ok=True)

    def speak(voice: str, speed: int, pitch: int, amplitude: int, text: str) -> np.ndarray:
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp) / "speech.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(amplitude),
                            "-w", str(path), text], check=True)
            return read_audio(path, sampling_rate=16000)

    for stem, voice, speed, pitch, amplitude, text in EXAMPLES:
        signal = speak(voice, speed, pitch, amplitude, text)
        soundfile.write(EXAMPLES_DIR / f"{stem}.wav", signal, 16000, subtype="PCM_16")
    pause = np.zeros(int(0.6 * 16000), dtype=np.float32)
    parts = []
    for voice, speed, pitch, amplitude, text in LONG_EXAMPLE:
        parts += [speak(voice, speed, pitch, amplitude, text), pause]
    soundfile.write(EXAMPLES_DIR / "dialogue.wav", np.concatenate(parts), 16000, subtype="PCM_16")
    texts = {stem: text for stem, *_, text in EXAMPLES} | {"dialogue": " ".join(t for *_, t in LONG_EXAMPLE)}
    (EXAMPLES_DIR / "transcripts.csv").write_text(
        pd.DataFrame({"file": [f"{k}.wav" for k in texts], "text": list(texts.values())}).to_csv(index=False))
    log.info("wrote the example clips to %s", EXAMPLES_DIR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=pathlib.Path, default=pathlib.Path(tempfile.gettempdir()) / "emofuse_default_model",
                        help="runs and feature caches (resumable)")
    parser.add_argument("--examples", action="store_true", help="only synthesise the example clips")
    parser.add_argument("--text", choices=["bundle", "train"], default="bundle",
                        help="reuse the bundled text member (default) or retrain it")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("lightning", "lightning.pytorch", "lightning.fabric", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if arguments.examples:
        make_examples()
    else:
        build(arguments.work, retrain_text=arguments.text == "train")


if __name__ == "__main__":
    main()
