"""EmoDB reader: the real release in ../shared, and generated files in tmp_path."""

from __future__ import annotations

import collections
import csv
import pathlib

import pytest
from conftest import shared_path
from conftest import write_tone

from emofuse.components import CORPORA
from emofuse.config import parse
from emofuse.data.corpora import CorpusError
from emofuse.data.corpora import prepare_emodb
from emofuse.data.corpora.emodb import SENTENCES
from emofuse.data.corpora.emodb import EmodbConfig
from emofuse.data.corpora.emodb import parse_file_name
from emofuse.data.labels import FOUR_CLASSES
from emofuse.data.labels import get_label_map

FOUR_NAMES = {"angry": "ang", "happy": "hap", "neutral": "neu", "sad": "sad"}


@pytest.fixture
def emodb() -> pathlib.Path:
    return shared_path("data", "emodb")


def shared_rows(root: pathlib.Path) -> list[dict[str, str]]:
    with (root / "manifest.csv").open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


@pytest.mark.shared
def test_real_release(emodb):
    manifest = prepare_emodb(emodb)
    rows = shared_rows(emodb)
    assert len(manifest) == len(rows) == 535
    assert manifest.speakers() == ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
    for row in rows:
        utterance = manifest[pathlib.PurePosixPath(row["file"]).stem]
        assert utterance.speaker == row["speaker"]
        assert utterance.gender == row["gender"][0].upper()
        assert utterance.text == row["transcription"]
        assert utterance.metadata == {"text_id": row["text_id"], "version": row["version"]}
        assert utterance.sampling_rate == int(row["sr"])
        assert utterance.duration == pytest.approx(float(row["duration_s"]), abs=1e-4)
    four = manifest.with_label_map("emodb_four_class")
    expected = collections.Counter(FOUR_NAMES[r["emotion4"]] for r in rows if r["emotion4"])
    assert four.counts("label") == dict(sorted(expected.items()))
    assert len(four) == sum(expected.values())


@pytest.mark.shared
def test_module_sentences_match_the_release(emodb):
    texts = {row["text_id"]: row["transcription"] for row in shared_rows(emodb)}
    assert texts == SENTENCES


def make_release(root: pathlib.Path, names: list[str]) -> pathlib.Path:
    for name in names:
        write_tone(root / "wav" / name, seconds=0.2)
    return root


def test_generated_files_without_manifest_use_the_standard_sentences(tmp_path):
    names = ["03a01Wa.wav", "08b10Lb.wav", "16a05Tc.wav", "10b03Nd.wav", "13a07Ea.wav", "09b01Ab.wav", "15a02Fa.wav"]
    root = make_release(tmp_path / "emodb", names)
    (root / "wav" / "._03a01Wa.wav").write_bytes(b"junk")  # macOS resource fork
    (root / "wav" / "notes.txt").write_text("not audio")
    manifest = prepare_emodb(root)
    assert len(manifest) == len(names)
    angry = manifest["03a01Wa"]
    assert (angry.speaker, angry.gender, angry.emotion, angry.label) == ("03", "M", "ang", "ang")
    assert angry.text == SENTENCES["a01"] and angry.corpus == "emodb" and angry.session is None
    assert manifest["08b10Lb"].gender == "F" and manifest["08b10Lb"].emotion == "bor"
    assert sorted(u.emotion for u in manifest) == sorted(["ang", "bor", "sad", "neu", "dis", "fea", "hap"])
    four = prepare_emodb(root, label_map="emodb_four_class")
    assert sorted(u.id for u in four if u.label is not None) == ["03a01Wa", "10b03Nd", "15a02Fa", "16a05Tc"]
    assert get_label_map("emodb_four_class").classes == FOUR_CLASSES


def test_manifest_transcriptions_are_used_when_present(tmp_path):
    root = make_release(tmp_path / "emodb", ["03a01Wa.wav", "11a02Na.wav"])
    (root / "manifest.csv").write_text("file,transcription\nwav/03a01Wa.wav,Der Lappen.\n", encoding="utf-8")
    manifest = prepare_emodb(root)
    assert manifest["03a01Wa"].text == "Der Lappen."
    assert manifest["11a02Na"].text == SENTENCES["a02"]  # no row: the standard sentence
    (root / "manifest.csv").write_text("file,speaker\nwav/03a01Wa.wav,03\n", encoding="utf-8")
    assert prepare_emodb(root)["03a01Wa"].text == SENTENCES["a01"]


def test_registered_builder(tmp_path):
    root = make_release(tmp_path / "emodb", ["03a01Wa.wav"])
    config = parse(EmodbConfig, {"path": str(root), "label_map": "emodb_four_class"})
    assert CORPORA.build("emodb", config)["03a01Wa"].label == "ang"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("03x01Wa.wav", "does not follow"),
        ("03a01W.wav", "does not follow"),
        ("04a01Wa.wav", "unknown speaker '04'"),
        ("03a03Wa.wav", "unknown text id 'a03'"),
        ("03a01Za.wav", "unknown emotion letter 'Z'"),
    ],
)
def test_malformed_file_names_are_errors_naming_the_file(tmp_path, name, message):
    root = make_release(tmp_path / "emodb", ["03a01Wa.wav", name])
    with pytest.raises(CorpusError, match=message) as error:
        prepare_emodb(root)
    assert error.value.file == str(root.resolve() / "wav" / name)


def test_unreadable_wav_and_missing_directory(tmp_path):
    root = make_release(tmp_path / "emodb", ["03a01Wa.wav"])
    (root / "wav" / "03a02Wa.wav").write_bytes(b"RIFF not really")
    with pytest.raises(CorpusError, match="03a02Wa.wav: cannot read audio header"):
        prepare_emodb(root)
    with pytest.raises(CorpusError, match="no wav/ directory"):
        prepare_emodb(tmp_path)


def test_parse_file_name():
    assert parse_file_name("16b10Td.wav") == {
        "speaker": "16", "gender": "F", "text_id": "b10", "emotion": "sad", "version": "d"
    }
