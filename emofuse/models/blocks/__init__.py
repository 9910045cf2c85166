"""Building blocks shared by several models: pooling, crops, layer sums, conv and ResNet stacks."""

from emofuse.models.blocks.conv import CNN14Backbone
from emofuse.models.blocks.conv import ConvBlock
from emofuse.models.blocks.crop import downsampled_lengths
from emofuse.models.blocks.crop import random_crop
from emofuse.models.blocks.layers import LayerWeightedSum
from emofuse.models.blocks.pooling import LogisticAttentionPooling
from emofuse.models.blocks.pooling import MeanMaxPooling
from emofuse.models.blocks.pooling import MeanPooling
from emofuse.models.blocks.pooling import SelfAttentionPooling
from emofuse.models.blocks.pooling import StatisticsPooling
from emofuse.models.blocks.pooling import build_pooling
from emofuse.models.blocks.pooling import frame_mask
from emofuse.models.blocks.pooling import masked_max
from emofuse.models.blocks.pooling import masked_mean
from emofuse.models.blocks.pooling import masked_std
from emofuse.models.blocks.resnet import BasicBlock
from emofuse.models.blocks.resnet import ResNetBackbone

__all__ = [
    "BasicBlock",
    "CNN14Backbone",
    "ConvBlock",
    "LayerWeightedSum",
    "LogisticAttentionPooling",
    "MeanMaxPooling",
    "MeanPooling",
    "ResNetBackbone",
    "SelfAttentionPooling",
    "StatisticsPooling",
    "build_pooling",
    "downsampled_lengths",
    "frame_mask",
    "masked_max",
    "masked_mean",
    "masked_std",
    "random_crop",
]
