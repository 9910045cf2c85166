"""GoEmotions reader: the real train and dev splits in ../shared, and small files in tmp_path."""

from __future__ import annotations

import collections
import csv
import pathlib

import pytest
from conftest import shared_path

from emofuse.components import CORPORA
from emofuse.config import ConfigError
from emofuse.config import parse
from emofuse.data.corpora import CorpusError
from emofuse.data.corpora import prepare_goemotions
from emofuse.data.corpora.goemotions import GoEmotionsConfig
from emofuse.data.labels import FOUR_CLASSES
from emofuse.data.labels import get_label_map


def real_rows(root: pathlib.Path, taxonomy: str) -> list[tuple[str, list[str], str, str]]:
    names = (root / taxonomy / "labels.txt").read_text().split()
    rows = []
    for split in ("train", "dev"):
        with (root / taxonomy / f"{split}.tsv").open(encoding="utf-8", newline="") as file:
            for text, ids, comment in csv.reader(file, delimiter="\t"):
                rows.append((text, [names[int(i)] for i in ids.split(",")], comment, split))
    return rows


@pytest.mark.shared
def test_real_ekman_single_label_four_class():
    root = shared_path("data", "text", "goemotions")
    rows = real_rows(root, "ekman")
    manifest = prepare_goemotions(root, taxonomy="ekman", single_label_only=True,
                                  label_map="goemotions_ekman_four_class")
    single = [row for row in rows if len(row[1]) == 1]
    assert len(manifest) == len(single)
    assert manifest.counts("split") == dict(sorted(collections.Counter(row[3] for row in single).items()))
    four = {"anger": "ang", "joy": "hap", "neutral": "neu", "sadness": "sad"}
    expected = collections.Counter(four[row[1][0]] for row in single if row[1][0] in four)
    assert manifest.with_label_map("goemotions_ekman_four_class").counts("label") == dict(sorted(expected.items()))
    text, labels, comment, _ = single[0]
    assert manifest[f"goemotions_{comment}"].text == text.strip()


@pytest.mark.shared
def test_real_original_keeps_multi_label_rows():
    root = shared_path("data", "text", "goemotions")
    rows = real_rows(root, "original")
    manifest = prepare_goemotions(root)
    assert len(manifest) == len(rows)
    for text, labels, comment, split in rows[:200]:
        utterance = manifest[f"goemotions_{comment}"]
        assert utterance.emotion == ",".join(labels) and utterance.text == text.strip()
        assert utterance.label == (labels[0] if len(labels) == 1 else None)
        assert utterance.metadata == {"split": split} and utterance.audio is None
    quoted = next(row for row in rows if '"' in row[0])  # CSV-style quoting undone
    assert manifest[f"goemotions_{quoted[2]}"].text == quoted[0].strip()


EKMAN = "anger\ndisgust\nfear\njoy\nneutral\nsadness\nsurprise"


def make_corpus(root: pathlib.Path, train: list[str], *, labels: str = EKMAN) -> pathlib.Path:
    directory = root / "ekman"
    directory.mkdir(parents=True)
    (directory / "labels.txt").write_text(labels)  # no final newline, as released
    (directory / "train.tsv").write_text("\n".join(train) + "\n", encoding="utf-8")
    (directory / "dev.tsv").write_text("Fine.\t4\tc9\n", encoding="utf-8")
    return root


def test_small_corpus_options(tmp_path):
    root = make_corpus(tmp_path / "goemotions", ['"So ""angry"" now"\t0\tc1', "Yay\t3,6\tc2", "Sad\t5\tc3"])
    manifest = prepare_goemotions(root, taxonomy="ekman")
    assert manifest["goemotions_c1"].text == 'So "angry" now'
    assert (manifest["goemotions_c2"].emotion, manifest["goemotions_c2"].label) == ("joy,surprise", None)
    assert manifest["goemotions_c9"].metadata == {"split": "dev"}
    single = prepare_goemotions(root, taxonomy="ekman", single_label_only=True, label_map="goemotions_ekman_four_class")
    assert single.ids == ["goemotions_c1", "goemotions_c3", "goemotions_c9"]
    assert single.labels() == ["ang", "sad", "neu"]
    assert get_label_map("goemotions_ekman_four_class").classes == FOUR_CLASSES
    config = parse(GoEmotionsConfig, {"path": str(root), "taxonomy": "ekman", "single_label_only": True})
    assert CORPORA.build("goemotions", config).ids == single.ids
    with pytest.raises(ConfigError, match="taxonomy"):
        parse(GoEmotionsConfig, {"path": str(root), "taxonomy": "plutchik"})


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("Text\t9\tc2", r"label ids \[9\] are outside 0-6"),
        ("Text\tjoy\tc2", "not comma-separated integers"),
        ("Text\t1", "expected 3 fields"),
        ("Text\t1\tc1", "comment id 'c1' repeats"),
        ("Text\t\tc2", "empty value"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, row, message):
    root = make_corpus(tmp_path / "goemotions", ["Hi\t4\tc1", row])
    with pytest.raises(CorpusError, match=message) as error:
        prepare_goemotions(root, taxonomy="ekman")
    assert error.value.file.endswith("train.tsv") and error.value.line == 2


def test_wrong_label_list_and_uncovered_map(tmp_path):
    root = make_corpus(tmp_path / "goemotions", ["Hi\t4\tc1"], labels="anger\njoy")
    with pytest.raises(CorpusError, match="labels.txt: 2 labels; the ekman taxonomy has 7"):
        prepare_goemotions(root, taxonomy="ekman")
    other = make_corpus(tmp_path / "other", ["Hi\t4\tc1"])
    with pytest.raises(ValueError, match="does not cover"):
        prepare_goemotions(other, taxonomy="ekman", label_map="meld_four_class")
