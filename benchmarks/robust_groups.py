"""Which ``robust_functionals`` feature groups drive the default's "angry" collapse on English speech (issue 13).

    python benchmarks/robust_groups.py [--workers 1] [--cache-dir runs/robust_cache]

The default speech recipe (class-balanced logistic regression on EmoDB, 4 classes, clean + 3
augmented copies; ``scripts/build_default_model.py``) is re-run on subsets of the feature groups
of :func:`emofuse.audio.functionals.feature_names`, selected as columns of the cached full
feature vectors. Per variant:

- **EmoDB leave-one-speaker-out** (10 folds; the next speaker chooses C), one file at a time
  and with ``--adapt`` per speaker;
- **English proxies**: the model trained on all ten EmoDB speakers (the C chosen in most
  folds, as the build script does) on the IEMOCAP_mini and MSP_mini replicas and the dialogue
  turns in ../shared/fixtures (synthetic espeak-ng-like speech), one file at a time and with
  per-speaker adaptation: UA and the share of the most predicted class;
- **why "angry"** (and, without the cepstral variability, why "neutral"): each group's mean
  contribution to that class's logit minus the mean of the other three logits (coefficients
  times standardised features) of the model trained on all of EmoDB, on EmoDB and on the
  English proxies, and how far (in EmoDB standard deviations) the proxies' features lie from
  EmoDB's. Neither uses the proxies' labels.

The variants are declared in :data:`VARIANTS` before looking at the English results; choosing
among them by the English proxies is model selection on those proxies (they have labels), so
their numbers are optimistic for the chosen variant. Writes benchmarks/results/robust_groups.{json,md}.
"""

from __future__ import annotations

import argparse
import collections
import logging
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks._common import ROOT  # noqa: E402
from benchmarks._common import markdown_table  # noqa: E402
from benchmarks._common import shared  # noqa: E402
from benchmarks._common import write_results  # noqa: E402
from emofuse.robustness import COPIES  # noqa: E402

log = logging.getLogger("robust_groups")
CLASSES = ("neu", "hap", "sad", "ang")
C_GRID = (0.001, 0.01, 0.1, 1.0)
#: Variants, the groups each one drops: the first six declared before any English result was
#: seen; the last three after the label-free "why angry" table (which uses no English labels)
#: showed the cepstral variability 4-7 standard deviations above EmoDB's and pushing to angry.
#: Every variant clips the standardised features to [-3, 3] as the default does since
#: 2026-11-30 (emofuse.robustness.CLIP), except those of :data:`CLIPS`.
UNCLIPPED = "all groups, not clipped (the default before)"
CLIPS = {UNCLIPPED: None, "all groups, clipped to ±2": 2.0, "all groups, clipped to ±4": 4.0,
         "all groups, clipped to ±5": 5.0}
VARIANTS = {
    UNCLIPPED: (),
    "all groups (today's default)": (),
    "all groups, clipped to ±2": (),
    "all groups, clipped to ±4": (),
    "all groups, clipped to ±5": (),
    "without spectral shape": ("spectral",),
    "without cepstral means": ("cepstral_means",),
    "without spectral shape and cepstral means": ("spectral", "cepstral_means"),
    "without spectral shape, cepstral means and voicing": ("spectral", "cepstral_means", "voicing"),
    "prosody only (pitch, voicing, energy, timing)": ("spectral", "cepstra", "cepstral_means"),
    "without cepstral variability": ("cepstra",),
    "without cepstral variability and cepstral means": ("cepstra", "cepstral_means"),
    "without cepstral variability and spectral shape": ("cepstra", "spectral"),
}


def english_sets() -> dict[str, list]:
    """``{set name: [Utterance, ...]}`` of the English proxies (dialogue turns as spans)."""
    import pandas as pd

    from emofuse import prepare_iemocap
    from emofuse import prepare_msp_podcast
    from emofuse.data.manifest import Utterance

    iemocap = prepare_iemocap(shared("fixtures", "IEMOCAP_mini"), out_of_scale="clip").filter(lambda u: u.label is not None)
    msp = prepare_msp_podcast(shared("fixtures", "MSP_mini")).filter(lambda u: u.label is not None)
    turns = []
    for table in sorted(shared("fixtures", "dialogues").glob("*.csv")):
        for k, row in pd.read_csv(table).iterrows():
            turns.append(Utterance(id=f"{table.stem}/{k}", audio=str(table.with_suffix(".wav")), start=float(row["start"]),
                                   end=float(row["end"]), speaker=f"{table.stem}/{row['speaker']}", label=str(row["emotion"])))
    return {"IEMOCAP_mini": list(iemocap), "MSP_mini": list(msp), "dialogue turns": turns}


def final_model(training: dict, labels: dict, speakers: dict, c: float, adapt: bool, clip: float | None) -> dict:
    from emofuse.robustness import fit_logistic
    from emofuse.robustness import group_standardize

    if adapt:
        training = {v: group_standardize(values, {i: f"{speakers[i]}|{v}" for i in values}) for v, values in training.items()}
    rows = [(values[i], CLASSES.index(labels[i])) for values in training.values() for i in sorted(values)]
    return fit_logistic(np.stack([r[0] for r in rows]).astype(np.float64), np.array([r[1] for r in rows]), len(CLASSES), c,
                        clip=clip)


def evaluate(columns: np.ndarray, training: dict, labels: dict, speakers: dict, english: dict, clip: float | None) -> dict:
    """EmoDB LOSO and the English proxies for the feature columns ``columns``."""
    from emofuse.robustness import group_standardize
    from emofuse.robustness import leave_one_speaker_out
    from emofuse.robustness import predict_arrays
    from emofuse.robustness import scores_of

    selected = {v: {i: x[columns] for i, x in values.items()} for v, values in training.items()}
    result: dict = {}
    for adapt in (False, True):
        mode = "adapted" if adapt else "plain"
        loso = leave_one_speaker_out(selected, {"clean": selected["clean"]}, labels, speakers, CLASSES, c_grid=C_GRID,
                                     adapt=adapt, clip=clip)
        ids, posteriors = loso["calibrated"]["clean"]
        chosen = collections.Counter(f["C"] for f in loso["folds"]).most_common(1)[0][0]
        result[f"emodb_{mode}"] = {**scores_of(ids, posteriors, labels, speakers, CLASSES), "C": chosen}
        arrays = final_model(selected, labels, speakers, chosen, adapt, clip)
        for name, (set_labels, set_speakers, features) in english.items():
            values = {i: x[columns] for i, x in features.items()}
            if adapt:
                values = group_standardize(values, set_speakers)
            order = sorted(values)
            scores = predict_arrays(arrays, np.stack([values[i] for i in order]).astype(np.float64), len(CLASSES), clip=clip)
            result[f"{name}_{mode}"] = scores_of(order, scores, set_labels, set_speakers, CLASSES)
        if not adapt:
            result["arrays"] = arrays
    return result


def class_push(arrays: dict, groups: np.ndarray, columns: np.ndarray, features: dict[str, np.ndarray],
               target: str, clip: float | None) -> dict[str, float]:
    """Each group's mean contribution to the ``target`` logit minus the mean of the other logits,
    for a model on the ``columns`` of the full vectors (``groups``: the group of every full column)."""
    from emofuse.audio.functionals import GROUPS

    x = (np.stack(list(features.values())).astype(np.float64)[:, columns] - arrays["mean"]) / arrays["scale"]
    if clip is not None:
        x = np.clip(x, -clip, clip)
    index = CLASSES.index(target)
    direction = arrays["coef"][index] - np.delete(arrays["coef"], index, axis=0).mean(axis=0)  # (features,)
    contribution = (x * direction).mean(axis=0)
    return {g: float(contribution[groups[columns] == g].sum()) for g in GROUPS}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cache-dir", default=str(ROOT / "runs" / "robust_cache"))
    arguments = parser.parse_args()

    from emofuse import prepare_emodb
    from emofuse.audio.functionals import GROUPS
    from emofuse.audio.functionals import RobustFunctionalsConfig
    from emofuse.audio.functionals import feature_group
    from emofuse.audio.functionals import feature_names
    from emofuse.config import Component
    from emofuse.robustness import CLIP
    from emofuse.robustness import variant_features

    config = RobustFunctionalsConfig()
    component = Component("robust_functionals", config)
    names = list(feature_names(config))
    manifest = prepare_emodb(shared("data", "emodb"), label_map="emodb_four_class").filter(lambda u: u.label is not None)
    labels = {u.id: str(u.label) for u in manifest}
    speakers = {u.id: str(u.speaker) for u in manifest}
    training = variant_features(component, list(manifest), ["clean", *[f"copy{k}" for k in range(COPIES)]],
                                cache_dir=arguments.cache_dir, num_workers=arguments.workers)
    english = {}
    for name, utterances in english_sets().items():
        features = variant_features(component, utterances, ["clean"], cache_dir=arguments.cache_dir,
                                    num_workers=arguments.workers)["clean"]
        english[name] = ({u.id: str(u.label) for u in utterances}, {u.id: str(u.speaker) for u in utterances}, features)

    groups = np.array([feature_group(n) for n in names])
    results = {}
    for variant, dropped in VARIANTS.items():
        columns = np.flatnonzero(~np.isin(groups, dropped))
        results[variant] = evaluate(columns, training, labels, speakers, english, CLIPS.get(variant, CLIP))
        log.info("%s: EmoDB %.1f, English %s", variant, 100 * results[variant]["emodb_plain"]["UA_mean"],
                 {k: round(100 * v["UA"], 1) for k, v in results[variant].items() if k.endswith("_plain") and "emodb" not in k})
    explained = {UNCLIPPED: "ang", "all groups (today's default)": "ang", "without cepstral variability": "neu"}
    push = {}
    for variant, target in explained.items():
        arrays, columns = results[variant]["arrays"], np.flatnonzero(~np.isin(groups, VARIANTS[variant]))
        clip = CLIPS.get(variant, CLIP)
        push[f"{variant}, towards {target}: EmoDB clean"] = class_push(arrays, groups, columns, training["clean"], target, clip)
        push.update({f"{variant}, towards {target}: {name}": class_push(arrays, groups, columns, features, target, clip)
                     for name, (_, _, features) in english.items()})
    for result in results.values():
        result.pop("arrays")
    pool = np.stack([x for values in training.values() for x in values.values()]).astype(np.float64)
    shift = {}
    for name, (_, _, features) in english.items():
        z = ((np.stack(list(features.values())) - pool.mean(axis=0)) / pool.std(axis=0)).mean(axis=0)
        shift[name] = {g: (float(np.abs(z[groups == g]).mean()), float(z[groups == g][np.abs(z[groups == g]).argmax()]))
                       for g in GROUPS}

    def cell(r: dict) -> str:
        return f"{100 * r['UA']:.1f} / {100 * r['top_share']:.0f} % {r['top_class']}"

    rows = []
    for variant, r in results.items():
        row = [variant, str(int((~np.isin(groups, VARIANTS[variant])).sum()))]
        for mode in ("plain", "adapted"):
            row.append(f"{100 * r[f'emodb_{mode}']['UA_mean']:.1f} ± {100 * r[f'emodb_{mode}']['UA_std']:.1f} "
                       f"({100 * r[f'emodb_{mode}']['top_share']:.0f} % {r[f'emodb_{mode}']['top_class']})")
            row += [cell(r[f"{name}_{mode}"]) for name in english]
        rows.append(row)
    header = ["variant", "features"]
    for mode in ("one file at a time", "--adapt per speaker"):
        header += [f"EmoDB LOSO UA % fold mean ± std ({mode})"] + [f"{n}: UA % / top class ({mode})" for n in english]
    shift_rows = [[name, *[f"{m:.1f} ({x:+.1f})" for m, x in values.values()]] for name, values in shift.items()]
    push_rows = [[where, *[f"{v:+.2f}" for v in values.values()], f"{sum(values.values()):+.2f}"] for where, values in push.items()]
    markdown = (
        "The default speech recipe (class-balanced logistic regression, EmoDB 4 classes, clean + " + str(COPIES) + " augmented copies) on "
        "subsets of the `robust_functionals` feature groups. EmoDB: leave-one-speaker-out, 10 folds, the next speaker "
        "chooses C (UA fold mean ± std, top class in brackets). English proxies (synthetic speech, never trained on): the "
        "model trained on all ten EmoDB speakers with the C chosen in most folds; UA % and the share of the most predicted "
        "class. Variants declared before the English results were seen; picking one by these columns is model "
        "selection on the proxies. Every row clips the standardised features to [-3, 3], as the default does since "
        "2026-11-30, unless it names another bound (3, the usual one, was fixed before the English columns were seen; "
        "the other bounds were measured beside it).\n\n"
        + markdown_table(header, rows)
        + "\nWhy angry (the default before and today's) and why neutral (without the cepstral variability): each group's mean contribution "
          "(model trained on all of EmoDB) to that class's logit minus the mean of the other three logits; positive pushes "
          "towards the class. No labels of the proxies are used.\n\n"
        + markdown_table(["data", *GROUPS, "total"], push_rows)
        + "\nHow far the English proxies lie from EmoDB (clean + copies): mean z-score per group (features standardised "
          "with EmoDB's mean and deviation; the largest absolute value in the group in brackets).\n\n"
        + markdown_table(["data", *GROUPS], shift_rows)
    )
    data = {"variants": {k: list(v) for k, v in VARIANTS.items()}, "results": results, "class_push": push, "shift": shift,
            "groups": {g: [n for n in names if feature_group(n) == g] for g in GROUPS}}
    log.info("wrote %s", write_results("robust_groups", data, markdown))


if __name__ == "__main__":
    main()
