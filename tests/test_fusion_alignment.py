import torch

from emofuse.fusion.alignment import AttentionAlignment
from emofuse.fusion.alignment import AttentionAlignmentConfig
from emofuse.models.inputs import InputSpec
from emofuse.training import run_experiment

SPECS = [InputSpec("frames", "audio", "sequence", 6), InputSpec("words", "text", "sequence", 5)]


def test_padded_frames_get_no_attention_and_padding_does_not_change_outputs():
    torch.manual_seed(0)
    model = AttentionAlignment(AttentionAlignmentConfig(hidden_size=4, attention_size=3, dropout=0.0), SPECS, 4).eval()
    frames, words = torch.randn(1, 7, 6), torch.randn(1, 3, 5)
    short = [(frames, torch.tensor([7])), (words, torch.tensor([3]))]
    padded_frames = torch.cat([frames, torch.full((1, 5, 6), 9.0)], dim=1)
    padded_words = torch.cat([words, torch.full((1, 2, 5), 9.0)], dim=1)
    padded = [(padded_frames, torch.tensor([7])), (padded_words, torch.tensor([3]))]
    _, _, weights, _ = model.align(padded)
    assert weights.shape == (1, 5, 12)
    assert torch.all(weights[:, :3, 7:] == 0)
    assert torch.allclose(weights[:, :3].sum(-1), torch.ones(1, 3))
    assert torch.allclose(model(short), model(padded), atol=1e-6)


def test_text_dropout_zeroes_the_words_of_some_training_utterances_only(monkeypatch):
    import dataclasses

    import pytest

    import emofuse.fusion.alignment as alignment

    seen = []  # what the word encoder gets

    def recording(lstm, values, lengths, **options):  # noqa: ANN001, ANN202
        if lstm is model.word_encoder:
            seen.append(values)
        return run_lstm(lstm, values, lengths, **options)

    run_lstm = alignment.run_lstm
    monkeypatch.setattr(alignment, "run_lstm", recording)
    config = AttentionAlignmentConfig(hidden_size=4, attention_size=3, dropout=0.0, text_dropout=0.5)
    model = AttentionAlignment(config, SPECS, 4)
    frames = (torch.randn(64, 7, 6), torch.full((64,), 7))
    words = (torch.randn(64, 3, 5), torch.full((64,), 3))
    model.eval()  # evaluation always sees the words
    model.embed([frames, words])
    assert torch.equal(seen[-1], words[0])
    model.train()
    torch.manual_seed(0)
    model.embed([frames, words])
    dropped = (seen[-1] == 0).flatten(1).all(dim=1)
    assert 16 < int(dropped.sum()) < 48  # about half the utterances, every word of each
    assert torch.equal(seen[-1][~dropped], words[0][~dropped])
    with pytest.raises(ValueError, match="text_dropout"):
        dataclasses.replace(config, text_dropout=1.0)


def test_acoustic_loss_trains_the_frame_encoder_on_its_own_output():
    import dataclasses

    import pytest

    config = AttentionAlignmentConfig(hidden_size=4, attention_size=3, dropout=0.0, acoustic_loss_weight=0.3)
    model = AttentionAlignment(config, SPECS, 4).eval()
    frames = (torch.randn(2, 7, 6), torch.tensor([7, 4]))
    words, other_words = (torch.randn(2, 3, 5), torch.tensor([3, 2])), (torch.randn(2, 5, 5), torch.tensor([5, 1]))
    outputs, [(weight, acoustic)] = model.training_outputs([frames, words])
    assert torch.allclose(outputs, model([frames, words]), atol=1e-6)  # prediction: the fused output
    assert weight == 0.3 and acoustic.shape == (2, 4)
    assert torch.allclose(model.training_outputs([frames, other_words])[1][0][1], acoustic, atol=1e-6)  # no words in it
    # the mean over each utterance's own frames: padding does not count
    padded = (torch.cat([frames[0], torch.full((2, 3, 6), 9.0)], dim=1), frames[1])
    assert torch.allclose(model.training_outputs([padded, words])[1][0][1], acoustic, atol=1e-5)
    acoustic.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.frame_encoder.parameters())
    assert all(p.grad is None for p in (*model.word_encoder.parameters(), *model.fusion.parameters(), *model.head.parameters()))
    assert AttentionAlignment(dataclasses.replace(config, acoustic_loss_weight=0.0), SPECS, 4).training_outputs([frames, words])[1] == []
    with pytest.raises(ValueError, match="acoustic_loss_weight"):
        dataclasses.replace(config, acoustic_loss_weight=-0.1)


def test_trains_through_the_runner(tmp_path, synthetic_corpus, tiny_bert):
    import emofuse

    config = emofuse.load_experiment({
        "name": "align",
        "data": {"manifest": str(synthetic_corpus)},
        "protocol": {"name": "leave_one_session_out", "dev_fraction": 0.25},
        "features": {"frames": {"name": "logmel", "n_mels": 16},
                     "tokens": {"name": "text_embedding", "model": str(tiny_bert), "pooling": "tokens", "layer": -2}},
        "extraction": {"cache_dir": str(tmp_path / "cache")},
        "systems": {"aligned": {"inputs": ["frames", "tokens"], "model": {"name": "attention_alignment", "hidden_size": 8, "attention_size": 8},
                                "training": {"max_epochs": 2, "batch_size": 8}}},
    })
    result = run_experiment(config, tmp_path / "run", progress=False)
    assert len(result.metrics) == 2 and result.metrics["UA"].between(0, 1).all()
