"""RAVDESS reader on generated wavs laid out like the release (``Actor_NN/``)."""

from __future__ import annotations

import pathlib

import pytest
from conftest import write_tone

from emofuse.components import CORPORA
from emofuse.config import parse
from emofuse.data.corpora import CorpusError
from emofuse.data.corpora import prepare_ravdess
from emofuse.data.corpora.ravdess import RavdessConfig
from emofuse.data.corpora.ravdess import parse_file_name
from emofuse.data.labels import FOUR_CLASSES
from emofuse.data.labels import get_label_map

NAMES = [
    "03-01-01-01-01-01-01.wav",  # neutral, actor 1 (male)
    "03-01-02-02-02-02-01.wav",  # calm, strong
    "03-01-03-01-01-01-12.wav",  # happy, actor 12 (female)
    "03-01-04-02-02-01-12.wav",  # sad
    "03-01-05-01-02-01-12.wav",  # angry
    "03-01-06-01-01-01-13.wav",  # fearful
    "03-01-07-01-01-02-13.wav",  # disgust
    "03-01-08-02-01-01-24.wav",  # surprised
    "03-02-03-01-01-01-24.wav",  # song, happy
]


def make_release(root: pathlib.Path, names: list[str]) -> pathlib.Path:
    for name in names:
        actor = name.removesuffix(".wav").split("-")[-1]
        write_tone(root / f"Actor_{actor}" / name, seconds=0.2, sampling_rate=48000)
    return root


def test_reads_speech_and_decodes_file_names(tmp_path):
    root = make_release(tmp_path / "ravdess", NAMES)
    manifest = prepare_ravdess(root, label_map="ravdess_eight_class")
    assert len(manifest) == len(NAMES) - 1  # song left out
    angry = manifest["03-01-05-01-02-01-12"]
    assert (angry.speaker, angry.gender, angry.emotion, angry.label) == ("12", "F", "ang", "ang")
    assert angry.text == "Dogs are sitting by the door"
    assert angry.metadata == {"vocal_channel": "speech", "intensity": "normal", "statement": "02", "repetition": 1}
    assert angry.sampling_rate == 48000 and angry.duration == pytest.approx(0.2)
    neutral = manifest["03-01-01-01-01-01-01"]
    assert neutral.gender == "M" and neutral.text == "Kids are talking by the door"
    assert sorted(manifest.counts("emotion")) == ["ang", "cal", "dis", "fea", "hap", "neu", "sad", "sur"]
    assert manifest.speakers() == ["01", "12", "13", "24"]


def test_four_class_map_and_song(tmp_path):
    root = make_release(tmp_path / "ravdess", NAMES)
    four = prepare_ravdess(root).with_label_map("ravdess_four_class")
    assert four.counts("label") == {"ang": 1, "hap": 1, "neu": 1, "sad": 1}
    assert get_label_map("ravdess_four_class").classes == FOUR_CLASSES
    with_song = prepare_ravdess(root, include_song=True)
    assert with_song["03-02-03-01-01-01-24"].metadata["vocal_channel"] == "song"
    config = parse(RavdessConfig, {"path": str(root), "include_song": True})
    assert CORPORA.build("ravdess", config) == with_song


def test_other_modalities_are_skipped(tmp_path):
    root = make_release(tmp_path / "ravdess", [*NAMES, "01-01-05-01-02-01-12.wav"])
    assert "01-01-05-01-02-01-12" not in prepare_ravdess(root)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("03-01-05-01-02-12.wav", "does not follow"),
        ("03-01-09-01-02-01-12.wav", "unknown emotion '09'"),
        ("03-01-05-03-02-01-12.wav", "unknown intensity '03'"),
        ("03-01-05-01-03-01-12.wav", "unknown statement '03'"),
        ("03-01-05-01-02-03-12.wav", "unknown repetition '03'"),
        ("04-01-05-01-02-01-12.wav", "unknown modality '04'"),
        ("03-01-01-02-02-01-12.wav", "neutral has no strong intensity"),
        ("03-01-05-01-02-01-25.wav", "outside 01-24"),
    ],
)
def test_malformed_file_names_are_errors_naming_the_file(tmp_path, name, message):
    root = tmp_path / "ravdess"
    write_tone(root / name, seconds=0.1)
    with pytest.raises(CorpusError, match=message) as error:
        prepare_ravdess(root)
    assert error.value.file == str(root.resolve() / name)


def test_file_in_another_actors_directory_is_an_error(tmp_path):
    root = tmp_path / "ravdess"
    write_tone(root / "Actor_11" / "03-01-05-01-02-01-12.wav", seconds=0.1)
    with pytest.raises(CorpusError, match="actor 12 in the name, but the file is in Actor_11"):
        prepare_ravdess(root)


def test_parse_file_name():
    facts = parse_file_name("03-01-08-02-01-02-07.wav")
    assert (facts.emotion, facts.intensity, facts.repetition, facts.speaker, facts.gender) == (
        "sur", "strong", 2, "07", "M"
    )
