"""A run's inputs: the label map applied once, transcripts, and utterances without usable input."""

import pandas as pd
import pytest

from emofuse.experiment import DataConfig
from emofuse.experiment import ExtractionConfig
from emofuse.experiment import TaskConfig
from emofuse.training.inputs import InputError
from emofuse.training.inputs import load_inputs
from emofuse.training.inputs import load_manifest


def test_labels_classes_and_simulated_transcripts(synthetic_corpus):
    manifest, classes = load_manifest(DataConfig(manifest=str(synthetic_corpus)), TaskConfig())
    assert classes == ["neu", "hap", "sad", "ang"] and len(manifest) == 48
    simulated, _ = load_manifest(DataConfig(manifest=str(synthetic_corpus), transcript="simulated", simulated_wer=0.2,
                                            simulated_seed=1), TaskConfig())
    changed = sum(u.asr_text != u.text for u in simulated) / len(simulated)
    assert 0.2 < changed <= 1.0
    dimensional, classes = load_manifest(DataConfig(manifest=str(synthetic_corpus)), TaskConfig(type="dimensional"))
    assert classes is None and len(dimensional) == 48


def test_a_label_map_of_the_corpus_reader_is_applied_once(iemocap_mini):
    from emofuse.config import Component
    from emofuse.data.corpora.iemocap import IemocapConfig

    data = DataConfig(corpus=Component("iemocap", IemocapConfig(path=str(iemocap_mini), out_of_scale="clip")), label_map="iemocap_four_class_no_excited")
    manifest, classes = load_manifest(data, TaskConfig())
    assert classes == ["neu", "hap", "sad", "ang"]
    assert "exc" not in {u.emotion for u in manifest}  # excited is left out by this map, not merged into happy


def test_missing_text_names_the_utterance_or_is_skipped(tmp_path, synthetic_corpus):
    frame = pd.read_csv(synthetic_corpus)
    frame.loc[3, "text"] = None
    frame.to_csv(synthetic_corpus, index=False)
    manifest, _ = load_manifest(DataConfig(manifest=str(synthetic_corpus)), TaskConfig())
    with pytest.raises(InputError, match=rf"{frame.loc[3, 'id']}.*no reference transcript"):
        load_inputs("main", manifest, ["text"], {}, ExtractionConfig())
    corpus = load_inputs("main", manifest, ["text"], {}, ExtractionConfig(on_error="skip"))
    assert list(corpus.failures) == [frame.loc[3, "id"]] and frame.loc[3, "id"] not in corpus.manifest
    audio_only = load_inputs("main", manifest, ["waveform"], {}, ExtractionConfig())
    assert len(audio_only.manifest) == 48 and audio_only.spec("waveform").kind == "waveform"
