"""Experiment configs: variants, overrides and the errors that name the key path."""

import pytest

from emofuse.config import ConfigError
from emofuse.experiment import load_experiment


def minimal(**changes):
    data = {"name": "x", "data": {"manifest": "m.csv"}, "systems": {"a": {"inputs": ["text"], "model": {"name": "mlp"}}}}
    data.update(changes)
    return data


def test_variants():
    data = minimal(variants={"small": ["systems.a.model.hidden_sizes=[4]", "seeds=[1, 2]"]})
    assert load_experiment(data).seeds == (0,)
    small = load_experiment(data, variant="small", overrides=["seeds=[3]"])
    assert small.systems["a"].model.config.hidden_sizes == (4,) and small.seeds == (3,)
    with pytest.raises(ConfigError, match="unknown variant 'big'; this experiment defines: small"):
        load_experiment(data, variant="big")


def test_an_override_of_one_system_does_not_reach_the_yaml_aliases_of_its_settings(tmp_path):
    (tmp_path / "x.yaml").write_text(
        "name: x\ndata: {manifest: m.csv}\nsystems:\n"
        "  a: {inputs: [text], model: {name: mlp, hidden_sizes: &sizes [8]}, training: &shared {max_epochs: 7}}\n"
        "  b: {inputs: [text], model: {name: mlp, hidden_sizes: *sizes}, training: *shared}\n"
        "variants: {short: [systems.a.training.max_epochs=1]}\n")
    config = load_experiment(tmp_path / "x.yaml", variant="short", overrides=["systems.b.model.hidden_sizes.0=4"])
    assert config.systems["a"].training.max_epochs == 1 and config.systems["b"].training.max_epochs == 7
    assert config.systems["a"].model.config.hidden_sizes == (8,) and config.systems["b"].model.config.hidden_sizes == (4,)


def test_config_errors_name_the_key_path():
    with pytest.raises(ConfigError, match="systems.audio.model.hiden: unknown key"):
        load_experiment(minimal(systems={"audio": {"inputs": ["waveform"], "model": {"name": "mlp", "hiden": 3}}}))
    with pytest.raises(ConfigError, match="input 'nope' is neither a feature stream"):
        load_experiment(minimal(systems={"audio": {"inputs": ["nope"], "model": {"name": "mlp"}}}))
    with pytest.raises(ConfigError, match="member 'ghost' is not a system"):
        load_experiment(minimal(systems={"a": {"inputs": ["text"], "model": "mlp"}, "f": {"members": ["a", "ghost"], "fusion": "late"}}))
    with pytest.raises(ConfigError, match=r"systems.a.model.name: unknown model 'mpl'; available: .*mlp"):
        load_experiment(minimal(systems={"a": {"inputs": ["text"], "model": "mpl"}}))
    with pytest.raises(ConfigError, match="data.transcript: 'noisy' is not one of 'reference', 'asr', 'simulated'"):
        load_experiment(minimal(data={"manifest": "m.csv", "transcript": "noisy"}))
    with pytest.raises(ConfigError, match="systems.a.training.optimizer: 'adamax' is not one of"):
        load_experiment(minimal(systems={"a": {"inputs": ["text"], "model": "mlp", "training": {"optimizer": "adamax"}}}))
    with pytest.raises(ConfigError, match="unknown ASR 'kaldi'"):
        load_experiment(minimal(data={"manifest": "m.csv", "transcript": "asr", "asr": "kaldi"}))


def test_closure_and_order():
    config = load_experiment(minimal(systems={
        "a": {"inputs": ["text"], "model": "mlp"}, "b": {"inputs": ["text"], "model": "mlp"},
        "f": {"members": ["b", "a"], "fusion": "late"}, "c": {"inputs": ["text"], "model": "mlp"}}))
    assert config.system_order() == ["a", "b", "f", "c"]
    assert config.closure(["f"]) == ["a", "b", "f"] and config.closure(["c"]) == ["c"]


def test_the_task_chooses_the_selection_metric():
    from emofuse.experiment import TaskConfig
    from emofuse.tasks.build import build_task

    assert load_experiment(minimal()).task.selection_metric == "UA"
    config = load_experiment(minimal(task={"type": "categorical", "class_weighting": "none", "selection_metric": "WA"}))
    task = build_task(config.task, classes=["neg", "neu", "pos"])
    assert (task.selection_metric, task.class_weighting) == ("WA", "none")
    assert build_task(TaskConfig(type="dimensional")).selection_metric == "CCC_mean"
    with pytest.raises(ConfigError, match="task.selection_metric: 'accuracy' is not one of 'UA', 'WA', 'macro_F1'"):
        load_experiment(minimal(task={"selection_metric": "accuracy"}))
    with pytest.raises(ConfigError, match="dimensional tasks select on the mean CCC"):
        load_experiment(minimal(task={"type": "dimensional", "selection_metric": "WA"}))


def test_a_corpus_path_through_an_unset_variable_says_so(monkeypatch):
    from emofuse.data.corpora.base import CorpusError
    from emofuse.data.corpora.base import prepare_corpus

    monkeypatch.delenv("EMOFUSE_TEST_UNSET", raising=False)
    config = load_experiment(minimal(data={"corpus": {"name": "emodb", "path": "$EMOFUSE_TEST_UNSET/emodb"}}))
    assert config.data.corpus.config.path == "$EMOFUSE_TEST_UNSET/emodb"  # not made relative to the current directory
    with pytest.raises(CorpusError, match=r"^\$EMOFUSE_TEST_UNSET/emodb: EmoDB directory not found \(the environment "
                                          r"variable EMOFUSE_TEST_UNSET is not set"):
        prepare_corpus("emodb", config.data.corpus.config)


def test_an_override_of_a_system_the_config_lacks_names_the_systems_it_has():
    with pytest.raises(ConfigError, match=r"systems\.nosuch: .* \(the overrides made a new system 'nosuch'; the config "
                                          r"defines: a\)"):
        load_experiment(minimal(), overrides=["systems.nosuch.training.max_epochs=3"])
    # a complete new system is still welcome
    config = load_experiment(minimal(), overrides=["systems.b={inputs: [text], model: {name: mlp}}"])
    assert set(config.systems) == {"a", "b"}
