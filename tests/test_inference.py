"""The recogniser on the bundled default model and on tiny hand-built ones; segmentation; the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch
from typer.testing import CliRunner

from emofuse.audio.io import AudioError
from emofuse.cli import app
from emofuse.config import ConfigError
from emofuse.config import parse
from emofuse.data.labels import FOUR_CLASSES
from emofuse.inference import Recognizer
from emofuse.inference import RecognizerConfig
from emofuse.inference import RecognizerError
from emofuse.inference.batch import examples_directory
from emofuse.inference.segment import SegmentationConfig
from emofuse.inference.segment import emotion_timeline
from emofuse.inference.segment import plot_timeline
from emofuse.inference.segment import split_segments

EXAMPLES = examples_directory()
runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def default():
    return Recognizer.from_pretrained("default", asr="none")


def tiny_recognizer(*, heads=("categorical",)) -> Recognizer:
    """A random-weight recogniser on log-Mel statistics: a categorical MLP and/or a dimensional one."""
    from emofuse.audio.logmel import LogMelStatsConfig
    from emofuse.config import Component
    from emofuse.models import InputSpec
    from emofuse.models import MLPConfig
    from emofuse.systems import SystemSpec
    from emofuse.systems import build_system

    torch.manual_seed(0)
    spec = InputSpec("logmel", "audio", "vector", 32)
    features = {"logmel": Component("logmel_stats", LogMelStatsConfig(n_mels=8))}
    systems, head_map = {}, {}
    for task in heads:
        outputs = FOUR_CLASSES if task == "categorical" else ("valence", "arousal", "dominance")
        name = f"{task}_model"
        systems[name] = build_system(SystemSpec(task, outputs, inputs=(spec,), model=Component("mlp", MLPConfig(hidden_sizes=(8,))),
                                                features=features))
        head_map[task] = name
    config = RecognizerConfig(name="tiny", heads=head_map, systems=tuple(systems), asr="none")
    return Recognizer(config, systems, speech_check=False)  # the tests feed tones, not speech


def test_importing_inference_does_not_import_lightning():
    code = ("import sys, emofuse.inference, emofuse.inference.server, emofuse.inference.commands, emofuse.reward; "
            "bad = [m for m in sys.modules if m.split('.')[0] in {'lightning', 'pytorch_lightning'}]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bundled_model_describes_itself(default):
    assert default.classes == FOUR_CLASSES
    assert default.config.heads == {"categorical": "fused"}
    assert default.systems["fused"].spec.members == ("speech", "text")
    assert default.features["minilm"].config.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert default.features["robust"].name == "robust_functionals"
    from emofuse.robustness import ADAPTED_FRONT_END
    from emofuse.robustness import FRONT_END
    from emofuse.robustness import front_end

    assert default.features["robust"] == front_end()  # the bundle was built with the recipe's front-end
    # the adapted member keeps the pitch level, made relative by the per-speaker standardisation
    assert ADAPTED_FRONT_END == {**FRONT_END, "pitch_level": True}
    assert default.features["robust_adapted"] == front_end(ADAPTED_FRONT_END)
    assert [i.name for i in default.systems["speech_adapted"].spec.inputs] == ["robust_adapted"]
    assert {"speech_emodb_loso", "speech_emodb_cross_sex", "speech_adapted_emodb_loso", "speech_adapted_emodb_cross_sex",
            "text_goemotions_dev", "fusion_heldout_pairs", "calibration"} <= set(default.config.metrics)
    assert set(default.config.temperatures) == {"speech", "speech_adapted", "text", "fused"}
    assert default.config.adaptation == {"speech": "speech_adapted"}
    assert default.config.neutral_words == "neu" and "fusion_neutral_words" in default.config.metrics
    assert default.systems["speech_adapted"].spec.normalization == "speaker"
    assert Recognizer.from_pretrained("default").config.asr == "pocketsphinx"
    size = sum(p.stat().st_size for p in default.directory.rglob("*") if p.is_file())
    assert size < 5_000_000  # a few MB besides the packaged MiniLM


def test_prediction_with_given_text(default):
    prediction = default(EXAMPLES / "happy.wav", text="This is wonderful news. I am so happy for you!")
    assert sum(prediction.posteriors.values()) == pytest.approx(1.0)
    assert prediction.emotion == max(prediction.posteriors, key=prediction.posteriors.get)
    assert prediction.transcript_source == "given" and prediction.systems == ("speech", "text")
    assert set(prediction.members) == {"speech", "text"} and prediction.duration == pytest.approx(3.0, abs=0.1)
    assert prediction.valence is None
    row = prediction.to_row()
    assert {"p_neu", "p_hap", "p_sad", "p_ang", "emotion", "transcript"} <= set(row)
    json.dumps(prediction.to_dict())


def test_missing_modalities_fall_back_to_the_available_member(default):
    speech_only = default(EXAMPLES / "angry.wav")
    assert speech_only.systems == ("speech",) and speech_only.transcript_source == "none"
    assert speech_only.members == {}
    both = default(EXAMPLES / "angry.wav", text="I am furious with you")
    assert speech_only.posteriors == pytest.approx(both.members["speech"])
    text_only = default(text="I am furious with you")
    assert text_only.systems == ("text",) and text_only.posteriors == pytest.approx(both.members["text"])
    assert text_only.duration is None


def test_bundle_fuses_the_words_tempered_by_the_emotion_they_carry(default):
    from emofuse.calibration import apply_temperature
    from emofuse.inference.prediction import discount_neutral

    prediction = default(EXAMPLES / "angry.wav", text="The tablecloth is lying on the fridge.")
    speech, text = (np.array([prediction.members[m][c] for c in default.classes])[None] for m in ("speech", "text"))
    neutral = default.classes.index("neu")
    assert text[0, neutral] > 0.5  # the words carry no emotion
    fusion = default.systems["fused"].fusion
    expected = apply_temperature(fusion([speech, discount_neutral(text, neutral)]), default.config.temperatures["fused"])[0]
    assert [prediction.posteriors[c] for c in default.classes] == pytest.approx(expected.tolist(), abs=1e-6)
    as_is = apply_temperature(fusion([speech, text]), default.config.temperatures["fused"])[0]
    assert expected[neutral] < as_is[neutral]


def test_asr_transcribes_when_no_text_is_given():
    recognizer = Recognizer.from_pretrained("default")  # pocketsphinx by default
    prediction = recognizer(EXAMPLES / "happy.wav")
    assert prediction.transcript_source == "asr" and "happy" in prediction.transcript
    assert prediction.systems == ("speech", "text")


def test_inputs_paths_bytes_and_arrays_agree(default, tmp_path):
    path = EXAMPLES / "sad.wav"
    signal, rate = soundfile.read(path, dtype="float32")
    by_path = default(path)
    assert default(path.read_bytes()).posteriors == pytest.approx(by_path.posteriors)
    assert default(signal, sampling_rate=rate).posteriors == pytest.approx(by_path.posteriors)
    stereo = tmp_path / "stereo.wav"
    soundfile.write(stereo, np.stack([signal, signal], axis=1), rate)
    assert default(stereo).posteriors == pytest.approx(by_path.posteriors, abs=1e-4)
    batch = default.predict([path, EXAMPLES / "angry.wav"], texts=[None, "so angry"], batch_size=1)
    assert batch[0].posteriors == pytest.approx(by_path.posteriors) and batch[1].transcript == "so angry"
    with pytest.raises(ValueError, match="sampling_rate"):
        default(signal)
    with pytest.raises(AudioError, match="silent"):
        default(np.zeros(16000, dtype=np.float32), sampling_rate=16000)
    with pytest.raises(AudioError, match="file not found"):
        default(tmp_path / "missing.wav")


def test_dimensional_head_gives_valence_arousal_dominance(tone):
    recognizer = tiny_recognizer(heads=("categorical", "dimensional"))
    prediction = recognizer(tone())
    assert prediction.emotion in FOUR_CLASSES
    assert all(-10 < getattr(prediction, d) < 10 for d in ("valence", "arousal", "dominance"))
    assert "valence" in prediction.to_row()


def test_config_errors_are_clear(tmp_path, default):
    with pytest.raises(RecognizerError, match="not a recogniser directory or a bundled recogniser"):
        Recognizer.from_pretrained(tmp_path / "nothing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(RecognizerError, match="is a file"):
        Recognizer.from_pretrained(tmp_path / "file.txt")
    with pytest.raises(RecognizerError, match=r"no config\.json"):
        Recognizer.from_pretrained(tmp_path)
    saved = default.save_pretrained(tmp_path / "copy")
    spec_path = saved / "systems" / "speech" / "system.json"
    spec = json.loads(spec_path.read_text())
    spec["modle"] = {}
    spec_path.write_text(json.dumps(spec))
    with pytest.raises(RecognizerError, match=r"system 'speech'.*modle: unknown key"):
        Recognizer.from_pretrained(saved)
    spec.pop("modle")
    spec_path.write_text(json.dumps(spec))
    (saved / "systems" / "text" / "model.safetensors").unlink()
    with pytest.raises(RecognizerError, match=r"system 'text'.*missing model\.safetensors"):
        Recognizer.from_pretrained(saved)
    config = json.loads((saved / "config.json").read_text())
    config["format_version"] = 1
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(RecognizerError, match="written by an older emofuse; export the run again"):
        Recognizer.from_pretrained(saved)
    config["format_version"] = 99
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(RecognizerError, match="newer than this emofuse reads"):
        Recognizer.from_pretrained(saved)
    (saved / "config.json").write_text("{not json")
    with pytest.raises(RecognizerError, match="invalid JSON"):
        Recognizer.from_pretrained(saved)


def test_hub_ids_are_tried_and_fail_clearly(monkeypatch):
    import huggingface_hub

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(RecognizerError, match="Hugging Face hub did not provide it"):
        Recognizer.from_pretrained("someone/some-model")


def _bursts(path, pattern, rate=16000):
    """Tone bursts (seconds on) separated by silence (seconds off): [(on, off), ...]."""
    parts = []
    for on, off in pattern:
        t = np.arange(int(on * rate)) / rate
        parts += [0.3 * np.sin(2 * np.pi * 200 * t), np.zeros(int(off * rate))]
    signal = np.concatenate(parts).astype(np.float32)
    soundfile.write(path, signal, rate)
    return signal


def test_voice_activity_segments(tmp_path):
    signal = _bursts(tmp_path / "bursts.wav", [(1.0, 0.5), (0.5, 0.1), (0.5, 1.0), (0.2, 0.5), (10.0, 0.2)])
    config = SegmentationConfig(vad="energy", top_db=30, min_silence=0.3, padding=0.0, min_segment=0.3, max_segment=6.0)
    spans = split_segments(signal, 16000, config)
    # 0-1; 1.5-2.0 and 2.1-2.6 bridged (pause 0.1 < 0.3); the 0.2 s burst dropped; 10 s split in two
    expected = [(0.0, 1.0), (1.5, 2.6), (4.3, 9.3), (9.3, 14.3)]
    assert len(spans) == len(expected)
    for (a, b), (c, d) in zip(spans, expected, strict=True):
        assert a == pytest.approx(c, abs=0.06) and b == pytest.approx(d, abs=0.06)
    fixed = split_segments(signal, 16000, SegmentationConfig(method="fixed", window=3.0, hop=3.0, min_segment=1.0))
    assert fixed[0] == (0.0, 3.0) and fixed[-1][1] == pytest.approx(len(signal) / 16000, abs=1e-3)
    assert all(b - a >= 1.0 for a, b in fixed)
    with pytest.raises(ConfigError, match="method: 'energy' is not one of 'vad', 'fixed'"):
        parse(SegmentationConfig, {"method": "energy"})


def test_timeline_and_plot(default, tmp_path):
    timeline = emotion_timeline(default, EXAMPLES / "dialogue.wav")
    assert len(timeline.segments) >= 4 and timeline.duration == pytest.approx(21.3, abs=0.2)
    starts = [s.start for s in timeline.segments]
    assert starts == sorted(starts) and all(s.end <= timeline.duration for s in timeline.segments)
    summary = timeline.summary()
    assert summary["emotion"] in FOUR_CLASSES and sum(summary["posteriors"].values()) == pytest.approx(1.0)
    data = timeline.to_dict()
    assert len(data["segments"]) == len(timeline.segments) and "posteriors" in data["segments"][0]
    figure = plot_timeline(timeline, tmp_path / "timeline.png", label_names=default.config.label_names)
    assert (tmp_path / "timeline.png").stat().st_size > 10_000 and figure is not None
    dims = tiny_recognizer(heads=("categorical", "dimensional"))
    plot_timeline(emotion_timeline(dims, EXAMPLES / "dialogue.wav", config=SegmentationConfig(method="fixed")), tmp_path / "dims.svg")
    assert (tmp_path / "dims.svg").read_text().startswith("<?xml")


def test_cli_predict_one_file(tmp_path):
    result = runner.invoke(app, ["predict", str(EXAMPLES / "angry.wav"), "--text", "I am furious with you", "--no-progress"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.strip())
    assert record["file"].endswith("angry.wav") and record["emotion"] in FOUR_CLASSES
    assert record["transcript"] == "I am furious with you" and record["transcript_source"] == "given"


def test_cli_predict_directory_with_transcripts_bad_files_and_timeline(tmp_path):
    directory = tmp_path / "clips"
    (directory / "sub").mkdir(parents=True)
    for name in ("happy.wav", "sad.wav"):
        (directory / name).write_bytes((EXAMPLES / name).read_bytes())
    (directory / "sub" / "angry.wav").write_bytes((EXAMPLES / "angry.wav").read_bytes())
    (directory / "broken.wav").write_bytes(b"RIFF not really a wav")
    (directory / "notes.txt").write_text("not audio")
    transcripts = tmp_path / "transcripts.csv"
    transcripts.write_text("file,text\nhappy.wav,I am so happy\nsub/angry.wav,I am furious\n")
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["predict", str(directory), "--transcripts", str(transcripts), "--asr", "none",
                                 "--format", "csv", "-o", str(out), "--batch-size", "2", "--timeline",
                                 "--plot", str(tmp_path / "plots")])
    assert result.exit_code == 1 and "1 of 4 files failed" in result.output
    import pandas as pd

    table = pd.read_csv(out)
    files = table[table["start"].isna()].set_index("file")
    assert sorted(files.index) == ["broken.wav", "happy.wav", "sad.wav", "sub/angry.wav"]
    assert files.loc["happy.wav", "transcript"] == "I am so happy" and files.loc["sad.wav", "transcript_source"] == "none"
    assert "cannot decode" in files.loc["broken.wav", "error"]
    assert (table["start"].notna()).sum() >= 3  # timeline rows
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["happy.wav.png", "sad.wav.png", "sub__angry.wav.png"]


def test_one_answer_for_most_of_a_batch_is_flagged(tmp_path):
    """24 files that get one answer: the CLI warns that the recordings may be unlike the training
    data and points to --adapt; a mixed batch and a small one are not flagged."""
    from emofuse.inference.batch import answer_skew

    signal, rate = soundfile.read(EXAMPLES / "sad.wav")
    for k in range(24):  # its first 2 s, which are quicker to recognise 24 times than all 5.4
        soundfile.write(tmp_path / f"clip{k:02d}.wav", signal[: 2 * rate], rate)
    result = runner.invoke(app, ["predict", str(tmp_path), "--asr", "none", "--no-progress"])
    assert result.exit_code == 0
    answers = {json.loads(line)["emotion"] for line in result.stdout.splitlines() if line.startswith("{")}
    assert len(answers) == 1 and f'24 of 24 answers are "{answers.pop()}" (100 %)' in result.output
    assert "--adapt standardises" in result.output
    mixed = [{"emotion": e} for e in ["neu", "hap", "sad", "ang"] * 6]
    assert answer_skew(mixed) is None and answer_skew([{"emotion": "sad"}] * 19) is None
    assert "--speaker-csv" in answer_skew([{"emotion": "sad"}] * 20, adapted=True)
    assert answer_skew([{"emotion": "uncertain"}] * 30) is None


def test_cli_predict_errors():
    result = runner.invoke(app, ["predict", "/nonexistent/file.wav"])
    assert result.exit_code == 2 and "no such file or directory" in result.output
    result = runner.invoke(app, ["predict", str(EXAMPLES), "--text", "one text"])
    assert result.exit_code == 2 and "--text is the transcript of one file" in result.output
    result = runner.invoke(app, ["predict", str(EXAMPLES / "sad.wav"), "--format", "xml"])
    assert result.exit_code == 2 and "--format must be jsonl or csv" in result.output


def test_cli_demo(tmp_path):
    result = runner.invoke(app, ["demo", "--asr", "none", "-o", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "emofuse-default-4class" in result.output
    for name in ("happy.wav", "sad.wav", "angry.wav", "dialogue.wav", "reward"):
        assert name in result.output
    assert (tmp_path / "demo" / "dialogue_timeline.png").stat().st_size > 10_000
