"""Conversations: Silero segments, speaker turns, per-speaker summaries and streamed long recordings.

The synthetic dialogues of ../shared/fixtures/dialogues (two and three espeak-ng voices, one
with overlapping turns) carry their truth in ``.csv``; tests that need them skip without
../shared, and speaker tests skip without the ``speaker`` extra.
"""

import json

import numpy as np
import pandas as pd
import pytest
import soundfile
from conftest import shared_path
from typer.testing import CliRunner

from emofuse.audio.stream import AudioStream
from emofuse.cli import app
from emofuse.inference import Recognizer
from emofuse.inference import RecognizerConfig
from emofuse.inference.prediction import Prediction
from emofuse.inference.segment import Segment
from emofuse.inference.segment import SegmentationConfig
from emofuse.inference.segment import Timeline
from emofuse.inference.segment import emotion_timeline
from emofuse.inference.segment import find_segments
from emofuse.inference.segment import plot_timeline
from emofuse.inference.segment import split_segments
from emofuse.inference.speakers import SpeakerConfig
from emofuse.inference.speakers import speakers_available

DIALOGUES = ("two_speakers", "three_speakers", "overlap")
runner = CliRunner()

pytestmark = pytest.mark.usefixtures("one_torch_thread")
needs_speakers = pytest.mark.skipif(speakers_available() is not None, reason=f"{speakers_available()}")


def dialogue(name: str) -> tuple[str, pd.DataFrame]:
    directory = shared_path("fixtures", "dialogues")
    return str(directory / f"{name}.wav"), pd.read_csv(directory / f"{name}.csv")


@pytest.fixture(scope="module")
def tiny():
    """A random-weight recogniser on log-Mel statistics (speaker turns do not depend on it)."""
    import torch

    from emofuse.audio.logmel import LogMelStatsConfig
    from emofuse.config import Component
    from emofuse.data.labels import FOUR_CLASSES
    from emofuse.models import InputSpec
    from emofuse.models import MLPConfig
    from emofuse.systems import SystemSpec
    from emofuse.systems import build_system

    torch.manual_seed(0)
    spec = SystemSpec("categorical", FOUR_CLASSES, inputs=(InputSpec("logmel", "audio", "vector", 32),),
                      model=Component("mlp", MLPConfig(hidden_sizes=(8,))),
                      features={"logmel": Component("logmel_stats", LogMelStatsConfig(n_mels=8))})
    config = RecognizerConfig(name="tiny", heads={"categorical": "model"}, systems=("model",), asr="none")
    return Recognizer(config, {"model": build_system(spec)})


def attribution(truth: pd.DataFrame, segments) -> float:
    """Share of the reference speech time attributed to the right speaker (speakers mapped one
    to one so as to maximise it): pyannote.metrics' ``correct`` over ``total``."""
    pytest.importorskip("pyannote.metrics")
    from pyannote.core import Annotation
    from pyannote.core import Segment as Span
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference, hypothesis = Annotation(), Annotation()
    for row in truth.itertuples():
        reference[Span(row.start, row.end), row.Index] = row.speaker
    for k, segment in enumerate(segments):
        hypothesis[Span(segment.start, segment.end), k] = segment.speaker
    details = DiarizationErrorRate(collar=0.0)(reference, hypothesis, detailed=True)
    return details["correct"] / details["total"]


@pytest.mark.shared
@pytest.mark.parametrize("name", DIALOGUES)
def test_silero_segments_cover_the_reference_speech(name):
    path, truth = dialogue(name)
    spans = find_segments(AudioStream(path, 16000))[0]
    covered = sum(max(0.0, min(b, row.end) - max(a, row.start)) for row in truth.itertuples() for a, b in spans)
    speech = (truth["end"] - truth["start"]).sum()
    assert covered / speech > 0.95
    assert all(0.4 <= b - a <= 8.0 for a, b in spans)


@pytest.mark.shared
@needs_speakers
@pytest.mark.parametrize("name", DIALOGUES)
def test_speaker_turns_attribute_90_percent_of_the_speech(tiny, name):
    path, truth = dialogue(name)
    timeline = emotion_timeline(tiny, path)
    assert len(timeline.speakers) == truth["speaker"].nunique()
    assert all(s.speaker in timeline.speakers for s in timeline.segments)
    assert attribution(truth, timeline.segments) >= 0.90
    summary = timeline.to_dict()["speakers"]
    assert sorted(summary) == sorted(timeline.speakers)
    for speaker, entry in summary.items():
        assert entry["turns"] >= 1 and sum(entry["emotion_share"].values()) == pytest.approx(1.0, abs=1e-3)
        assert entry["speech_seconds"] == pytest.approx(sum(s.end - s.start for s in timeline.segments
                                                            if s.speaker == speaker), abs=1e-2)


@pytest.mark.shared
@needs_speakers
def test_known_number_of_speakers(tiny):
    path, truth = dialogue("three_speakers")
    assert emotion_timeline(tiny, path, speakers=SpeakerConfig(speakers=2)).speakers == ("S1", "S2")
    assert emotion_timeline(tiny, path, speakers=SpeakerConfig(speakers=1)).speakers == ("S1",)


@pytest.mark.shared
@needs_speakers
def test_one_voice_gives_one_speaker(tiny, tmp_path):
    path, truth = dialogue("two_speakers")
    signal, rate = soundfile.read(path, dtype="float32")
    pause = np.zeros(int(0.6 * rate), dtype=np.float32)
    turns = [signal[int(r.start * rate) : int(r.end * rate)] for r in truth.itertuples() if r.speaker == "A"]
    soundfile.write(tmp_path / "one.wav", np.concatenate([x for turn in turns for x in (turn, pause)]), rate)
    timeline = emotion_timeline(tiny, tmp_path / "one.wav")
    assert len(timeline.segments) >= 4 and timeline.speakers == ("S1",)
    assert timeline.to_dict()["speakers"]["S1"]["turns"] == 1


@pytest.mark.shared
def test_without_the_speaker_extra_segments_carry_no_speaker_and_say_why(tiny, monkeypatch):
    from emofuse.inference import speakers

    def missing(*args):
        raise speakers.SpeakersUnavailable("speaker turns need the speaker extra (pip install 'emofuse[speaker]')")

    monkeypatch.setattr(speakers, "speaker_encoder", missing)
    path, _ = dialogue("two_speakers")
    timeline = emotion_timeline(tiny, path)
    assert timeline.segments and all(s.speaker is None for s in timeline.segments)
    data = timeline.to_dict()
    assert data["speakers"] is None and "speaker" not in data["segments"][0]
    assert any("emofuse[speaker]" in note for note in data["notes"])


def test_no_speech_gives_an_empty_timeline_with_a_message(tiny, tmp_path):
    rng = np.random.default_rng(0)
    soundfile.write(tmp_path / "hum.wav", (0.001 * rng.standard_normal(16000 * 5)).astype(np.float32), 16000)
    timeline = emotion_timeline(tiny, tmp_path / "hum.wav")
    assert timeline.segments == () and timeline.duration == pytest.approx(5.0)
    assert timeline.notes and "no speech" in timeline.notes[0]
    assert timeline.summary()["emotion"] is None
    plot_timeline(timeline, tmp_path / "hum.png")
    result = runner.invoke(app, ["predict", str(tmp_path / "hum.wav"), "--timeline", "--asr", "none", "--no-progress"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["timeline"]["segments"] == [] and "no speech" in " ".join(record["warnings"])


@pytest.mark.shared
def test_streamed_blocks_give_the_same_segments_as_the_whole_signal(tmp_path):
    path, _ = dialogue("overlap")
    signal, rate = soundfile.read(path, dtype="float32")
    for vad in ("energy", "silero"):
        whole = split_segments(signal, rate, SegmentationConfig(vad=vad, block=1000.0))
        # 1.7 s blocks: the file ends mid-block, and blocks end mid-frame
        streamed = find_segments(AudioStream(path, rate), SegmentationConfig(vad=vad, block=1.7))[0]
        assert streamed == whole and len(whole) >= 6
    # a 44.1 kHz stereo copy is mixed down and resampled on the fly
    soundfile.write(tmp_path / "stereo.wav", np.stack([signal, signal], axis=1), 16000)
    import librosa

    resampled = librosa.resample(signal, orig_sr=16000, target_sr=44100)
    soundfile.write(tmp_path / "44k.wav", np.stack([resampled, resampled], axis=1), 44100)
    spans = find_segments(AudioStream(tmp_path / "44k.wav", 16000), SegmentationConfig(block=2.3))[0]
    assert len(spans) == len(whole) and all(abs(a - c) < 0.1 and abs(b - d) < 0.1
                                            for (a, b), (c, d) in zip(spans, whole, strict=True))


def test_a_truncated_file_is_read_to_its_end_and_reported(tiny, tmp_path):
    rate = 16000
    t = np.arange(rate * 3) / rate
    soundfile.write(tmp_path / "full.wav", (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), rate,
                    subtype="PCM_16")
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) - rate])  # half a second missing
    warnings: list[str] = []
    timeline = emotion_timeline(tiny, tmp_path / "cut.wav", config=SegmentationConfig(method="fixed", window=1.0, hop=1.0),
                                speakers=None, warnings=warnings)
    assert warnings and "truncated" in warnings[0]
    assert timeline.duration == pytest.approx(2.5, abs=0.01) and timeline.segments[-1].end <= 2.5


def test_speaker_summary_by_hand():
    def segment(start, end, speaker, emotion, valence):
        posteriors = {c: float(c == emotion) for c in ("neu", "ang")}
        return Segment(start, end, Prediction(emotion, posteriors, valence=valence), speaker)

    segments = (segment(0, 2, "S1", "neu", 0.0), segment(2, 3, "S1", "ang", -0.6), segment(3, 4, "S2", "ang", -1.0),
                segment(4, 8, "S1", "ang", -0.3))
    timeline = Timeline(segments, 8.0, ("neu", "ang"), "vad (silero)", speakers=("S1", "S2"))
    summary = timeline.speaker_summary()
    assert summary["S1"] == {"speech_seconds": 7.0, "turns": 2, "emotion_share": {"neu": round(2 / 7, 4), "ang": round(5 / 7, 4)},
                             "emotion": "ang", "valence": round((0 * 2 - 0.6 * 1 - 0.3 * 4) / 7, 4)}
    assert summary["S2"]["turns"] == 1 and summary["S2"]["emotion_share"] == {"neu": 0.0, "ang": 1.0}
    assert timeline.summary()["valence"] == pytest.approx((-0.6 - 1.0 - 1.2) / 8)


@pytest.mark.shared
@needs_speakers
def test_cli_timeline_has_speakers_and_a_lane_per_speaker(tmp_path):
    path, _ = dialogue("two_speakers")
    result = runner.invoke(app, ["predict", path, "--timeline", "--asr", "none", "--no-progress", "--plot",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert sorted(record["timeline"]["speakers"]) == ["S1", "S2"]
    assert {s["speaker"] for s in record["timeline"]["segments"]} == {"S1", "S2"}
    assert record["emotion"] == record["timeline"]["summary"]["emotion"]
    assert [p.stat().st_size > 10_000 for p in tmp_path.glob("*two_speakers.wav.png")] == [True]
    result = runner.invoke(app, ["predict", path, "--timeline", "--asr", "none", "--no-progress", "--no-speakers",
                                 "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "speaker" in result.stdout.splitlines()[0]


@needs_speakers
def test_mel_frames_are_resemblyzers():
    import warnings

    from emofuse.inference.speakers import mel_frames

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from resemblyzer.audio import normalize_volume
        from resemblyzer.audio import wav_to_mel_spectrogram
    rng = np.random.default_rng(0)
    for level in (0.001, 0.5):  # brought up to -30 dBFS; left as it is
        wav = (level * rng.standard_normal(16000)).astype(np.float32)
        expected = wav_to_mel_spectrogram(normalize_volume(wav, -30, increase_only=True))
        np.testing.assert_allclose(mel_frames(wav), expected, rtol=1e-4, atol=1e-6)
