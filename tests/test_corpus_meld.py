"""MELD reader: the real train and dev CSVs in ../shared, and small files in tmp_path."""

from __future__ import annotations

import collections
import csv
import pathlib

import pytest
from conftest import shared_path

from emofuse.components import CORPORA
from emofuse.config import parse
from emofuse.data.corpora import CorpusError
from emofuse.data.corpora import prepare_meld
from emofuse.data.corpora.meld import MeldConfig
from emofuse.data.corpora.meld import repair_text
from emofuse.data.labels import FOUR_CLASSES
from emofuse.data.labels import get_label_map


@pytest.mark.shared
def test_real_files():
    root = shared_path("data", "text", "meld")
    rows = []
    for split in ("train", "dev"):
        with (root / f"{split}_sent_emo.csv").open(encoding="utf-8", newline="") as file:
            rows += [(split, row) for row in csv.DictReader(file)]
    manifest = prepare_meld(root, label_map="meld_four_class")
    assert len(manifest) == len(rows)
    four = {"anger": "ang", "joy": "hap", "neutral": "neu", "sadness": "sad"}
    expected = collections.Counter(four[r["Emotion"]] for _, r in rows if r["Emotion"] in four)
    assert manifest.with_label_map("meld_four_class").counts("label") == dict(sorted(expected.items()))
    assert manifest.counts("split") == dict(sorted(collections.Counter(s for s, _ in rows).items()))
    split, row = rows[0]
    first = manifest[f"meld_{split}_{row['Dialogue_ID']}_{row['Utterance_ID']}"]
    assert (first.speaker, first.text, first.audio) == (row["Speaker"], row["Utterance"], None)
    assert first.metadata["sentiment"] == row["Sentiment"] and first.metadata["dialogue"] == "train_0"
    assert {"Joey", "Rachel", "Ross", "Monica", "Chandler", "Phoebe"} <= set(manifest.speakers())


HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime"
GOOD = '1,"Oh, hi!",Joey,joy,positive,0,0,1,2,"00:00:01,000","00:00:02,000"'


def write(root: pathlib.Path, lines: list[str], *, split: str = "train", encoding: str = "utf-8") -> pathlib.Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{split}_sent_emo.csv"
    path.write_bytes(("\r\n".join([HEADER, *lines]) + "\r\n").encode(encoding))
    return path


def test_small_files_ids_and_metadata(tmp_path):
    write(tmp_path, [GOOD, '2,I know.,The Interviewer,anger,negative,0,1,1,2,"0","0"'])
    write(tmp_path, ['1,Hm.,Ross,surprise,neutral,0,0,,,"0","0"'], split="dev")
    manifest = prepare_meld(tmp_path)
    assert manifest.ids == ["meld_train_0_0", "meld_train_0_1", "meld_dev_0_0"]
    joey = manifest["meld_train_0_0"]
    assert (joey.text, joey.speaker, joey.emotion, joey.label) == ("Oh, hi!", "Joey", "hap", "hap")
    assert joey.metadata == {"split": "train", "sentiment": "positive", "dialogue": "train_0", "turn": 0,
                             "season": 1, "episode": 2}
    assert manifest["meld_dev_0_0"].metadata == {"split": "dev", "sentiment": "neutral", "dialogue": "dev_0", "turn": 0}
    assert prepare_meld(tmp_path, label_map="meld_four_class")["meld_dev_0_0"].label is None
    assert get_label_map("meld_four_class").classes == FOUR_CLASSES
    assert CORPORA.build("meld", parse(MeldConfig, {"path": str(tmp_path)})) == manifest


def test_windows_1252_file_and_c1_characters(tmp_path):
    write(tmp_path, ['1,It\u2019s fine.,Joey,neutral,neutral,0,0,1,1,"0","0"'], encoding="cp1252")
    write(tmp_path, ['1,It\x92s fine.,Joey,neutral,neutral,0,0,1,1,"0","0"'], split="dev")
    manifest = prepare_meld(tmp_path)
    assert manifest["meld_train_0_0"].text == manifest["meld_dev_0_0"].text == "It\u2019s fine."
    assert repair_text("\x85 and \x96") == "\u2026 and \u2013"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('2,Hey.,Joey,happiness,positive,0,1,1,2,"0","0"', "unknown Emotion 'happiness'"),
        ('2,Hey.,Joey,joy,upbeat,0,1,1,2,"0","0"', "unknown Sentiment 'upbeat'"),
        ('2,Hey.,Joey,joy,positive,zero,1,1,2,"0","0"', "Dialogue_ID 'zero' is not a whole number"),
        ('2,Hey.,Joey,joy,positive,0,0,1,2,"0","0"', r"dialogue 0 utterance 0 repeats \(first on line 2\)"),
        ('2,Hey.,,joy,positive,0,1,1,2,"0","0"', r"empty value in column\(s\) \['Speaker'\]"),
        ("2,Hey, you.,Joey,joy,positive,0,1,1,2,0,0", "expected 11 fields"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, line, message):
    file = write(tmp_path, [GOOD, line])
    with pytest.raises(CorpusError, match=message) as error:
        prepare_meld(tmp_path)
    assert (error.value.file, error.value.line) == (str(file.resolve()), 3)
