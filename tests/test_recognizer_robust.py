"""Calibrated confidence, the reject option, transductive adaptation and transcript-confidence
weighting of the recogniser, on tiny hand-built recognisers (numpy systems, no torch)."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from emofuse.config import Component
from emofuse.data.labels import FOUR_CLASSES
from emofuse.inference import Recognizer
from emofuse.inference import RecognizerConfig
from emofuse.inference import RecognizerError
from emofuse.inference.prediction import UNCERTAIN
from emofuse.inference.prediction import temper

RATE = 16000


def tone(frequency: float, seconds: float = 0.5, level: float = 0.3) -> np.ndarray:
    """A tone in a little noise (every Mel band has energy, so a gain shifts every log band alike)."""
    t = np.arange(int(seconds * RATE)) / RATE
    noise = 0.01 * np.random.default_rng(int(frequency)).standard_normal(t.size)
    return (level * (np.sin(2 * np.pi * frequency * t) + noise)).astype(np.float32)


def logistic(dim: int, seed: int, *, scale: float = 1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"mean": np.zeros(dim), "scale": np.ones(dim), "classes": np.arange(4.0),
            "coef": scale * rng.normal(size=(4, dim)), "intercept": np.zeros(4)}


def recognizer(**config) -> Recognizer:
    """Speech: logistic regression on 8-bin log-Mel statistics (plain and per-group standardised);
    text: logistic regression on the raw text's length features would need an encoder, so the
    'text' member reads the same audio front-end here; fused: weighted late fusion."""
    from emofuse.audio.logmel import LogMelStatsConfig
    from emofuse.fusion import LateFusionConfig
    from emofuse.models import InputSpec
    from emofuse.models.configs import LogisticRegressionConfig
    from emofuse.systems import SystemSpec
    from emofuse.systems import build_system

    features = {"logmel": Component("logmel_stats", LogMelStatsConfig(n_mels=4, deltas=False))}
    spec = InputSpec("logmel", "audio", "vector", 8)
    model = Component("logistic_regression", LogisticRegressionConfig())
    systems = {}
    for name, normalization, seed in (("speech", "global", 0), ("speech_adapted", "speaker", 1), ("other", "global", 2)):
        systems[name] = build_system(SystemSpec("categorical", FOUR_CLASSES, inputs=(spec,), model=model, features=features,
                                                normalization=normalization))
        systems[name].load_state_dict(logistic(8, seed, scale=0.5))
    systems["fused"] = build_system(SystemSpec("categorical", FOUR_CLASSES, members=("speech", "other"),
                                               fusion=Component("late", LateFusionConfig(method="weighted"))))
    systems["fused"].load_state_dict({"weights": np.array([0.5, 0.5])})
    options = {k: config.pop(k) for k in ("adapt", "min_confidence") if k in config}
    recognizer_config = RecognizerConfig(name="tiny", heads={"categorical": "fused"}, systems=tuple(systems), asr="none",
                                         **config)
    return Recognizer(recognizer_config, systems, speech_check=False, **options)


SIGNALS = [tone(f, level=a) for f, a in ((150, 0.1), (300, 0.3), (600, 0.5), (1200, 0.2), (2400, 0.4), (200, 0.3))]


def test_every_prediction_carries_its_confidence():
    predictions = recognizer().predict(SIGNALS, sampling_rate=RATE)
    for prediction in predictions:
        assert prediction.confidence == pytest.approx(max(prediction.posteriors.values()), abs=1e-4)
        assert "confidence" in prediction.to_dict() and "confidence" in prediction.to_row()


def test_temperatures_soften_the_answer_without_changing_it():
    plain = recognizer().predict(SIGNALS, sampling_rate=RATE)
    soft = recognizer(temperatures={"speech": 4.0, "other": 4.0, "fused": 2.0}).predict(SIGNALS, sampling_rate=RATE)
    for a, b in zip(plain, soft, strict=True):
        assert b.emotion == a.emotion
        assert b.confidence < a.confidence
    with pytest.raises(ValueError, match="positive"):
        recognizer(temperatures={"fused": 0.0})
    with pytest.raises(ValueError, match="not one of the systems"):
        recognizer(temperatures={"nobody": 1.0})


def test_low_confidence_answers_become_uncertain():
    predictions = recognizer(min_confidence=0.99).predict(SIGNALS, sampling_rate=RATE)
    assert all(p.emotion == UNCERTAIN and p.posteriors for p in predictions)
    assert all(p.emotion in FOUR_CLASSES for p in recognizer(min_confidence=0.0).predict(SIGNALS, sampling_rate=RATE))
    with pytest.raises(RecognizerError, match="min_confidence"):
        recognizer(min_confidence=1.5)


def test_adaptation_standardises_per_speaker_and_is_transductive():
    tiny = recognizer(adaptation={"speech": "speech_adapted"})
    plain = tiny.predict(SIGNALS, sampling_rate=RATE)
    adapted = tiny.predict(SIGNALS, sampling_rate=RATE, adapt=True)
    assert all(p.adapted for p in adapted) and not any(p.adapted for p in plain)
    assert any(not np.allclose(list(a.posteriors.values()), list(b.posteriors.values())) for a, b in zip(plain, adapted, strict=True))
    # the statistics are the files': a louder copy of every file gives the same adapted speech member
    louder = tiny.predict([s * 2 for s in SIGNALS], sampling_rate=RATE, adapt=True)
    for a, b in zip(adapted, louder, strict=True):
        np.testing.assert_allclose(list(a.members["speech"].values()), list(b.members["speech"].values()), atol=1e-3)
    # per speaker: each speaker's files on their own
    speakers = ["a", "a", "a", "b", "b", "b"]
    by_speaker = tiny.predict(SIGNALS, sampling_rate=RATE, adapt=True, speakers=speakers)
    alone = tiny.predict(SIGNALS[:3], sampling_rate=RATE, adapt=True)
    for a, b in zip(by_speaker[:3], alone, strict=True):
        np.testing.assert_allclose(list(a.posteriors.values()), list(b.posteriors.values()), atol=1e-6)
    single = tiny.predict(SIGNALS[:1], sampling_rate=RATE, adapt=True)
    assert "at least two recordings" in single[0].error


def test_an_adapted_member_reads_its_own_front_end_only_when_adapting(monkeypatch):
    """The adapted member may read another front-end (the default's keeps the pitch level, which
    per-speaker standardisation makes relative): it is computed only under adapt, and the plain
    member's only without."""
    import dataclasses

    from emofuse.audio.logmel import LogMelStatsConfig
    from emofuse.inference import pipeline
    from emofuse.models import InputSpec
    from emofuse.systems import build_system

    tiny = recognizer(adaptation={"speech": "speech_adapted"})
    plain_spec = tiny.systems["speech_adapted"].spec
    spec = dataclasses.replace(plain_spec, inputs=(InputSpec("logmel2", "audio", "vector", 4),),
                               features={"logmel2": Component("logmel_stats", LogMelStatsConfig(n_mels=2, deltas=False))})
    adapted = build_system(spec)
    adapted.load_state_dict(logistic(4, 3, scale=0.5))
    systems = {**tiny.systems, "speech_adapted": adapted}
    two = Recognizer(tiny.config, systems, speech_check=False)
    asked = []
    real = pipeline.input_columns
    monkeypatch.setattr(pipeline, "input_columns", lambda names, *a, **k: asked.append(set(names)) or real(names, *a, **k))
    plain = two.predict(SIGNALS, sampling_rate=RATE)
    adapted_predictions = two.predict(SIGNALS, sampling_rate=RATE, adapt=True)
    assert asked == [{"logmel"}, {"logmel", "logmel2"}]  # "other" still reads logmel under adapt
    assert all(p.emotion for p in plain + adapted_predictions)
    speakers = ["a"] * 3 + ["b"] * 3
    louder = two.predict([s * 2 for s in SIGNALS], sampling_rate=RATE, adapt=True, speakers=speakers)
    again = two.predict(SIGNALS, sampling_rate=RATE, adapt=True, speakers=speakers)
    for a, b in zip(again, louder, strict=True):
        np.testing.assert_allclose(list(a.members["speech"].values()), list(b.members["speech"].values()), atol=1e-3)


def test_adaptation_names_must_exist():
    with pytest.raises(ValueError, match="adaptation"):
        recognizer(adaptation={"speech": "missing"})


def test_transcript_confidence_tempers_the_member():
    assert temper(np.array([0.7, 0.2, 0.1]), 0.0).tolist() == pytest.approx([1 / 3] * 3)
    tiny = recognizer()
    sure = tiny.predict_signals(SIGNALS[:2], transcript_confidences=[None, None])
    assert all(p.transcript_confidence is None for p in sure)


def test_speech_alone_loads_neither_torch_nor_a_text_encoder():
    from emofuse.inference.batch import examples_directory

    path = examples_directory() / "angry.wav"
    code = (
        "import sys, json; from emofuse.inference import Recognizer; "
        "r = Recognizer.from_pretrained('default', asr='none', num_threads=1); "
        f"p = r('{path}'); "
        "print(json.dumps({'torch': 'torch' in sys.modules, 'transformers': 'transformers' in sys.modules, "
        "'built': sorted(r.extractors._built)}))"
    )
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {"torch": False, "transformers": False, "built": ["robust"]}


def test_predict_command_adapts_and_rejects(tmp_path):
    from typer.testing import CliRunner

    from emofuse.cli import app
    from emofuse.inference.batch import examples_directory

    clips = [str(p) for p in sorted(examples_directory().glob("*.wav")) if p.stem != "dialogue"]
    runner = CliRunner()
    result = runner.invoke(app, ["predict", *clips, "--asr", "none", "--adapt", "--min-confidence", "0.999", "--no-progress"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(records) == len(clips)
    assert all(r["emotion"] == UNCERTAIN and r["adapted"] and 0 < r["confidence"] < 0.999 for r in records)
    speakers = tmp_path / "speakers.csv"
    speakers.write_text("file,speaker\n" + "".join(f"{pathlib.Path(c).name},s1\n" for c in clips))
    result = runner.invoke(app, ["predict", *clips, "--asr", "none", "--speaker-csv", str(speakers)])
    assert result.exit_code != 0 and "--adapt" in result.output


def test_demo_shows_confidence_misses_and_the_reward(tmp_path):
    from emofuse.inference.batch import run_demo

    lines = list(run_demo(output=tmp_path, asr="none"))
    text = "\n".join(lines)
    assert "confidence" in lines[2] and "spoken as" in text and "clips right" in text
    assert "reward: " in text and (tmp_path / "dialogue_timeline.png").is_file()


def test_pocketsphinx_scores_its_transcripts():
    from emofuse.asr.base import build_transcriber
    from emofuse.audio.io import read_audio
    from emofuse.inference.batch import examples_directory

    transcriber = build_transcriber("pocketsphinx")
    text, confidence = transcriber.transcribe_scored(read_audio(examples_directory() / "happy.wav"), RATE)
    assert "happy" in text and 0.0 < confidence <= 1.0
    assert transcriber.transcribe_scored(np.zeros(0, dtype=np.float32), RATE) == ("", 0.0)


def test_clipped_standardisation_bounds_an_outlier_and_matches_scikit_learn(tmp_path):
    """With ``clip`` the standardised features are clipped in training and prediction: the
    numpy predictions equal scikit-learn's pipeline with the same clip, a feature a million
    deviations off counts as 3, and the clip survives saving and loading."""
    import dataclasses

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.preprocessing import StandardScaler

    from emofuse.config import ConfigError
    from emofuse.config import parse
    from emofuse.experiment import TaskConfig
    from emofuse.experiment import TrainingConfig
    from emofuse.models.configs import LogisticRegressionConfig
    from emofuse.models.inputs import InputSpec
    from emofuse.pretrained import TextEmbeddingConfig
    from emofuse.systems.base import SystemData
    from emofuse.systems.base import SystemSpec
    from emofuse.systems.base import build_system
    from emofuse.systems.base import load_system
    from emofuse.tasks.build import build_task

    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(3), 30)
    values = rng.standard_normal((90, 6)) + 1.5 * np.eye(3, 6)[truth]
    values[:3, 0] += 8.0  # outliers in training too
    ids = tuple(f"u{k}" for k in range(90))
    data = SystemData(ids, inputs={"x": dict(zip(ids, values, strict=True))}, truth=truth)
    task = build_task(TaskConfig(), classes=("a", "b", "c"))

    def fitted(clip):
        spec = SystemSpec("categorical", task.outputs, inputs=(InputSpec("x", "text", "vector", 6),),
                          model=Component("logistic_regression", LogisticRegressionConfig(c_grid=(0.5,), clip=clip)),
                          features={"x": Component("text_embedding", parse(TextEmbeddingConfig, {}))})
        system = build_system(spec)
        system.fit(data, None, task=task, training=TrainingConfig())
        return system

    clipped, plain = fitted(3.0), fitted(None)
    reference = make_pipeline(StandardScaler(), FunctionTransformer(np.clip, kw_args={"a_min": -3.0, "a_max": 3.0}),
                              LogisticRegression(C=0.5, max_iter=2000)).fit(values, truth)
    probe = values[:10].copy()
    probe[:, 1] = 1e6 * values[:, 1].std()
    probe_data = dataclasses.replace(data, ids=ids[:10], inputs={"x": dict(zip(ids[:10], probe, strict=True))},
                                     truth=truth[:10])
    np.testing.assert_allclose(clipped.scores(probe_data), reference.predict_proba(probe), atol=1e-8)
    at_bound = probe.copy()
    at_bound[:, 1] = values[:, 1].mean() + 3.0 * values[:, 1].std()
    bound_data = dataclasses.replace(probe_data, inputs={"x": dict(zip(ids[:10], at_bound, strict=True))})
    np.testing.assert_allclose(clipped.scores(probe_data), clipped.scores(bound_data), atol=1e-8)
    assert plain.scores(probe_data).max(axis=1).min() > 0.999  # unclipped: the outlier alone decides
    clipped.save(tmp_path / "clipped")
    again = load_system(tmp_path / "clipped")
    assert again.spec.model.config.clip == 3.0
    np.testing.assert_allclose(again.scores(probe_data), clipped.scores(probe_data), atol=1e-12)
    with pytest.raises(ConfigError, match="clip must be positive"):
        parse(LogisticRegressionConfig, {"clip": 3.0, "standardize": False})


def test_discount_neutral_flattens_neutral_words_and_keeps_emotional_ones():
    from emofuse.inference.prediction import discount_neutral

    rows = np.array([[0.9, 0.05, 0.03, 0.02], [0.02, 0.03, 0.05, 0.9], [0.25, 0.25, 0.25, 0.25]])
    out = discount_neutral(rows, 0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    assert out[0, 0] < 0.4 and out[0].max() - out[0].min() < 0.25  # neutral words: nearly flat
    np.testing.assert_allclose(out[1], temper(rows[1], 0.98))  # emotional words: nearly as they were
    np.testing.assert_allclose(out[2], rows[2])  # an undecided text stays undecided


def text_recognizer(neutral_words):
    """``speech`` hears the voice; ``words`` reads a text front-end (never built here)."""
    from emofuse.audio.logmel import LogMelStatsConfig
    from emofuse.fusion import LateFusionConfig
    from emofuse.models import InputSpec
    from emofuse.models.configs import LogisticRegressionConfig
    from emofuse.pretrained import TextEmbeddingConfig
    from emofuse.systems import SystemSpec
    from emofuse.systems import build_system

    model = Component("logistic_regression", LogisticRegressionConfig())
    systems = {
        "speech": build_system(SystemSpec("categorical", FOUR_CLASSES, inputs=(InputSpec("logmel", "audio", "vector", 8),),
                                          model=model, features={"logmel": Component("logmel_stats", LogMelStatsConfig(n_mels=4, deltas=False))})),
        "words": build_system(SystemSpec("categorical", FOUR_CLASSES, inputs=(InputSpec("sentence", "text", "vector", 8),),
                                         model=model, features={"sentence": Component("text_embedding", TextEmbeddingConfig())})),
    }
    for seed, name in enumerate(("speech", "words")):
        systems[name].load_state_dict(logistic(8, seed))
    systems["fused"] = build_system(SystemSpec("categorical", FOUR_CLASSES, members=("speech", "words"),
                                               fusion=Component("late", LateFusionConfig(method="weighted"))))
    systems["fused"].load_state_dict({"weights": np.array([0.5, 0.5])})
    config = RecognizerConfig(name="tiny", heads={"categorical": "fused"}, systems=tuple(systems), asr="none",
                              neutral_words=neutral_words)
    return Recognizer(config, systems, speech_check=False)


def test_neutral_words_cannot_outvote_an_emotional_voice():
    from emofuse.inference.pipeline import _fused_scores

    assert FOUR_CLASSES[0] == "neu"
    voice = np.array([[0.1, 0.1, 0.1, 0.7]])  # an angry voice
    words = np.array([[0.9, 0.04, 0.03, 0.03]])  # "Say the word chair."
    plain, tempered = text_recognizer(None), text_recognizer("neu")
    both = ("speech", "words")
    np.testing.assert_array_equal(_fused_scores(plain, "words", both, list(words)), words)
    assert _fused_scores(tempered, "words", both, list(words))[0, 0] < 0.45
    np.testing.assert_array_equal(_fused_scores(tempered, "speech", both, list(voice)), voice)  # the voice as it is
    np.testing.assert_array_equal(_fused_scores(tempered, "words", ("words",), list(words)), words)  # words alone answer

    def fused(recognizer):
        system = recognizer.systems["fused"]
        from emofuse.predictions import Predictions
        from emofuse.systems.base import SystemData

        members = {m: Predictions("categorical", FOUR_CLASSES, ("0",), _fused_scores(recognizer, m, both, list(rows)))
                   for m, rows in (("speech", voice), ("words", words))}
        return FOUR_CLASSES[int(system.predict(SystemData(("0",), members=members)).scores.argmax())]

    assert fused(plain) == "neu" and fused(tempered) == "ang"


def test_neutral_words_must_be_a_class():
    with pytest.raises(RecognizerError, match="neutral_words"):
        text_recognizer("calm")


def test_a_doubtful_transcript_and_neutral_words_multiply(monkeypatch):
    """The words' emotion is judged before the transcript's doubt tempers them: p ** (c (1 - n))."""
    from emofuse.inference import pipeline
    from emofuse.inference.prediction import discount_neutral
    from emofuse.predictions import Predictions
    from emofuse.systems.base import SystemData

    rng = np.random.default_rng(3)
    vectors = {"logmel": [rng.normal(size=8)], "sentence": [3.0 * rng.normal(size=8)]}
    monkeypatch.setattr(pipeline, "input_columns", lambda *args, **kwargs: vectors)
    recognizer = text_recognizer("neu")
    confidence = 0.4
    outputs = pipeline.run_systems(recognizer, [np.zeros(10, np.float32)], ["some words"],
                                   transcript_confidences=[confidence])
    words = recognizer.systems["words"].predict(SystemData(("0",), inputs={"sentence": {"0": vectors["sentence"][0]}})).scores
    share = float(words[0, 0])
    np.testing.assert_allclose(discount_neutral(temper(words[0], confidence), 0, np.array([share])),
                               temper(words[0], confidence * (1 - share)), atol=1e-12)
    members = {"speech": Predictions("categorical", FOUR_CLASSES, ("0",), outputs["speech"][0][None]),
               "words": Predictions("categorical", FOUR_CLASSES, ("0",), temper(words[0], confidence * (1 - share))[None])}
    expected = recognizer.systems["fused"].predict(SystemData(("0",), members=members)).scores[0]
    np.testing.assert_allclose(outputs["fused"][0], expected, atol=1e-9)
    np.testing.assert_allclose(outputs["words"][0], temper(words[0], confidence), atol=1e-12)  # the member as it is
