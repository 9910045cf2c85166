"""Pooling, crops, layer sums and SpecAugment, checked on hand-computed tensors."""

import math

import pytest
import torch

from emofuse.audio.augment import POLICIES
from emofuse.audio.augment import SpecAugment
from emofuse.audio.augment import SpecAugmentPolicy
from emofuse.audio.augment import spec_augment_policy
from emofuse.models.blocks import LayerWeightedSum
from emofuse.models.blocks import LogisticAttentionPooling
from emofuse.models.blocks import MeanMaxPooling
from emofuse.models.blocks import MeanPooling
from emofuse.models.blocks import SelfAttentionPooling
from emofuse.models.blocks import StatisticsPooling
from emofuse.models.blocks import downsampled_lengths
from emofuse.models.blocks import random_crop

# two utterances, 3 frames of 2 features; the second has one valid frame, then padding
FRAMES = torch.tensor([[[1.0, 2.0], [3.0, -4.0], [5.0, 0.0]],
                       [[-1.0, 7.0], [0.0, 0.0], [0.0, 0.0]]])
LENGTHS = torch.tensor([3, 1])


def test_mean_and_mean_max_ignore_padding():
    assert torch.allclose(MeanPooling()(FRAMES, LENGTHS), torch.tensor([[3.0, -2 / 3], [-1.0, 7.0]]))
    assert torch.allclose(MeanMaxPooling()(FRAMES, LENGTHS),
                          torch.tensor([[3.0, -2 / 3, 5.0, 2.0], [-1.0, 7.0, -1.0, 7.0]]))
    # without lengths every frame counts
    assert torch.allclose(MeanPooling()(FRAMES, None)[1], torch.tensor([-1 / 3, 7 / 3]))


def test_statistics_pooling_is_mean_and_population_std():
    pooled = StatisticsPooling()(FRAMES, LENGTHS)
    std_first = [math.sqrt(((1 - 3) ** 2 + 0 + (5 - 3) ** 2) / 3),
                 math.sqrt(((2 + 2 / 3) ** 2 + (-4 + 2 / 3) ** 2 + (2 / 3) ** 2) / 3)]
    assert torch.allclose(pooled[0], torch.tensor([3.0, -2 / 3, *std_first]), atol=1e-5)
    assert torch.allclose(pooled[1, 2:], torch.full((2,), math.sqrt(1e-5)), atol=1e-6)  # one frame: floor of the variance


def test_logistic_attention_pooling_by_hand():
    pooling = LogisticAttentionPooling(2)
    with torch.no_grad():
        pooling.scorer.weight.zero_()
        pooling.scorer.bias.zero_()
    # zero weights: every valid frame gets sigmoid(0) = 0.5 -> the mean
    assert torch.allclose(pooling(FRAMES, LENGTHS), MeanPooling()(FRAMES, LENGTHS))
    with torch.no_grad():
        pooling.scorer.weight.copy_(torch.tensor([[1.0, 0.0]]))
    s = [1 / (1 + math.exp(-v)) for v in (1.0, 3.0, 5.0)]
    a = [v / sum(s) for v in s]
    expected = torch.tensor([a[0] * 1 + a[1] * 3 + a[2] * 5, a[0] * 2 + a[1] * -4 + a[2] * 0])
    weights = pooling.weights(FRAMES, LENGTHS)
    assert torch.allclose(weights[0], torch.tensor(a)) and torch.allclose(weights[1], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(pooling(FRAMES, LENGTHS)[0], expected)
    assert torch.allclose(pooling(FRAMES, LENGTHS)[1], torch.tensor([-1.0, 7.0]))


def test_self_attention_pooling_by_hand():
    pooling = SelfAttentionPooling(2, 1)
    with torch.no_grad():
        pooling.projection.weight.copy_(torch.tensor([[0.0, 1.0]]))
        pooling.projection.bias.zero_()
        pooling.context.weight.fill_(2.0)
    e = [2 * math.tanh(v) for v in (2.0, -4.0, 0.0)]
    a = [math.exp(v) / sum(math.exp(w) for w in e) for v in e]
    assert torch.allclose(pooling.weights(FRAMES, LENGTHS)[0], torch.tensor(a), atol=1e-6)
    assert torch.allclose(pooling(FRAMES, LENGTHS)[0], torch.tensor([a[0] + 3 * a[1] + 5 * a[2], 2 * a[0] - 4 * a[1]]), atol=1e-6)
    assert torch.allclose(pooling(FRAMES, LENGTHS)[1], torch.tensor([-1.0, 7.0]))


def test_layer_weighted_sum():
    layers = LayerWeightedSum(3)
    stacked = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]]])  # (1, layers, dim)
    assert torch.allclose(layers(stacked, stacked=True), torch.tensor([[3.0, 5.0]]))  # equal weights at start
    with torch.no_grad():
        layers.logits.copy_(torch.tensor([0.0, math.log(3.0), -100.0]))
    assert torch.allclose(layers(stacked.flatten(1)), torch.tensor([[0.25 * 1 + 0.75 * 3, 0.25 * 2 + 0.75 * 4]]))
    with pytest.raises(ValueError, match="multiple of num_layers"):
        layers(torch.zeros(1, 7))


def test_random_crop_keeps_valid_frames_and_lengths():
    torch.manual_seed(0)
    values = torch.arange(2 * 10, dtype=torch.float32).view(2, 10, 1) + 1
    values[1, 4:] = 0
    lengths = torch.tensor([10, 4])
    for _ in range(20):
        cropped, new = random_crop(values, lengths, 6)
        assert cropped.shape == (2, 6, 1) and new.tolist() == [6, 4]
        first = cropped[0, :, 0]
        assert torch.equal(first, torch.arange(first[0], first[0] + 6))  # a contiguous window
        assert torch.equal(cropped[1, :4, 0], values[1, :4, 0]) and not cropped[1, 4:].any()
    same, same_lengths = random_crop(values, lengths, 50)
    assert same is values and same_lengths.tolist() == [10, 4]
    waveform, _ = random_crop(torch.ones(3, 100), None, 10)  # (batch, samples) too
    assert waveform.shape == (3, 10)
    assert downsampled_lengths(torch.tensor([1, 32, 33, 100]), 32, 3).tolist() == [1, 1, 2, 3]


def test_spec_augment_masks_in_training_only():
    torch.manual_seed(0)
    values = torch.ones(8, 200, 64)
    lengths = torch.full((8,), 200)
    lengths[0] = 50
    augment = SpecAugment("aggressive", value=0.0)
    augment.eval()
    assert torch.equal(augment(values, lengths), values)
    augment.train()
    masked = augment(values, lengths)
    assert masked.shape == values.shape and (masked == 0).any()
    policy = POLICIES["aggressive"]
    for item in range(8):
        zero_bins = (masked[item] == 0).all(dim=0).sum()  # fully masked Mel bins
        zero_frames = (masked[item] == 0).all(dim=1)
        assert zero_bins <= policy.frequency_masks * int(policy.max_frequency_fraction * 64)
        assert zero_frames.sum() <= policy.time_masks * min(policy.max_time_frames, policy.max_time_fraction * lengths[item])
    assert not (masked[0, 50:] == 0).all(dim=1).any()  # time masks stay inside the valid frames
    gentle = SpecAugment(SpecAugmentPolicy(frequency_masks=0, time_masks=0))
    assert torch.equal(gentle(values, lengths), values)
    assert spec_augment_policy("none") is None and spec_augment_policy("conservative") == POLICIES["conservative"]
    with pytest.raises(ValueError, match="spec_augment must be"):
        spec_augment_policy("wild")
