"""Choose the speaker-clustering threshold on synthetic dialogues of its own (not ../shared's).

    .venv/bin/python benchmarks/speaker_threshold.py [--dialogues 12] [--seed 0]

Makes ``--dialogues`` conversations with espeak-ng (2 to 4 speakers drawn from English voice
variants, 8 to 14 turns, pauses of 0.3 to 1 s, per-turn pitch, speed and loudness nudged as
emotions would), finds speech with Silero, embeds it with resemblyzer, and reports for each
cosine-distance threshold of the agglomerative clustering the share of dialogues whose number
of speakers is right and the speaker attribution (share of reference speech time given to the
right speaker, pyannote.metrics). ``emofuse.inference.speakers.SpeakerConfig.threshold`` is the
middle of the range that is best on these dialogues. Needs the espeak-ng program and the
``speaker`` extra. Writes benchmarks/results/speaker_threshold.{json,md}.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import shutil
import subprocess
import sys
import tempfile

if __package__ in {None, ""}:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks._common import markdown_table  # noqa: E402
from benchmarks._common import write_results  # noqa: E402

VOICES = ["en+m1", "en+m3", "en+m7", "en+f1", "en+f3", "en+f4", "en-us+m2", "en-us+f2", "en-gb-scotland+m4",
          "en-gb-x-rp+f5", "en-029+m6", "en-us-nyc+klatt"]
SENTENCES = ["I cannot believe you did that again.", "The train leaves at half past seven.",
             "That is the best news I have heard all year!", "Please stop shouting at me.",
             "We should meet at the office tomorrow morning.", "I feel so alone since she left.",
             "Could you send me the report before lunch?", "This is absolutely unacceptable!",
             "Thank you, I really love it.", "Nothing seems to matter any more."]
STYLES = {"neu": (0, 0, 0), "hap": (15, 25, 10), "ang": (5, 35, 30), "sad": (-12, -35, -20)}  # pitch, speed, loudness
THRESHOLDS = [0.18, 0.2, 0.22, 0.23, 0.24, 0.26, 0.28, 0.3, 0.35, 0.4]


def speak(text: str, voice: str, pitch: int, speed: int, amplitude: int, path: pathlib.Path) -> np.ndarray:
    import soundfile

    from emofuse.audio.io import resample

    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-a", str(amplitude), "-w", str(path),
                    text], check=True, capture_output=True)
    signal, rate = soundfile.read(path, dtype="float32")
    return resample(signal, rate, 16000)


def make_dialogue(rng: np.random.Generator, work: pathlib.Path) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    speakers = int(rng.integers(2, 5))
    voices = [VOICES[k] for k in rng.choice(len(VOICES), speakers, replace=False)]
    turns, parts, time = [], [np.zeros(8000, dtype=np.float32)], 0.5
    previous = None
    for _ in range(int(rng.integers(8, 15))):
        speaker = int(rng.choice([k for k in range(speakers) if k != previous]))
        previous = speaker
        pitch, speed, loudness = STYLES[str(rng.choice(list(STYLES)))]
        audio = speak(str(rng.choice(SENTENCES)), voices[speaker], 50 + pitch + int(rng.integers(-5, 6)),
                      165 + speed, 100 + loudness, work / "turn.wav")
        turns.append((round(time, 3), round(time + audio.size / 16000, 3), f"spk{speaker}"))
        pause = np.zeros(int(rng.uniform(0.3, 1.0) * 16000), dtype=np.float32)
        parts += [audio, pause]
        time += (audio.size + pause.size) / 16000
    return np.concatenate(parts), turns


def attribution(reference: list[tuple[float, float, str]], hypothesis: list[tuple[float, float, str]]) -> float:
    from pyannote.core import Annotation
    from pyannote.core import Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    truth, guess = Annotation(), Annotation()
    for k, (a, b, s) in enumerate(reference):
        truth[Segment(a, b), k] = s
    for k, (a, b, s) in enumerate(hypothesis):
        guess[Segment(a, b), k] = s
    details = DiarizationErrorRate(collar=0.0)(truth, guess, detailed=True)
    return details["correct"] / details["total"]


def main() -> None:
    import warnings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialogues", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        sys.exit("benchmark needs the espeak-ng program (apt-get install espeak-ng)")
    warnings.simplefilter("ignore")

    from emofuse.audio.stream import AudioStream
    from emofuse.inference.segment import find_segments
    from emofuse.inference.speakers import SpeakerConfig
    from emofuse.inference.speakers import SpeakerTurns

    rng = np.random.default_rng(arguments.seed)
    results = {t: {"right_count": 0, "attribution": []} for t in THRESHOLDS}
    dialogues = []
    with tempfile.TemporaryDirectory() as work:
        for index in range(arguments.dialogues):
            signal, truth = make_dialogue(rng, pathlib.Path(work))
            stream = AudioStream(signal, 16000, source_rate=16000)
            spans = find_segments(stream)[0]
            turns = SpeakerTurns(SpeakerConfig())
            for (a, b), samples in zip(spans, stream.spans(spans), strict=True):
                turns.add(a, b, samples, 16000)
            speakers = len({s for *_, s in truth})
            dialogues.append({"index": index, "speakers": speakers, "seconds": round(signal.size / 16000, 1)})
            for threshold in THRESHOLDS:
                turns.config = dataclasses.replace(turns.config, threshold=threshold)
                found = turns.turns()
                results[threshold]["right_count"] += len({s for *_, s in found}) == speakers
                results[threshold]["attribution"].append(attribution(truth, found))
            print(f"dialogue {index}: {speakers} speakers, {signal.size / 16000:.0f} s")  # noqa: T201 - progress
    rows, table = [], {}
    for threshold, result in results.items():
        share = result["right_count"] / arguments.dialogues
        mean, worst = float(np.mean(result["attribution"])), float(np.min(result["attribution"]))
        table[str(threshold)] = {"right_speaker_count": share, "attribution_mean": mean, "attribution_min": worst}
        rows.append([threshold, f"{100 * share:.0f} %", f"{100 * mean:.1f}", f"{100 * worst:.1f}"])
    best = max(table.values(), key=lambda r: (r["right_speaker_count"], r["attribution_mean"]))
    chosen = [float(t) for t, r in table.items() if (r["right_speaker_count"], r["attribution_mean"]) ==
              (best["right_speaker_count"], best["attribution_mean"]) or
              (r["right_speaker_count"] == best["right_speaker_count"] and r["attribution_mean"] >= best["attribution_mean"] - 0.005)]
    data = {"dialogues": dialogues, "thresholds": table, "best": chosen, "seed": arguments.seed,
            "current_default": SpeakerConfig().threshold}
    markdown = (f"{arguments.dialogues} espeak-ng dialogues (seed {arguments.seed}; "
                f"{sum(d['speakers'] for d in dialogues) / len(dialogues):.1f} speakers on average), Silero segments, "
                "resemblyzer windows of 1.5 s, span means clustered (agglomerative, cosine, average linkage), windows to the nearest centre.\n\n"
                + markdown_table(["threshold", "right number of speakers", "attribution mean (%)", "attribution worst (%)"],
                                 rows)
                + f"\nBest thresholds (right count first, then attribution within 0.5 points): {chosen}; "
                f"the default is {SpeakerConfig().threshold}.\n")
    path = write_results("speaker_threshold", data, markdown)
    print(path.read_text())  # noqa: T201 - a benchmark's report


if __name__ == "__main__":
    main()
