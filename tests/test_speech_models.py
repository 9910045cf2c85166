"""Speech models: shapes, categorical and dimensional outputs, training-time crops, one
forward/backward step each, ResNet34 transfer modes and speaker-weight loading."""

import pytest
import torch
from safetensors.torch import load_file
from safetensors.torch import save_file

from emofuse.audio.speaker import SpeakerWeightsError
from emofuse.audio.speaker import load_speaker_weights
from emofuse.components import MODELS
from emofuse.config import ConfigError
from emofuse.config import parse
from emofuse.models import AcousticLSTMConfig
from emofuse.models import AttentionBiLSTMConfig
from emofuse.models import CNN14Config
from emofuse.models import PoolingConfig
from emofuse.models import ResNet34Config
from emofuse.models.blocks import CNN14Backbone
from emofuse.models.blocks import MaskedBatchNorm2d
from emofuse.models.inputs import InputSpec

TINY_CNN14 = CNN14Config(channels=(4, 8, 8, 16, 16, 32), crop_seconds=1.0)
TINY_RESNET = ResNet34Config(channels=4, layers=(1, 1, 1, 1), embedding_size=16, chunk_frames=(30, 40))


def sequence(dim: int) -> list[InputSpec]:
    return [InputSpec("frames", "audio", "sequence", dim)]


def batch(dim: int = 16, frames: int = 150) -> list:
    torch.manual_seed(0)
    lengths = torch.tensor([frames, frames // 2, 20, 9])
    values = torch.randn(4, frames, dim) * (torch.arange(frames)[None, :, None] < lengths[:, None, None])
    return [(values, lengths)]


CASES = [
    ("pooling", PoolingConfig(head="mean"), sequence(16), batch()),
    ("pooling", PoolingConfig(head="mean_max"), sequence(16), batch()),
    ("pooling", PoolingConfig(head="attention"), sequence(16), batch()),
    ("pooling", PoolingConfig(head="mlp_mean", hidden_sizes=(8, 8)), sequence(16), batch()),
    ("pooling", PoolingConfig(head="mean", num_layers=4), sequence(16), batch()),
    ("attention_bilstm", AttentionBiLSTMConfig(lstm_size=8, attention_size=4), sequence(16), batch()),
    ("cnn14", TINY_CNN14, sequence(16), batch()),
    ("resnet34", TINY_RESNET, sequence(16), batch()),
    ("acoustic_lstm", AcousticLSTMConfig(lstm_sizes=(68, 16, 16), dense_size=8),
     [InputSpec("hsf", "audio", "vector", 68)], [(torch.randn(4, 68), None)]),
    ("acoustic_lstm", AcousticLSTMConfig(lstm_sizes=(16, 16), dense_size=8), sequence(16), batch()),
]


@pytest.mark.parametrize(("name", "config", "specs", "inputs"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("output_size", [4, 3])  # 4 classes, or valence / arousal / dominance
def test_forward_backward_and_embeddings(name, config, specs, inputs, output_size):
    model = MODELS.build(name, config, specs, output_size)
    model.train()
    outputs = model(inputs)
    assert outputs.shape == (4, output_size) and torch.isfinite(outputs).all()
    outputs.square().mean().backward()
    trained = [p for p in model.parameters() if p.requires_grad]
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trained)
    model.eval()
    with torch.no_grad():
        embedding = model.embed(inputs)
        assert embedding.shape == (4, model.embedding_size)
        assert torch.allclose(model(inputs), model.head(embedding), atol=1e-5)


def test_models_reject_wrong_inputs():
    with pytest.raises(ValueError, match="'cnn14': input 'hsf' is a vector, expected sequence"):
        MODELS.build("cnn14", TINY_CNN14, [InputSpec("hsf", "audio", "vector", 68)], 4)
    with pytest.raises(ValueError, match="takes 1 input"):
        MODELS.build("pooling", PoolingConfig(), sequence(8) * 2, 4)
    with pytest.raises(ConfigError, match="head: 'median' is not one of 'mean', 'mean_max'"):
        parse(PoolingConfig, {"head": "median"})
    with pytest.raises(ConfigError, match="mode: 'probe' is not one of 'full', 'linear_probe'"):
        parse(ResNet34Config, {"mode": "probe"})


def test_padding_does_not_change_eval_outputs():
    """Utterances give the same outputs alone as inside a padded batch."""
    for name, config in [("pooling", PoolingConfig(head="attention")), ("attention_bilstm", AttentionBiLSTMConfig(lstm_size=8)),
                         ("acoustic_lstm", AcousticLSTMConfig(lstm_sizes=(16, 8), dense_size=8))]:
        model = MODELS.build(name, config, sequence(16), 4).eval()
        ((values, lengths),) = batch()
        with torch.no_grad():
            together = model([(values, lengths)])
            alone = model([(values[2:3, :20], torch.tensor([20]))])
        assert torch.allclose(together[2], alone[0], atol=1e-5), name


def test_cnn14_crops_in_training_and_takes_whole_utterances_at_test():
    model = MODELS.build("cnn14", TINY_CNN14, sequence(16), 4)
    seen = []
    model.backbone.register_forward_hook(lambda module, args, output: seen.append(args[0].shape[1]))
    inputs = [(torch.randn(2, 350, 16), torch.tensor([350, 120]))]
    model.train()
    model(inputs)
    model.eval()
    model(inputs)
    assert seen == [100, 350]  # 1 s crops (100 frames) in training, everything at test time


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_masked_batch_norm_statistics_ignore_padding(layout):
    """In training, the statistics (and running estimates) are those of the valid frames alone:
    the same as plain batch norm over the unpadded frames laid side by side, with the same
    gradients, in either memory layout (channels-last maps take a gathering path of their own)."""
    torch.manual_seed(0)
    lengths = torch.tensor([12, 3])
    values = torch.randn(2, 4, 12, 5) * 3 + 2
    values[1, :, 3:] = 0.0  # padding
    values = values.contiguous(memory_format=layout).requires_grad_()
    mask = (torch.arange(12)[None, :] < lengths[:, None]).float().view(2, 1, 12, 1)
    masked, plain = MaskedBatchNorm2d(4).train(), torch.nn.BatchNorm2d(4).train()
    plain.weight.data.uniform_(0.5, 2.0), plain.bias.data.uniform_(-1.0, 1.0)
    masked.load_state_dict(plain.state_dict())
    out = masked(values, mask)
    side_by_side = torch.cat([values[0, :, :12], values[1, :, :3]], dim=1).unsqueeze(0)  # (1, 4, 15, 5)
    reference = plain(side_by_side)[0]
    assert out.is_contiguous(memory_format=layout)
    valid_out = torch.cat([out[0, :, :12], out[1, :, :3]], dim=1)
    assert torch.allclose(valid_out, reference, atol=1e-5)
    gradients = [torch.autograd.grad((o * torch.arange(o.numel()).view_as(o).sin()).sum(), [values, m.weight, m.bias])
                 for o, m in ((valid_out, masked), (reference, plain))]
    for a, b in zip(*gradients, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(masked.running_mean, plain.running_mean, atol=1e-6)
    assert torch.allclose(masked.running_var, plain.running_var, atol=1e-5)
    masked.eval(), plain.eval()
    assert torch.allclose(masked(values, mask), plain(values), atol=1e-6)  # evaluation: running statistics


def test_cnn14_training_statistics_do_not_depend_on_padding():
    """An utterance padded into a longer batch leaves the same running statistics as alone."""
    torch.manual_seed(0)
    short = torch.randn(1, 64, 16)
    alone = CNN14Backbone(16, channels=(4, 8, 8, 8, 8, 8)).train()
    padded = CNN14Backbone(16, channels=(4, 8, 8, 8, 8, 8)).train()
    padded.load_state_dict(alone.state_dict())
    padded.dropout.p = alone.dropout.p = 0.0
    alone(short, torch.tensor([64]))
    padded(torch.cat([short, torch.zeros(1, 192, 16)], dim=1), torch.tensor([64]))
    for (name, a), b in zip(alone.state_dict().items(), padded.state_dict().values(), strict=True):
        if "running" in name:
            assert torch.allclose(a, b, atol=1e-5), name


def test_unpadded_batches_skip_the_mask_with_the_same_training_step(monkeypatch):
    """A batch without padding needs no mask (plain batch norm, no multiplications by ones); the
    forward pass, the gradients and the running statistics are those of the masked computation."""
    from emofuse.models.blocks import conv

    assert conv.unpadded(torch.tensor([8, 8]), 8) is None
    assert conv.time_mask(conv.unpadded(torch.tensor([8, 5]), 8), 8, axis=2, dims=4).flatten().tolist() == [1] * 13 + [0] * 3

    torch.manual_seed(0)
    values, lengths = torch.randn(3, 64, 16), torch.tensor([64, 64, 64])
    fast, masked = (CNN14Backbone(16, channels=(4, 8, 8, 8, 8, 8), dropout=0.0).train() for _ in range(2))
    masked.load_state_dict(fast.state_dict())
    out_fast, _ = fast(values, lengths)
    monkeypatch.setattr(conv, "unpadded", lambda lengths, frames: lengths)  # the masked computation, all ones here
    out_masked, _ = masked(values, lengths)
    assert torch.allclose(out_fast, out_masked, atol=1e-5)
    out_fast.square().sum().backward(), out_masked.square().sum().backward()
    for (name, a), b in zip(fast.named_parameters(), masked.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-4, rtol=1e-3), name
    for (name, a), b in zip(fast.state_dict().items(), masked.state_dict().values(), strict=True):
        if "running" in name:
            assert torch.allclose(a, b, atol=1e-5), name


def test_cnn14_channels_last_keeps_its_feature_maps_channels_last_and_computes_the_same(tmp_path):
    """``channels_last`` (the default) changes the memory layout, not the model: the same weights give
    the same outputs and gradients as the default layout, a saved system loads into either, and every
    block's feature maps are channels-last (what makes the step faster)."""
    import dataclasses

    from emofuse.models.cnn14 import CNN14

    spec = [InputSpec("logmel", "audio", "sequence", 16)]
    config = CNN14Config(channels=(4, 8, 8, 8, 8, 8), crop_seconds=None, head_dropout=0.0)  # no random draws
    assert config.channels_last
    torch.manual_seed(0)
    fast = CNN14(config, spec, 3)
    plain = CNN14(dataclasses.replace(config, channels_last=False), spec, 3)
    plain.load_state_dict(fast.state_dict())
    layouts = []
    fast.backbone.blocks[2].register_forward_hook(
        lambda module, args, output: layouts.append(output[0].is_contiguous(memory_format=torch.channels_last)))
    values, lengths = torch.randn(3, 64, 16), torch.tensor([64, 40, 20])
    out_fast, out_plain = fast([(values, lengths)]), plain([(values, lengths)])
    assert layouts == [True] and not plain.backbone.blocks[2].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(out_fast, out_plain, atol=1e-5)
    out_fast.square().sum().backward(), out_plain.square().sum().backward()
    for (name, a), b in zip(fast.named_parameters(), plain.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-4, rtol=1e-3), name
    save_file({k: v.contiguous() for k, v in fast.state_dict().items()}, tmp_path / "model.safetensors")
    reloaded = CNN14(config, spec, 3)
    reloaded.load_state_dict(load_file(tmp_path / "model.safetensors"))
    assert reloaded.backbone.blocks[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    fast.eval(), reloaded.eval()
    assert torch.allclose(fast([(values, lengths)]), reloaded([(values, lengths)]), atol=1e-6)


@pytest.mark.parametrize("frames", [40, 41])  # even: the frame count at which the strided 1x1 kernel crashed
def test_narrow_resnet_convolutions_run_channels_last_and_compute_the_same(frames):
    """The 3x3 convolutions under 16 channels see channels-last input (what makes the narrow ResNet's
    step faster on CPUs); the 1x1 shortcuts and wider ones do not; outputs and gradients equal those of
    plain ``Conv2d`` layers with the same weights."""
    import copy

    from emofuse.models.blocks.resnet import NARROW_CHANNELS
    from emofuse.models.blocks.resnet import NarrowConv2d
    from emofuse.models.blocks.resnet import ResNetBackbone

    torch.manual_seed(0)
    fast = ResNetBackbone(16, channels=4, layers=(1, 1, 1, 1))
    plain = copy.deepcopy(fast)
    seen = {}
    for name, layer in fast.named_modules():
        if isinstance(layer, torch.nn.Conv2d):
            narrow = layer.out_channels < NARROW_CHANNELS and layer.kernel_size == (3, 3)
            assert isinstance(layer, NarrowConv2d) == narrow, name
            original = layer._conv_forward
            layer._conv_forward = lambda values, *rest, name=name, original=original: (
                seen.__setitem__(name, values.is_contiguous(memory_format=torch.channels_last)) or original(values, *rest))
    for layer in plain.modules():
        if isinstance(layer, NarrowConv2d):
            layer.__class__ = torch.nn.Conv2d
    values, lengths = torch.randn(3, frames, 16), torch.tensor([frames, 30, 9])
    (out_fast, _), (out_plain, _) = fast(values, lengths), plain(values, lengths)
    assert seen == {"conv1": True, "layer1.0.conv1": True, "layer1.0.conv2": True, "layer2.0.conv1": True,
                    "layer2.0.conv2": True, "layer2.0.shortcut.0": False, "layer3.0.conv1": False,
                    "layer3.0.conv2": False, "layer3.0.shortcut.0": False, "layer4.0.conv1": False,
                    "layer4.0.conv2": False, "layer4.0.shortcut.0": False}
    assert torch.allclose(out_fast, out_plain, atol=1e-5)
    out_fast.square().sum().backward(), out_plain.square().sum().backward()
    for (name, a), b in zip(fast.named_parameters(), plain.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-4, rtol=1e-3), name


def test_cnn14_backbone_condition_hook_sees_every_block():
    backbone = CNN14Backbone(16, channels=(4, 8, 8, 16, 16, 32))
    shapes = []

    def condition(index, features):  # MFCNN14: add a per-channel bias after each block
        shapes.append((index, features.shape[1]))
        return features + torch.ones(1, features.shape[1], 1, 1)

    frames, lengths = backbone(torch.randn(2, 64, 16), torch.tensor([64, 40]), condition=condition)
    assert shapes == list(enumerate(backbone.block_channels))
    assert frames.shape == (2, 2, 32) and lengths.tolist() == [2, 1]  # 40 frames: floor(40 / 32), as alone
    short, _ = backbone.eval()(torch.randn(1, 5, 16), torch.tensor([5]))  # shorter than the total pooling
    assert short.shape == (1, 1, 32)


def test_resnet34_chunks_per_batch_and_transfer_modes(tmp_path):
    model = MODELS.build("resnet34", TINY_RESNET, sequence(16), 4)
    seen = []
    model.backbone.register_forward_hook(lambda module, args, output: seen.append(args[0].shape[1]))
    inputs = [(torch.randn(3, 120, 16), torch.tensor([120, 100, 10]))]
    model.train()
    for _ in range(8):
        model(inputs)
    model.eval()
    model(inputs)
    assert set(seen[:-1]) <= {30, 40} and seen[-1] == 120
    # from scratch: one group at the main learning rate
    groups = model.parameter_groups(0.1)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert not any(g.get("pretrained") for g in groups)
    # speaker-model weights (a "module."-prefixed checkpoint, with a speaker classifier)
    speaker = {f"module.{k}": v.clone() + 0.5 for k, v in model.backbone.state_dict().items() if "num_batches" not in k}
    speaker["module.classifier.weight"] = torch.randn(7, 16)
    torch.save({"state_dict": speaker}, tmp_path / "speaker.pt")
    probe = MODELS.build("resnet34", ResNet34Config(**{**TINY_RESNET.__dict__, "mode": "linear_probe",
                                                       "pretrained": str(tmp_path / "speaker.pt")}), sequence(16), 4)
    first = next(iter(probe.backbone.state_dict()))
    assert torch.equal(probe.backbone.state_dict()[first], speaker[f"module.{first}"])
    probe.train()
    assert not probe.backbone.training and probe.head.training  # frozen backbone keeps its BN statistics
    assert all(not p.requires_grad for p in probe.backbone.parameters())
    probe(inputs).sum().backward()
    assert all(p.grad is None for p in probe.backbone.parameters())
    assert probe.parameter_groups(0.1) == [{"params": [p for n, p in probe.named_parameters() if not n.startswith("backbone.")], "lr": 0.1}]
    full = MODELS.build("resnet34", ResNet34Config(**{**TINY_RESNET.__dict__, "pretrained": str(tmp_path / "speaker.pt")}), sequence(16), 4)
    groups = full.parameter_groups(0.1)
    assert [g.get("pretrained", False) for g in groups] == [False, True]
    assert len(groups[1]["params"]) == len(list(full.backbone.parameters()))


def test_speaker_weights_from_safetensors_and_bad_files(tmp_path):
    source = MODELS.build("resnet34", TINY_RESNET, sequence(16), 4).backbone
    state = {f"front.{k}".replace(".shortcut.", ".downsample."): v for k, v in source.state_dict().items()}
    save_file(state, str(tmp_path / "speaker.safetensors"))
    target = MODELS.build("resnet34", TINY_RESNET, sequence(16), 4).backbone
    report = load_speaker_weights(target, tmp_path / "speaker.safetensors")
    assert not report["missing"] and not report["ignored"]
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)
    wider = MODELS.build("resnet34", ResNet34Config(channels=8, layers=(1, 1, 1, 1)), sequence(16), 4).backbone
    with pytest.raises(SpeakerWeightsError, match=r"speaker.safetensors: only \d+ of \d+ backbone tensors match"):
        load_speaker_weights(wider, tmp_path / "speaker.safetensors")
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SpeakerWeightsError, match="broken.pt: cannot read"):
        load_speaker_weights(target, tmp_path / "broken.pt")
    with pytest.raises(SpeakerWeightsError, match="not found"):
        load_speaker_weights(target, tmp_path / "missing.pt")


def test_pooling_heads_normalise_the_pooled_vector_unless_told_not_to():
    """Means of standardised frames vary little between utterances: by default the output layer
    sees them batch-normalised (unit variance in training); the paper's heads see them raw."""
    torch.manual_seed(0)
    values = 0.1 * torch.randn(32, 1, 8) + torch.randn(32, 40, 8)  # utterance means with std ~0.2
    lengths = torch.full((32,), 40)
    seen = {}
    for normalize in (True, False):
        model = MODELS.build("pooling", PoolingConfig(head="mean", dropout=0.0, normalize_pooled=normalize), sequence(8), 4)
        model.head.register_forward_hook(lambda module, args, output, key=normalize: seen.__setitem__(key, args[0]))
        model.train()
        model([(values, lengths)])
    assert torch.allclose(seen[True].std(dim=0, unbiased=False), torch.ones(8), atol=1e-2)
    assert seen[False].std(dim=0).max() < 0.5
    model = MODELS.build("pooling", PoolingConfig(head="mean"), sequence(8), 4)
    assert model.train()([(values[:1], lengths[:1])]).shape == (1, 4)  # a training batch of one
    with torch.no_grad():  # and at test time the running statistics
        assert model.eval()([(values[:1], lengths[:1])]).shape == (1, 4)
