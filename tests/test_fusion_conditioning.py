import torch

from emofuse.fusion.conditioning import ConditionedCNN14
from emofuse.fusion.conditioning import ConditionedCNN14Config
from emofuse.models.cnn14 import CNN14Config
from emofuse.models.inputs import InputSpec
from emofuse.training import run_experiment

SPECS = [InputSpec("logmel", "audio", "sequence", 16), InputSpec("bert", "text", "vector", 6)]
SMALL = ConditionedCNN14Config(acoustic=CNN14Config(channels=(4, 8, 8, 8, 8, 8), crop_seconds=None))


def test_multistage_adds_a_per_channel_bias_after_every_block():
    torch.manual_seed(0)
    model = ConditionedCNN14(SMALL, SPECS, 4, multistage=True).eval()
    frames = (torch.randn(2, 64, 16), torch.tensor([64, 40]))
    text = torch.randn(2, 6)
    seen = []

    def spy(index, hidden):
        seen.append((index, hidden.shape[1]))
        return hidden

    model.cnn.pooled([frames], condition=spy)
    assert seen == [(i, c) for i, c in enumerate((4, 8, 8, 8, 8, 8))]
    # zero projections: MFCNN14 reduces to the plain CNN14
    for projection in model.projections:
        torch.nn.init.zeros_(projection.weight)
        torch.nn.init.zeros_(projection.bias)
    plain = model.cnn.embed([frames])
    assert torch.allclose(model.embed([frames, (text, None)]), plain, atol=1e-6)
    # a bias on the first block changes the output, and differently for different texts
    torch.nn.init.normal_(model.projections[0].weight)
    outputs = model([frames, (text, None)])
    assert not torch.allclose(model.embed([frames, (text, None)]), plain)
    assert outputs.shape == (2, 4)


def test_single_stage_adds_the_projection_to_the_pooled_embedding():
    model = ConditionedCNN14(SMALL, SPECS, 4, multistage=False).eval()
    frames = (torch.randn(1, 40, 16), torch.tensor([40]))
    text = torch.randn(1, 6)
    expected_pooled = model.cnn.pooled([frames]) + model.projections[0](text)
    expected = torch.relu(model.cnn.fc(expected_pooled))
    assert torch.allclose(model.embed([frames, (text, None)]), expected, atol=1e-6)


def test_text_dropout_zeroes_the_text_of_some_training_utterances_only():
    import dataclasses

    import pytest

    config = dataclasses.replace(SMALL, text_dropout=0.5)
    model = ConditionedCNN14(config, SPECS, 4, multistage=False)
    torch.nn.init.normal_(model.projections[0].weight)
    frames = (torch.randn(64, 40, 16), torch.full((64,), 40))
    text = torch.randn(64, 6)
    model.eval()  # evaluation always sees the text
    pooled = model.cnn.pooled([frames])
    expected = torch.relu(model.cnn.fc(pooled + model.projections[0](text)))
    assert torch.allclose(model.embed([frames, (text, None)]), expected, atol=1e-6)
    model.train()
    seen = []
    model.projections[0].register_forward_hook(lambda module, args, output: seen.append(args[0]))
    torch.manual_seed(0)
    model.embed([frames, (text, None)])
    dropped = (seen[0] == 0).all(dim=1)
    assert 16 < int(dropped.sum()) < 48  # about half the utterances, whole embeddings
    assert torch.equal(seen[0][~dropped], text[~dropped])
    with pytest.raises(ValueError, match="text_dropout"):
        dataclasses.replace(SMALL, text_dropout=1.0)


def test_text_rank_passes_one_shared_low_rank_summary_of_the_text_to_every_block():
    import dataclasses

    import pytest

    config = dataclasses.replace(SMALL, text_rank=2)
    model = ConditionedCNN14(config, SPECS, 4, multistage=True).eval()
    assert model.text_bottleneck.weight.shape == (2, 6)
    assert [p.weight.shape for p in model.projections] == [(c, 2) for c in (4, 8, 8, 8, 8, 8)]
    for projection in model.projections:
        torch.nn.init.normal_(projection.weight)
    frames = (torch.randn(3, 40, 16), torch.full((3,), 40))
    text = torch.randn(3, 6)
    # texts with the same 2-dimensional summary condition every block alike; others do not
    weight = model.text_bottleneck.weight.detach()
    null = torch.linalg.svd(weight, full_matrices=True).Vh[2:]  # (4, 6): directions the bottleneck ignores
    same = text + torch.randn(3, 4) @ null
    embedding = model.embed([frames, (text, None)])
    assert torch.allclose(model.embed([frames, (same, None)]), embedding, atol=1e-5)
    assert not torch.allclose(model.embed([frames, (torch.randn(3, 6), None)]), embedding, atol=1e-3)
    # the bottleneck trains (once the zero-initialised projections have moved)
    model.train()
    model([frames, (text, None)]).sum().backward()
    assert model.text_bottleneck.weight.grad is not None and model.text_bottleneck.weight.grad.abs().sum() > 0
    # none by default: every projection reads the whole embedding (the paper's)
    assert isinstance(ConditionedCNN14(SMALL, SPECS, 4, multistage=True).text_bottleneck, torch.nn.Identity)
    with pytest.raises(ValueError, match="text_rank"):
        dataclasses.replace(SMALL, text_rank=0)


def test_acoustic_loss_trains_sfcnn14_on_its_pooled_acoustic_embedding_alone():
    import dataclasses

    import pytest

    config = dataclasses.replace(SMALL, acoustic_loss_weight=0.5)
    model = ConditionedCNN14(config, SPECS, 4, multistage=False).eval()
    torch.nn.init.normal_(model.projections[0].weight)
    frames = (torch.randn(3, 40, 16), torch.full((3,), 40))
    text, other_text = torch.randn(3, 6), torch.randn(3, 6)
    outputs, auxiliary = model.training_outputs([frames, (text, None)])
    assert torch.allclose(outputs, model([frames, (text, None)]), atol=1e-6)  # prediction: the fused output
    [(weight, acoustic)] = auxiliary
    assert weight == 0.5 and acoustic.shape == (3, 4)
    assert torch.allclose(acoustic, model.acoustic_head(model.cnn.pooled([frames])), atol=1e-6)
    assert torch.allclose(model.training_outputs([frames, (other_text, None)])[1][0][1], acoustic, atol=1e-6)  # no text in it
    acoustic.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.cnn.backbone.parameters() if p.dim() > 1)
    assert model.projections[0].weight.grad is None and model.head.weight.grad is None
    # none by default; mfcnn14 has no text-free embedding for it
    assert ConditionedCNN14(SMALL, SPECS, 4, multistage=False).training_outputs([frames, (text, None)])[1] == []
    with pytest.raises(ValueError, match="acoustic_loss_weight"):
        ConditionedCNN14(config, SPECS, 4, multistage=True)
    with pytest.raises(ValueError, match="acoustic_loss_weight"):
        dataclasses.replace(SMALL, acoustic_loss_weight=-1.0)


def test_trains_through_the_runner(tmp_path, synthetic_corpus, tiny_bert):
    import emofuse

    config = emofuse.load_experiment({
        "name": "mfcnn14", "data": {"manifest": str(synthetic_corpus)},
        "protocol": {"name": "leave_one_session_out", "dev_fraction": 0.25},
        "features": {"logmel": {"name": "logmel", "n_mels": 16}, "bert": {"name": "text_embedding", "model": str(tiny_bert)}},
        "extraction": {"cache_dir": str(tmp_path / "cache")},
        "systems": {name: {"inputs": ["logmel", "bert"],
                           "model": {"name": name, "acoustic": {"channels": [4, 8, 8, 8, 8, 8], "crop_seconds": 0.3},
                                     "acoustic_loss_weight": 0.5 if name == "sfcnn14" else 0.0},
                           "training": {"max_epochs": 2, "batch_size": 8, "optimizer": "sgd", "learning_rate": 0.01, "nesterov": True}}
                    for name in ("sfcnn14", "mfcnn14")},
    })
    result = run_experiment(config, tmp_path / "run", progress=False)
    assert set(result.summary["system"]) == {"sfcnn14", "mfcnn14"}
