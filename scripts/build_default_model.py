"""Build the bundled default recogniser (``emofuse/assets/default_model``) from ../shared data.

    .venv/bin/python scripts/build_default_model.py                # runs, fusion, bundle, numbers
    .venv/bin/python scripts/build_default_model.py --examples     # only the example clips (espeak-ng)

What it does, all through emofuse's own API, so that the bundle is an ordinary emofuse artifact:

1. **Speech**: ``run_experiment`` on EmoDB, 4 classes (``emodb_four_class``: neu, hap, sad, ang),
   leave-one-speaker-out (10 folds, the next speaker as dev) with the speech system of the
   ``SPEECH`` block below. Its mean ± std over folds is the speech model's speaker-independent
   accuracy.
2. **Text**: GoEmotions, Ekman taxonomy, single-label comments, mapped to the same 4 classes
   (``goemotions_ekman_four_class``). The official train split is cut (fixed seed, stratified)
   into ``train`` (90 %) and ``val`` (10 %), each capped per class (``MAX_TRAIN_PER_CLASS``,
   ``MAX_VAL_PER_CLASS``: class-balanced subsets, to keep the build short on a small CPU);
   ``run_experiment`` with ``official_splits`` trains the frozen-MiniLM + linear head on
   ``train``, selects the epoch on ``val`` and tests on the whole official ``dev`` split.
3. **Fusion on held-out pairs** (../shared/DATA.md "Bimodal evaluation"): every EmoDB utterance
   is paired with a GoEmotions text of the same class, drawn with a fixed seed and without
   replacement: a ``val`` text for calibration and a ``dev`` text for testing. No text is in
   the text model's training data, and calibration and test texts never overlap. In each
   speech fold, weighted late fusion (Padi et al.: ``w log P_speech + (1 - w) log P_text``) is
   fitted on the fold's dev speaker (speech posteriors of that fold's model + posteriors of
   the calibration texts) and tested on the fold's test speaker (test texts): the fused
   accuracy is the mean ± std over the 10 folds, next to speech-only and text-only accuracy
   on the same test pairs. The bundle's weight is fitted on the pooled dev pairs of all folds
   (every EmoDB utterance once, each scored by a speech model that never trained on it).
4. **Bundle**: the speech model of the fold with the best dev UA (``export`` default), the text
   model, and the pooled fusion weight, with pocketsphinx as the default ASR, written with
   ``save_pretrained``; the numbers go into its ``config.json`` (``metrics``) and are printed
   for docs/MODEL_CARD.md.

Runs and feature caches go to ``--work`` (default ``/tmp/emofuse_default_model``); a re-run
resumes finished folds. Nothing from ../shared is copied into the repository: only weights and
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

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("EMOFUSE_SHARED", ROOT.parent / "shared"))
BUNDLE = ROOT / "emofuse" / "assets" / "default_model"
EXAMPLES_DIR = ROOT / "emofuse" / "assets" / "examples"
SEED = 0

log = logging.getLogger("build_default_model")

# ==== SPEECH SYSTEM: the lead may upgrade this block (front-end and model); keep the keys. ======
# Core-install front-ends only (log-Mel based): opensmile and resemblyzer are optional extras.
SPEECH = {
    "features": {"logmel_stats": {"name": "logmel_stats", "n_mels": 64, "window_ms": 25, "hop_ms": 10}},
    "system": {
        "inputs": ["logmel_stats"],
        "model": {"name": "mlp", "hidden_sizes": [128], "dropout": 0.3},
        "training": {"max_epochs": 60, "batch_size": 32, "optimizer": "adam", "learning_rate": 1.0e-3,
                     "weight_decay": 1.0e-4, "early_stopping_patience": 15},
    },
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


def speech_experiment(work: pathlib.Path) -> dict:
    return {
        "name": "default_speech_emodb4",
        "description": "Bundled default, speech: EmoDB 4 classes, leave-one-speaker-out.",
        "data": {"corpus": {"name": "emodb", "path": str(SHARED / "data" / "emodb"), "label_map": "emodb_four_class"}},
        "task": {"type": "categorical", "class_weighting": "inverse_frequency"},
        "protocol": {"name": "leave_one_speaker_out", "dev": "next_speaker"},
        "seeds": [SEED],
        "features": SPEECH["features"],
        "extraction": {"cache_dir": str(work / "cache")},
        "systems": {"speech": SPEECH["system"]},
    }


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


def fusion_study(speech_run: pathlib.Path, text_recognizer, goemotions: pathlib.Path) -> dict:  # noqa: ANN001
    """Per speech fold: fit the fusion on dev pairs, test on test pairs; and the pooled weight."""
    from emofuse.evaluation.metrics import categorical_scores
    from emofuse.fusion import LateFusion
    from emofuse.fusion import LateFusionConfig
    from emofuse.rundir import RunDirectory

    classes = list(text_recognizer.classes)
    run = RunDirectory(speech_run)
    labels = {u.id: str(u.label) for u in run.manifest()}
    calibration_texts = draw_texts(goemotions, "val", labels, seed=SEED)
    test_texts = draw_texts(goemotions, "dev", labels, seed=SEED + 1)
    assert not set(calibration_texts.values()) & set(test_texts.values())

    def text_posteriors(texts: dict[str, str]) -> dict[str, np.ndarray]:
        ids = sorted(texts)
        predictions = text_recognizer.predict_signals([None] * len(ids), texts=[texts[i] for i in ids])
        return {i: np.array([p.posteriors[c] for c in classes]) for i, p in zip(ids, predictions, strict=True)}

    text_dev, text_test = text_posteriors(calibration_texts), text_posteriors(test_texts)
    config = LateFusionConfig(method=FUSION["method"], criterion=FUSION["criterion"], grid_step=FUSION["grid_step"])
    rows, pooled_speech, pooled_text, pooled_truth = [], [], [], []
    for fold in run.finished("speech", SEED):
        predictions = fold.predictions()
        parts = {}
        for split, texts in (("dev", text_dev), ("test", text_test)):
            part = predictions.select(split)
            text = np.stack([texts[i] for i in part.ids])
            parts[split] = (part.scores, text, part.truth_labels())
        speech_dev, text_dev_fold, truth_dev = parts["dev"]
        pooled_speech.append(speech_dev)
        pooled_text.append(text_dev_fold)
        pooled_truth += truth_dev
        fusion = LateFusion(config, task_type="categorical").fit([speech_dev, text_dev_fold],
                                                                np.array([classes.index(t) for t in truth_dev]))
        speech_test, text_test_fold, truth_test = parts["test"]
        fused = fusion([speech_test, text_test_fold])
        row = {"fold": fold.fold, "weight_speech": fusion.weights[0], "n_test": len(truth_test)}
        for system, scores in (("speech", speech_test), ("text", text_test_fold), ("fused", fused)):
            result = categorical_scores(truth_test, [classes[i] for i in scores.argmax(axis=1)], labels=classes)
            row[f"{system}_UA"], row[f"{system}_WA"] = result["UA"], result["WA"]
        rows.append(row)
    folds = pd.DataFrame(rows)
    pooled = LateFusion(config, task_type="categorical").fit(
        [np.concatenate(pooled_speech), np.concatenate(pooled_text)], np.array([classes.index(t) for t in pooled_truth]))
    summary = {f"{c}_{s}": float(getattr(folds[c], s)()) for c in folds.columns if c.endswith(("_UA", "_WA", "weight_speech"))
               for s in ("mean", "std")}
    return {"folds": folds.to_dict(orient="records"), "summary": summary,
            "pooled": {k: v.tolist() for k, v in pooled.state().items()},
            "pairs": {"calibration": len(calibration_texts), "test": len(test_texts)}}


def portable(provenance: dict) -> dict:
    """Provenance without this machine's paths (the run directory, the prepared manifest)."""
    data = dict(provenance.get("data", {}))
    if data.get("manifest"):
        data["manifest"] = f"<work>/{pathlib.Path(data['manifest']).name} (written by this script)"
    return {**{k: v for k, v in provenance.items() if k != "run"}, "data": data}


def build(work: pathlib.Path) -> None:
    from emofuse import load_experiment
    from emofuse import run_experiment
    from emofuse.config import Component
    from emofuse.fusion import LateFusionConfig
    from emofuse.inference.export import build_from_run
    from emofuse.inference.export import fuse_recognizers

    for needed in (SHARED / "data" / "emodb", SHARED / "data" / "text" / "goemotions"):
        if not needed.exists():
            raise SystemExit(f"needs {needed} (../shared is not available)")
    work.mkdir(parents=True, exist_ok=True)
    log.info("1/4 speech: EmoDB 4 classes, leave-one-speaker-out")
    speech_run = work / "speech"
    speech = run_experiment(load_experiment(speech_experiment(work)), speech_run, progress=True)
    log.info("2/4 text: GoEmotions-Ekman 4 classes")
    goemotions = goemotions_manifest(work)
    text_run = work / "text"
    text = run_experiment(load_experiment(text_experiment(work, goemotions)), text_run, progress=True)
    speech_recognizer = build_from_run(speech_run, system="speech", asr="none")
    text_recognizer = build_from_run(text_run, system="text", asr="none")
    log.info("3/4 fusion on held-out EmoDB x GoEmotions pairs")
    study = fusion_study(speech_run, text_recognizer, goemotions)
    (work / "fusion_study.json").write_text(json.dumps(study, indent=2))

    def headline(result) -> dict:  # noqa: ANN001
        row = result.summary.iloc[0]
        return {k: float(row[k]) for k in ("UA_mean", "UA_std", "WA_mean", "WA_std", "macro_F1_mean", "macro_F1_std", "runs")}

    metrics = {
        "speech_emodb_loso": {"protocol": "EmoDB 4 classes, leave-one-speaker-out, 10 folds, seed 0", **headline(speech)},
        "text_goemotions_dev": {"protocol": "GoEmotions-Ekman 4 classes, official dev split (trained on a class-balanced subset of train)",
                                **headline(text)},
        "fusion_heldout_pairs": {"protocol": "EmoDB x GoEmotions same-class pairs; per speech fold, weight fitted on the "
                                             "dev speaker's pairs (val texts), tested on the test speaker's pairs (dev texts)",
                                 **study["summary"]},
        "bundled_speech_fold": {**portable(speech_recognizer.config.provenance), **speech_recognizer.config.metrics},
    }
    log.info("4/4 bundle")
    fusion = Component("late", LateFusionConfig(method=FUSION["method"], criterion=FUSION["criterion"], grid_step=FUSION["grid_step"]))
    bundle = fuse_recognizers(
        {"speech": speech_recognizer, "text": text_recognizer},
        fusion,
        {"weights": study["pooled"]["weights"]},
        name="emofuse-default-4class",
        system="fused",
        asr="pocketsphinx",
        description="Speech (log-Mel statistics + MLP, EmoDB, acted German) and text (frozen all-MiniLM-L6-v2 + "
                    "linear head, GoEmotions Reddit comments), weighted late fusion calibrated on held-out "
                    "EmoDB x GoEmotions pairs; pocketsphinx (US English) transcribes when no text is given. "
                    "Classes: neutral, happy, sad, angry. See docs/MODEL_CARD.md.",
        provenance={
            "script": "scripts/build_default_model.py",
            "speech": portable(speech_recognizer.config.provenance),
            "text": portable(text_recognizer.config.provenance),
            "fusion": {"calibration": "pooled dev pairs of the 10 speech folds", "pairs": study["pairs"], "seed": SEED},
        },
        metrics=metrics,
    )
    import shutil

    shutil.rmtree(BUNDLE, ignore_errors=True)
    bundle.save_pretrained(BUNDLE)
    log.info("wrote %s", BUNDLE)
    log.info("measured:\n%s", json.dumps(metrics, indent=2))


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
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("lightning", "lightning.pytorch", "lightning.fabric", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if arguments.examples:
        make_examples()
    else:
        build(arguments.work)


if __name__ == "__main__":
    main()
