"""Conversations: speaker turns and segment emotions on ../shared's synthetic dialogues.

    .venv/bin/python benchmarks/conversations.py [--model default] [--asr none pocketsphinx]

For each dialogue of ``../shared/fixtures/dialogues`` (two and three espeak-ng voices, one with
overlapping turns) the timeline of ``emofuse predict --timeline`` is scored against the
ground truth:

- diarisation error rate (pyannote.metrics, no collar, overlap scored) with its parts (missed
  speech, false alarm, speaker confusion), and the speaker attribution (share of the
  reference speech time given to the right speaker; goal: at least 90 % on each dialogue);
- segment-level emotion accuracy: each segment against the reference turn it overlaps most
  (``.csv`` labels), with the recogniser's ASR off (speech only) and on (pocketsphinx), plus a
  majority-class baseline of the same segments.

Writes benchmarks/results/conversations.{json,md}.
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import sys
import time
import warnings

if __package__ in {None, ""}:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import markdown_table  # noqa: E402
from benchmarks._common import shared  # noqa: E402
from benchmarks._common import write_results  # noqa: E402

DIALOGUES = ("two_speakers", "three_speakers", "overlap")


def diarisation(truth, segments) -> dict[str, float]:
    from pyannote.core import Annotation
    from pyannote.core import Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference, hypothesis = Annotation(), Annotation()
    for row in truth.itertuples():
        reference[Segment(row.start, row.end), row.Index] = row.speaker
    for k, segment in enumerate(segments):
        hypothesis[Segment(segment.start, segment.end), k] = segment.speaker or "?"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the evaluated extent is the union of both
        details = DiarizationErrorRate(collar=0.0)(reference, hypothesis, detailed=True)
    total = details["total"]
    return {"DER": details["diarization error rate"], "missed": details["missed detection"] / total,
            "false_alarm": details["false alarm"] / total, "confusion": details["confusion"] / total,
            "attribution": details["correct"] / total}


def emotion_hits(truth, segments) -> list[tuple[str, str | None]]:
    """(reference emotion, predicted emotion) per segment, against the turn it overlaps most."""
    pairs = []
    for segment in segments:
        overlaps = [(min(segment.end, row.end) - max(segment.start, row.start), row.emotion) for row in truth.itertuples()]
        overlap, emotion = max(overlaps)
        if overlap > 0:
            pairs.append((emotion, segment.prediction.emotion))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--asr", nargs="+", default=["none", "pocketsphinx"])
    arguments = parser.parse_args()
    import pandas as pd

    from emofuse.inference import Recognizer
    from emofuse.inference.segment import emotion_timeline

    directory = shared("fixtures", "dialogues")
    rows, data = [], {"model": arguments.model, "dialogues": {}}
    emotion_rows = []
    for asr in arguments.asr:
        recognizer = Recognizer.from_pretrained(arguments.model, asr=asr, num_threads=1)
        pooled: list[tuple[str, str | None]] = []
        for name in DIALOGUES:
            truth = pd.read_csv(directory / f"{name}.csv")
            start = time.perf_counter()
            timeline = emotion_timeline(recognizer, directory / f"{name}.wav")
            seconds = time.perf_counter() - start
            pairs = emotion_hits(truth, timeline.segments)
            pooled += pairs
            accuracy = sum(a == b for a, b in pairs) / len(pairs)
            entry = data["dialogues"].setdefault(name, {"speakers": int(truth["speaker"].nunique()),
                                                        "duration": timeline.duration})
            if "diarisation" not in entry:
                entry["diarisation"] = diarisation(truth, timeline.segments)
                entry["speakers_found"] = len(timeline.speakers or ())
                entry["segments"] = len(timeline.segments)
                score = entry["diarisation"]
                rows.append([name, entry["speakers"], entry["speakers_found"], f"{100 * score['DER']:.1f}",
                             f"{100 * score['missed']:.1f}", f"{100 * score['false_alarm']:.1f}",
                             f"{100 * score['confusion']:.1f}", f"{100 * score['attribution']:.1f}",
                             "yes" if score["attribution"] >= 0.9 else "no"])
            entry[f"emotion_accuracy_asr_{asr}"] = accuracy
            entry[f"seconds_asr_{asr}"] = round(seconds, 1)
            emotion_rows.append([name, asr, len(pairs), f"{100 * accuracy:.1f}", f"{seconds:.1f}"])
        majority = collections.Counter(a for a, _ in pooled).most_common(1)[0]
        data[f"emotion_accuracy_asr_{asr}"] = sum(a == b for a, b in pooled) / len(pooled)
        data["majority_baseline"] = majority[1] / len(pooled)
        emotion_rows.append(["all", asr, len(pooled), f"{100 * data[f'emotion_accuracy_asr_{asr}']:.1f}", ""])
    markdown = (
        f"Model `{arguments.model}`; Silero segments, resemblyzer + agglomerative clustering (threshold "
        "estimated, speakers not given). DER by pyannote.metrics without collar, overlap scored.\n\n"
        + markdown_table(["dialogue", "speakers", "found", "DER (%)", "missed (%)", "false alarm (%)", "confusion (%)",
                          "attribution (%)", "goal >= 90 % met"], rows)
        + "\nSegment-level emotion accuracy (each segment against the reference turn it overlaps most; "
        f"majority-class baseline {100 * data['majority_baseline']:.1f} %):\n\n"
        + markdown_table(["dialogue", "ASR", "segments", "accuracy (%)", "seconds"], emotion_rows)
    )
    path = write_results("conversations", data, markdown)
    print(path.read_text())  # noqa: T201 - a benchmark's report


if __name__ == "__main__":
    main()
