"""Training steps of the recurrent models: LSTMs on the padded batch against packed sequences.

Every model with an LSTM runs it through :func:`emofuse.models.blocks.recurrent.run_lstm`, which
keeps the padded batch (oneDNN's fused kernels on CPU) and reverses each sequence within its
length for the backward direction. The baseline, timed in the same run on the same batches, is
what the models did before: ``pack_padded_sequence`` into the same ``torch.nn.LSTM``
(``run_lstm(..., packed=True)``), which PyTorch's CPU backend steps through one time step at a
time when the lengths differ. Each model is built with its default config on a batch of 16
utterances of random lengths (the sizes its benchmarks see) and trained for ``--steps`` timed
steps (forward, backward, Adam) after one warm-up step; the median step counts. Both
computations must give the same logits (checked, reported).

    python benchmarks/lstm_speed.py              # about 1 min on 2 cores
"""

from __future__ import annotations

import pathlib
import sys

if __package__ in {None, ""}:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import input_specs
from benchmarks._common import markdown_table
from benchmarks._common import median_seconds
from benchmarks._common import random_length_batch
from benchmarks._common import step_benchmark_arguments
from benchmarks._common import training_step
from benchmarks._common import write_results

BATCH = 16
#: model -> (module whose ``run_lstm`` it calls, inputs as (kind, dim, shortest, longest), what they are)
MODELS = {
    "attention_bilstm": ("emofuse.models.attention_bilstm", [("sequence", 384, 30, 300)],
                         "IS09 windows (30 ms hop), 0.9-9 s"),
    "attention_alignment": ("emofuse.fusion.alignment", [("sequence", 64, 150, 600), ("sequence", 384, 5, 30)],
                            "log-Mel frames (10 ms hop), 1.5-6 s, and 5-30 MiniLM tokens"),
    "acoustic_lstm": ("emofuse.models.acoustic_lstm", [("sequence", 34, 100, 600)],
                      "34 low-level descriptors (10 ms hop), 1-6 s"),
    "text_lstm": ("emofuse.models.text_lstm", [("sequence", 300, 5, 40)], "5-40 word vectors of 300 dimensions"),
}


def time_steps(model, inputs, steps: int) -> float:  # noqa: ANN001
    """Median seconds of one training step (forward, backward, Adam) after a warm-up step."""
    return median_seconds(training_step(model, inputs, BATCH), steps)


def measure(name: str, steps: int) -> dict:
    import functools
    import importlib

    import torch

    from emofuse.components import MODELS as REGISTRY
    from emofuse.models.blocks.recurrent import run_lstm

    module_name, shapes, description = MODELS[name]
    module = importlib.import_module(module_name)
    entry = REGISTRY.get(name)
    specs = input_specs(shapes)
    torch.manual_seed(0)
    model = entry.builder(entry.config_class(), specs, 4)
    inputs = random_length_batch(shapes, BATCH, torch.Generator().manual_seed(0))
    current = module.run_lstm
    record = {"model": name, "inputs": description, "batch": BATCH}
    try:
        with torch.no_grad():
            logits = model.eval()(inputs)
            module.run_lstm = functools.partial(run_lstm, packed=True)
            record["max_logit_difference"] = float((model(inputs) - logits).abs().max())
        model.train()
        record["packed_seconds"] = time_steps(model, inputs, steps)
    finally:
        module.run_lstm = current
    if record["max_logit_difference"] > 1e-4:
        sys.exit(f"{name}: the padded and packed LSTMs disagree (logits differ by {record['max_logit_difference']:.1e})")
    record["padded_seconds"] = time_steps(model, inputs, steps)
    record["speedup"] = record["packed_seconds"] / record["padded_seconds"]
    return record


def main() -> None:
    arguments, threads = step_benchmark_arguments(__doc__.split("\n\n")[0], "timed training steps per model and computation (median)")
    rows = []
    for name in MODELS:
        record = measure(name, arguments.steps)
        rows.append(record)
        print(f"{name:20s} packed {record['packed_seconds']:.3f} s/step, padded {record['padded_seconds']:.3f} s/step "
              f"(x{record['speedup']:.1f}; logits differ by {record['max_logit_difference']:.1e})", flush=True)
    table = markdown_table(
        ["model", "batch of 16", "packed s/step", "padded s/step", "speed-up", "max logit difference"],
        [[r["model"], r["inputs"], f"{r['packed_seconds']:.3f}", f"{r['padded_seconds']:.3f}", f"x{r['speedup']:.1f}",
          f"{r['max_logit_difference']:.1e}"] for r in rows])
    markdown = (f"One training step (forward, backward, Adam; median of {arguments.steps} after a warm-up) of each "
                f"model with an LSTM at its default width, {threads} torch threads, on a batch of {BATCH} utterances "
                "of random lengths: the LSTMs on packed sequences (the baseline, as before) and on the padded batch "
                "(`run_lstm`, now), in the same run on the same batch and weights.\n\n" + table)
    write_results("lstm_speed", {"threads": threads, "steps": arguments.steps, "rows": rows}, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
