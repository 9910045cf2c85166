"""Manifest transcription: cache, resume, named failures, recogniser specs, pocketsphinx, CLI."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from emofuse.asr import Transcriber
from emofuse.asr import TranscriptionError
from emofuse.asr import build_transcriber
from emofuse.asr import manifest_word_error_rate
from emofuse.asr import parse_asr
from emofuse.asr import transcribe_manifest
from emofuse.asr.pocketsphinx import PocketsphinxConfig
from emofuse.cli import app
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance


class CountingRecognizer(Transcriber):
    """Says how long each signal is; counts what it was asked to do."""

    name = "counting"
    batch_size = 2

    def __init__(self):
        super().__init__(PocketsphinxConfig())
        self.calls = []

    def transcribe_batch(self, signals):
        self.calls.append(len(signals))
        return ["long one" if len(s) > 12000 else "short" for s in signals]


def corpus(tone, count=5):
    utterances = [Utterance(f"u{i}", audio=str(tone(f"u{i}.wav", seconds=0.5 + 0.5 * i)), text="short") for i in range(count)]
    return Manifest(utterances)


def test_transcribes_caches_and_resumes(tmp_path, tone):
    manifest = corpus(tone)
    recognizer = CountingRecognizer()
    result = transcribe_manifest(manifest, asr=recognizer, cache_dir=tmp_path, progress=False)
    assert [u.asr_text for u in result] == ["short", "long one", "long one", "long one", "long one"]
    assert recognizer.calls == [2, 2, 1] and result[0].metadata["asr"] == "counting"
    assert manifest[0].asr_text is None  # a new manifest
    assert manifest_word_error_rate(result) == pytest.approx(8 / 5)  # 4 x (1 sub + 1 ins) over 5 words
    again = CountingRecognizer()
    assert transcribe_manifest(manifest, asr=again, cache_dir=tmp_path, progress=False) == result
    assert again.calls == []  # everything cached
    entries = sorted((tmp_path / "asr").glob("counting-*/*/*.json"))
    assert len(entries) == 5 and json.loads(entries[0].read_text())["id"].startswith("u")
    entries[0].unlink()
    entries[1].write_text("{broken")  # an unreadable entry is transcribed again
    resumed = CountingRecognizer()
    assert transcribe_manifest(manifest, asr=resumed, cache_dir=tmp_path, progress=False) == result
    assert resumed.calls == [2]


def test_failures_are_named_after_the_good_ones_are_cached(tmp_path, tone):
    manifest = corpus(tone, 3) + Manifest([Utterance("no_audio", text="hi"), Utterance("gone", audio=str(tmp_path / "gone.wav"))])
    with pytest.raises(TranscriptionError, match=r"2 of 5 utterances could not be transcribed(.|\n)*no_audio(.|\n)*gone") as error:
        transcribe_manifest(manifest, asr=CountingRecognizer(), cache_dir=tmp_path, progress=False)
    assert set(error.value.failures) == {"no_audio", "gone"}
    recognizer = CountingRecognizer()
    skipped = transcribe_manifest(manifest, asr=recognizer, cache_dir=tmp_path, on_error="skip", progress=False)
    assert recognizer.calls == [] and skipped["gone"].asr_text is None and skipped["u1"].asr_text == "long one"


def test_recogniser_specs():
    assert parse_asr("whisper:/models/tiny").config.model == "/models/tiny"
    assert parse_asr("whisper").config.model == "openai/whisper-base.en"
    with pytest.raises(KeyError, match="unknown ASR engine 'kaldi'"):
        parse_asr("kaldi")
    with pytest.raises(ValueError, match="takes no model name"):
        parse_asr("pocketsphinx:en-us")
    with pytest.raises(ValueError, match="give a model"):
        parse_asr("whisper:")
    with pytest.raises(ValueError, match="not found"):
        PocketsphinxConfig(acoustic_model="/no/such/model")


def test_pocketsphinx_on_a_tone_returns_text(tone):
    recognizer = build_transcriber("pocketsphinx")
    import soundfile

    signal, rate = soundfile.read(tone(seconds=0.5, sampling_rate=8000))
    assert isinstance(recognizer.transcribe(signal, rate), str)  # resampled to 16 kHz
    assert recognizer.transcribe_batch([np.zeros(0, dtype=np.float32)]) == [""]


@pytest.mark.shared
def test_pocketsphinx_recognises_iemocap_mini_speech(tmp_path, iemocap_mini):
    from emofuse.data.corpora.iemocap import prepare_iemocap

    manifest = prepare_iemocap(iemocap_mini, out_of_scale="clip").filter(lambda u: u.text is not None)
    manifest = manifest.subset(manifest.ids[:3])
    result = transcribe_manifest(manifest, asr="pocketsphinx", cache_dir=tmp_path, progress=False)
    assert all(isinstance(u.asr_text, str) for u in result)
    assert manifest_word_error_rate(result) < 0.9  # real words come out


def test_cli_transcribe_and_simulate(tmp_path, tone, monkeypatch):
    manifest_path = corpus(tone, 2).save(tmp_path / "m.csv")
    monkeypatch.setenv("EMOFUSE_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    result = runner.invoke(app, ["transcribe", str(manifest_path), "-o", str(tmp_path / "out.csv"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "wrote 2 of 2 transcripts" in result.output and "WER" in result.output
    assert Manifest.load(tmp_path / "out.csv")[0].metadata["asr"] == "pocketsphinx"
    bad = runner.invoke(app, ["transcribe", str(manifest_path), "-o", str(tmp_path / "x.csv"), "--asr", "kaldi"])
    assert bad.exit_code == 2 and "unknown ASR engine" in bad.output
    texts = Manifest([Utterance(f"t{i}", text="the cat sat on the mat again and again") for i in range(20)]).save(tmp_path / "t.csv")
    simulated = runner.invoke(app, ["simulate-asr", str(texts), "-o", str(tmp_path / "noisy.csv"), "--wer", "0.1", "--seed", "3"])
    assert simulated.exit_code == 0, simulated.output
    assert "measured WER 10.00 %" in simulated.output
