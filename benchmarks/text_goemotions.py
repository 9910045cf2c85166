"""GoEmotions, Ekman taxonomy, single-label comments: frozen-embedding head against fine-tuning.

Both systems see the same stratified training subset of the official train split (a validation
part of it chooses the epoch) and are scored on the official dev split (or a stratified subset
of it): macro-F1 over the 7 classes (anger, disgust, fear, joy, neutral, sadness, surprise),
with UA and accuracy. Frozen: offline MiniLM mean-pooled sentence embeddings and a small MLP
head (256 units). Fine-tuned: the same MiniLM with a linear head (``lm_classifier``), AdamW
with linear warm-up. Both use the task's class-weighted cross-entropy and the best
validation epoch.

    python benchmarks/text_goemotions.py --train-size 4000 --dev-size 2000 --epochs 1
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
from benchmarks._common import shared  # noqa: E402
from benchmarks._common import timer  # noqa: E402
from benchmarks._common import write_results  # noqa: E402
from benchmarks.text_common import experiment  # noqa: E402
from benchmarks.text_common import fold_directory  # noqa: E402
from benchmarks.text_common import frozen_and_fine_tuned  # noqa: E402
from benchmarks.text_common import stratified_sample  # noqa: E402
from benchmarks.text_common import test_scores  # noqa: E402
from benchmarks.text_common import with_splits  # noqa: E402

log = logging.getLogger("text_goemotions")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-size", type=int, default=None, help="stratified training subset (default: all)")
    parser.add_argument("--validation-size", type=int, default=300)
    parser.add_argument("--dev-size", type=int, default=None, help="stratified subset of the official dev split")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=8e-5)
    parser.add_argument("--output", default=str(ROOT / "runs" / "text_goemotions"))
    arguments = parser.parse_args()

    from emofuse.data.corpora.goemotions import prepare_goemotions
    from emofuse.data.protocols import split_dev
    from emofuse.training import run_experiment

    corpus = prepare_goemotions(shared("data", "text", "goemotions"), taxonomy="ekman", single_label_only=True)
    train_pool = corpus.filter(lambda u: u.metadata["split"] == "train")
    train_ids, validation_ids = split_dev(list(train_pool), fraction=arguments.validation_size / len(train_pool), seed=1)
    manifest = with_splits({
        "train": stratified_sample(train_pool.subset(train_ids), arguments.train_size, seed=2),
        "validation": train_pool.subset(validation_ids),
        "dev": stratified_sample(corpus.filter(lambda u: u.metadata["split"] == "dev"), arguments.dev_size, seed=3),
    })
    output = pathlib.Path(arguments.output)
    output.mkdir(parents=True, exist_ok=True)
    manifest_path = manifest.save(output / "goemotions_splits.jsonl")
    sizes = collections.Counter(u.metadata["benchmark_split"] for u in manifest)
    log.info("splits %s", dict(sizes))
    systems = frozen_and_fine_tuned(max_length=arguments.max_length, learning_rate=arguments.learning_rate,
                                    epochs=arguments.epochs, frozen_epochs=40, frozen_patience=8)
    features = {"minilm": {"name": "text_embedding", "pooling": "mean", "max_length": arguments.max_length}}
    config = experiment("text_goemotions", manifest_path, systems, features=features, cache_dir=output / "cache")
    seconds = {}
    for system in systems:
        with timer() as elapsed:
            run_experiment(config, output / "run", progress=False, systems=[system])
        seconds[system] = elapsed["seconds"]
    scores = {system: test_scores(output / "run", system) for system in systems}
    epochs_trained = {system: json.loads((fold_directory(output / "run", system) / "metrics.json").read_text())["fitted"]["epochs_trained"]
                      for system in systems}
    sentences_per_s = {system: sizes["train"] * epochs_trained[system] / seconds[system] for system in systems}
    classes = sorted({u.label for u in manifest})
    rows = [[name, f"{s['macro_F1']:.3f}", f"{s['UA']:.3f}", f"{s['WA']:.3f}", f"{seconds[name] / 60:.0f}",
             str(epochs_trained[name]), f"{sentences_per_s[name]:.1f}"] for name, s in scores.items()]
    per_class = [[name, *[f"{s[f'F1_{c}']:.2f}" for c in classes]] for name, s in scores.items()]
    data = {
        "corpus": "GoEmotions, Ekman taxonomy, single-label comments",
        "splits": dict(sizes),
        "dev_class_counts": collections.Counter(u.label for u in manifest if u.metadata["benchmark_split"] == "dev"),
        "systems": systems,
        "scores": scores,
        "seconds": seconds,
        "epochs_trained": epochs_trained,
        "sentences_per_s": sentences_per_s,
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
    }
    markdown = (
        f"Train {sizes['train']} ({'stratified subset of ' if arguments.train_size else ''}the official train split"
        f" less validation), validation {sizes['validation']}, "
        f"dev {sizes['dev']} (official dev split{', stratified subset' if arguments.dev_size else ''}); "
        f"fine-tuning up to {arguments.epochs} epoch(s), max {arguments.max_length} tokens; {os.cpu_count()} CPU cores, "
        f"load average at the end {data['load_average_at_end'][0]:.1f} (sentences/s: training sentences per second "
        "of the system's run, feature extraction and validation included).\n\n"
        + markdown_table(["system", "macro-F1", "UA", "accuracy", "minutes", "epochs", "sentences/s"], rows)
        + "\nPer-class F1 on dev:\n\n" + markdown_table(["system", *classes], per_class)
    )
    log.info("wrote %s", write_results("text_goemotions", data, markdown))


if __name__ == "__main__":
    main()
