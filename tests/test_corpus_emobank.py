"""EmoBank reader: the real train + dev CSV in ../shared, and small files in tmp_path."""

from __future__ import annotations

import collections
import csv
import pathlib

import pytest
from conftest import shared_path

from emofuse.components import CORPORA
from emofuse.config import parse
from emofuse.data.corpora import CorpusError
from emofuse.data.corpora import prepare_emobank
from emofuse.data.corpora.emobank import EmobankConfig
from emofuse.data.labels import normalize_rating


@pytest.mark.shared
def test_real_csv():
    root = shared_path("data", "text", "emobank")
    with (root / "emobank_train_dev.csv").open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    manifest = prepare_emobank(root)
    assert len(manifest) == len(rows)
    assert manifest.counts("split") == dict(sorted(collections.Counter(r["split"] for r in rows).items()))
    for row in rows[:300]:
        utterance = manifest[f"emobank_{row['id']}"]
        assert utterance.valence_raw == float(row["V"]) and utterance.arousal_raw == float(row["A"])
        assert utterance.dominance == pytest.approx(normalize_rating(float(row["D"]), low=1, high=5))
        assert utterance.text == row["text"] and utterance.emotion is None and utterance.audio is None
    assert manifest["emobank_SemEval_1"].metadata["document"] == "SemEval"
    assert manifest["emobank_110CYL068_1036_1079"].metadata == {"split": "train", "document": "110CYL068"}


HEADER = "id,split,V,A,D,text"


def write(path: pathlib.Path, lines: list[str]) -> pathlib.Path:
    path.write_text("\r\n".join([HEADER, *lines]) + "\r\n", encoding="utf-8")
    return path


def test_small_file_and_directory(tmp_path):
    file = write(tmp_path / "emobank.csv", ['doc_1_5,train,5,1,3,"Quoted, with ""inner"" quotes"', "doc_6_9,dev,3.5,3,3,Plain."])
    manifest = prepare_emobank(tmp_path)
    assert manifest == prepare_emobank(file)
    first = manifest["emobank_doc_1_5"]
    assert (first.valence, first.arousal, first.dominance) == (1.0, -1.0, 0.0)
    assert first.text == 'Quoted, with "inner" quotes' and first.corpus == "emobank"
    assert CORPORA.build("emobank", parse(EmobankConfig, {"path": str(tmp_path)})) == manifest


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("doc_6_9,dev,5.5,3,3,Too high.", r"V: rating 5.5 is outside the scale \[1, 5\]"),
        ("doc_6_9,dev,3,0.9,3,Too low.", "A: rating 0.9 is outside"),
        ("doc_6_9,dev,3,3,x,Not a number.", "D: 'x' is not a number"),
        ("doc_6_9,valid,3,3,3,Bad split.", "unknown split 'valid'"),
        ("doc_1_5,dev,3,3,3,Repeated id.", "id 'doc_1_5' repeats"),
        ("doc_6_9,dev,3,3,3", "expected 6 fields"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, line, message):
    file = write(tmp_path / "emobank.csv", ["doc_1_5,train,3,3,3,Fine.", line])
    with pytest.raises(CorpusError, match=message) as error:
        prepare_emobank(tmp_path)
    assert (error.value.file, error.value.line) == (str(file.resolve()), 3)


def test_missing_file(tmp_path):
    with pytest.raises(CorpusError, match="no emobank.csv or emobank_train_dev.csv"):
        prepare_emobank(tmp_path)
