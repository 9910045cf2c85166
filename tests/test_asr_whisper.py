"""Whisper through transformers, on a tiny model built from a config and saved locally."""

import json

import numpy as np
import pytest

from emofuse.asr import TranscriptionError
from emofuse.asr import WhisperConfig
from emofuse.asr import build_transcriber
from emofuse.asr import transcribe_manifest
from emofuse.config import Component
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance

SPECIAL = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>",
           "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory):
    """A 1-layer, 16-unit Whisper with a byte-level vocabulary, saved like a hub model."""
    import torch
    import transformers
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    directory = tmp_path_factory.mktemp("tiny_whisper")
    vocabulary = {character: index for index, character in enumerate(bytes_to_unicode().values())}
    tokenizer = transformers.WhisperTokenizer(vocab=vocabulary, merges=[], pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL[1:]})
    tokenizer.save_pretrained(directory)
    transformers.WhisperFeatureExtractor(feature_size=80).save_pretrained(directory)
    ids = tokenizer.convert_tokens_to_ids(SPECIAL)
    config = transformers.WhisperConfig(
        vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, num_mel_bins=80,
        max_source_positions=1500, max_target_positions=64, pad_token_id=ids[0], bos_token_id=ids[0],
        eos_token_id=ids[0], decoder_start_token_id=ids[1], begin_suppress_tokens=None, suppress_tokens=None,
    )
    torch.manual_seed(0)
    model = transformers.WhisperForConditionalGeneration(config)
    model.generation_config.no_timestamps_token_id = ids[-1]
    model.generation_config.suppress_tokens = ids[1:]  # only text and end-of-text come out
    model.save_pretrained(directory)
    return directory


def test_batches_long_and_empty_signals(tiny_whisper):
    assert build_transcriber(f"whisper:{tiny_whisper}").config.model == str(tiny_whisper)
    recognizer = build_transcriber(Component("whisper", WhisperConfig(model=str(tiny_whisper), max_new_tokens=4, batch_size=2)))
    rng = np.random.default_rng(0)
    signals = [0.1 * rng.standard_normal(16000).astype(np.float32), np.zeros(0, np.float32),
               0.1 * rng.standard_normal(16000 * 31).astype(np.float32)]  # 31 s: two windows
    texts = recognizer.transcribe_batch(signals)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts) and texts[0]
    assert texts[:1] == recognizer.transcribe_batch(signals[:1])  # greedy decoding is deterministic
    assert isinstance(recognizer.transcribe(signals[0][::2], 8000), str)  # resampled to 16 kHz


def test_transcribe_manifest_with_whisper(tmp_path, tone, tiny_whisper):
    manifest = Manifest([Utterance(f"u{i}", audio=str(tone(f"u{i}.wav", seconds=0.4)), text="a tone") for i in range(3)])
    asr = Component("whisper", WhisperConfig(model=str(tiny_whisper), max_new_tokens=4))
    result = transcribe_manifest(manifest, asr=asr, cache_dir=tmp_path / "cache", progress=False)
    assert all(isinstance(u.asr_text, str) for u in result)
    assert result[0].metadata["asr"] == f"whisper:{tiny_whisper}"
    description = json.loads(next((tmp_path / "cache" / "asr").glob("whisper-*/config.json")).read_text())
    assert description["name"] == "whisper" and description["model"] == str(tiny_whisper)


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(TranscriptionError, match="pass a local directory"):
        build_transcriber(f"whisper:{tmp_path / 'missing'}")
