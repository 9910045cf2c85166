import collections

import pytest
from conftest import shared_path

from emofuse.data.corpora import CorpusError
from emofuse.data.corpora import pair_texts
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance
from emofuse.experiment import load_experiment


def test_each_text_used_once_with_the_same_label():
    audio = Manifest([Utterance(f"a{i}", audio=f"/a{i}.wav", label="hap" if i % 2 else "sad") for i in range(6)]
                     + [Utterance("unlabelled", audio="/x.wav")])
    texts = Manifest([Utterance(f"t{i}", text=f"text {i}", label="hap" if i % 2 else "sad", metadata={"split": "train"})
                      for i in range(10)] + [Utterance("dev", text="dev text", label="hap", metadata={"split": "dev"})])
    paired = pair_texts(audio, texts, seed=3, text_split="train")
    assert len(paired) == 6
    sources = [u.metadata["text_id"] for u in paired]
    assert len(set(sources)) == 6 and "dev" not in sources
    by_id = {t.id: t for t in texts}
    assert all(by_id[u.metadata["text_id"]].label == u.label for u in paired)
    assert pair_texts(audio, texts, seed=3, text_split="train") == paired
    assert pair_texts(audio, texts, seed=4, text_split="train") != paired
    with pytest.raises(CorpusError, match="needs 3 texts of class 'sad'"):
        pair_texts(audio, texts.filter(lambda u: u.label == "hap" or u.id == "t0"))


def test_emodb_with_goemotions():
    emodb = shared_path("data", "emodb")
    goemotions = shared_path("data", "text", "goemotions")
    config = load_experiment({
        "name": "paired",
        "data": {"corpus": {"name": "paired",
                            "audio": {"name": "emodb", "path": str(emodb), "label_map": "emodb_four_class"},
                            "text": {"name": "goemotions", "path": str(goemotions), "taxonomy": "ekman",
                                     "single_label_only": True, "label_map": "goemotions_ekman_four_class"}}},
        "systems": {"audio": {"inputs": ["waveform"], "model": "mlp"}},
    })
    from emofuse.components import CORPORA

    manifest = CORPORA.build("paired", config.data.corpus.config)
    counts = collections.Counter(u.label for u in manifest)
    assert set(counts) == {"ang", "hap", "neu", "sad"} and sum(counts.values()) == len(manifest) > 300
    assert len({u.text for u in manifest}) == len(manifest)
