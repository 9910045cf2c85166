import pytest

from emofuse.data.labels import LabelError
from emofuse.data.labels import LabelMap
from emofuse.data.labels import normalize_rating
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import ManifestError
from emofuse.data.manifest import Utterance


def make_manifest():
    return Manifest([
        Utterance("a", audio="/x/a.wav", speaker="s1", session="1", text="hello", emotion="exc", label="hap",
                  valence=0.5, valence_raw=4.0, duration=1.5, metadata={"scripted": True, "dialogue_act": "q"}),
        Utterance("b", audio="/x/b.wav", speaker="s2", session="1", emotion="fru", duration=2.0,
                  metadata={"scripted": False}),
    ])


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_round_trip(tmp_path, suffix):
    manifest = make_manifest()
    path = manifest.save(tmp_path / f"m{suffix}")
    loaded = Manifest.load(path)
    assert loaded.ids == ["a", "b"]
    assert loaded["a"].valence == 0.5 and loaded["a"].text == "hello"
    assert loaded["a"].metadata["dialogue_act"] == "q"
    assert bool(loaded["b"].metadata["scripted"]) is False
    assert loaded["b"].label is None


def test_operations_return_new_manifests():
    manifest = make_manifest()
    label_map = LabelMap("t", {"exc": "hap", "fru": None})
    mapped = manifest.with_label_map(label_map)
    assert mapped.ids == ["a"] and len(manifest) == 2
    assert manifest.subset(["b", "a"]).ids == ["b", "a"]
    assert manifest.summary()["speaker"] == {"s1": 1, "s2": 1}
    assert manifest.total_duration() == pytest.approx(3.5)
    with pytest.raises(LabelError, match="'neu' is not covered"):
        Manifest([Utterance("c", emotion="neu")]).with_label_map(label_map)


def test_invalid_records():
    with pytest.raises(ManifestError, match="duplicate utterance id 'a'"):
        Manifest([Utterance("a"), Utterance("a")])
    with pytest.raises(ManifestError, match="outside"):
        Utterance("a", valence=1.5)


def test_load_reports_file_and_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,valence\na,0.1\nb,7\n")
    with pytest.raises(ManifestError, match=r"bad.csv: row 3"):
        Manifest.load(path)
    with pytest.raises(ManifestError, match="not found"):
        Manifest.load(tmp_path / "missing.csv")


def test_normalize_rating():
    assert normalize_rating(1, low=1, high=5) == -1.0
    assert normalize_rating(5, low=1, high=7) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="outside the scale"):
        normalize_rating(0.5, low=1, high=5)
    assert normalize_rating(0.5, low=1, high=5, clip=True) == -1.0
