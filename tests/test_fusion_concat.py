import pytest
import torch

from emofuse.config import Component
from emofuse.config import ConfigError
from emofuse.config import parse
from emofuse.fusion.concat import ConcatFusion
from emofuse.fusion.concat import ConcatFusionConfig
from emofuse.models.inputs import InputSpec
from emofuse.models.mlp import MLPConfig
from emofuse.rundir import RunDirectory
from emofuse.training import run_experiment

SPECS = [InputSpec("a", "audio", "vector", 5), InputSpec("b", "text", "vector", 3)]


def test_concatenates_branch_embeddings():
    config = ConcatFusionConfig(branches=(Component("mlp", MLPConfig(hidden_sizes=(4,))), Component("mlp", MLPConfig(hidden_sizes=(2,)))),
                                hidden_size=6, dropout=0.0)
    model = ConcatFusion(config, SPECS, 3).eval()
    inputs = [(torch.randn(2, 5), None), (torch.randn(2, 3), None)]
    expected = model.dense(torch.cat([model.branches[0].embed(inputs[:1]), model.branches[1].embed(inputs[1:])], dim=-1))
    assert torch.allclose(model.embed(inputs), expected)
    assert model(inputs).shape == (2, 3)
    grouped = [p for g in model.parameter_groups(0.1) for p in g["params"]]
    assert len(grouped) == len(list(model.parameters()))


def test_config_parsing():
    config = parse(ConcatFusionConfig, {"branches": [{"name": "mlp"}, "mlp"], "hidden_size": 8})
    assert [b.name for b in config.branches] == ["mlp", "mlp"]
    with pytest.raises(ConfigError, match=r"branches\[1\].name: unknown model"):
        parse(ConcatFusionConfig, {"branches": ["mlp", {"name": "nope"}]})
    with pytest.raises(ConfigError, match="at least two branches"):
        parse(ConcatFusionConfig, {"branches": ["mlp"]})


def test_multitask_ccc_through_the_runner(tmp_path, synthetic_corpus, tiny_bert):
    import emofuse

    config = emofuse.load_experiment({
        "name": "concat", "data": {"manifest": str(synthetic_corpus)},
        "task": {"type": "dimensional", "loss": "ccc", "loss_weights": [0.7, 0.2, 0.1]},
        "protocol": {"name": "holdout_session", "test_sessions": ["2"], "dev_fraction": 0.25},
        "features": {"logmel": {"name": "logmel_stats", "n_mels": 16}, "words": {"name": "text_embedding", "model": str(tiny_bert)}},
        "extraction": {"cache_dir": str(tmp_path / "cache")},
        "systems": {"fused": {"inputs": ["logmel", "words"],
                              "model": {"name": "concat", "branches": [{"name": "mlp", "hidden_sizes": [8]}, {"name": "mlp", "hidden_sizes": [8]}]},
                              "training": {"max_epochs": 3, "optimizer": "rmsprop", "batch_size": 8}}},
    })
    result = run_experiment(config, tmp_path / "run", progress=False)
    assert result.summary["CCC_mean_mean"].notna().all()
    system = RunDirectory(tmp_path / "run").fold("fused", 0, "holdout_2").load_system()
    assert system.spec.model.config.branches[0].name == "mlp" and isinstance(system.module.model, ConcatFusion)
