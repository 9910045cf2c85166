"""The System contract over the whole registry: every model and score fusion, trained for a few
steps by the runner on the tiny synthetic corpus, exported, loaded back as a recogniser, gives
the run's own test predictions again. A newly registered component is covered here through the
``Example`` its builder declares."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import example_experiment

from emofuse.components import MODELS
from emofuse.components import SCORE_FUSIONS
from emofuse.experiment import load_experiment
from emofuse.inference.export import export_run
from emofuse.inference.recognizer import Recognizer
from emofuse.rundir import RunDirectory
from emofuse.training import run_experiment

#: Late fusion's fitted states differ by method: each one is restored separately.
FUSIONS = [(name, None) for name in SCORE_FUSIONS.names()] + [
    ("late", {"method": m}) for m in ("average", "weighted", "znorm", "select")]


def _round_trip(config_data, tmp_path, manifest, *, atol=1e-5):
    run_dir = tmp_path / "run"
    run_experiment(load_experiment(config_data), run_dir, progress=False)
    run = RunDirectory(run_dir)
    (fold,) = run.folds()
    predictions = run.fold("model", 0, fold.name).predictions().select("test")
    recognizer = Recognizer.from_pretrained(export_run(run_dir, tmp_path / "export", system="model"), asr="none",
                                          speech_check=False)  # the corpus is tones, which no voice-activity detector calls speech
    test = run.manifest().subset(predictions.ids)
    recognized = recognizer.predict([u.audio for u in test], texts=[u.text for u in test])
    scores = np.array([[p.posteriors[c] for c in predictions.outputs] for p in recognized])
    assert scores.shape == predictions.scores.shape
    np.testing.assert_allclose(scores, predictions.scores, atol=atol)
    _onnx_round_trip(run_dir, tmp_path, test, predictions)
    return predictions


#: What the ONNX export refuses, and the reason its message gives.
ONNX_REFUSED = {"ssl_finetune": "raw waveform with a torch speech encoder", "text_lstm": "splits words in Python"}


def _onnx_round_trip(run_dir, tmp_path, test, predictions):
    """The same system exported to ONNX gives the run's predictions within 1e-3 (or is refused
    with the reason)."""
    import importlib.util

    from emofuse.inference.recognizer import RecognizerError

    if importlib.util.find_spec("onnx") is None:  # the exporter needs the onnx extra
        return
    model = RunDirectory(run_dir).config().systems["model"].model
    name = model.name if model is not None else None
    if name in ONNX_REFUSED:
        with pytest.raises(RecognizerError, match=ONNX_REFUSED[name]):
            export_run(run_dir, tmp_path / "onnx", system="model", format="onnx")
        return
    recognizer = Recognizer.from_pretrained(export_run(run_dir, tmp_path / "onnx", system="model", format="onnx"),
                                          asr="none", speech_check=False)
    assert all(type(s).__name__ in {"OnnxSystem", "ClassicSystem"} for s in recognizer.systems.values())
    recognized = recognizer.predict([u.audio for u in test], texts=[u.text for u in test])
    scores = np.array([[p.posteriors[c] for c in predictions.outputs] for p in recognized])
    np.testing.assert_allclose(scores, predictions.scores, atol=1e-3)


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_reproduces_its_run_predictions_after_export(name, tmp_path, shared_corpus, feature_cache, tiny_bert,
                                                                 tiny_wav2vec2):
    paths = {"tiny_text_model": tiny_bert, "tiny_ssl_model": tiny_wav2vec2}
    config = example_experiment(name, manifest=shared_corpus, cache=feature_cache, paths=paths)
    predictions = _round_trip(config, tmp_path, shared_corpus)
    assert np.allclose(predictions.scores.sum(axis=1), 1.0)


@pytest.mark.parametrize(("name", "overrides"), FUSIONS, ids=[f"{n}-{(o or {}).get('method', 'example')}" for n, o in FUSIONS])
def test_every_score_fusion_reproduces_its_run_predictions_after_export(name, overrides, tmp_path, shared_corpus,
                                                                        feature_cache, tiny_bert):
    config = example_experiment(name, manifest=shared_corpus, cache=feature_cache, paths={"tiny_text_model": tiny_bert},
                                fusion=True, config_overrides=overrides)
    _round_trip(config, tmp_path, shared_corpus)


def _example_spec(name, paths):
    """The :class:`SystemSpec` of a model's example on made-up inputs (no training data needed)."""
    from conftest import EXAMPLE_INPUTS
    from conftest import _fill

    from emofuse.config import Component
    from emofuse.config import parse
    from emofuse.models.inputs import InputSpec
    from emofuse.systems.base import SystemSpec

    entry = MODELS.get(name)
    example = entry.builder.example
    dims = {"vector": 64, "sequence": 16, "text_vector": 32, "text_sequence": 32, "text": 0, "waveform": 1}
    kinds = {"vector": "vector", "sequence": "sequence", "text_vector": "vector", "text_sequence": "sequence",
             "text": "text", "waveform": "waveform"}
    inputs, features = [], {}
    for position, kind in enumerate(example.inputs):
        feature_name, feature = EXAMPLE_INPUTS[kind]
        modality = "text" if kind.startswith("text") else "audio"
        inputs.append(InputSpec(f"{feature_name}_{position}" if feature else feature_name, modality, kinds[kind], dims[kind]))
        if feature:
            features[inputs[-1].name] = Component(feature["name"], parse(__import__("emofuse.components", fromlist=["FEATURES"])
                                                                         .FEATURES.get(feature["name"]).config_class,
                                                                         _fill({k: v for k, v in feature.items() if k != "name"}, paths)))
    model = Component(name, parse(entry.config_class, _fill(dict(example.config), paths)))
    return SystemSpec("categorical", ("a", "b", "c"), inputs=tuple(inputs), model=model, features=features)


def _example_value(spec, length, rng):
    if spec.kind == "text":
        return " ".join(["wonderful", "news", "furious", "noon"][k % 4] for k in range(max(1, length // 10)))
    if spec.kind == "waveform":
        return (0.1 * rng.standard_normal(length * 160)).astype(np.float32)
    if spec.kind == "vector":
        return rng.standard_normal(spec.dim).astype(np.float32)
    return rng.standard_normal((length, spec.dim)).astype(np.float32)


#: Neural models that read inputs (not member systems): the ones that batch padded sequences.
NEURAL = [n for n in MODELS.names() if MODELS.get(n).builder.__module__ != "emofuse.models.classic"
          and "member" not in MODELS.get(n).builder.example.inputs]


@pytest.mark.parametrize("name", NEURAL)
def test_a_prediction_does_not_depend_on_the_rest_of_its_batch(name, tiny_bert, tiny_wav2vec2):
    """Padding a short utterance to a long neighbour's length must not change its prediction."""
    from emofuse.systems.base import SystemData
    from emofuse.systems.base import build_system

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    spec = _example_spec(name, {"tiny_text_model": tiny_bert, "tiny_ssl_model": tiny_wav2vec2})
    system = build_system(spec)
    rng = np.random.default_rng(0)
    short = {i.name: _example_value(i, 40, rng) for i in spec.inputs}
    long = {i.name: _example_value(i, 130, rng) for i in spec.inputs}
    alone = system.predict(SystemData(("short",), inputs={k: {"short": v} for k, v in short.items()})).scores
    together = system.predict(SystemData(("short", "long"), inputs={k: {"short": short[k], "long": long[k]}
                                                                   for k in short})).scores
    np.testing.assert_allclose(together[0], alone[0], atol=1e-5)
