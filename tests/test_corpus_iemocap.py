import collections
import re
import shutil

import pytest
from conftest import shared_path

from emofuse.data.corpora import CorpusError
from emofuse.data.corpora import prepare_iemocap
from emofuse.data.corpora.iemocap import parse_turn


def test_reproduces_expected_counts(iemocap_mini, expected_counts):
    manifest = prepare_iemocap(iemocap_mini, out_of_scale="clip")
    assert len(manifest) == expected_counts["utterances"]
    assert collections.Counter(u.emotion for u in manifest) == expected_counts["labels"]
    four = manifest.filter(lambda u: u.label is not None)
    assert len(four) == expected_counts["four_class_total"]
    assert collections.Counter(u.label for u in four) == expected_counts["four_class"]
    assert collections.Counter(u.session for u in four) == expected_counts["by_session"]
    assert manifest.speakers() == expected_counts["speakers"]
    assert sum(u.metadata["scripted"] for u in manifest) == expected_counts["scripted"]
    assert sum(not u.metadata["scripted"] for u in manifest) == expected_counts["improvised"]


def test_fields(iemocap_mini):
    manifest = prepare_iemocap(iemocap_mini, out_of_scale="clip", dialogue_acts=shared_path("fixtures", "dialogue_acts.csv"))
    utterance = manifest["Ses01F_impro01_M000"]
    assert utterance.speaker == "Ses01M" and utterance.gender == "M" and utterance.session == "1"
    assert utterance.text == "I miss him so much, the house feels empty now."
    assert utterance.sampling_rate == 16000 and utterance.duration > 0
    assert -1 <= utterance.valence <= 1 and 1 <= utterance.valence_raw <= 5
    assert utterance.metadata["dialogue_act"] == "s"
    assert all(not u.id.endswith("XX0") for u in manifest)
    assert all("._" not in (u.audio or "") for u in manifest)
    assert manifest["Ses01F_script01_1_F000"].metadata["script"] == "script01"
    full = prepare_iemocap(iemocap_mini, label_map="iemocap_full", out_of_scale="clip")
    assert {u.label for u in full} - {None} == {"neu", "hap", "exc", "sad", "ang", "fru", "sur", "oth"}


def test_speaker_is_not_the_marker_letter():
    assert parse_turn("Ses02F_impro01_M004")["speaker"] == "Ses02M"
    assert parse_turn("Ses02M_script01_1_F003")["speaker"] == "Ses02F"


def copy_fixture(iemocap_mini, tmp_path):
    root = tmp_path / "IEMOCAP"
    shutil.copytree(iemocap_mini, root)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[1.0 - 2.0]\tSes01F_impro01_F099\tjoy\t[2.0, 2.0, 2.0]", "unknown label code 'joy'"),
        ("[1.0 - 2.0]\tSes01F_impro01_F099\tneu\t[2.0, 2.0]", "malformed summary line"),
    ],
)
def test_malformed_lines_name_file_and_line(iemocap_mini, tmp_path, line, message):
    root = copy_fixture(iemocap_mini, tmp_path)
    evaluation = root / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    lines = evaluation.read_text().splitlines()
    lines.insert(3, line)
    evaluation.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusError, match=rf"Ses01F_impro01.txt:4: {message}"):
        prepare_iemocap(root)


def test_missing_audio(iemocap_mini, tmp_path):
    root = copy_fixture(iemocap_mini, tmp_path)
    (root / "Session2" / "sentences" / "wav" / "Ses02F_impro02" / "Ses02F_impro02_F000.wav").unlink()
    with pytest.raises(CorpusError, match="audio of turn Ses02F_impro02_F000 not found"):
        prepare_iemocap(root)
    assert prepare_iemocap(root, require_audio=False, out_of_scale="clip")["Ses02F_impro02_F000"].audio is None


def test_not_a_release(tmp_path):
    with pytest.raises(CorpusError, match="no Session"):
        prepare_iemocap(tmp_path)


def test_out_of_scale_ratings_are_an_error_unless_clipping_is_asked_for(iemocap_mini):
    # the reader names the resolved path (../shared may be a symbolic link)
    evaluation = re.escape(str((iemocap_mini / "Session5" / "dialog" / "EmoEvaluation" / "Ses05F_impro01.txt").resolve()))
    with pytest.raises(CorpusError, match=rf"{evaluation}:10: turn Ses05F_impro01_M000: arousal 5.5 is outside the 1-5 scale"):
        prepare_iemocap(iemocap_mini)
    clipped = prepare_iemocap(iemocap_mini, out_of_scale="clip")["Ses05F_impro01_M000"]
    assert clipped.arousal == 1.0 and clipped.arousal_raw == 5.5  # the value as given is kept
    assert clipped.metadata["rating_clipped"] == "arousal 5.5 -> 5"
    assert sum("rating_clipped" in u.metadata for u in prepare_iemocap(iemocap_mini, out_of_scale="clip")) == 1
