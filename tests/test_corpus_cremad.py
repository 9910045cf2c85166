"""CREMA-D reader on generated wavs laid out like the release (``AudioWAV/``)."""

from __future__ import annotations

import logging
import pathlib

import pytest
from conftest import write_tone

from emofuse.components import CORPORA
from emofuse.config import parse
from emofuse.data.corpora import CorpusError
from emofuse.data.corpora import prepare_cremad
from emofuse.data.corpora.cremad import SENTENCES
from emofuse.data.corpora.cremad import CremadConfig
from emofuse.data.corpora.cremad import parse_file_name

NAMES = [
    "1001_DFA_ANG_XX.wav",
    "1001_IEO_HAP_HI.wav",
    "1002_TSI_SAD_LO.wav",
    "1002_WSI_NEU_XX.wav",
    "1091_ITH_DIS_MD.wav",
    "1091_MTI_FEA_XX.wav",
]
DEMOGRAPHICS = "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n1091,29,Female,Asian,Not Hispanic\n"


def make_release(root: pathlib.Path, names: list[str], *, demographics: str | None = DEMOGRAPHICS) -> pathlib.Path:
    for name in names:
        write_tone(root / "AudioWAV" / name, seconds=0.2)
    if demographics is not None:
        (root / "VideoDemographics.csv").write_text(demographics)
    return root


def test_reads_release_with_demographics(tmp_path):
    root = make_release(tmp_path / "crema", NAMES)
    manifest = prepare_cremad(root, label_map="cremad_six_class")
    assert len(manifest) == len(NAMES)
    angry = manifest["1001_DFA_ANG_XX"]
    assert (angry.speaker, angry.gender, angry.emotion, angry.label) == ("1001", "M", "ang", "ang")
    assert angry.text == "Don't forget a jacket" and angry.corpus == "cremad"
    assert angry.metadata == {"sentence": "DFA", "intensity": "unspecified", "age": 51}
    assert manifest["1001_IEO_HAP_HI"].metadata["intensity"] == "high"
    assert manifest["1002_TSI_SAD_LO"].metadata["intensity"] == "low"
    assert manifest["1091_ITH_DIS_MD"].metadata["intensity"] == "medium"
    assert manifest["1002_TSI_SAD_LO"].gender == "F"
    four = prepare_cremad(root).with_label_map("cremad_four_class")
    assert four.counts("label") == {"ang": 1, "hap": 1, "neu": 1, "sad": 1}
    assert CORPORA.build("cremad", parse(CremadConfig, {"path": str(root)})) == prepare_cremad(root)


def test_flat_directory_without_demographics(tmp_path):
    root = tmp_path / "flat"
    for name in NAMES[:2]:
        write_tone(root / name, seconds=0.1)
    manifest = prepare_cremad(root)
    assert len(manifest) == 2 and all(u.gender is None for u in manifest)


def test_single_x_level_is_read_as_unspecified(tmp_path, caplog):
    root = make_release(tmp_path / "crema", ["1040_ITH_SAD_X.wav"], demographics=None)
    with caplog.at_level(logging.WARNING):
        manifest = prepare_cremad(root)
    assert manifest["1040_ITH_SAD_X"].metadata["intensity"] == "unspecified"
    assert "level 'X'" in caplog.text


def test_lfs_pointers_and_unreadable_audio(tmp_path):
    root = make_release(tmp_path / "crema", NAMES[:2])
    (root / "AudioWAV" / "1001_IWW_NEU_XX.wav").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\n")
    with pytest.raises(CorpusError, match="1001_IWW_NEU_XX.wav: a Git LFS pointer"):
        prepare_cremad(root)
    (root / "AudioWAV" / "1001_IWW_NEU_XX.wav").write_bytes(b"\x00" * 10)
    with pytest.raises(CorpusError, match="cannot read audio header"):
        prepare_cremad(root)
    assert len(prepare_cremad(root, skip_unreadable_audio=True)) == 2


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("1001_DFA_ANG.wav", "does not follow"),
        ("1001_ABC_ANG_XX.wav", "unknown sentence 'ABC'"),
        ("1001_DFA_CAL_XX.wav", "unknown emotion 'CAL'"),
        ("1001_DFA_ANG_ZZ.wav", "unknown level 'ZZ'"),
        ("0999_DFA_ANG_XX.wav", "outside 1001-1091"),
    ],
)
def test_malformed_file_names_are_errors_naming_the_file(tmp_path, name, message):
    root = make_release(tmp_path / "crema", [name], demographics=None)
    with pytest.raises(CorpusError, match=message) as error:
        prepare_cremad(root)
    assert error.value.file == str(root.resolve() / "AudioWAV" / name)


def test_malformed_demographics_name_file_and_line(tmp_path):
    root = make_release(tmp_path / "crema", NAMES[:1], demographics="ActorID,Age,Sex\n1001,51,Robot\n")
    with pytest.raises(CorpusError, match=r"VideoDemographics.csv:2: unknown gender 'Robot'"):
        prepare_cremad(root)
    root = make_release(tmp_path / "other", NAMES[:1], demographics="ActorID,Age,Sex\n1002,51,Male\n")
    with pytest.raises(CorpusError, match="actor 1001 is not in VideoDemographics.csv"):
        prepare_cremad(root)


def test_every_sentence_code_parses():
    for code, text in SENTENCES.items():
        facts = parse_file_name(f"1050_{code}_NEU_XX.wav")
        assert facts["sentence"] == code and text
    assert len(SENTENCES) == 12
