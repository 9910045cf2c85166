"""Self-supervised speech encoders through transformers (wav2vec 2.0, HuBERT, WavLM, ...).

:class:`SSLEncoder` wraps any ``AutoModel`` audio encoder, loaded by hub id or from a local
directory, and returns *all* hidden layers with their frame lengths, as s3prl upstreams do:
``(batch, samples), (batch,) -> (batch, layers, frames, dim), (batch,)``. The ``ssl`` feature
extractor runs it frozen and caches one layer (``last``, ``second_to_last`` or an index), or all
of them concatenated (``all``, for a learnable weighted sum downstream), as frames or their
mean. The fine-tunable classifier on raw waveforms is the ``ssl_finetune`` model.

Waveforms are normalised per utterance (zero mean, unit variance over valid samples) when the
model's preprocessor config says so (the default without one); the attention mask is passed
only to models trained with one (``feat_extract_norm == "layer"``), as transformers advises.
"""

from __future__ import annotations

import functools
import json
import logging
import pathlib

import numpy as np
import torch

from emofuse.features import FeatureExtractor
from emofuse.pretrained import SSLConfig
from emofuse.pretrained import parse_layer
from emofuse.registry import builds

log = logging.getLogger(__name__)

class SSLEncoder(torch.nn.Module):
    """A transformers speech encoder returning every hidden layer with frame lengths."""

    def __init__(self, model: torch.nn.Module, *, normalize: bool = True, attention_mask: bool = False) -> None:
        super().__init__()
        self.model = model
        self.normalize = normalize
        self.use_attention_mask = attention_mask
        self.num_layers = int(model.config.num_hidden_layers) + 1  # the CNN/projection output, then each block
        if getattr(model.config, "layerdrop", 0.0):  # LayerDrop skips layers in training, and their hidden
            model.config.layerdrop = 0.0  # states: layer choice and weighted sums need every layer
        self.hidden_size = int(model.config.hidden_size)

    @classmethod
    def from_pretrained(cls, name: str) -> SSLEncoder:
        """Load ``name`` (a local directory, or a hub id when online)."""
        from transformers import AutoModel

        path = pathlib.Path(name).expanduser()
        local = path.is_dir()
        source = str(path.resolve()) if local else name
        try:
            model = AutoModel.from_pretrained(source, local_files_only=local)
        except (OSError, ValueError) as error:
            from emofuse.text.lm import ModelLoadError

            raise ModelLoadError(
                f"cannot load speech encoder {name!r}: {error}\n"
                "Without network access, pass a local directory with the model files."
            ) from None
        normalize, mask = True, getattr(model.config, "feat_extract_norm", "group") == "layer"
        preprocessor = path / "preprocessor_config.json" if local else None
        if preprocessor is not None and preprocessor.is_file():
            settings = json.loads(preprocessor.read_text())
            normalize = bool(settings.get("do_normalize", True))
            mask = bool(settings.get("return_attention_mask", mask))
        elif not local:
            try:
                from transformers import AutoFeatureExtractor

                extractor = AutoFeatureExtractor.from_pretrained(source)
                normalize = bool(getattr(extractor, "do_normalize", True))
                mask = bool(getattr(extractor, "return_attention_mask", mask))
            except (OSError, ValueError):
                log.info("%s: no preprocessor config; normalising waveforms per utterance", name)
        return cls(model, normalize=normalize, attention_mask=mask)

    def freeze_feature_encoder(self) -> None:
        """Freeze the convolutional waveform encoder (standard when fine-tuning)."""
        if hasattr(self.model, "freeze_feature_encoder"):
            self.model.freeze_feature_encoder()

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.model._get_feat_extract_output_lengths(lengths).long()

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        # (batch, samples), (batch,) -> (batch, layers, frames, dim), (batch,)
        batch, samples = waveforms.shape
        if lengths is None:
            lengths = torch.full((batch,), samples, dtype=torch.long, device=waveforms.device)
        lengths = lengths.to(waveforms.device).clamp(max=samples)
        if not self.training and not self.use_attention_mask and batch > 1 and bool((lengths != lengths[0]).any()):
            # models trained without attention masks (group-norm wav2vec 2.0) see the padding:
            # at inference each utterance is encoded alone, so its output does not depend on its batch
            parts = [self(waveforms[k : k + 1, : int(lengths[k])]) for k in range(batch)]
            frames = max(p[0].shape[2] for p in parts)
            hidden = torch.cat([torch.nn.functional.pad(h, (0, 0, 0, frames - h.shape[2])) for h, _ in parts])
            return hidden, torch.cat([n for _, n in parts])
        mask = torch.arange(samples, device=waveforms.device)[None, :] < lengths[:, None]  # (batch, samples)
        if self.normalize:
            weights = mask.to(waveforms.dtype)
            count = weights.sum(dim=1, keepdim=True).clamp(min=1.0)
            mean = (waveforms * weights).sum(dim=1, keepdim=True) / count
            variance = (((waveforms - mean) * weights) ** 2).sum(dim=1, keepdim=True) / count
            waveforms = (waveforms - mean) / torch.sqrt(variance + 1e-7) * weights
        attention = mask.long() if self.use_attention_mask else None
        outputs = self.model(waveforms, attention_mask=attention, output_hidden_states=True)
        hidden = torch.stack(outputs.hidden_states, dim=1)  # (batch, layers, frames, dim)
        return hidden, self.frame_lengths(lengths).clamp(min=1, max=hidden.shape[2])


def select_layer(hidden: torch.Tensor, layer: int | str) -> torch.Tensor:
    """``(batch, layers, frames, dim)`` -> ``(batch, frames, dim)`` for an index, or
    ``(batch, frames, layers * dim)`` for ``all``."""
    if layer == "all":
        return hidden.permute(0, 2, 1, 3).flatten(2)
    layers = hidden.shape[1]
    if not -layers <= int(layer) < layers:
        raise ValueError(f"layer {layer} is out of range for an encoder with {layers} hidden layers")
    return hidden[:, int(layer)]


@functools.lru_cache(maxsize=2)
def frozen_encoder(name: str) -> SSLEncoder:
    """One frozen encoder per model name and process."""
    encoder = SSLEncoder.from_pretrained(name)
    encoder.requires_grad_(False)
    return encoder.eval()


@builds(SSLConfig)
class SSLFeatures(FeatureExtractor):
    """Hidden states of a frozen encoder: ``(frames, dim)``, ``(dim,)``, or with ``layer: all``
    ``(frames, layers * dim)`` / ``(layers * dim,)``."""

    parallel = False
    device = torch.device("cpu")

    def to(self, device: torch.device) -> SSLFeatures:
        self.device = torch.device(device)
        return self

    def extract(self, signal: np.ndarray, sampling_rate: int) -> np.ndarray:
        encoder = frozen_encoder(self.config.model).to(self.device)
        with torch.inference_mode():
            waveform = torch.from_numpy(np.ascontiguousarray(signal, dtype=np.float32))[None].to(self.device)
            hidden, lengths = encoder(waveform)
            frames = select_layer(hidden, parse_layer(self.config.layer))[0, : int(lengths[0])]  # (frames, dim)
        if self.config.pooling == "mean":
            frames = frames.mean(dim=0)
        return frames.float().cpu().numpy()
