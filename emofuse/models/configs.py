"""The configuration of every model, typed and light: importing this module loads no model code
(no torch), so an experiment config is checked key by key before anything heavy is imported.

Each dataclass here belongs to the model file named in its section; the registry
(:mod:`emofuse.components`) points at both, and a test checks that every builder is decorated
with the class registered for it. Validation of values happens in ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal
from typing import get_args

from emofuse.components import MODELS
from emofuse.config import Component
from emofuse.config import component_list_field
from emofuse.pretrained import DEFAULT_TEXT_MODEL
from emofuse.pretrained import parse_layer
from emofuse.text.wordvectors import FileFormat

#: Pooling over frames (:func:`emofuse.models.blocks.pooling.build_pooling`).
PoolingName = Literal["mean", "mean_max", "attention", "statistics"]
POOLINGS: tuple[str, ...] = get_args(PoolingName)
#: Heads of the ``pooling`` model.
Head = Literal["mean", "mean_max", "attention", "mlp_mean"]
HEADS: tuple[str, ...] = get_args(Head)


# mlp ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MLPConfig:
    hidden_sizes: tuple[int, ...] = (128,)
    dropout: float = 0.2
    activation: Literal["relu", "gelu", "tanh", "prelu"] = "relu"

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


# classic -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SVMConfig:
    """``kernel``: linear or rbf; ``c_grid``: values of C tried on dev (one value: no search);
    ``clip``: standardised features are clipped to ``[-clip, clip]`` (see
    :class:`LogisticRegressionConfig`)."""

    kernel: Literal["linear", "rbf"] = "linear"
    c_grid: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    gamma: str = "scale"
    standardize: bool = True
    seed: int = 0
    clip: float | None = None

    def __post_init__(self) -> None:
        if not self.c_grid or any(c <= 0 for c in self.c_grid):
            raise ValueError("c_grid must hold positive values")
        _check_clip(self.clip, self.standardize)


def _check_clip(clip: float | None, standardize: bool) -> None:
    if clip is not None and (clip <= 0 or not standardize):
        raise ValueError("clip must be positive and needs standardize: true (it clips standardised values)")


# classic -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LogisticRegressionConfig:
    """Multinomial logistic regression (ridge regression for dimensional tasks).

    ``clip``: standardised features are clipped to ``[-clip, clip]`` in training and prediction
    (winsorised), so that a feature far outside the training range (a voice, language or channel
    never heard) cannot decide the answer alone; ``None`` keeps them as they are."""

    c_grid: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
    standardize: bool = True
    max_iter: int = 2000
    clip: float | None = None

    def __post_init__(self) -> None:
        if not self.c_grid or any(c <= 0 for c in self.c_grid):
            raise ValueError("c_grid must hold positive values")
        _check_clip(self.clip, self.standardize)


# attention_bilstm --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AttentionBiLSTMConfig:
    tdnn_context: int = 16
    lstm_size: int = 64
    lstm_layers: int = 2
    attention_size: int = 128
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if min(self.tdnn_context, self.lstm_size, self.lstm_layers, self.attention_size) < 1:
            raise ValueError("tdnn_context, lstm_size, lstm_layers and attention_size must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


# cnn14 -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CNN14Config:
    """``channels`` of the six blocks (PANNs: 64 ... 2048; narrower for small data or CPUs),
    ``dropout`` after each block (PANNs: 0.2; off by default: ahead of the next block's batch norm
    it shifts the variance between training and test (Li et al., 2019), and on EmoDB leave one
    speaker out the evaluated model then answered one class in many epochs), ``head_dropout``
    around the linear layers (PANNs: 0.5),
    ``pool_type`` max (the paper) or avg (PANNs' code), training crops of ``crop_seconds`` at
    ``frame_rate`` frames per second, and optional SpecAugment (none | conservative | aggressive).
    ``channels_last`` keeps the convolutions' weights, and so their feature maps, in channels-last
    memory layout (the same parameters and results up to rounding). On 2 CPU cores a training step of
    the narrow CNN14 (8-64 channels, 2 s crops) ran x1.5 as fast; at full width x1.5 as fast on a batch
    with padded utterances (crops longer than some utterances), x0.9 on one without (2026-12-04)."""

    channels: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)
    dropout: float = 0.0
    head_dropout: float = 0.5
    pool_type: Literal["max", "avg", "avg+max"] = "max"
    crop_seconds: float | None = 5.0
    frame_rate: float = 100.0
    spec_augment: Literal["none", "conservative", "aggressive"] = "none"
    channels_last: bool = True

    def __post_init__(self) -> None:
        if len(self.channels) < 2 or any(c < 1 for c in self.channels):
            raise ValueError("channels needs at least two positive block widths")
        if self.crop_seconds is not None and self.crop_seconds <= 0:
            raise ValueError("crop_seconds must be positive (or null for no cropping)")


# resnet34 ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ResNet34Config:
    channels: int = 32
    layers: tuple[int, ...] = (3, 4, 6, 3)
    activation: Literal["prelu", "relu"] = "prelu"
    embedding_size: int = 512
    chunk_frames: tuple[int, ...] = (150, 200, 250, 300)
    spec_augment: Literal["none", "conservative", "aggressive"] = "none"
    mode: Literal["full", "linear_probe"] = "full"
    pretrained: str | None = None
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if len(self.layers) != 4 or any(n < 1 for n in self.layers) or self.channels < 1:
            raise ValueError("layers needs four positive block counts and channels must be positive")
        if any(t < 1 for t in self.chunk_frames) or self.embedding_size < 1:
            raise ValueError("chunk_frames and embedding_size must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


# pooling -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PoolingConfig:
    """``head``: mean | mean_max | attention | mlp_mean. ``hidden_sizes``: the frame-wise MLP of
    ``mlp_mean``. ``num_layers``: stacked encoder layers per frame (learned weighted sum).
    ``normalize_pooled``: batch norm on the pooled vector before the output layer. Frames are
    standardised one by one, so the mean of an utterance's frames varies far less than a frame
    (ComParE descriptors on EmoDB: a quarter, their deltas far less): without it the linear output layer sees
    tiny inputs and learns slowly (the paper's heads, ``--variant paper``, have none)."""

    head: Head = "mean"
    hidden_sizes: tuple[int, ...] = (256,)
    dropout: float = 0.2
    num_layers: int = 1
    normalize_pooled: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.num_layers < 1 or any(h < 1 for h in self.hidden_sizes):
            raise ValueError("num_layers and hidden_sizes must be positive")
        if self.head == "mlp_mean" and not self.hidden_sizes:
            raise ValueError("head mlp_mean needs at least one hidden size")


# acoustic_lstm -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AcousticLSTMConfig:
    lstm_sizes: tuple[int, ...] = (68, 256, 256)
    dense_size: int = 64
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if not self.lstm_sizes or any(s < 1 for s in self.lstm_sizes) or self.dense_size < 1:
            raise ValueError("lstm_sizes (at least one) and dense_size must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


# ssl_finetune ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SSLFinetuneConfig:
    """``model``: hub id or local directory. ``layer``: last | second_to_last | weighted | an
    index. ``freeze``: keep the encoder frozen. ``pooling``: mean | mean_max | attention |
    statistics. ``max_duration`` in seconds (null: whole utterances)."""

    model: str = "facebook/wav2vec2-base"
    layer: int | str = "weighted"
    freeze: bool = False
    freeze_feature_encoder: bool = True
    pooling: PoolingName = "mean"
    dropout: float = 0.1
    max_duration: float | None = 8.0
    sampling_rate: int = 16000

    def __post_init__(self) -> None:
        parse_layer(self.layer, allowed=("weighted",))
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.max_duration is not None and self.max_duration <= 0:
            raise ValueError("max_duration must be positive (or null)")


# lm_classifier -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LMClassifierConfig:
    """A language model and its head.

    ``hidden_size: 0`` puts the output layer directly on the pooled encoder output (Padi et
    al.'s 768 x 4 layer); a positive size adds one fully connected layer with ``activation``
    (IEmoNet: 768). ``dropout`` acts on the input of the output layer; ``l2`` is the L2
    penalty on the hidden layer's weights. ``layer`` picks the hidden state that is pooled
    (``-1`` the last, ``-2`` the second to last). ``output_activation: tanh`` bounds regression
    outputs to [-1, 1], the range of normalised ratings. ``train_word_embeddings: false`` keeps the
    encoder's input word-embedding table as pretrained while the rest is fine-tuned: a faster
    step (the table is half of MiniLM's parameters, and its dense gradient and AdamW update took
    15 % of a training step on 2 cores although a batch touches a few hundred of its 30,522
    rows); the default fine-tunes it too, as the papers did.
    """

    model: str = DEFAULT_TEXT_MODEL
    max_length: int = 128
    pooling: Literal["cls", "mean"] = "cls"
    layer: int = -1
    fine_tune: bool = True
    train_word_embeddings: bool = True
    hidden_size: int = 0
    activation: Literal["relu", "gelu", "tanh"] = "relu"
    dropout: float = 0.1
    l2: float = 0.0
    output_activation: Literal["none", "tanh"] = "none"

    def __post_init__(self) -> None:
        if self.max_length < 2:
            raise ValueError(f"max_length must be at least 2, got {self.max_length}")
        if self.hidden_size < 0:
            raise ValueError(f"hidden_size must be 0 (no hidden layer) or positive, got {self.hidden_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.l2 < 0:
            raise ValueError(f"l2 must be non-negative, got {self.l2}")


# text_lstm ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TextLSTMConfig:
    """The branch's sizes, and the trainable embedding used for raw ``text`` inputs.

    ``first_size: 0`` makes the first LSTM as wide as its input. For raw text: ``buckets``
    hashed word ids (row 0 is padding), ``embedding_dim`` (taken from ``vectors`` when given),
    at most ``max_tokens`` words, ``freeze_embedding`` to keep initial vectors fixed.
    """

    first_size: int = 0
    sizes: tuple[int, ...] = (256, 256)
    dense_size: int = 64
    dropout: float = 0.4
    buckets: int = 50_000
    embedding_dim: int = 300
    vectors: str | None = None
    vectors_format: FileFormat = "auto"
    freeze_embedding: bool = False
    lowercase: bool = True
    max_tokens: int = 554

    def __post_init__(self) -> None:
        if self.first_size < 0 or any(size < 1 for size in self.sizes) or self.dense_size < 1:
            raise ValueError("first_size must be 0 (the input size) or positive; sizes and dense_size positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.buckets < 2 or self.embedding_dim < 1 or self.max_tokens < 1:
            raise ValueError("buckets must be at least 2; embedding_dim and max_tokens positive")
        if self.freeze_embedding and self.vectors is None:
            raise ValueError("freeze_embedding needs vectors to initialise the embedding from")


# concat ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ConcatFusionConfig:
    """``branches``: one model per branch; ``inputs_per_branch``: how many of the system's
    inputs each branch takes, in order (default: one each)."""

    branches: tuple[Component, ...] = component_list_field(MODELS)
    inputs_per_branch: tuple[int, ...] | None = None
    hidden_size: int = 64
    dropout: float = 0.4

    def __post_init__(self) -> None:
        if len(self.branches) < 2:
            raise ValueError("concat fusion needs at least two branches")
        if self.inputs_per_branch is not None and (len(self.inputs_per_branch) != len(self.branches) or min(self.inputs_per_branch) < 1):
            raise ValueError("inputs_per_branch needs one positive count per branch")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


# alignment ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AttentionAlignmentConfig:
    """``hidden_size`` per LSTM direction; ``attention_size`` of the additive attention;
    ``text_dropout``: the share of training utterances whose word vectors are replaced by zeros
    (modality dropout, as in :class:`ConditionedCNN14Config`; 0 in the paper): their words then
    attend over the audio alike, so the audio path keeps learning when a small corpus's texts
    alone tell the training utterances apart; ``acoustic_loss_weight``: weight of an auxiliary
    loss on a linear output from the attended sequence's encoding alone (mean over its frames;
    0, none, in the paper), so that the frame encoder learns from the labels directly and not
    only through the words' attention."""

    hidden_size: int = 128
    attention_size: int = 128
    dropout: float = 0.3
    pooling: Literal["max", "mean"] = "max"
    text_dropout: float = 0.0
    acoustic_loss_weight: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.text_dropout < 1.0:
            raise ValueError(f"text_dropout must be in [0, 1), got {self.text_dropout}")
        if self.acoustic_loss_weight < 0:
            raise ValueError(f"acoustic_loss_weight must be at least 0, got {self.acoustic_loss_weight}")


# conditioning ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ConditionedCNN14Config:
    """``acoustic``: the CNN14 configuration (channels, dropout, crops, SpecAugment);
    ``projection_init``: the text projections start at ``zero`` (the model starts as CNN14 alone
    and learns how much of the text to add where) or with PyTorch's ``default`` initialisation
    (the paper does not say; a random projection adds a random per-channel bias to every block);
    ``text_dropout``: the share of training utterances whose text embedding is replaced by zeros
    (modality dropout; 0 in the paper), so that the acoustic path keeps learning when a small
    corpus's texts alone are enough to tell the training utterances apart;
    ``acoustic_loss_weight`` (SFCNN14 only): weight of an auxiliary loss on a linear output from
    the pooled acoustic embedding before the text is added (0, none, in the paper). MFCNN14's
    blocks all see the text, so it has no acoustic-only embedding; ``text_rank``: the text
    embedding first passes through one linear layer to this many dimensions shared by every
    block's projection (a low-rank factorisation of the projections; ``None``, the paper's: each
    block projects the whole embedding), so that the blocks can take a summary of the text but not
    enough of it to tell the training utterances apart."""

    acoustic: CNN14Config = dataclasses.field(default_factory=CNN14Config)
    projection_init: Literal["zero", "default"] = "zero"
    text_dropout: float = 0.0
    acoustic_loss_weight: float = 0.0
    text_rank: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.text_dropout < 1.0:
            raise ValueError("text_dropout must be in [0, 1)")
        if self.text_rank is not None and self.text_rank < 1:
            raise ValueError(f"text_rank must be at least 1 (or None), got {self.text_rank}")
        if self.acoustic_loss_weight < 0:
            raise ValueError(f"acoustic_loss_weight must be at least 0, got {self.acoustic_loss_weight}")


# block -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ClassificationBlockConfig:
    """``hidden_sizes`` of the feed-forward block; ``unfreeze_after``: epoch from which the members
    are fine-tuned too (``None``: frozen throughout)."""

    hidden_sizes: tuple[int, ...] = (128,)
    dropout: float = 0.2
    unfreeze_after: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.unfreeze_after is not None and self.unfreeze_after < 0:
            raise ValueError("unfreeze_after must be a non-negative epoch")
