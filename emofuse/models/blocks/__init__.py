"""Building blocks shared by several models: pooling, crops, layer sums, conv and ResNet stacks."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "conv": [
        "CNN14Backbone",
        "ConvBlock",
        "MaskedBatchNorm2d",
    ],
    "crop": [
        "downsampled_lengths",
        "random_crop",
    ],
    "layers": [
        "LayerWeightedSum",
    ],
    "pooling": [
        "LogisticAttentionPooling",
        "MeanMaxPooling",
        "MeanPooling",
        "SelfAttentionPooling",
        "StatisticsPooling",
        "build_pooling",
        "frame_mask",
        "masked_max",
        "masked_mean",
        "masked_std",
    ],
    "resnet": [
        "BasicBlock",
        "ResNetBackbone",
    ],
})
