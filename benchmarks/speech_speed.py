"""Speed of the speech front-ends and of CNN14 training (issue 7).

1. Real-time factor (processing seconds per audio second) of each extractor through emofuse
   (``extract_features``: checked reading, resampling, NaN checks, atomic cache writes) against
   calling the library directly on the same files; the overhead target is at most 10 %.
2. Speed-up of ``num_workers: 2`` over 1 worker (parallel extractors).
3. CNN14 training throughput (utterances / s) with length-bucketed batches against naive
   padding (shuffled batches), with the paper's 5 s training crops and without crops.
4. Peak resident memory of each measurement (each runs in its own process).

    python benchmarks/speech_speed.py                 # everything (about 15 min on 2 idle cores)
    python benchmarks/speech_speed.py --files 40      # fewer EmoDB files per extractor
    python benchmarks/speech_speed.py --files 40 --stages logmel,pyaudioanalysis --merge   # re-measure two rows

Every stage runs in a child process (``--stage NAME``) so that its peak memory is its own.
Timings are the minimum over ``--rounds`` alternating rounds (direct, emofuse, direct, ...).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

if __package__ in {None, ""}:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import RESULTS
from benchmarks._common import markdown_table
from benchmarks._common import peak_memory_mb
from benchmarks._common import shared
from benchmarks._common import write_results

log = logging.getLogger("speech_speed")

EXTRACTORS = ("logmel", "opensmile_is09", "opensmile_egemaps", "opensmile_compare", "is09_windows",
              "pyaudioanalysis", "resemblyzer", "ssl_wav2vec2_base")
STAGES = (*EXTRACTORS, "cnn14_training")


def emodb_files(count: int) -> list[pathlib.Path]:
    files = sorted(shared("data", "emodb", "wav").glob("*.wav"))
    step = max(1, len(files) // count)
    return files[::step][:count]  # spread over speakers and emotions


# The two ways of computing each front-end ---------------------------------------------------------


def setup(stage: str, workdir: pathlib.Path):  # noqa: ANN201 (returns the emofuse config and a direct function)
    """``(feature name, config, direct(path) -> array)`` for an extractor stage."""
    import numpy as np
    import soundfile

    if stage == "logmel":
        import librosa

        from emofuse.audio import LogMelConfig

        config = LogMelConfig(n_mels=64, window_ms=32, hop_ms=10)

        def direct(path):
            signal, rate = soundfile.read(path, dtype="float32")
            mel = librosa.feature.melspectrogram(y=signal, sr=rate, n_fft=512, hop_length=160, win_length=512, n_mels=64)
            return np.log(mel + 1e-10).T

        return "logmel", config, direct
    if stage.startswith("opensmile_") or stage == "is09_windows":
        import opensmile

        from emofuse.audio import IS09WindowsConfig
        from emofuse.audio import OpenSmileConfig
        from emofuse.audio.opensmile import frame_mode_file

        if stage == "is09_windows":
            config = IS09WindowsConfig()
            smile = opensmile.Smile(feature_set=opensmile.FeatureSet.IS09, feature_level=opensmile.FeatureLevel.Functionals,
                                    options={"frameModeFunctionalsConf": frame_mode_file(0.3, 0.03)})
            name = "is09_windows"
        else:
            feature_set = {"opensmile_is09": "IS09", "opensmile_egemaps": "eGeMAPSv02", "opensmile_compare": "ComParE_2016"}[stage]
            config = OpenSmileConfig(feature_set=feature_set)
            smile = opensmile.Smile(feature_set=opensmile.FeatureSet[feature_set], feature_level=opensmile.FeatureLevel.Functionals)
            name = "opensmile"
        return name, config, lambda path: smile.process_file(str(path)).to_numpy()
    if stage == "pyaudioanalysis":
        from pyAudioAnalysis import ShortTermFeatures

        from emofuse.audio import PyAudioAnalysisConfig
        from emofuse.audio.pyaudioanalysis import library_chroma_tables

        def direct(path):  # with the library's own chroma tables, rebuilt every frame (emofuse caches them)
            signal, rate = soundfile.read(path, dtype="float32")
            with library_chroma_tables():
                frames, _ = ShortTermFeatures.feature_extraction(signal, rate, 0.05 * rate, 0.025 * rate, deltas=False)
            return np.concatenate([frames.mean(axis=1), frames.std(axis=1)])

        return "pyaudioanalysis", PyAudioAnalysisConfig(), direct
    if stage == "resemblyzer":
        from resemblyzer import preprocess_wav

        from emofuse.audio import ResemblyzerConfig
        from emofuse.audio.speaker import voice_encoder

        encoder = voice_encoder()
        return "resemblyzer", ResemblyzerConfig(), lambda path: encoder.embed_utterance(preprocess_wav(path))
    if stage == "ssl_wav2vec2_base":
        import torch
        import transformers

        from emofuse.audio import SSLConfig

        directory = workdir / "wav2vec2_base_random"
        torch.manual_seed(0)
        transformers.Wav2Vec2Model(transformers.Wav2Vec2Config()).save_pretrained(directory)  # base architecture, random weights
        model = transformers.Wav2Vec2Model.from_pretrained(directory).eval()

        def direct(path):
            signal, _ = soundfile.read(path, dtype="float32")
            signal = (signal - signal.mean()) / np.sqrt(signal.var() + 1e-7)
            with torch.inference_mode():
                return model(torch.from_numpy(signal)[None], output_hidden_states=True).hidden_states[-1][0].numpy()

        return "ssl", SSLConfig(model=str(directory), pooling="mean"), direct
    raise ValueError(stage)


def measure_extractor(stage: str, files: list[pathlib.Path], rounds: int, workers: bool) -> dict:
    import soundfile

    from emofuse.config import Component
    from emofuse.data.manifest import Manifest
    from emofuse.data.manifest import Utterance
    from emofuse.features import build_extractor
    from emofuse.features import extract_features

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="emofuse_speed_"))
    try:
        name, config, direct = setup(stage, workdir)
        extractor = build_extractor(Component(name, config))
        manifest = Manifest([Utterance(p.stem, audio=str(p)) for p in files])
        audio_seconds = sum(soundfile.info(p).duration for p in files)
        # warm-up: model loading and first-call costs of both paths, outside the timings
        direct(files[0])
        extract_features(extractor, Manifest([manifest[files[0].stem]]), cache_dir=workdir / "warm", progress=False)
        times: dict[str, list[float]] = {"direct": [], "emofuse": []}
        for round_index in range(rounds):
            start = time.perf_counter()
            for path in files:
                direct(path)
            times["direct"].append(time.perf_counter() - start)
            start = time.perf_counter()
            extract_features(extractor, manifest, cache_dir=workdir / f"serial_{round_index}", progress=False)
            times["emofuse"].append(time.perf_counter() - start)
        result = {
            "stage": stage,
            "files": len(files),
            "audio_seconds": audio_seconds,
            "direct_seconds": min(times["direct"]),
            "emofuse_seconds": min(times["emofuse"]),
            "all_times": times,
        }
        result["rtf_direct"] = result["direct_seconds"] / audio_seconds
        result["rtf_emofuse"] = result["emofuse_seconds"] / audio_seconds
        result["overhead"] = result["emofuse_seconds"] / result["direct_seconds"] - 1
        if workers and extractor.parallel:
            extract_features(extractor, Manifest([manifest[p.stem] for p in files[:4]]), cache_dir=workdir / "warm2",
                             num_workers=2, progress=False)  # start the worker pool
            parallel = []
            for round_index in range(rounds):
                start = time.perf_counter()
                extract_features(extractor, manifest, cache_dir=workdir / f"parallel_{round_index}", num_workers=2, progress=False)
                parallel.append(time.perf_counter() - start)
            result["two_workers_seconds"] = min(parallel)
            result["speedup_two_workers"] = result["emofuse_seconds"] / result["two_workers_seconds"]
        elif not extractor.parallel:
            result["speedup_two_workers"] = None  # runs serially by design (a large neural model)
        result["peak_memory_mb"] = peak_memory_mb()
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure_cnn14(files: list[pathlib.Path], epochs: int) -> dict:
    """Training utterances per second of the benchmark's CNN14 with and without bucketing."""
    import numpy as np
    import torch
    from torch.utils.data import DataLoader

    from emofuse.audio import LogMelConfig
    from emofuse.audio import read_audio
    from emofuse.audio.logmel import log_mel
    from emofuse.components import MODELS
    from emofuse.models import CNN14Config
    from emofuse.models.inputs import InputSpec
    from emofuse.training.data import BucketBatchSampler
    from emofuse.training.data import Collator
    from emofuse.training.data import UtteranceDataset

    config = LogMelConfig(n_mels=64, window_ms=32, hop_ms=10)
    stream = {p.stem: log_mel(read_audio(p), 16000, config) for p in files}
    ids = list(stream)
    targets = torch.tensor([i % 7 for i in range(len(ids))])
    specs = [InputSpec("logmel", "audio", "sequence", 64)]
    dataset = UtteranceDataset(ids, [stream], targets)
    results = {}
    for crop in (5.0, None):
        model_config = CNN14Config(channels=(16, 32, 64, 128, 256, 512), crop_seconds=crop)
        for bucketing in (False, True):
            torch.manual_seed(0)
            model = MODELS.build("cnn14", model_config, specs, 7).train()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
            if bucketing:
                sampler = BucketBatchSampler([dataset.length(i) for i in range(len(dataset))], batch_size=32, seed=0)
                loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=Collator(specs))
            else:
                loader = DataLoader(dataset, batch_size=32, shuffle=True, collate_fn=Collator(specs),
                                    generator=torch.Generator().manual_seed(0))
            padded_frames, valid_frames, seen = 0, 0, 0
            start = time.perf_counter()
            for _ in range(epochs):
                for inputs, batch_targets in loader:
                    values, lengths = inputs[0]
                    padded_frames += values.shape[0] * values.shape[1]
                    valid_frames += int(lengths.sum())
                    loss = torch.nn.functional.cross_entropy(model(inputs), batch_targets)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    seen += len(batch_targets)
            seconds = time.perf_counter() - start
            key = f"{'crop_5s' if crop else 'full_length'}_{'bucketing' if bucketing else 'padding'}"
            results[key] = {"utterances_per_second": seen / seconds, "seconds": seconds, "utterances": seen,
                            "padding_fraction": 1 - valid_frames / padded_frames}
    return {"stage": "cnn14_training", "files": len(files), "epochs": epochs,
            "mean_frames": float(np.mean([len(v) for v in stream.values()])), "results": results,
            "peak_memory_mb": peak_memory_mb()}


# Orchestration ---------------------------------------------------------------------------------------------


def run_stage(stage: str, arguments: argparse.Namespace) -> dict:
    command = [sys.executable, str(pathlib.Path(__file__).resolve()), "--stage", stage, "--files", str(arguments.files),
               "--rounds", str(arguments.rounds), "--epochs", str(arguments.epochs)]
    if arguments.threads:
        command += ["--threads", str(arguments.threads)]
    environment = dict(os.environ)
    if arguments.single_thread:  # one BLAS / OpenMP thread per process: workers then measure process parallelism only
        environment.update({name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
        command += ["--threads", "1"]
    log.info("stage %s", stage)
    context = {"measured": datetime.datetime.now().isoformat(timespec="minutes"), "load_average": os.getloadavg()[0]}
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    if completed.returncode != 0:
        log.error("stage %s failed:\n%s", stage, completed.stderr[-3000:])
        return {"stage": stage, "error": completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else "failed"}
    return {**json.loads(completed.stdout.strip().splitlines()[-1]), **context}


def merge_previous(results: list[dict]) -> list[dict]:
    """``results`` plus the previous run's rows of the stages not re-run (they keep their dates)."""
    path = RESULTS / "speech_speed.json"
    payload = json.loads(path.read_text()) if path.exists() else {}
    fresh = {r["stage"] for r in results}
    kept = [{"measured": payload.get("date", "")[:16], **r} for r in payload.get("results", [])
            if r["stage"] not in fresh and "error" not in r]
    order = {stage: index for index, stage in enumerate(STAGES)}
    return sorted([*results, *kept], key=lambda r: order.get(r["stage"], len(order)))


def report(results: list[dict], arguments: argparse.Namespace) -> str:
    rows = []
    for r in results:
        if r["stage"] == "cnn14_training" or "error" in r:
            continue
        speedup = r.get("speedup_two_workers")
        load = f"{r['load_average']:.1f}" if "load_average" in r else "not recorded (under load)"
        rows.append([r["stage"], r["files"], f"{r['audio_seconds']:.0f}", f"{r['rtf_direct']:.4f}", f"{r['rtf_emofuse']:.4f}",
                     f"{100 * r['overhead']:+.1f} %", "serial by design" if speedup is None else f"{speedup:.2f}×",
                     f"{r['peak_memory_mb']:.0f}", r.get("measured", ""), load])
    threads = ("one BLAS/OpenMP/torch thread per process (`--single-thread`)" if arguments.single_thread
               else "each library's default threads")
    text = ["Timings are the minimum of alternating rounds. `load` is the machine's 1-minute load average when the "
            f"stage started: with a load above the {os.cpu_count()} cores, other jobs shared the CPU and the row is noisy "
            "(worker speed-ups above 2× on 2 cores come from that). Rows of stages not re-run keep their date "
            f"(`--merge`). Threads: {threads}.", "",
            "## Extractors: real-time factor through emofuse vs the library directly", "",
            markdown_table(["extractor", "files", "audio s", "RTF library", "RTF emofuse", "overhead", "2 workers speed-up",
                            "peak MiB", "measured", "load"], rows),
            "emofuse's time includes checked reading (soundfile, mix-down, resampling), NaN checks and atomic cache "
            "writes; the library column reads the file its own way. SSL: the wav2vec 2.0 base architecture with random "
            "weights (no pretrained model offline); it runs in one process by design. pyAudioAnalysis: emofuse builds the "
            "library's chroma tables once per FFT size (the library rebuilds them for every frame), with the same "
            "features.", ""]
    failed = [r for r in results if "error" in r]
    if failed:
        text += ["Failed stages: " + "; ".join(f"{r['stage']}: {r['error']}" for r in failed), ""]
    training = next((r for r in results if r["stage"] == "cnn14_training" and "error" not in r), None)
    if training is not None:
        rows = [[key.replace("_", " "), f"{v['utterances_per_second']:.2f}", f"{100 * v['padding_fraction']:.1f} %",
                 f"{v['seconds']:.0f}"] for key, v in training["results"].items()]
        text += [f"## CNN14 training throughput ({training['files']} EmoDB utterances, {training['epochs']} epoch(s), "
                 f"batch 32, channels 16-512, peak {training['peak_memory_mb']:.0f} MiB)", "",
                 markdown_table(["setting", "utterances / s", "padding", "seconds"], rows)]
    return "\n".join(text) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=STAGES, help="run one stage in this process and print its JSON")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--merge", action="store_true", help="keep the previous results of the stages not in --stages")
    parser.add_argument("--files", type=int, default=80, help="EmoDB files per extractor")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the CNN14 throughput measurement")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--single-thread", action="store_true",
                        help="one BLAS/OpenMP/torch thread per process (fairer worker speed-ups on a loaded machine)")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if arguments.threads:
        import torch

        torch.set_num_threads(arguments.threads)
    if arguments.stage:
        logging.getLogger().setLevel(logging.WARNING)
        files = emodb_files(arguments.files)
        if arguments.stage == "cnn14_training":
            result = measure_cnn14(emodb_files(max(arguments.files, 128)), arguments.epochs)
        else:
            count = arguments.files if arguments.stage not in {"opensmile_compare", "ssl_wav2vec2_base"} else max(10, arguments.files // 2)
            result = measure_extractor(arguments.stage, files[:count], arguments.rounds, workers=True)
        print(json.dumps(result))  # noqa: T201 (the parent reads this line)
        return
    results = [run_stage(stage, arguments) for stage in arguments.stages.split(",") if stage]
    if arguments.merge:
        results = merge_previous(results)
    text = report(results, arguments)
    write_results("speech_speed", {"results": results, "files": arguments.files, "rounds": arguments.rounds,
                                   "single_thread": arguments.single_thread,
                                   "note": "load_average: the 1-minute load average at each stage's start"}, text)
    print(text)  # noqa: T201 (the final table)


if __name__ == "__main__":
    main()
