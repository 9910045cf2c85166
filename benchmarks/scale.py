"""Scale: sharded extraction on Lightning's Trainer.predict and the feature store (issue 16).

1. Extraction throughput into a store (utterances/s, audio MB/s read, feature MB/s written)
   with 1 and 2 processes, for log-Mel frames and a tiny wav2vec 2.0 built from a config
   (random weights: the same computation as a trained one), on EmoDB files.
2. The per-utterance cache against the shard store for 10,000 small utterances (synthetic
   0.5 s clips): files, bytes (apparent and allocated), extraction time, and the time to read
   every feature back, warm and after evicting the files from the page cache.
3. A worked plan for 1000 h on a cluster: bytes per hour of each feature kind (measured store
   overhead), FLOPs per audio second of the tiny model, wav2vec 2.0 base and large (counted
   with ``torch.utils.flop_counter``), the tiny model's measured cost per audio second scaled by
   FLOPs to wav2vec 2.0 large (checked against large measured on a few clips on this CPU), GPU
   hours at stated sustained rates, and the engine settings to use.

    python benchmarks/scale.py                      # everything (a few minutes on 2 cores)
    python benchmarks/scale.py --files 60 --ssl-files 30 --small 500 --model-seconds 3 --rounds 1   # a quick look

Two processes run as ``ddp_fork`` (CPU processes forked from this one); ``emofuse extract
--devices 2`` uses ``ddp``, which starts new interpreters (a few seconds each, counted in the
wall time, not in the steady rate). The steady rate is timed from the first process starting
its loop to the last one finishing, so it leaves out process start-up.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

if __package__ in {None, ""}:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import markdown_table
from benchmarks._common import peak_memory_mb
from benchmarks._common import shared
from benchmarks._common import write_results

log = logging.getLogger("scale")

HOURS = 1000
SECONDS = HOURS * 3600
#: Sustained dense bf16 rates assumed for the GPU plan: peak x 30 % (frozen-encoder inference on
#: variable-length batches rarely sustains more). Peaks: A100 312, H100 SXM 989 TFLOP/s.
GPUS = {"A100": 312e12, "H100": 989e12}
UTILISATION = 0.30

# Models built from configs: same layout as the hub models, random weights ----------------------
CONV = {"conv_dim": (512,) * 7, "conv_stride": (5, 2, 2, 2, 2, 2, 2), "conv_kernel": (10, 3, 3, 3, 3, 2, 2)}
SSL_MODELS = {
    # the tiny model: wav2vec 2.0's frame rate (50 per second) with narrow convolutions and 2 blocks
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128,
             "conv_dim": (32,) * 7, "conv_stride": CONV["conv_stride"], "conv_kernel": CONV["conv_kernel"],
             "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, **CONV},
    "large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096,
              "feat_extract_norm": "layer", "do_stable_layer_norm": True, "conv_bias": True, **CONV},
}


def build_ssl(name: str, directory: pathlib.Path) -> pathlib.Path:
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(**SSL_MODELS[name])
    transformers.Wav2Vec2Model(config).save_pretrained(directory)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=name == "large").save_pretrained(directory)
    return directory


def flops_per_second(directory: pathlib.Path, seconds: float = 4.0) -> float:
    """Forward FLOPs per audio second of a saved encoder, on one ``seconds`` clip."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from emofuse.audio.ssl import SSLEncoder

    encoder = SSLEncoder.from_pretrained(str(directory)).eval()
    for module in encoder.modules():  # the flop counter cannot see through weight norm (the positional conv)
        if torch.nn.utils.parametrize.is_parametrized(module, "weight"):
            torch.nn.utils.parametrize.remove_parametrizations(module, "weight")
    waveform = torch.randn(1, int(seconds * 16000))
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        encoder(waveform)
    return counter.get_total_flops() / seconds


def seconds_per_audio_second(directory: pathlib.Path, signals: list) -> float:
    """Measured encoder CPU time per audio second on this machine (frozen, one clip at a time)."""
    import numpy as np
    import torch

    from emofuse.audio.ssl import SSLEncoder

    encoder = SSLEncoder.from_pretrained(str(directory)).eval()
    with torch.inference_mode():
        encoder(torch.from_numpy(signals[0][:16000])[None])  # warm-up
        start = time.process_time()  # CPU time: the cost, whatever share of the CPU other jobs leave
        for signal in signals:
            encoder(torch.from_numpy(np.ascontiguousarray(signal))[None])
        elapsed = time.process_time() - start
    return elapsed / (sum(len(s) for s in signals) / 16000)


# Timing the engine -------------------------------------------------------------------------------
def timed_writer(record: pathlib.Path):  # noqa: ANN201
    """A ShardWriterCallback that notes when each process starts and ends its loop."""
    from emofuse.training.extraction import ShardWriterCallback

    class TimedWriter(ShardWriterCallback):
        def on_predict_start(self, trainer, pl_module) -> None:  # noqa: ANN001
            self.started = (time.time(), time.process_time())

        def on_predict_end(self, trainer, pl_module) -> None:  # noqa: ANN001
            ended = (time.time(), time.process_time())
            span = [self.started[0], ended[0], ended[1] - self.started[1]]  # start, end, CPU seconds
            (record / f"rank{trainer.global_rank}.json").write_text(json.dumps(span))
            super().on_predict_end(trainer, pl_module)

    return TimedWriter


def extract_timed(extractor, manifest, store_dir: pathlib.Path, *, devices: int, shard_size: int, batch_size: int = 16) -> dict:
    import numpy as np

    import emofuse.training.extraction as extraction
    from emofuse.experiment import StoreConfig
    from emofuse.store import FeatureStore

    record = store_dir.parent / f"{store_dir.name}-timing"
    record.mkdir(parents=True, exist_ok=True)
    original = extraction.ShardWriterCallback
    extraction.ShardWriterCallback = timed_writer(record)
    try:
        settings = StoreConfig(path=str(store_dir), shard_size=shard_size, batch_size=batch_size, accelerator="cpu",
                               devices=devices, strategy="ddp_fork" if devices > 1 else "auto")
        start = time.perf_counter()
        table = extraction.extract_to_store(extractor, manifest, settings)
        wall = time.perf_counter() - start
    finally:
        extraction.ShardWriterCallback = original
    spans = [json.loads(p.read_text()) for p in sorted(record.glob("rank*.json"))]
    steady = max(span[1] for span in spans) - min(span[0] for span in spans)
    cpu = [span[2] for span in spans]
    files = FeatureStore(store_dir, extractor.name, extractor.component, shard_size=shard_size).shard_files()
    values = sum(int(np.prod(table.values.shape(i))) for i in table.values)
    return {"utterances": len(table.values), "failures": len(table.failures), "wall_s": wall, "steady_s": steady,
            "cpu_s": sum(cpu), "max_process_cpu_s": max(cpu),
            "feature_bytes": sum(f.stat().st_size for f in files), "values": values, "shards": len(files)}


def throughput(files: list[pathlib.Path], ssl_files: int, work: pathlib.Path, tiny: pathlib.Path, *, rounds: int,
               repeat: int) -> list[dict]:
    """Each front-end with 1 and 2 processes, ``rounds`` times alternately; the fastest steady time
    counts. log-Mel reads every file ``repeat`` times (as many utterances), to run long enough to time."""
    import soundfile

    from emofuse.components import FEATURES
    from emofuse.config import Component
    from emofuse.data.manifest import Manifest
    from emofuse.data.manifest import Utterance
    from emofuse.features import build_extractor

    rows = []
    fronts = {
        "logmel": (Component("logmel", FEATURES.get("logmel").config_class()), files * repeat),
        "ssl_tiny": (Component("ssl", FEATURES.get("ssl").config_class(model=str(tiny), max_duration=None)), files[:ssl_files]),
    }
    for name, (component, chosen) in fronts.items():
        manifest = Manifest([Utterance(f"{p.stem}-{k}", audio=str(p)) for k, p in enumerate(chosen)])
        audio_bytes = sum(p.stat().st_size for p in chosen)
        audio_seconds = sum(soundfile.info(str(p)).duration for p in chosen)
        # warm-up in this process (the encoder loaded, the filter banks built), inherited by forked workers
        extract_timed(build_extractor(component), Manifest(list(manifest)[:2]), work / f"{name}-warm-up", devices=1, shard_size=100)
        best: dict[int, dict] = {}
        for round_ in range(rounds):
            for devices in (1, 2):
                result = extract_timed(build_extractor(component), manifest, work / f"{name}-{devices}-{round_}",
                                       devices=devices, shard_size=100)
                log.info("%s, %d processes, round %d: %.1f s steady (%.1f s wall)", name, devices, round_,
                         result["steady_s"], result["wall_s"])
                if devices not in best or result["steady_s"] < best[devices]["steady_s"]:
                    best[devices] = result
        for devices, result in best.items():
            result.update({"front_end": name, "processes": devices, "audio_seconds": audio_seconds,
                           "audio_bytes": audio_bytes, "rounds": rounds,
                           "utterances_per_s": result["utterances"] / result["steady_s"],
                           "audio_mb_per_s": audio_bytes / 1e6 / result["steady_s"],
                           "feature_mb_per_s": result["feature_bytes"] / 1e6 / result["steady_s"]})
            rows.append(result)
    return rows


def decoding_rate(files: list[pathlib.Path]) -> float:
    """Audio seconds decoded per second by one process (emofuse's checked reading of 16 kHz WAV)."""
    from emofuse.audio.io import read_audio

    read_audio(files[0], sampling_rate=16000)
    start = time.perf_counter()
    seconds = sum(len(read_audio(path, sampling_rate=16000)) / 16000 for path in files)
    return seconds / (time.perf_counter() - start)


def float16_error(store_dir: pathlib.Path, name: str, component) -> float:  # noqa: ANN001
    """Largest relative error of float16 against float32 values (magnitudes above 1e-3) in a store."""
    import numpy as np

    from emofuse.store import FeatureStore

    store = FeatureStore(store_dir, name, component, shard_size=100)
    index = store.index()
    table = store.table(list(zip(index.ids, index.keys, strict=True)))[0]
    values = np.concatenate([table[i].ravel() for i in table])
    values = values[np.abs(values) > 1e-3]
    return float(np.max(np.abs(values.astype(np.float16).astype(np.float32) - values) / np.abs(values)))


# Cache against store -------------------------------------------------------------------------------
def evict(paths) -> None:  # noqa: ANN001
    """Drop the files' pages from the page cache (clean pages; no root needed)."""
    for path in paths:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def allocated(paths) -> int:  # noqa: ANN001
    return sum(os.stat(p).st_blocks * 512 for p in paths)


def small_clips(count: int, directory: pathlib.Path):  # noqa: ANN201
    import numpy as np
    import soundfile

    from emofuse.data.manifest import Manifest
    from emofuse.data.manifest import Utterance

    rng = np.random.default_rng(0)
    t = np.arange(8000) / 16000
    utterances = []
    for k in range(count):
        path = directory / f"{k // 1000:02d}" / f"clip{k:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        signal = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 300) * t) + 0.01 * rng.standard_normal(t.size)
        soundfile.write(path, signal.astype(np.float32), 16000, subtype="PCM_16")
        utterances.append(Utterance(f"clip{k:05d}", audio=str(path)))
    return Manifest(utterances)


def cache_against_store(count: int, work: pathlib.Path) -> list[dict]:

    from emofuse.cache import FeatureCache
    from emofuse.components import FEATURES
    from emofuse.config import Component
    from emofuse.experiment import StoreConfig
    from emofuse.features import audio_key
    from emofuse.features import build_extractor
    from emofuse.features import extract_features
    from emofuse.store import FeatureStore
    from emofuse.training.extraction import extract_to_store

    manifest = small_clips(count, work / "clips")
    keys = [audio_key(u) for u in manifest]
    rows = []
    for name in ("logmel", "logmel_stats"):
        component = Component(name, FEATURES.get(name).config_class())
        extractor = build_extractor(component)
        start = time.perf_counter()
        extract_features(extractor, manifest, cache_dir=work / "cache", progress=False)
        cache_extract = time.perf_counter() - start
        cache = FeatureCache(work / "cache", name, component)
        cache_files = [cache.path(k) for k in keys]
        start = time.perf_counter()
        extract_to_store(extractor, manifest, StoreConfig(path=str(work / "store"), shard_size=1000, accelerator="cpu"))
        store_extract = time.perf_counter() - start
        store = FeatureStore(work / "store", name, component)
        store_files = [*store.shard_files(), store.index_path, store.directory / "store.json"]

        def read_cache(cache=cache) -> float:  # emofuse's read path: each entry loaded and checked
            return float(sum(cache.load(k).sum() for k in keys))

        def read_store(store=store) -> float:  # the index, the shards checked, then every row
            table = store.table([(u.id, k) for u, k in zip(manifest, keys, strict=True)])[0]
            return float(sum(table[u.id].sum() for u in manifest))

        timings = {}
        for label, read, paths in (("cache", read_cache, cache_files), ("store", read_store, store_files)):
            read()  # warm
            start = time.perf_counter()
            total = read()
            timings[f"{label}_warm_s"] = time.perf_counter() - start
            evict(paths)
            start = time.perf_counter()
            assert read() == total
            timings[f"{label}_cold_s"] = time.perf_counter() - start
        rows.append({
            "feature": name, "utterances": count,
            "cache_files": len(cache_files) + 1 + len({p.parent for p in cache_files}),  # + config.json + directories
            "cache_bytes": sum(p.stat().st_size for p in cache_files), "cache_allocated": allocated(cache_files),
            "cache_extract_s": cache_extract,
            "store_files": len(store_files), "store_bytes": sum(p.stat().st_size for p in store_files),
            "store_allocated": allocated(store_files), "store_extract_s": store_extract, **timings,
        })
        log.info("%s: cache %d files, store %d files", name, rows[-1]["cache_files"], rows[-1]["store_files"])
    return rows


# The plan -----------------------------------------------------------------------------------------------
#: Feature kinds: values per audio second, values per utterance.
KINDS = {
    "logmel frames (64 x 100/s)": (64 * 100, 0),
    "logmel_stats (256 per utterance)": (0, 256),
    "wav2vec 2.0 base, one layer (768 x 50/s)": (768 * 50, 0),
    "wav2vec 2.0 large, one layer (1024 x 50/s)": (1024 * 50, 0),
    "wav2vec 2.0 large, all 25 layers (25 x 1024 x 50/s)": (25 * 1024 * 50, 0),
}
SEGMENT_SECONDS = 5.0  # MSP-Podcast-like segments


def store_bytes(per_second: float, per_utterance: float, seconds: float, utterances: float, overhead: float,
                value_bytes: int) -> float:
    return (per_second * seconds + per_utterance * utterances) * value_bytes + overhead * utterances


def plan(throughput_rows: list[dict], small_rows: list[dict], measured: dict) -> dict:
    """The 1000 h plan from the measurements (``measured``: flops, seconds per audio second of
    the models, decoding rate, float16 error)."""
    by = {(r["front_end"], r["processes"]): r for r in throughput_rows}
    tiny, logmel = by[("ssl_tiny", 1)], by[("logmel", 1)]
    # what a store adds to the values (ids, keys, shapes, offsets, schema and footers), per utterance
    overhead = {name: (r["feature_bytes"] - 4 * r["values"]) / r["utterances"] for name, r in (("logmel", logmel), ("ssl_tiny", tiny))}
    per_utterance = max(overhead.values())
    utterances_per_hour = 3600 / SEGMENT_SECONDS
    bytes_per_hour = {kind: {dtype: store_bytes(ps, pu, 3600, utterances_per_hour, per_utterance, size)
                             for dtype, size in (("float32", 4), ("float16", 2))}
                      for kind, (ps, pu) in KINDS.items()}
    checks = []  # the formula against the stores measured above, at their own clip lengths
    for name, row, per_second in (("logmel", logmel, 64 * 100), ("ssl_tiny", tiny, 64 * 50)):
        predicted = store_bytes(per_second, 0, row["audio_seconds"], row["utterances"], per_utterance, 4)
        checks.append({"store": name, "measured_bytes": row["feature_bytes"], "formula_bytes": predicted})
    stats = next(r for r in small_rows if r["feature"] == "logmel_stats")
    checks.append({"store": "logmel_stats (small clips)", "measured_bytes": stats["store_bytes"],
                   "formula_bytes": store_bytes(0, 256, 0, stats["utterances"], per_utterance, 4)})
    flops, cost = measured["flops"], dict(measured["seconds_per_audio_second"])
    cost["tiny"] = tiny["cpu_s"] / tiny["audio_seconds"]  # through the engine, one process
    achieved = {name: flops[name] / seconds for name, seconds in cost.items() if seconds}
    scaled = {source: cost[source] * flops["large"] / flops[source] for source in ("tiny", "base") if cost.get(source)}
    total_flops = flops["large"] * SECONDS
    sustained = {gpu: peak * UTILISATION for gpu, peak in GPUS.items()}
    # the cluster: one float16 layer of wav2vec 2.0 large, shards of about 1 GB
    layer = "wav2vec 2.0 large, one layer (1024 x 50/s)"
    utterance_bytes = store_bytes(1024 * 50, 0, SEGMENT_SECONDS, 1, per_utterance, 2)
    shard_size = int(round(1e9 / utterance_bytes, -2))
    shards = int(np.ceil(SECONDS / SEGMENT_SECONDS / shard_size))
    gpu_realtime = sustained["A100"] / flops["large"]  # audio seconds per GPU second
    workers = int(np.ceil(gpu_realtime / measured["decoding_rate"]))
    return {
        "hours": HOURS, "segment_seconds": SEGMENT_SECONDS, "store_overhead_bytes_per_utterance": overhead,
        "bytes_per_hour": bytes_per_hour, "formula_checks": checks,
        "flops_per_audio_second": flops, "seconds_per_audio_second": cost, "flops_per_second_achieved": achieved,
        "large_seconds_per_audio_second_scaled": scaled,
        "large_cpu_hours": {source: value * SECONDS / 3600 for source, value in
                            {**{f"scaled from {k}": v for k, v in scaled.items()}, "measured": cost.get("large")}.items() if value},
        "large_total_flops": total_flops, "gpu_utilisation_assumed": UTILISATION,
        "gpu_hours": {gpu: total_flops / rate / 3600 for gpu, rate in sustained.items()},
        "gpu_realtime_factor_a100": gpu_realtime,
        "decoding_rate": measured["decoding_rate"], "float16_max_relative_error": measured["float16_error"],
        "cluster": {"devices": 8, "num_nodes": 1, "layer": layer, "shard_size": shard_size, "shards": shards,
                    "shard_bytes": shard_size * utterance_bytes, "num_workers": workers,
                    "store_bytes": bytes_per_hour[layer]["float16"] * HOURS,
                    "all_layers_bytes": bytes_per_hour["wav2vec 2.0 large, all 25 layers (25 x 1024 x 50/s)"]["float16"] * HOURS,
                    "shuffle_buffer": 8 * shard_size},
    }


def markdown(data: dict) -> str:
    lines = ["Timings were taken on a shared 2-core machine (other jobs may run beside it; the 1-minute load "
             f"average was {data['load_average_at_start']:.1f} at the start and {data['load_average_at_end']:.1f} at "
             "the end): compare the ratios measured in the same run, not the absolute numbers. Every process runs "
             "one thread (torch, BLAS, OpenMP); two processes run forked (`ddp_fork`).", ""]
    rows = []
    single = {r["front_end"]: r for r in data["throughput"] if r["processes"] == 1}
    for r in data["throughput"]:
        rows.append([r["front_end"], r["processes"], r["utterances"], f"{r['audio_seconds']:.0f}", f"{r['wall_s']:.1f}",
                     f"{r['steady_s']:.1f}", f"{r['utterances_per_s']:.1f}", f"{r['audio_mb_per_s']:.2f}",
                     f"{r['feature_mb_per_s']:.2f}", f"{single[r['front_end']]['steady_s'] / r['steady_s']:.2f}x",
                     f"{r['cpu_s']:.1f}", f"{1000 * r['cpu_s'] / r['utterances']:.1f}",
                     f"{single[r['front_end']]['cpu_s'] / r['max_process_cpu_s']:.2f}x"])
    rounds = data["throughput"][0]["rounds"]
    lines += ["## Extraction throughput into a store (EmoDB files, shards of 100)", "",
              f"log-Mel (64 bins, frames) reads each file {data['repeat']} times; ssl_tiny each file once.", "",
              markdown_table(["front-end", "processes", "utterances", "audio s", "wall s", "steady s", "utt/s",
                              "audio MB/s", "feature MB/s", "speed-up", "CPU s", "CPU ms/utt", "CPU-bound speed-up"], rows),
              f"The fastest of {rounds} alternating rounds, after a warm-up (encoder loaded, filter banks built). "
              "Wall time includes planning, forking and joining the process group and reading the store back; the "
              "steady time runs from the first process entering its loop to the last one leaving it; the rates and the "
              "speed-up use it, so they depend on how much CPU the other jobs left. CPU s: the processes' own CPU "
              "time in their loops, summed; CPU-bound speed-up: one process's CPU time over the busiest process's "
              "in the run, the speed-up on otherwise idle cores. ssl_tiny is a "
              "wav2vec 2.0 built from a config (random weights): 7 convolutions of 32 channels, 2 blocks of 64 "
              "units, 50 frames per second.", ""]
    rows = []
    for r in data["cache_against_store"]:
        for layout in ("cache", "store"):
            rows.append([r["feature"], layout, f"{r[f'{layout}_files']:,}", f"{r[f'{layout}_bytes'] / 1e6:,.1f}",
                         f"{r[f'{layout}_allocated'] / 1e6:,.1f}", f"{r[f'{layout}_extract_s']:.1f}",
                         f"{r[f'{layout}_warm_s']:.2f}", f"{r[f'{layout}_cold_s']:.2f}"])
    ratios = [f"{r['feature']}: {r['cache_files'] / r['store_files']:,.0f}x fewer files, "
              f"{r['cache_allocated'] / r['store_allocated']:.1f}x less space allocated, reading "
              f"{r['cache_cold_s'] / r['store_cold_s']:.1f}x faster cold and {r['cache_warm_s'] / r['store_warm_s']:.1f}x warm"
              for r in data["cache_against_store"]]
    count = data["cache_against_store"][0]["utterances"]
    lines += [f"## Per-utterance cache against the shard store ({count:,} synthetic 0.5 s clips)", "",
              markdown_table(["feature", "layout", "files", "MB", "MB allocated", "extract s", "read all s (warm)",
                              "read all s (cold)"], rows),
              "Files: the cache's entries, its config.json and its shard directories; the store's shards, index "
              "and store.json. Allocated: file-system blocks. Read all: every feature read and summed through "
              "emofuse's own read path (the cache loads and checks each entry; the store opens its index, checks "
              "its shards, then maps the rows); cold: after evicting the files from the page cache with "
              "posix_fadvise. Extraction: one process each (the cache in this process, the store through "
              "Trainer.predict, whose start-up is included).", "", "; ".join(ratios) + ".", ""]
    p = data["plan"]
    rows = [[kind, f"{v['float32'] / 1e6:,.1f}", f"{v['float16'] / 1e6:,.1f}", f"{v['float32'] * HOURS / 1e12:,.3f}",
             f"{v['float16'] * HOURS / 1e12:,.3f}"] for kind, v in p["bytes_per_hour"].items()]
    overhead = max(p["store_overhead_bytes_per_utterance"].values())
    checks = ", ".join(f"{c['store']} {c['measured_bytes'] / 1e6:.2f} MB measured against {c['formula_bytes'] / 1e6:.2f} MB"
                       for c in p["formula_checks"])
    lines += [f"## A plan for {HOURS} h on a cluster", "", "### Bytes per hour of audio", "",
              markdown_table(["feature kind", "MB/h float32", "MB/h float16", f"TB for {HOURS} h float32",
                              f"TB for {HOURS} h float16"], rows),
              f"Values per second (or per utterance) times bytes per value, plus the store's own bytes, "
              f"{overhead:.0f} per utterance (ids, keys, shapes, offsets, footers; measured on the stores above), "
              f"at {3600 / p['segment_seconds']:.0f} utterances per hour ({p['segment_seconds']:.0f} s segments, as "
              f"MSP-Podcast's). The formula against the stores above: {checks}. float16 rounds values by at most "
              f"{p['float16_max_relative_error']:.1e} of their magnitude (measured on the tiny SSL features).", "",
              "### Compute for a wav2vec 2.0 large extraction", ""]
    rows = [[name, f"{p['flops_per_audio_second'][name] / 1e9:.3f}",
             f"{p['seconds_per_audio_second'][name]:.4f}" if p["seconds_per_audio_second"].get(name) else "-",
             f"{p['flops_per_second_achieved'][name] / 1e9:.1f}" if name in p["flops_per_second_achieved"] else "-"]
            for name in p["flops_per_audio_second"]]
    lines += [markdown_table(["model (built from a config)", "GFLOPs per audio second", "CPU s per audio second here",
                              "GFLOP/s achieved here"], rows),
              "FLOPs counted with torch.utils.flop_counter on a 4 s clip; CPU time of one process with one thread "
              "(so other jobs on the machine do not count): the tiny model through the engine, base and large "
              "directly on EmoDB clips.", ""]
    scaled = p["large_seconds_per_audio_second_scaled"]
    large = p["seconds_per_audio_second"].get("large")
    notes = [f"scaled by FLOPs from {source}: {value:.2f} s per audio second"
             + (f" ({value / large:.2f}x the measured {large:.2f} s)" if large else "") for source, value in scaled.items()]
    gpu = ", ".join(f"{name} {hours:.2f} GPU-hours" for name, hours in p["gpu_hours"].items())
    cluster = p["cluster"]
    lines += ["wav2vec 2.0 large on this CPU, " + "; ".join(notes) + ". Scaling the measured per-second cost by FLOPs "
              "works from a model of the same shape (base) and fails from a tiny one, whose time goes to overheads, "
              f"not arithmetic. {HOURS} h is {p['large_total_flops']:.2e} FLOPs: "
              + ", ".join(f"{hours:,.0f} core-hours of this CPU ({source})" for source, hours in p["large_cpu_hours"].items())
              + ".", "",
              f"GPU hours: the same FLOPs at {int(p['gpu_utilisation_assumed'] * 100)} % of the dense bf16 peak (an "
              f"assumption: no GPU was measured here): {gpu}; an A100 then runs {p['gpu_realtime_factor_a100']:,.0f}x "
              f"real time. One process decodes {p['decoding_rate']:,.0f} s of 16 kHz WAV per second here, so a GPU "
              f"needs {cluster['num_workers']} decoding process{'es' if cluster['num_workers'] != 1 else ''} to keep up, and writing "
              f"{cluster['store_bytes'] / 1e12:.2f} TB (one float16 layer; {cluster['all_layers_bytes'] / 1e12:.1f} TB "
              "for all 25) is the larger cost: the file system, not the GPUs, sets the pace.", "",
              "### Engine settings", "", settings_text(p), ""]
    return "\n".join(lines) + "\n"


def settings_text(p: dict) -> str:
    cluster = p["cluster"]
    per_gpu = cluster["shards"] / (cluster["devices"] * cluster["num_nodes"])
    window_hours = cluster["shuffle_buffer"] * p["segment_seconds"] / 3600
    return "\n".join([
        f"- **Engine**: `emofuse extract recipe.yaml -o $SCRATCH/store --accelerator gpu --devices {cluster['devices']} "
        f"--num-nodes {cluster['num_nodes']} --strategy ddp --precision bf16-mixed --dtype float16 --shard-size "
        f"{cluster['shard_size']} --batch-size 16 --num-workers {cluster['num_workers']}` (one large layer: the "
        "front-end's `layer`). Under SLURM, `srun` with one task per GPU (Lightning reads the environment); more "
        "nodes (`--num-nodes`) only help when the file system's write bandwidth grows with them. Every process "
        "writes whole shards dealt round-robin and meets the others only at the start and the end; a job stopped "
        "by the scheduler is submitted again with the same command and writes only the missing shards.",
        f"- **Shards**: {cluster['shard_size']:,} utterances of {p['segment_seconds']:.0f} s of one float16 layer are "
        f"{cluster['shard_bytes'] / 1e9:.2f} GB; {HOURS} h makes {cluster['shards']:,} shards, {per_gpu:.0f} per GPU. "
        "For all 25 layers divide the shard size by 25, or keep one store per layer (a weighted sum over a few "
        "layers reads only those stores).",
        "- **dtype**: float16 halves every frame-level store; features are converted to float32 when read.",
        f"- **Training**: `extraction.store.path: $SCRATCH/store` and `training.shuffle_buffer: {cluster['shuffle_buffer']:,}` "
        f"(a window of 8 shards, {window_hours:.0f} h of audio, read from memory-mapped files); with "
        "`training.strategy: ddp` every process streams its share of the same batches.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=535, help="EmoDB files for the log-Mel throughput.")
    parser.add_argument("--repeat", type=int, default=4, help="Times log-Mel reads each file (utterances: files x repeat).")
    parser.add_argument("--ssl-files", type=int, default=535, help="EmoDB files for the tiny SSL throughput.")
    parser.add_argument("--small", type=int, default=10000, help="Small utterances for cache against store.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds of the throughput runs.")
    parser.add_argument("--model-seconds", type=float, default=12.0, help="Audio seconds to time base and large on (0: skip).")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("lightning", "lightning.pytorch", "lightning.fabric", "transformers"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    import torch
    from threadpoolctl import threadpool_limits
    from transformers.utils import logging as transformers_logging

    from emofuse.audio.io import read_audio
    from emofuse.components import FEATURES
    from emofuse.config import Component

    transformers_logging.disable_progress_bar()
    # one thread per process (torch, BLAS, OpenMP): process scaling, without oversubscribing a shared machine
    torch.set_num_threads(1)
    threadpool_limits(limits=1)
    files = sorted(shared("data", "emodb", "wav").glob("*.wav"))[: args.files]
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="emofuse-scale-") as scratch:
        work = pathlib.Path(scratch)
        models = {name: build_ssl(name, work / f"wav2vec2-{name}") for name in SSL_MODELS}
        rows = throughput(files, min(args.ssl_files, len(files)), work / "throughput", models["tiny"], rounds=args.rounds,
                          repeat=args.repeat)
        tiny_component = Component("ssl", FEATURES.get("ssl").config_class(model=str(models["tiny"]), max_duration=None))
        measured = {"decoding_rate": decoding_rate(files),
                    "float16_error": float16_error(work / "throughput" / "ssl_tiny-1-0", "ssl", tiny_component)}
        small = cache_against_store(args.small, work / "small")
        measured["flops"] = {name: flops_per_second(directory) for name, directory in models.items()}
        measured["seconds_per_audio_second"] = {}
        if args.model_seconds > 0:
            signals, total = [], 0.0
            for path in files:
                signals.append(read_audio(path, sampling_rate=16000).astype(np.float32))
                total += len(signals[-1]) / 16000
                if total >= args.model_seconds:
                    break
            for name in ("base", "large"):
                measured["seconds_per_audio_second"][name] = seconds_per_audio_second(models[name], signals)
                log.info("wav2vec 2.0 %s: %.2f s per audio second", name, measured["seconds_per_audio_second"][name])
    data = {"load_average_at_start": load, "load_average_at_end": os.getloadavg()[0], "repeat": args.repeat, "throughput": rows, "cache_against_store": small,
            "plan": plan(rows, small, measured), "peak_memory_mb": peak_memory_mb()}
    print(write_results("scale", data, markdown(data)).read_text())


if __name__ == "__main__":
    main()
