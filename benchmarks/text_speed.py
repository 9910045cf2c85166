"""Speed of the text models on CPU: fine-tuning throughput and inference latency.

Fine-tuning: sentences per second of full training steps (forward, weighted cross-entropy,
backward, Adam) of the offline MiniLM with a linear head, batches of 32 real tweets
(SemEval-2017 4A), truncated to ``--max-length`` tokens. Inference: latency of one batch of 32
through the same model in inference mode (median of ``--repeats``), and of the frozen
``text_embedding`` front-end. The machine's load average is recorded with the figures: on a
shared machine they are lower bounds of what the hardware can do.

    python benchmarks/text_speed.py --steps 5 --repeats 5
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import markdown_table  # noqa: E402
from benchmarks._common import peak_memory_mb  # noqa: E402
from benchmarks._common import shared  # noqa: E402
from benchmarks._common import write_results  # noqa: E402

log = logging.getLogger("text_speed")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    arguments = parser.parse_args()

    import torch

    from emofuse.components import MODELS
    from emofuse.data.corpora.semeval import prepare_semeval
    from emofuse.models.configs import LMClassifierConfig
    from emofuse.models.inputs import InputSpec
    from emofuse.pretrained import TextEmbeddingConfig
    from emofuse.text.lm import TextEmbedding

    load_before = os.getloadavg()
    texts = [u.text for u in prepare_semeval(shared("data", "text", "semeval2017_4a"))]
    batch = arguments.batch_size
    batches = [texts[i * batch : (i + 1) * batch] for i in range(arguments.steps + 1)]
    model = MODELS.build("lm_classifier", LMClassifierConfig(max_length=arguments.max_length, pooling="mean"),
                         [InputSpec("text", "text", "text")], 3)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-5)
    targets = torch.randint(0, 3, (batch,), generator=torch.Generator().manual_seed(0))
    weights = torch.tensor([1.0, 1.2, 0.8])
    model.train()
    seconds = []
    for step, texts_batch in enumerate(batches):
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model([(texts_batch, None)]), targets, weight=weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step > 0:  # the first step warms up
            seconds.append(time.perf_counter() - start)
    throughput = batch * len(seconds) / sum(seconds)
    model.eval()
    latencies = []
    with torch.inference_mode():
        model([(batches[0], None)])
        for repeat in range(arguments.repeats):
            start = time.perf_counter()
            model([(batches[repeat % len(batches)], None)])
            latencies.append(time.perf_counter() - start)
    extractor = TextEmbedding(TextEmbeddingConfig(max_length=arguments.max_length))
    extractor.extract_texts(batches[0])
    embedding_latencies = []
    for repeat in range(arguments.repeats):
        start = time.perf_counter()
        extractor.extract_texts(batches[repeat % len(batches)])
        embedding_latencies.append(time.perf_counter() - start)
    load_after = os.getloadavg()
    data = {
        "model": "all-MiniLM-L6-v2 (offline), linear head",
        "batch_size": batch,
        "max_length": arguments.max_length,
        "torch_threads": torch.get_num_threads(),
        "fine_tuning_sentences_per_second": throughput,
        "fine_tuning_step_seconds": seconds,
        "inference_batch_latency_seconds_median": statistics.median(latencies),
        "inference_batch_latencies": latencies,
        "embedding_batch_latency_seconds_median": statistics.median(embedding_latencies),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "peak_memory_mb": peak_memory_mb(),
        "cores": os.cpu_count(),
    }
    rows = [
        ["fine-tuning throughput", f"{throughput:.1f} sentences/s", f"{arguments.steps} steps of {batch}"],
        ["inference latency, batch of 32 (classifier)", f"{statistics.median(latencies):.2f} s", f"median of {arguments.repeats}"],
        ["inference latency, batch of 32 (frozen embedding)", f"{statistics.median(embedding_latencies):.2f} s", f"median of {arguments.repeats}"],
    ]
    markdown = (
        f"MiniLM-L6 (offline), max {arguments.max_length} tokens, real tweets, {torch.get_num_threads()} torch threads. "
        f"1-minute load average {load_before[0]:.1f} before and {load_after[0]:.1f} after on {os.cpu_count()} cores "
        "(a load above the core count means other jobs shared them: the figures are then lower bounds).\n\n"
        + markdown_table(["measure", "value", "how"], rows)
    )
    log.info("wrote %s", write_results("text_speed", data, markdown))


if __name__ == "__main__":
    main()
