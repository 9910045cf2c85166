"""Training steps of models with dropout on frames: emofuse's NumPy-drawn CPU mask against PyTorch's.

PyTorch draws a CPU dropout mask one Mersenne-Twister number per element, which made dropout a
third of the pooled MLP's training step on ComParE frames (cProfile of one EmoDB fold).
:func:`emofuse.models.blocks.dropout.dropout` draws large CPU masks with NumPy's PCG64 generator
instead. The baseline, timed in the same run on the same batches and weights, is PyTorch's own
dropout (what every model used before: the NumPy path switched off). Each model trains for
``--steps`` timed steps (forward, backward, Adam) after one warm-up step on a batch of 16
utterances of random lengths; the median step counts. The dropout operation alone (forward and
backward on the pooled MLP's hidden frames) is timed too.

    python benchmarks/dropout_speed.py              # about 1 min on 2 cores
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
#: row -> (registered model, config, inputs as (kind, dim, shortest, longest), what they are)
MODELS = {
    "pool_mlp_mean": ("pooling", {"head": "mlp_mean", "hidden_sizes": [128], "dropout": 0.2},
                      [("sequence", 130, 100, 600)], "ComParE descriptors and deltas (10 ms hop), 1-6 s"),
    "attention_alignment": ("attention_alignment", {"hidden_size": 64, "attention_size": 64, "dropout": 0.3},
                            [("sequence", 64, 150, 600), ("sequence", 384, 5, 30)],
                            "log-Mel frames (10 ms hop), 1.5-6 s, and 5-30 MiniLM tokens"),
    "cnn14 (PANNs dropout 0.2)": ("cnn14", {"channels": [8, 16, 32, 64, 64, 64], "dropout": 0.2, "crop_seconds": None},
                                  [("sequence", 64, 100, 600)], "log-Mel frames (10 ms hop), 1-6 s"),
}


def both(step, steps: int) -> dict:  # noqa: ANN001
    """The step with PyTorch's dropout (baseline) and with emofuse's, alternating to share the machine's load."""
    from emofuse.models.blocks import dropout as module

    threshold = module.NUMPY_MASK_MIN_ELEMENTS
    pytorch, numpy = [], []
    for _ in range(2):
        module.NUMPY_MASK_MIN_ELEMENTS = sys.maxsize  # every mask from PyTorch
        try:
            pytorch.append(median_seconds(step, steps))
        finally:
            module.NUMPY_MASK_MIN_ELEMENTS = threshold
        numpy.append(median_seconds(step, steps))
    return {"pytorch_seconds": min(pytorch), "numpy_seconds": min(numpy), "speedup": min(pytorch) / min(numpy)}


def measure_model(name: str, steps: int) -> dict:
    import torch

    from emofuse.components import MODELS as REGISTRY
    from emofuse.config import parse

    registered, config, shapes, description = MODELS[name]
    entry = REGISTRY.get(registered)
    specs = input_specs(shapes)
    torch.manual_seed(0)
    model = entry.builder(parse(entry.config_class, config), specs, 4).train()
    inputs = random_length_batch(shapes, BATCH, torch.Generator().manual_seed(0))
    return {"model": name, "inputs": description, "batch": BATCH, **both(training_step(model, inputs, BATCH), steps)}


def measure_operation(steps: int) -> dict:
    import torch

    from emofuse.models.blocks.dropout import dropout

    values = torch.randn(BATCH, 400, 128, requires_grad=True)  # the pooled MLP's hidden frames

    def step() -> None:
        dropout(values, 0.2).sum().backward()

    return {"model": "dropout alone (forward and backward)", "inputs": f"{BATCH} x 400 frames x 128 units",
            "batch": BATCH, **both(step, steps * 4)}


def main() -> None:
    arguments, threads = step_benchmark_arguments(__doc__.split("\n\n")[0], "timed training steps per model and dropout (median)")
    rows = [measure_operation(arguments.steps)]
    for name in MODELS:
        rows.append(measure_model(name, arguments.steps))
    for record in rows:
        print(f"{record['model']:38s} PyTorch {record['pytorch_seconds'] * 1e3:8.1f} ms, NumPy mask "
              f"{record['numpy_seconds'] * 1e3:8.1f} ms (x{record['speedup']:.2f})", flush=True)
    table = markdown_table(
        ["step", "batch", "PyTorch's dropout, ms", "NumPy mask, ms", "speed-up"],
        [[r["model"], r["inputs"], f"{r['pytorch_seconds'] * 1e3:.1f}", f"{r['numpy_seconds'] * 1e3:.1f}",
          f"x{r['speedup']:.2f}"] for r in rows])
    markdown = (f"One training step (forward, backward, Adam; median of {arguments.steps} after a warm-up, the "
                f"better of two alternating rounds; {threads} torch threads) of each model with dropout on frames, on a batch of "
                f"{BATCH} utterances of random lengths: with PyTorch's CPU dropout (the baseline, as before) and "
                "with emofuse's dropout, whose large CPU masks come from NumPy's PCG64 generator (now), in the "
                "same run on the same batch and weights.\n\n" + table)
    write_results("dropout_speed", {"threads": threads, "steps": arguments.steps, "rows": rows}, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
