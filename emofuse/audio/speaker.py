"""Speaker-recognition models as emotion front-ends.

- ``resemblyzer``: the pretrained GE2E speaker encoder shipped with the ``resemblyzer`` package
  (a 3-layer LSTM over 40-bin Mel frames, 256-d L2-normalised embeddings; fully offline). One
  embedding per utterance (the normalised mean over 1.6 s partial windows) or the partial
  embeddings as a sequence.
- :func:`load_speaker_weights`: loads an external ResNet speaker model's weights (a PyTorch
  checkpoint or safetensors file) into emofuse's ResNet backbone by parameter name, so that the
  ``resnet34`` model starts from a speaker model as in Padi et al. 2022.
"""

from __future__ import annotations

import functools
import logging
import os
import pathlib
import warnings

import numpy as np
import torch

from emofuse.features import FeatureError
from emofuse.features import FeatureExtractor
from emofuse.pretrained import ResemblyzerConfig
from emofuse.registry import builds

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=2)
def voice_encoder(weights: str | None = None):  # noqa: ANN201 (resemblyzer's VoiceEncoder)
    """The resemblyzer encoder on CPU, loaded once per process."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pkg_resources and scipy deprecations inside resemblyzer
            from resemblyzer import VoiceEncoder
    except ImportError:
        raise FeatureError("resemblyzer embeddings need the optional extra: pip install 'emofuse[speaker]'") from None
    path = None if weights is None else pathlib.Path(weights).expanduser()
    if path is not None and not path.is_file():
        raise FeatureError(f"resemblyzer weights not found: {path}")
    encoder = VoiceEncoder(device="cpu", verbose=False, weights_fpath=path)
    return encoder.eval()


def resemblyzer_embedding(signal: np.ndarray, config: ResemblyzerConfig) -> np.ndarray:
    """``(256,)`` or ``(windows, 256)`` embeddings of a 16 kHz signal."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from resemblyzer import preprocess_wav

    encoder = voice_encoder(config.weights)
    wav = np.asarray(signal, dtype=np.float32)
    if config.preprocess:
        trimmed = preprocess_wav(wav)  # volume normalisation and VAD trimming, already at 16 kHz
        if trimmed.size >= 1600:  # keep the untrimmed signal when the VAD finds (almost) no speech
            wav = trimmed.astype(np.float32)
    if not np.any(wav):
        raise FeatureError("resemblyzer: the signal is silent")
    with torch.inference_mode():
        embedding, partials, _ = encoder.embed_utterance(wav, return_partials=True, rate=config.rate,
                                                         min_coverage=config.min_coverage)
    return (partials if config.output == "partials" else embedding).astype(np.float32)


@builds(ResemblyzerConfig)
class Resemblyzer(FeatureExtractor):
    """resemblyzer speaker embeddings: ``(256,)`` per utterance or ``(windows, 256)``."""

    def extract(self, signal: np.ndarray, sampling_rate: int) -> np.ndarray:
        if sampling_rate != 16000:
            raise FeatureError(f"resemblyzer needs 16 kHz audio, got {sampling_rate} Hz")
        return resemblyzer_embedding(signal, self.config)


# External ResNet speaker-model weights --------------------------------------------------------

#: Prefixes that speaker toolkits put in front of the backbone's parameter names.
PREFIXES = ("module.", "model.", "speaker_encoder.", "embedding_model.", "encoder.", "backbone.", "front.", "resnet.")
#: Other spellings of emofuse's parameter names.
ALIASES = ((".downsample.", ".shortcut."),)


class SpeakerWeightsError(ValueError):
    """Speaker-model weights that do not fit the backbone; the message names the file."""


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or a PyTorch checkpoint (a state dict, possibly under
    ``state_dict`` / ``model`` / ``model_state`` / ``model_state_dict`` / ``module``)."""
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise SpeakerWeightsError(f"{path}: speaker-model weights not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 (pickle and zip errors of every kind)
        raise SpeakerWeightsError(f"{path}: cannot read a PyTorch checkpoint ({error})") from None
    for key in ("state_dict", "model_state_dict", "model_state", "model", "module"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SpeakerWeightsError(f"{path}: no state dict of tensors found")
    return state


def _normalise_key(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    for old, new in ALIASES:
        key = key.replace(old, new)
    return key


def load_speaker_weights(backbone: torch.nn.Module, path: str | os.PathLike[str], *,
                         min_fraction: float = 0.9) -> dict[str, list[str]]:
    """Copy matching tensors of a speaker model into ``backbone`` (by name after removing
    toolkit prefixes, and by shape); everything else in the file (pooling, embedding and
    speaker-classifier layers) is left out.

    Raises :class:`SpeakerWeightsError` when fewer than ``min_fraction`` of the backbone's
    convolution and batch-norm tensors are found, so that a wrong file never silently leaves the
    model untrained. Returns the ``loaded``, ``missing`` and ``ignored`` names.
    """
    source = {_normalise_key(k): v for k, v in read_state_dict(path).items()}
    target = backbone.state_dict()
    loaded, mismatched = [], []
    update = {}
    for name, tensor in target.items():
        if name in source:
            if tuple(source[name].shape) == tuple(tensor.shape):
                update[name] = source[name].to(tensor.dtype)
                loaded.append(name)
            else:
                mismatched.append(f"{name}: file {tuple(source[name].shape)}, model {tuple(tensor.shape)}")
    essential = [n for n in target if "act" not in n and not n.endswith("num_batches_tracked")]
    found = [n for n in essential if n in update]
    if len(found) < min_fraction * len(essential):
        detail = "; ".join(mismatched[:5]) or f"file keys look like {list(source)[:5]}"
        raise SpeakerWeightsError(
            f"{path}: only {len(found)} of {len(essential)} backbone tensors match by name and shape ({detail})"
        )
    backbone.load_state_dict({**target, **update})
    missing = [n for n in target if n not in update]
    ignored = [k for k in source if k not in target]
    log.info("%s: loaded %d backbone tensors; %d not in the file (%s); %d file tensors ignored",
             path, len(loaded), len(missing), ", ".join(missing[:4]), len(ignored))
    return {"loaded": loaded, "missing": missing, "ignored": ignored}
