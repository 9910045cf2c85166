"""EmoBank valence / arousal / dominance: CCC on the official dev split, CCC loss against MSE loss.

Ratings (1-5) are normalised to [-1, 1]; the three dimensions are regressed jointly (equal
loss weights). Each loss trains two systems on the same training set (the official train split
or a random subset of it; 300 of it choose the epoch): a small MLP head on
frozen offline MiniLM sentence embeddings, and the fine-tuned MiniLM (``lm_classifier`` with a
linear regression head). Reported: CCC per dimension and its mean on the official dev split.

    python benchmarks/text_emobank.py --train-size 3000 --epochs 1
"""

from __future__ import annotations

import argparse
import collections
import logging
import pathlib
import random
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT  # noqa: E402
from benchmarks._common import markdown_table  # noqa: E402
from benchmarks._common import shared  # noqa: E402
from benchmarks._common import timer  # noqa: E402
from benchmarks._common import write_results  # noqa: E402
from benchmarks.text_common import experiment  # noqa: E402
from benchmarks.text_common import frozen_and_fine_tuned  # noqa: E402
from benchmarks.text_common import test_scores  # noqa: E402
from benchmarks.text_common import with_splits  # noqa: E402

log = logging.getLogger("text_emobank")
DIMENSIONS = ("valence", "arousal", "dominance")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-size", type=int, default=None, help="random training subset (default: all)")
    parser.add_argument("--validation-size", type=int, default=300)
    parser.add_argument("--dev-size", type=int, default=None, help="random subset of the official dev split")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--skip-fine-tuning", action="store_true", help="only the frozen-embedding heads")
    parser.add_argument("--output", default=str(ROOT / "runs" / "text_emobank"))
    arguments = parser.parse_args()

    from emofuse.data.corpora.emobank import prepare_emobank
    from emofuse.training import run_experiment

    corpus = prepare_emobank(shared("data", "text", "emobank"))
    train_ids = sorted(u.id for u in corpus if u.metadata["split"] == "train")
    random.Random(0).shuffle(train_ids)
    validation, train = train_ids[: arguments.validation_size], train_ids[arguments.validation_size :]
    if arguments.train_size is not None:
        train = train[: arguments.train_size]
    dev = sorted(u.id for u in corpus if u.metadata["split"] == "dev")
    if arguments.dev_size is not None:
        dev = sorted(random.Random(1).sample(dev, min(arguments.dev_size, len(dev))))
    manifest = with_splits({"train": corpus.subset(train), "validation": corpus.subset(validation), "dev": corpus.subset(dev)})
    output = pathlib.Path(arguments.output)
    output.mkdir(parents=True, exist_ok=True)
    manifest_path = manifest.save(output / "emobank_splits.jsonl")
    sizes = collections.Counter(u.metadata["benchmark_split"] for u in manifest)
    systems = frozen_and_fine_tuned(max_length=arguments.max_length, learning_rate=arguments.learning_rate,
                                    epochs=arguments.epochs, frozen_epochs=60, frozen_patience=10)
    if arguments.skip_fine_tuning:
        del systems["fine_tuned"]
    features = {"minilm": {"name": "text_embedding", "pooling": "mean", "max_length": arguments.max_length}}
    scores, seconds = {}, {}
    for loss in ("ccc", "mse"):
        config = experiment(f"text_emobank_{loss}", manifest_path, systems, features=features, cache_dir=output / "cache",
                            task={"type": "dimensional", "loss": loss})
        for system in systems:
            with timer() as elapsed:
                run_experiment(config, output / f"run_{loss}", progress=False, systems=[system])
            scores[(system, loss)] = test_scores(output / f"run_{loss}", system)
            seconds[(system, loss)] = elapsed["seconds"]
    rows = [[system, loss.upper(), *[f"{s[f'CCC_{d}']:.3f}" for d in DIMENSIONS], f"{s['CCC_mean']:.3f}",
             f"{seconds[(system, loss)] / 60:.0f}"] for (system, loss), s in scores.items()]
    data = {
        "corpus": "EmoBank (train + dev release)",
        "splits": dict(sizes),
        "systems": systems,
        "scores": {f"{system}/{loss}": s for (system, loss), s in scores.items()},
        "seconds": {f"{system}/{loss}": v for (system, loss), v in seconds.items()},
        "note": "2 CPU cores shared with other jobs; training subset as given by --train-size.",
    }
    markdown = (
        f"Train {sizes['train']}, validation {sizes['validation']} (both from the official train split), "
        f"dev {sizes['dev']} (official dev split{', random subset' if arguments.dev_size else ''}). Dimensions regressed jointly, equal loss weights; "
        + ("frozen-embedding heads only (--skip-fine-tuning).\n\n" if arguments.skip_fine_tuning
           else f"fine-tuning {arguments.epochs} epoch(s).\n\n")
        + markdown_table(["system", "loss", "CCC valence", "CCC arousal", "CCC dominance", "CCC mean", "minutes"], rows)
    )
    log.info("wrote %s", write_results("text_emobank", data, markdown))


if __name__ == "__main__":
    main()
