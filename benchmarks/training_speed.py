"""Training throughput of every neural model against what the cores can do (issue 12).

For each registered neural model and model fusion, a training step (collation of in-memory
features, forward, backward, Adam step) on a realistic batch: utterances per second, the share
of each phase, and the achieved FLOP/s (counted with ``torch.utils.flop_counter``) as a fraction
of the machine's peak, measured in the same run by matmul and convolution micro-benchmarks (at the
start and after each model; the best reading of the run is the peak: the hardware's peak does not change
during a run, load only lowers a reading, and on some CPUs the two micro-benchmarks differ twofold, e.g.
AMD Zen 5, where MKL's float32 matmul runs AVX2 code and oneDNN's convolution AVX-512). Each model is also
timed in bfloat16 mixed precision (``training.precision: bf16-mixed``: ``torch.autocast`` on the
forward pass, float32 weights and optimiser), against a bfloat16 matmul peak, with its speed-up
over float32 in the same run: CPUs with AVX-512 BF16 or AMX run bfloat16 products several times faster.
Where the CPU has no native bfloat16 (AVX2 only), PyTorch emulates it and a step runs several
times slower (an attention BiLSTM step x0.10 on such a machine): ``--bf16 auto``, the default,
then leaves the bfloat16 columns out instead of spending most of the run on them (``--bf16 on``
times them anyway).

    python benchmarks/training_speed.py                          # every model (about 10 min on 2 cores)
    python benchmarks/training_speed.py --models cnn14,resnet34,lm_classifier --steps 4

Each model trains at its *paper* width (CNN14 64-2048 channels, ResNet34 32 channels, MiniLM
fine-tuning, wav2vec 2.0-base fine-tuning built from its config) on batches of 16 utterances of
3 s (log-Mel 64 x 300 frames; 48,000 samples) or 16 sentences of about 20 tokens. Goal: CNN14,
ResNet34 and MiniLM fine-tuning at 30 % of the measured peak or more.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

if __package__ in {None, ""}:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import cpu_features
from benchmarks._common import markdown_table
from benchmarks._common import write_results

BATCH = 16
FRAMES = 300
SENTENCES = [
    "I can't believe you did that again, this is the last time",
    "Thank you so much, that is the best news I have heard all year",
    "I miss her every single day and nothing feels the same anymore",
    "The meeting is at three in the second room on the left",
]
GOAL = 0.30
GOAL_MODELS = ("cnn14", "resnet34", "lm_classifier")


def _lstm_layer_flops(input_shape, weight_ih_shape, weight_hh_shape, *args, out_shape=None, **kwargs) -> int:  # noqa: ANN001, ARG001
    """One oneDNN LSTM layer and direction forward (``aten.mkldnn_rnn_layer``, which
    ``torch.utils.flop_counter`` does not count): the four gates' input and recurrent products."""
    steps, batch = input_shape[0], input_shape[1]
    return 2 * steps * batch * weight_hh_shape[0] * (weight_ih_shape[1] + weight_hh_shape[1])


def _lstm_layer_backward_flops(input_shape, weight_ih_shape, weight_hh_shape, *args, out_shape=None, **kwargs) -> int:  # noqa: ANN001, ARG001
    """Its backward pass: the gradients of the inputs and of the weights, twice the forward."""
    return 2 * _lstm_layer_flops(input_shape, weight_ih_shape, weight_hh_shape)


def lstm_flop_formulas() -> dict:
    """``FlopCounterMode``'s ``custom_mapping`` for the CPU LSTM kernels (none where torch lacks them)."""
    import torch

    aten = torch.ops.aten
    if not hasattr(aten, "mkldnn_rnn_layer"):
        return {}
    return {aten.mkldnn_rnn_layer: _lstm_layer_flops, aten.mkldnn_rnn_layer_backward: _lstm_layer_backward_flops}


def peak_flops(threads: int, seconds: float = 3.0, *, bf16: bool = True) -> dict[str, float | None]:
    """The machine's FLOP/s in float32 for a large matmul and a 3x3 convolution (the best of
    repeated runs), and with ``bf16`` in bfloat16 for the matmul (``None`` without: an emulated
    bfloat16 matmul of this size takes about a minute), with ``threads`` torch threads."""
    import torch

    torch.set_num_threads(threads)

    def best(function, flops: float) -> float:
        function()
        rates, start = [], time.perf_counter()
        while time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            function()
            rates.append(flops / (time.perf_counter() - t0))
        return max(rates)

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    matmul = best(lambda: a @ b, 2 * 2048**3)
    x = torch.randn(16, 64, 128, 128)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False)
    with torch.no_grad():
        convolution = best(lambda: conv(x), 2 * 16 * 64 * 64 * 9 * 128 * 128)
    matmul_bf16 = None
    if bf16:
        a16, b16 = a.bfloat16(), b.bfloat16()
        matmul_bf16 = best(lambda: a16 @ b16, 2 * 2048**3)
    return {"matmul": matmul, "conv2d": convolution, "peak": max(matmul, convolution), "matmul_bf16": matmul_bf16}


def _paper_spec(name: str, minilm: str, wav2vec: pathlib.Path):
    """The model at the width its paper trained (the registry defaults), on realistic inputs."""
    from emofuse.components import MODELS
    from emofuse.config import Component
    from emofuse.config import parse
    from emofuse.models.inputs import InputSpec
    from emofuse.systems.base import SystemSpec

    logmel = InputSpec("logmel", "audio", "sequence", 64)
    vector = InputSpec("compare", "audio", "vector", 6373)
    hsf = InputSpec("hsf", "audio", "vector", 68)
    lld = InputSpec("is09_windows", "audio", "sequence", 384)
    text_vector = InputSpec("minilm", "text", "vector", 384)
    tokens = InputSpec("tokens", "text", "sequence", 768)
    wave = InputSpec("waveform", "audio", "waveform", 1)
    text = InputSpec("text", "text", "text", 0)
    settings: dict[str, tuple[tuple, dict]] = {
        "mlp": ((vector,), {"hidden_sizes": [256]}),
        "attention_bilstm": ((lld,), {}),
        "cnn14": ((logmel,), {"crop_seconds": None}),
        "resnet34": ((logmel,), {}),
        "pooling": ((logmel,), {"head": "attention"}),
        "acoustic_lstm": ((hsf,), {}),
        "ssl_finetune": ((wave,), {"model": str(wav2vec), "max_duration": None}),
        "lm_classifier": ((text,), {"model": minilm}),
        "text_lstm": ((text,), {}),
        "concat": ((hsf, text_vector), {"branches": [{"name": "acoustic_lstm"}, {"name": "mlp", "hidden_sizes": [256]}]}),
        "attention_alignment": ((InputSpec("wav2vec", "audio", "sequence", 768), tokens), {}),
        "sfcnn14": ((logmel, text_vector), {"acoustic": {"crop_seconds": None}}),
        "mfcnn14": ((logmel, text_vector), {"acoustic": {"crop_seconds": None}}),
    }
    if name not in settings:
        return None
    inputs, config = settings[name]
    entry = MODELS.get(name)
    model = Component(name, parse(entry.config_class, config))
    fake_features = {}
    from emofuse.components import FEATURES

    for i in inputs:
        if i.name not in {"text", "waveform"}:
            fake_features[i.name] = Component("logmel_stats", FEATURES.config_class("logmel_stats")())
    return SystemSpec("categorical", ("ang", "hap", "neu", "sad"), inputs=inputs, model=model, features=fake_features)


def _batch(spec, rng):
    import numpy as np

    columns = []
    for i in spec.inputs:
        if i.kind == "text":
            columns.append([SENTENCES[k % len(SENTENCES)] for k in range(BATCH)])
        elif i.kind == "waveform":
            columns.append([0.1 * rng.standard_normal(FRAMES * 160).astype(np.float32) for _ in range(BATCH)])
        elif i.kind == "vector":
            columns.append([rng.standard_normal(i.dim).astype(np.float32) for _ in range(BATCH)])
        else:
            frames = FRAMES if i.dim == 64 else (150 if i.dim == 768 and i.modality == "audio" else (20 if i.modality == "text" else FRAMES))
            columns.append([rng.standard_normal((frames, i.dim)).astype(np.float32) for _ in range(BATCH)])
    return columns


def measure(name: str, *, minilm: str, wav2vec: pathlib.Path, steps: int, threads: int, fused: bool = True,
            bf16: bool = False) -> dict | None:
    """One model's training step, timed by phase, with emofuse's optimiser (AdamW, fused into
    one kernel) or, ``fused=False``, torch's default per-tensor AdamW loop; ``bf16``: the forward
    pass under ``torch.autocast`` in bfloat16 (what Lightning's ``bf16-mixed`` does), with the same
    fused optimiser so that the precision alone differs (a training run that also clips gradients
    uses the multi-tensor AdamW instead: see ``EmotionModule.configure_optimizers``)."""
    import numpy as np
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from emofuse.models.batching import collate_input
    from emofuse.systems.base import build_system

    torch.set_num_threads(threads)
    spec = _paper_spec(name, minilm, wav2vec)
    if spec is None:
        return None
    torch.manual_seed(0)
    system = build_system(spec)
    module = system.module.train()
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-4, fused=fused)
    columns = _batch(spec, np.random.default_rng(0))
    targets = torch.arange(BATCH) % 4

    def collate():
        return [collate_input(i.kind, column) for i, column in zip(spec.inputs, columns, strict=True)]

    def step(inputs):
        times = {}
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(module(inputs).float(), targets)
        t1 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        times.update(forward=t1 - t0, backward=t2 - t1, optimizer=t3 - t2)
        return times

    inputs = collate()
    with FlopCounterMode(display=False, custom_mapping=lstm_flop_formulas()) as counter:
        step(inputs)
    flops = counter.get_total_flops()
    step(inputs)  # warm-up
    records = []
    for _ in range(steps):
        t0 = time.perf_counter()
        inputs = collate()
        collation = time.perf_counter() - t0
        records.append({"collate": collation, **step(inputs)})
    phases = {k: statistics.median(r[k] for r in records) for k in records[0]}
    total = sum(phases.values())
    return {
        "model": name,
        "parameters": sum(p.numel() for p in module.parameters()),
        "trainable": sum(p.numel() for p in module.parameters() if p.requires_grad),
        "flops_per_step": flops,
        "seconds_per_step": total,
        "utterances_per_s": BATCH / total,
        "achieved_flops": flops / total,
        "phases": {k: v / total for k, v in phases.items()},
    }


def judge_against_run_peak(rows: list[dict], peak: dict[str, float | None]) -> None:
    """Each row's share of the run's best float32 reading (``peak["peak"]``: the machine's peak, since
    load only lowers a reading; written once, as the JSON's top-level ``peak``) and of the best matmul
    reading, in place."""
    for record in rows:
        record["fraction_of_peak"] = record["achieved_flops"] / peak["peak"]
        record["fraction_of_matmul_peak"] = record["achieved_flops"] / peak["matmul"]


def tiny_wav2vec2_base(directory: pathlib.Path) -> pathlib.Path:
    """wav2vec 2.0-base's architecture with random weights (the FLOPs of the real one)."""
    import transformers

    if not (directory / "config.json").is_file():
        transformers.Wav2Vec2Model(transformers.Wav2Vec2Config()).save_pretrained(directory)
        transformers.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=False).save_pretrained(directory)
    return directory


def times_bf16(choice: str, native: bool | None) -> bool:
    """Whether to time the bfloat16 step: ``on``, ``off``, or (``auto``) where the CPU computes
    bfloat16 natively; when PyTorch cannot tell (``None``), it is timed."""
    if choice == "auto":
        return native is not False
    return choice == "on"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=None, help="comma-separated model names (default: every neural model)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per model (median)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path("/tmp/emofuse_training_speed"))
    parser.add_argument("--bf16", choices=["auto", "on", "off"], default="auto",
                        help="time each step in bfloat16 mixed precision too (auto: where the CPU has native bfloat16)")
    arguments = parser.parse_args()
    import os

    import torch

    from emofuse.components import MODELS
    from emofuse.text.lm import resolve_model

    threads = arguments.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    names = arguments.models.split(",") if arguments.models else [
        n for n in MODELS.names() if n not in {"svm", "logistic_regression", "classification_block"}]
    minilm = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    arguments.workdir.mkdir(parents=True, exist_ok=True)
    wav2vec = tiny_wav2vec2_base(arguments.workdir / "wav2vec2_base")
    with_bf16 = times_bf16(arguments.bf16, cpu_features().get("bfloat16_native"))
    peak = peak_flops(threads, bf16=with_bf16)
    print(f"peak: matmul {peak['matmul'] / 1e9:.1f} GFLOP/s, conv2d {peak['conv2d'] / 1e9:.1f} GFLOP/s", flush=True)
    rows = []
    before = peak["peak"]
    for name in names:
        record = measure(name, minilm=minilm, wav2vec=wav2vec, steps=arguments.steps, threads=threads)
        if record is None:
            print(f"{name}: no realistic setting defined, skipped", flush=True)
            continue
        # the peak read right before and right after this model (beside it: the load of the shared
        # machine at the time); the goal is judged against the best reading of the whole run, below
        after = peak_flops(threads, seconds=1.0, bf16=False)
        record["peak_flops_beside"] = max(before, after["peak"])
        record["fraction_of_peak_beside"] = record["achieved_flops"] / record["peak_flops_beside"]
        before = after["peak"]
        for key in ("matmul", "conv2d", "peak"):
            peak[key] = max(peak[key], after[key])
        unfused = measure(name, minilm=minilm, wav2vec=wav2vec, steps=arguments.steps, threads=threads, fused=False)
        record["utterances_per_s_unfused_optimizer"] = unfused["utterances_per_s"]
        record.update(utterances_per_s_bf16_mixed=None, bf16_speedup=None, fraction_of_bf16_peak=None)
        if with_bf16:
            mixed = measure(name, minilm=minilm, wav2vec=wav2vec, steps=arguments.steps, threads=threads, bf16=True)
            record["utterances_per_s_bf16_mixed"] = mixed["utterances_per_s"]
            record["bf16_speedup"] = mixed["utterances_per_s"] / record["utterances_per_s"]
            record["fraction_of_bf16_peak"] = mixed["achieved_flops"] / peak["matmul_bf16"]
        rows.append(record)
        print(f"{name:20s} {record['utterances_per_s']:7.1f} utt/s  {record['achieved_flops'] / 1e9:6.1f} GFLOP/s "
              f"= {100 * record['fraction_of_peak_beside']:5.1f} % of the peak beside it  phases "
              + " ".join(f"{k} {100 * v:.0f}%" for k, v in record["phases"].items())
              + f"  (default AdamW loop: {record['utterances_per_s_unfused_optimizer']:.1f} utt/s"
              + (f"; bf16-mixed {record['utterances_per_s_bf16_mixed']:.1f} utt/s, x{record['bf16_speedup']:.2f})"
                 if with_bf16 else ")"), flush=True)
    judge_against_run_peak(rows, peak)
    table = markdown_table(
        ["model", "trainable params", "GFLOP / step", "utt/s", "utt/s, torch's default AdamW loop", "GFLOP/s",
         "% of peak", "goal", "% of the peak beside it", "% of the matmul peak", "collate / fwd / bwd / optim %",
         "utt/s bf16-mixed",
         "bf16 speed-up", "% of bf16 peak"],
        [[r["model"], f"{r['trainable'] / 1e6:.2f} M", f"{r['flops_per_step'] / 1e9:.1f}", f"{r['utterances_per_s']:.1f}",
          f"{r['utterances_per_s_unfused_optimizer']:.1f}",
          f"{r['achieved_flops'] / 1e9:.1f}", f"{100 * r['fraction_of_peak']:.1f}",
          ("met" if r["fraction_of_peak"] >= GOAL else "not met") if r["model"] in GOAL_MODELS else "",
          f"{100 * r['fraction_of_peak_beside']:.1f}", f"{100 * r['fraction_of_matmul_peak']:.1f}",
          " / ".join(f"{100 * r['phases'][k]:.0f}" for k in ("collate", "forward", "backward", "optimizer")),
          *([f"{r['utterances_per_s_bf16_mixed']:.1f}", f"x{r['bf16_speedup']:.2f}", f"{100 * r['fraction_of_bf16_peak']:.1f}"]
            if with_bf16 else ["", "", ""])]
         for r in rows])
    markdown = (f"Peak float32 FLOP/s, the best reading of the run with {threads} threads (at its start and after "
                f"each model): {peak['peak'] / 1e9:.1f} GFLOP/s; matmul 2048^3 (torch's float32 matmul: MKL) "
                f"{peak['matmul'] / 1e9:.1f} GFLOP/s, conv2d 3x3 64->64 on 16x128x128 (oneDNN) {peak['conv2d'] / 1e9:.1f} GFLOP/s"
                + (f"; bfloat16 matmul {peak['matmul_bf16'] / 1e9:.1f} GFLOP/s. " if with_bf16 else ". ")
                + f"Batches of {BATCH} utterances (3 s: 64 x {FRAMES} log-Mel frames, or {FRAMES * 160} samples) or "
                f"{BATCH} sentences; models at their papers' widths. Goal: {', '.join(GOAL_MODELS)} at "
                f"{100 * GOAL:.0f} % of peak or more, judged against the run's best reading (load only lowers a reading). "
                "Beside it: against the larger of the readings just before and just after the model (the load at the "
                "time), and against the best matmul reading (a model made of linear layers runs on MKL's matmul, which "
                "on some CPUs, e.g. AMD Zen 5, reaches half of what oneDNN's convolution does). The last three "
                "columns: the same step in bfloat16 mixed precision (`--set systems.NAME.training.precision=bf16-mixed`; "
                "autocast forward pass, float32 weights), its speed-up over float32 and its share of the bfloat16 matmul peak"
                + ("" if with_bf16 else ", left empty in this run: this CPU has no native bfloat16 (`--bf16 on` times "
                   "it anyway, several times slower than float32)") + ".\n\n" + table)
    write_results("training_speed", {"peak": peak, "threads": threads, "batch": BATCH, "bf16_timed": with_bf16, "rows": rows},
                  markdown)
    print(markdown)


if __name__ == "__main__":
    main()
