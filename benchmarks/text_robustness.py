"""Robustness of the text model to transcription errors, on IEMOCAP_mini (4 classes).

The text model is trained on reference transcripts (leave one session out, 5 folds) and each
fold's test utterances are scored three times: with the reference transcripts, with simulated
ASR errors at 6 % WER (IEmoNet's setting) and with real pocketsphinx transcripts (cached under
``--cache-dir``). Two text models: the offline MiniLM fine-tuned (``lm_classifier`` with
IEmoNet's head: 768 units, dropout 0.2, L2 0.03, 48 tokens, fixed epochs) and, as a cheap
reference, frozen MiniLM sentence embeddings with logistic regression. UA is pooled over the
folds' test predictions. IEMOCAP's scripted dialogues share their text across sessions, which
makes text scores optimistic; the improvised-only UA is reported too.

Fusion with speech (issue 13: bad ASR must not pull the fused answer below speech alone): per
fold, a speech member (the default recipe's front-end, ``emofuse.robustness.FRONT_END``, with
class-balanced logistic regression on the clean recordings) and the frozen text member are
trained on reference transcripts; both are temperature-calibrated and the weight of
``w log P_speech + (1 - w) log P_text`` is chosen on held-out outputs (reference transcripts).
Each test condition is then fused twice: as is, and with the text member tempered by the
transcript's confidence (``P_text ** c``: given and simulated transcripts count as certain,
pocketsphinx gives its per-word hypothesis posterior). In both, the text member is fused
tempered by how much emotion it gives the words (``P ** (1 - P(neu))``, ``NEUTRAL_WORDS``;
``P(neu)`` read before the confidence's tempering, so that the two factors multiply), and the
weight is fitted with that in place: what the recogniser does.

The held-out outputs are fitted two ways (``FITS``):

- ``cross-fitted`` (the protocol the goal is read on): the temperatures and the weight are fitted
  on out-of-fold outputs over all of the fold's non-test sessions (an inner leave one session
  out: about 130 utterances, each scored by members that never saw its speakers), and the
  members are then retrained on all of them. Stacking as Wolpert (1992) fits it.
- ``dev part``: members trained on the fold's training part, temperatures and weight fitted on
  its dev part (20 %, about 26 utterances). UA on 26 utterances is flat over wide ranges of
  weights, and the weight it picks swings between folds (the results list each fold's); kept
  for comparison.

    python benchmarks/text_robustness.py --epochs 7
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks._common import ROOT  # noqa: E402
from benchmarks._common import markdown_table  # noqa: E402
from benchmarks._common import shared  # noqa: E402
from benchmarks._common import timer  # noqa: E402
from benchmarks._common import write_results  # noqa: E402
from benchmarks.text_common import predict_texts  # noqa: E402

log = logging.getLogger("text_robustness")
CONDITIONS = ("reference", "simulated 6 % WER", "pocketsphinx")
SYSTEMS = ("speech alone", "text alone", "fused", "fused, text weighted by transcript confidence")
NEUTRAL_WORDS = "neu"  # the text member is fused tempered by 1 - its share of it, as the recogniser does (RecognizerConfig.neutral_words)
FITS = ("cross-fitted", "dev part")  # how the fusion's temperatures and weight are fitted (see the docstring)
EMBEDDED: dict[str, np.ndarray] = {}  # sentence embeddings of every transcript, shared by the frozen model and fusion


def asr_confidences(manifest) -> dict[str, float]:
    """pocketsphinx's confidence in its transcript of every utterance (see ``transcribe_scored``)."""
    from emofuse.asr.base import build_transcriber
    from emofuse.audio.io import read_utterance

    transcriber = build_transcriber("pocketsphinx")
    return {u.id: transcriber.transcribe_scored(read_utterance(u), 16000)[1] for u in manifest}


def fusion(manifest, texts, confidences, folds, embedded, cache_dir: pathlib.Path) -> dict[str, dict]:
    """UA of speech alone, text alone, fused, and fused with the transcript's confidence, per
    condition, under both ways of fitting the fusion (:data:`FITS`)."""
    from sklearn.linear_model import LogisticRegression

    from emofuse.calibration import apply_temperature
    from emofuse.calibration import fit_temperature
    from emofuse.fusion import LateFusion
    from emofuse.fusion import LateFusionConfig
    from emofuse.inference.prediction import discount_neutral
    from emofuse.inference.prediction import temper
    from emofuse.robustness import fit_logistic
    from emofuse.robustness import front_end
    from emofuse.robustness import predict_arrays
    from emofuse.robustness import variant_features

    classes = sorted({u.label for u in manifest})
    neutral = classes.index(NEUTRAL_WORDS)
    speech = variant_features(front_end(), list(manifest), ["clean"], cache_dir=cache_dir)["clean"]
    size = len(next(iter(embedded.values())))

    def text_features(condition, ids):
        return np.stack([embedded.get(texts[condition][i], np.zeros(size, np.float32)) for i in ids])

    def truth(ids):
        return np.array([classes.index(manifest[i].label) for i in ids])

    def train(ids):
        """The speech member's arrays and the text member, fitted on ``ids`` (reference transcripts)."""
        arrays = fit_logistic(np.stack([speech[i] for i in ids]).astype(np.float64), truth(ids), len(classes), 0.1)
        text_model = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced").fit(
            text_features("reference", ids), truth(ids))
        return arrays, text_model

    def predict(members, ids, condition):
        arrays, text_model = members
        return (predict_arrays(arrays, np.stack([speech[i] for i in ids]).astype(np.float64), len(classes)),
                text_model.predict_proba(text_features(condition, ids)))

    def held_out(parts, fit):
        """Members, and their held-out outputs and truth on which temperatures and weight are fitted."""
        if fit == "dev part":
            members = train(parts["train"])
            return members, predict(members, parts["dev"], "reference"), truth(parts["dev"])
        pool = list(parts["train"]) + list(parts["dev"])
        order, speech_held, text_held = [], [], []
        for session in sorted({manifest[i].session for i in pool}):  # inner leave one session out
            inner_test = [i for i in pool if manifest[i].session == session]
            outputs = predict(train([i for i in pool if manifest[i].session != session]), inner_test, "reference")
            order += inner_test
            speech_held.append(outputs[0])
            text_held.append(outputs[1])
        return train(pool), (np.concatenate(speech_held), np.concatenate(text_held)), truth(order)

    results: dict[str, dict] = {}
    for fit in FITS:
        pooled: dict[str, dict[str, list]] = {}
        weights, sizes = [], []
        for parts in folds.values():
            members, (speech_held, text_held), truth_held = held_out(parts, fit)
            speech_temperature = fit_temperature(truth_held, speech_held)
            text_temperature = fit_temperature(truth_held, text_held)
            late = LateFusion(LateFusionConfig(method="weighted"), task_type="categorical").fit(
                [apply_temperature(speech_held, speech_temperature),
                 discount_neutral(apply_temperature(text_held, text_temperature), neutral)], truth_held)
            weights.append(late.weights[0])
            sizes.append(len(truth_held))
            test = parts["test"]
            for condition in CONDITIONS:
                speech_test, text_test = predict(members, test, condition)
                speech_test = apply_temperature(speech_test, speech_temperature)
                text_test = apply_temperature(text_test, text_temperature)
                heard = np.array([bool(texts[condition][i].strip()) for i in test])
                certainty = np.array([confidences[condition].get(i, 1.0) for i in test])
                tempered = np.stack([temper(row, c) for row, c in zip(text_test, certainty, strict=True)])
                outputs = {"speech alone": speech_test, "text alone": text_test,
                           "fused": np.where(heard[:, None], late([speech_test, discount_neutral(text_test, neutral)]), speech_test),
                           "fused, text weighted by transcript confidence":
                               np.where(heard[:, None], late([speech_test, discount_neutral(tempered, neutral, text_test[:, neutral])]),
                                        speech_test)}
                for system, scores in outputs.items():
                    entry = pooled.setdefault(system, {}).setdefault(condition, [[], []])
                    entry[0] += [manifest[i].label for i in test]
                    entry[1] += [classes[k] for k in scores.argmax(axis=1)]
        results[fit] = {system: {condition: {"UA": unweighted_recall(t, p, classes)} for condition, (t, p) in by_condition.items()}
                        for system, by_condition in pooled.items()}
        results[fit]["speech weight"] = {"mean": float(np.mean(weights)), "std": float(np.std(weights)),
                                         "per_fold": [float(w) for w in weights]}
        results[fit]["held-out utterances per fold"] = {"mean": float(np.mean(sizes))}
    return results


def transcripts(manifest, cache_dir: pathlib.Path) -> dict[str, dict[str, str]]:
    from emofuse.asr import transcribe_manifest
    from emofuse.text.noise import add_simulated_asr

    simulated = add_simulated_asr(manifest, wer=0.06, seed=0)
    recognised = transcribe_manifest(manifest, asr="pocketsphinx", cache_dir=cache_dir, progress=False)
    return {
        "reference": {u.id: u.text for u in manifest},
        "simulated 6 % WER": {u.id: simulated[u.id].asr_text for u in manifest},
        "pocketsphinx": {u.id: recognised[u.id].asr_text or "" for u in manifest},
    }


def unweighted_recall(truth, prediction, classes) -> float:
    from emofuse.evaluation.metrics import unweighted_average_recall

    return float(unweighted_average_recall(list(truth), list(prediction), labels=list(classes)))


def fine_tuned(manifest, texts, folds, output: pathlib.Path, arguments) -> dict[str, dict[str, float]]:
    from emofuse.experiment import load_experiment
    from emofuse.training import run_experiment

    manifest_path = manifest.save(output / "iemocap_mini.jsonl")
    config = load_experiment({
        "name": "text_robustness",
        "data": {"manifest": str(manifest_path)},
        "protocol": {"name": "leave_one_session_out", "dev_fraction": 0.2},
        "systems": {"minilm": {
            "inputs": ["text"],
            "model": {"name": "lm_classifier", "max_length": 48, "pooling": "mean", "hidden_size": 768,
                      "dropout": 0.2, "l2": 0.03},
            "training": {"optimizer": "adam", "learning_rate": arguments.learning_rate, "batch_size": 16,
                         "max_epochs": arguments.epochs, "selection": "last"},
        }},
    })
    run_experiment(config, output / "run", progress=False)
    return score_folds(manifest, texts, folds, lambda fold, ids, condition: predict_texts(
        output / "run" / "systems" / "minilm" / "seed_0" / fold, [texts[condition][i] for i in ids]))


def frozen(manifest, texts, folds) -> dict[str, dict[str, float]]:
    from sklearn.linear_model import LogisticRegression

    from emofuse.config import Component
    from emofuse.features import build_extractor
    from emofuse.pretrained import TextEmbeddingConfig

    extractor = build_extractor(Component("text_embedding", TextEmbeddingConfig(pooling="mean", normalize=True)))
    every = sorted({t for condition in texts.values() for t in condition.values() if t.strip()})
    embedded = dict(zip(every, [a for start in range(0, len(every), 32) for a in extractor.extract_texts(every[start : start + 32])], strict=True))
    EMBEDDED.update(embedded)
    size = len(next(iter(embedded.values())))

    def features(condition, ids):
        return np.stack([embedded.get(texts[condition][i], np.zeros(size, np.float32)) for i in ids])

    models = {}

    def predict(fold, ids, condition):
        if fold not in models:
            train = folds[fold]["train"]
            model = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced")
            models[fold] = model.fit(features("reference", train), [manifest[i].label for i in train])
        model = models[fold]
        return model.predict_proba(features(condition, ids)), list(model.classes_)

    return score_folds(manifest, texts, folds, predict)


def score_folds(manifest, texts, folds, predict) -> dict[str, dict[str, float]]:
    classes = sorted({u.label for u in manifest})
    scores = {}
    for condition in CONDITIONS:
        truth, prediction, improvised = [], [], []
        for fold, parts in folds.items():
            ids = parts["test"]
            outputs, names = predict(fold, ids, condition)
            truth += [manifest[i].label for i in ids]
            prediction += [names[k] for k in np.asarray(outputs).argmax(axis=1)]
            improvised += [not bool(manifest[i].metadata.get("scripted")) for i in ids]
        mask = np.array(improvised)
        scores[condition] = {
            "UA": unweighted_recall(truth, prediction, classes),
            "UA_improvised": unweighted_recall(np.array(truth)[mask], np.array(prediction)[mask], classes),
            "n": len(truth),
        }
    return scores


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--skip-fine-tuning", action="store_true", help="only the frozen-embedding model")
    parser.add_argument("--output", default=str(ROOT / "runs" / "text_robustness"))
    parser.add_argument("--cache-dir", default=str(ROOT / "runs" / "asr_cache"))
    arguments = parser.parse_args()

    from emofuse.asr import word_error_rate
    from emofuse.data.corpora.iemocap import prepare_iemocap
    from emofuse.data.protocols import LeaveOneSessionOutConfig
    from emofuse.data.protocols import leave_one_session_out

    output = pathlib.Path(arguments.output)
    output.mkdir(parents=True, exist_ok=True)
    manifest = prepare_iemocap(shared("fixtures", "IEMOCAP_mini"), out_of_scale="clip").filter(lambda u: u.label is not None and bool(u.text))
    texts = transcripts(manifest, pathlib.Path(arguments.cache_dir))
    ids = manifest.ids
    wer = {c: word_error_rate([texts["reference"][i] for i in ids], [texts[c][i] for i in ids]) for c in CONDITIONS}
    empty = {c: sum(not texts[c][i].strip() for i in ids) for c in CONDITIONS}
    folds = {f.name: {"train": f.train, "dev": f.dev, "test": f.test}
             for f in leave_one_session_out(LeaveOneSessionOutConfig(dev_fraction=0.2), manifest)}
    results: dict[str, dict] = {}
    with timer() as elapsed_frozen:
        results["frozen MiniLM + logistic regression"] = frozen(manifest, texts, folds)
    confidences = {"reference": {}, "simulated 6 % WER": {}, "pocketsphinx": asr_confidences(manifest)}
    with timer() as elapsed_fusion:
        fused = fusion(manifest, texts, confidences, folds, EMBEDDED, pathlib.Path(arguments.cache_dir) / "features")
    if not arguments.skip_fine_tuning:
        with timer() as elapsed_tuned:
            results["fine-tuned MiniLM (IEmoNet head)"] = fine_tuned(manifest, texts, folds, output, arguments)
    carried = None
    previous = ROOT / "benchmarks" / "results" / "text_robustness.json"
    if arguments.skip_fine_tuning and previous.is_file():  # keep the last fine-tuned rows, marked with their date
        import json

        old = json.loads(previous.read_text())
        key = "fine-tuned MiniLM (IEmoNet head)"
        found = [k for k in old.get("results", {}) if k.startswith(key)]  # carried before: "<key> (not re-run: ...)"
        if found:
            carried = old.get("fine_tuned_date") or old.get("date")
            results[f"{key} (not re-run: {carried[:10]})"] = old["results"][found[0]]
    rows = []
    for model, scores in results.items():
        for condition in CONDITIONS:
            rows.append([model, condition, f"{100 * wer[condition]:.1f}", f"{100 * scores[condition]['UA']:.1f}",
                         f"{100 * scores[condition]['UA_improvised']:.1f}"])
    fusion_rows = [[fit, system] + [f"{100 * fused[fit][system][c]['UA']:.1f}" for c in CONDITIONS]
                   for fit in FITS for system in fused[fit] if system in SYSTEMS]
    asr_confidence = list(confidences["pocketsphinx"].values())
    data = {
        "fusion": fused,
        "fine_tuned_date": carried,
        "fusion_seconds": elapsed_fusion["seconds"],
        "pocketsphinx_confidence": {"mean": float(np.mean(asr_confidence)), "std": float(np.std(asr_confidence))},
        "corpus": "IEMOCAP_mini (4 classes)",
        "utterances": len(manifest),
        "protocol": "leave one session out (5 folds); trained on reference transcripts, tested on each condition",
        "wer": wer,
        "empty_transcripts": empty,
        "results": results,
        "fine_tuning": {"epochs": arguments.epochs, "learning_rate": arguments.learning_rate,
                        "seconds": None if arguments.skip_fine_tuning else elapsed_tuned["seconds"]},
        "frozen_seconds": elapsed_frozen["seconds"],
        "note": "2 CPU cores shared with other jobs.",
    }
    markdown = (
        f"IEMOCAP_mini, {len(manifest)} utterances (4 classes), leave one session out; the text model is trained "
        "on reference transcripts and tested on each kind of transcript. UA pooled over the 5 folds' test sets "
        f"(improvised dialogues only in the last column). pocketsphinx left {empty['pocketsphinx']} transcripts empty "
        "(scored as empty texts).\n\n"
        + markdown_table(["text model", "test transcripts", "WER %", "UA %", "UA % (improvised)"], rows)
        + "\nSpeech + text (frozen MiniLM + logistic regression), both calibrated, log-linear fusion; UA % pooled over "
          "the 5 folds. Fit `cross-fitted` (the goal's protocol): temperatures and weight fitted on out-of-fold outputs "
          "of an inner leave one session out over the fold's non-test sessions "
          f"({fused['cross-fitted']['held-out utterances per fold']['mean']:.0f} utterances per fold; speech weight "
          f"{fused['cross-fitted']['speech weight']['mean']:.2f} ± {fused['cross-fitted']['speech weight']['std']:.2f}), "
          "members retrained on all of them. Fit `dev part`: fitted on the fold's 20 % dev part "
          f"({fused['dev part']['held-out utterances per fold']['mean']:.0f} utterances; speech weight "
          f"{fused['dev part']['speech weight']['mean']:.2f} ± {fused['dev part']['speech weight']['std']:.2f}). "
          "The text member is fused tempered by how much emotion it gives the words (P ** (1 - P(neu)), as the "
          "recogniser does). The last row of each also tempers it by the transcript's confidence "
          f"(pocketsphinx: {np.mean(asr_confidence):.2f} ± {np.std(asr_confidence):.2f} on these utterances; given and "
          "simulated transcripts: 1).\n\n"
        + markdown_table(["fusion fitted on", "system", *CONDITIONS], fusion_rows)
    )
    log.info("wrote %s", write_results("text_robustness", data, markdown))


if __name__ == "__main__":
    main()
