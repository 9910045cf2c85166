"""MSP-Podcast reader: the MSP_mini replica against EXPECTED.json, and malformed label files."""

from __future__ import annotations

import collections
import csv
import pathlib

import pytest
from conftest import write_tone

from emofuse.components import CORPORA
from emofuse.config import parse
from emofuse.data.corpora import CorpusError
from emofuse.data.corpora import prepare_msp_podcast
from emofuse.data.corpora.msp_podcast import MspPodcastConfig
from emofuse.data.labels import normalize_rating

HEADER = "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set"
GOOD_ROWS = [
    "MSP-PODCAST_0001_0001.wav,A,6.0,2.0,5.0,7,Female,Train",
    "MSP-PODCAST_0001_0002.wav,X,4.0,4.0,4.0,Unknown,Male,Development",
]


def make_corpus(root: pathlib.Path, rows: list[str], *, header: str = HEADER) -> pathlib.Path:
    """An MSP-Podcast layout with CRLF line ends, as released, and a tone per row."""
    (root / "Labels").mkdir(parents=True)
    (root / "Labels" / "labels_consensus.csv").write_text("\r\n".join([header, *rows]) + "\r\n")
    for row in rows:
        write_tone(root / "Audios" / row.split(",")[0])
    return root


@pytest.mark.shared
def test_msp_mini_matches_expected_counts(msp_mini, expected_counts):
    manifest = prepare_msp_podcast(msp_mini)
    expected = expected_counts["msp"]
    assert len(manifest) == expected["files"]
    assert manifest.counts("split") == expected["splits"]
    assert all(u.session is None and u.corpus == "msp_podcast" for u in manifest)
    assert all(u.audio is not None and pathlib.Path(u.audio).is_file() for u in manifest)


@pytest.mark.shared
def test_msp_mini_columns_land_in_the_right_fields(msp_mini):
    manifest = prepare_msp_podcast(msp_mini, label_map="msp_full")
    with (msp_mini / "Labels" / "labels_consensus.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    letters = {"A": "ang", "S": "sad", "H": "hap", "U": "sur", "F": "fea", "D": "dis",
               "C": "con", "N": "neu", "O": "oth", "X": "xxx"}
    for row in rows:
        utterance = manifest[pathlib.Path(row["FileName"]).stem]
        assert utterance.arousal_raw == float(row["EmoAct"])
        assert utterance.valence_raw == float(row["EmoVal"])
        assert utterance.dominance_raw == float(row["EmoDom"])
        assert utterance.valence == pytest.approx(normalize_rating(float(row["EmoVal"]), low=1, high=7))
        assert utterance.emotion == letters[row["EmoClass"]]
        assert utterance.label == (None if row["EmoClass"] == "X" else letters[row["EmoClass"]])
        assert utterance.speaker == (None if row["SpkrID"] == "Unknown" else row["SpkrID"])
        assert utterance.gender == row["Gender"][0]
        assert utterance.metadata["split"] == row["Split_Set"]
        transcript = msp_mini / "Transcripts" / f"{utterance.id}.txt"
        if transcript.is_file():
            assert utterance.text == transcript.read_text(encoding="utf-8").strip()
    four = manifest.with_label_map("msp_four_class")
    expected = collections.Counter(letters[r["EmoClass"]] for r in rows if r["EmoClass"] in "ASHN")
    assert four.counts("label") == dict(sorted(expected.items()))


@pytest.mark.shared
def test_registered_builder_reads_a_parsed_config(msp_mini):
    config = parse(MspPodcastConfig, {"path": str(msp_mini), "label_map": "msp_full"})
    assert CORPORA.build("msp_podcast", config) == prepare_msp_podcast(msp_mini, label_map="msp_full")


def test_unknown_speaker_is_kept_without_a_speaker(tmp_path):
    root = make_corpus(tmp_path / "msp", GOOD_ROWS)
    manifest = prepare_msp_podcast(root)
    unknown = manifest["MSP-PODCAST_0001_0002"]
    assert unknown.speaker is None and unknown.metadata == {"split": "Development"}
    assert unknown.emotion == "xxx" and unknown.label is None and unknown.valence == 0.0
    angry = manifest["MSP-PODCAST_0001_0001"]
    assert (angry.speaker, angry.gender, angry.label) == ("7", "F", "ang")
    assert angry.arousal == pytest.approx(2 * 5 / 6 - 1) and angry.text is None
    assert angry.sampling_rate == 16000 and angry.duration == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("MSP-PODCAST_0002_0001.wav,A,7.5,2.0,5.0,7,Female,Train", "outside the scale"),
        ("MSP-PODCAST_0002_0001.wav,A,6.0,0.5,5.0,7,Female,Train", "EmoVal"),
        ("MSP-PODCAST_0002_0001.wav,A,6.0,2.0,high,7,Female,Train", "not a number"),
        ("MSP-PODCAST_0002_0001.wav,Z,6.0,2.0,5.0,7,Female,Train", "unknown EmoClass 'Z'"),
        ("MSP-PODCAST_0002_0001.wav,A,6.0,2.0,5.0,7,Female,Test9", "unknown Split_Set 'Test9'"),
        ("MSP-PODCAST_0002_0001.wav,A,6.0,2.0,5.0,7,Other,Train", "unknown gender"),
        ("MSP-PODCAST_0002_0001.wav,A,6.0,2.0,5.0,7,Female", "expected 8 fields"),
        ("MSP-PODCAST_0001_0001.wav,A,6.0,2.0,5.0,7,Female,Train", "listed twice"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, bad_row, message):
    root = make_corpus(tmp_path / "msp", [*GOOD_ROWS, bad_row])
    with pytest.raises(CorpusError, match=message) as error:
        prepare_msp_podcast(root)
    assert error.value.file.endswith("labels_consensus.csv")
    assert error.value.line == 4


def test_missing_audio_and_columns_are_errors(tmp_path):
    root = make_corpus(tmp_path / "msp", GOOD_ROWS)
    (root / "Audios" / "MSP-PODCAST_0001_0002.wav").unlink()
    with pytest.raises(CorpusError, match=r"labels_consensus.csv:3: audio .* not found"):
        prepare_msp_podcast(root)
    assert len(prepare_msp_podcast(root, require_audio=False)) == 2

    other = make_corpus(tmp_path / "other", ["a.wav,A,6,2,5,7,Female"], header=HEADER.rsplit(",", 1)[0])
    with pytest.raises(CorpusError, match=r"labels_consensus.csv:1: missing columns \['Split_Set'\]"):
        prepare_msp_podcast(other)
