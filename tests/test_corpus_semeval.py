"""SemEval-2017 4A reader: the real training pool in ../shared, and small files in tmp_path."""

from __future__ import annotations

import collections
import logging
import pathlib

import pytest
from conftest import shared_path

from emofuse.components import CORPORA
from emofuse.config import parse
from emofuse.data.corpora import CorpusError
from emofuse.data.corpora import prepare_semeval
from emofuse.data.corpora.semeval import SemevalConfig
from emofuse.data.corpora.semeval import clean_tweet

CODES = {"positive": "pos", "negative": "neg", "neutral": "neu"}


@pytest.mark.shared
def test_real_pool_is_deduplicated_by_id():
    root = shared_path("data", "text", "semeval2017_4a")
    first: dict[str, str] = {}
    for file in sorted(root.glob("twitter-*-A.tsv")):
        for line in file.read_text(encoding="utf-8").splitlines():
            tweet_id, label = line.split("\t")[:2]
            first.setdefault(tweet_id, label)
    manifest = prepare_semeval(root)
    assert len(manifest) == len(first)
    expected = collections.Counter(CODES[label] for label in first.values())
    assert manifest.counts("emotion") == dict(sorted(expected.items()))
    assert manifest.counts("label") == manifest.counts("emotion")
    assert all(u.audio is None and u.id.startswith("semeval_") for u in manifest)
    assert set(manifest.counts("year")) == {"2013", "2014", "2015", "2016"}
    assert "\\u002c" not in "".join(u.text for u in manifest)
    assert manifest["semeval_264183816548130816"].text == "Gas by my house hit $3.39!!!! I’m going to Chapel Hill on Sat. :)"


def write(path: pathlib.Path, lines: list[str]) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_duplicates_extra_columns_and_quoting(tmp_path, caplog):
    root = tmp_path / "semeval"
    write(root / "twitter-2013train-A.tsv", ["1\tpositive\tgood day!", '2\tnegative\t"bad ""day"""'])
    write(root / "twitter-2016test-A.tsv", ["2\tpositive\tbad day\t", "3\tneutral\tso-so &amp; meh\tMon Aug 24 2015"])
    write(root / "README.tsv", ["not a data file"])
    with caplog.at_level(logging.INFO):
        manifest = prepare_semeval(root)
    assert manifest.ids == ["semeval_1", "semeval_2", "semeval_3"]
    assert manifest["semeval_2"].emotion == "neg"  # first occurrence kept
    assert manifest["semeval_2"].text == 'bad "day"'
    assert manifest["semeval_3"].text == "so-so & meh"
    assert manifest["semeval_3"].metadata == {"year": 2016, "split": "test", "file": "twitter-2016test-A.tsv"}
    assert "dropped 1 repeated tweet ids" in caplog.text and "1 had a different label" in caplog.text
    raw = prepare_semeval(root, clean_text=False)
    assert raw["semeval_2"].text == '"bad ""day"""'
    assert CORPORA.build("semeval", parse(SemevalConfig, {"path": str(root)})) == manifest


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("5\tpositive", "found 2 field"),
        ("5\tmixed\ttext", "unknown label 'mixed'"),
        ("x5\tpositive\ttext", "tweet id 'x5' is not a number"),
        ("5\tpositive\t  ", "empty tweet text"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, line, message):
    file = write(tmp_path / "twitter-2015train-A.tsv", ["4\tneutral\tfine", line])
    with pytest.raises(CorpusError, match=message) as error:
        prepare_semeval(tmp_path)
    assert (error.value.file, error.value.line) == (str(file.resolve()), 2)


def test_clean_tweet():
    assert clean_tweet('"He said \\""hi\\""\\u002c ok"') == 'He said "hi", ok'
    assert clean_tweet('"unbalanced quote') == '"unbalanced quote'
