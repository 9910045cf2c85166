"""Users' manifest files (CSV and JSON lines): fields, metadata, scales, audio facts, errors."""

from __future__ import annotations

import json
import pathlib

import pytest
from conftest import write_tone

from emofuse.components import CORPORA
from emofuse.config import ConfigError
from emofuse.config import parse
from emofuse.data.corpora import CorpusError
from emofuse.data.corpora import prepare_manifest
from emofuse.data.corpora.generic import ManifestConfig
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance


@pytest.fixture
def corpus(tmp_path) -> pathlib.Path:
    write_tone(tmp_path / "audio" / "a.wav", seconds=0.5, sampling_rate=16000)
    write_tone(tmp_path / "audio" / "b.wav", seconds=0.25, sampling_rate=8000)
    return tmp_path


def write_csv(path: pathlib.Path, lines: list[str]) -> pathlib.Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_csv_fields_metadata_and_audio_facts(corpus):
    file = write_csv(
        corpus / "mine.csv",
        [
            "id,audio,speaker,emotion,text,valence_raw,arousal_raw,scripted,room",
            "u1,audio/a.wav,s1,ang,Hello there,4,2,yes,kitchen",
            "u2,audio/b.wav,s2,neu,,3,5,,",
        ],
    )
    manifest = prepare_manifest(file, scale=(1, 5))
    first, second = manifest["u1"], manifest["u2"]
    assert first.audio == str((corpus / "audio" / "a.wav").resolve())
    assert (first.sampling_rate, first.duration) == (16000, pytest.approx(0.5))
    assert (second.sampling_rate, second.duration) == (8000, pytest.approx(0.25))
    assert (first.speaker, first.emotion, first.label, first.text) == ("s1", "ang", "ang", "Hello there")
    assert (first.valence, first.arousal, first.valence_raw) == (0.5, -0.5, 4.0)
    assert first.metadata == {"scripted": "yes", "room": "kitchen"}
    assert second.text is None and second.metadata == {} and second.arousal == 1.0


def test_label_map_and_given_facts(corpus):
    file = write_csv(
        corpus / "mine.csv",
        ["id,audio,emotion,sampling_rate,duration", "u1,audio/a.wav,exc,44100,9.5", "u2,audio/b.wav,fru,,"],
    )
    manifest = prepare_manifest(file, label_map="iemocap_four_class")
    assert manifest["u1"].label == "hap" and manifest["u2"].label is None
    assert (manifest["u1"].sampling_rate, manifest["u1"].duration) == (44100, 9.5)  # given, not read


def test_jsonl_with_metadata_object(corpus):
    file = corpus / "mine.jsonl"
    records = [
        {"id": "u1", "audio": str((corpus / "audio" / "a.wav").resolve()), "speaker": 7, "label": "pos",
         "emotion": "hap", "metadata": {"scene": 3}, "dialogue_act": "q"},
        {"id": "u2", "audio": "audio/b.wav", "start": 0.0, "end": 0.2, "corpus": "mine"},
    ]
    file.write_text("\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8")
    manifest = prepare_manifest(file)
    assert manifest["u1"].speaker == "7" and manifest["u1"].label == "pos"  # the file's own label
    assert manifest["u1"].metadata == {"scene": 3, "dialogue_act": "q"}
    assert (manifest["u2"].start, manifest["u2"].end, manifest["u2"].corpus) == (0.0, 0.2, "mine")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_reads_what_manifest_save_writes(corpus, suffix):
    original = Manifest(
        [
            Utterance(id="u1", audio=str(corpus / "audio" / "a.wav"), sampling_rate=16000, duration=0.5,
                      speaker="s1", emotion="sad", label="sad", valence=-0.5, valence_raw=2.0,
                      metadata={"room": "hall"}),
            Utterance(id="u2", audio=str(corpus / "audio" / "b.wav"), sampling_rate=8000, duration=0.25,
                      text="Fine, thanks.", emotion="neu", label="neu"),
        ]
    )
    path = original.save(corpus / f"saved{suffix}")
    assert prepare_manifest(path) == original


def test_registered_builder_and_config(corpus):
    file = write_csv(corpus / "mine.csv", ["id,audio,valence_raw", "u1,audio/a.wav,7"])
    config = parse(ManifestConfig, {"path": str(file), "scale": [1, 7]})
    assert config.scale == (1.0, 7.0)
    assert CORPORA.build("manifest", config)["u1"].valence == 1.0
    with pytest.raises(ConfigError, match="low < high"):
        parse(ManifestConfig, {"path": str(file), "scale": [5, 1]})


@pytest.mark.parametrize(
    ("lines", "options", "message"),
    [
        (["id,audio", "u1,audio/a.wav", "u2,audio/missing.wav"], {}, r"mine.csv:3: audio file .*missing.wav not found"),
        (["id,audio,valence_raw", "u1,audio/a.wav,3", "u2,audio/b.wav,6"], {"scale": (1, 5)}, r"mine.csv:3: valence_raw: rating 6.0 is outside"),
        (["id,audio,duration", "u1,audio/a.wav,1.0", "u2,audio/b.wav,long"], {}, r"mine.csv:3: duration: 'long' is not a number"),
        (["id,audio", "u1,audio/a.wav", "u1,audio/b.wav"], {}, r"mine.csv:3: duplicate id 'u1' \(first on line 2\)"),
        (["id,audio", "u1,audio/a.wav", ",audio/b.wav"], {}, r"mine.csv:3: empty value in column\(s\) \['id'\]"),
        (["id,text", "u1,hello"], {}, r"mine.csv:1: missing columns \['audio'\]"),
        (["id,audio,emotion", "u1,audio/a.wav,neu", "u2,audio/b.wav,zzz"], {"label_map": "iemocap_four_class"}, r"mine.csv:3: label code 'zzz'"),
        (["id,audio,valence", "u1,audio/a.wav,0.5", "u2,audio/b.wav,2.5"], {}, r"mine.csv:3: .*outside \[-1, 1\]"),
        (["id,audio,start,end", "u1,audio/a.wav,0,1", "u2,audio/b.wav,2,1"], {}, r"mine.csv:3: end 1.0 is before start 2.0"),
        (["id,audio,valence,valence_raw", "u1,audio/a.wav,0.5,4", "u2,audio/b.wav,0.5,1"], {"scale": (1, 5)}, r"mine.csv:3: valence 0.5 disagrees"),
        (["id,audio", "u1,audio/a.wav,extra"], {}, r"mine.csv:2: expected 2 fields"),
    ],
)
def test_malformed_csv_names_file_and_row(corpus, lines, options, message):
    file = write_csv(corpus / "mine.csv", lines)
    with pytest.raises(CorpusError, match=message):
        prepare_manifest(file, **options)


def test_malformed_jsonl_names_file_and_line(corpus):
    file = corpus / "mine.jsonl"
    file.write_text('{"id": "u1", "audio": "audio/a.wav"}\n{"id": "u2", "audio": \n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"mine.jsonl:2: invalid JSON"):
        prepare_manifest(file)
    file.write_text('{"id": "u1", "audio": "audio/a.wav"}\n["u2"]\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"mine.jsonl:2: expected a JSON object"):
        prepare_manifest(file)
    file.write_text('{"id": "u1"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"mine.jsonl:1: missing or empty \['audio'\]"):
        prepare_manifest(file)


def test_unreadable_audio_and_wrong_suffix(corpus):
    (corpus / "audio" / "bad.wav").write_bytes(b"nonsense")
    file = write_csv(corpus / "mine.csv", ["id,audio", "u1,audio/bad.wav"])
    with pytest.raises(CorpusError, match=r"mine.csv:2: .*cannot read audio header"):
        prepare_manifest(file)
    other = write_csv(corpus / "mine.tsv", ["id\taudio"])
    with pytest.raises(CorpusError, match="use a .csv or .jsonl manifest file"):
        prepare_manifest(other)
