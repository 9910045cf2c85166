import numpy as np
import pytest
import soundfile

from emofuse.audio.io import AudioError
from emofuse.audio.io import read_audio


def test_reads_mono_float(tone):
    signal = read_audio(tone(seconds=0.5))
    assert signal.dtype == np.float32 and signal.shape == (8000,)


def test_stereo_is_mixed_down(tone):
    signal = read_audio(tone(channels=2, seconds=0.5))
    assert signal.ndim == 1 and signal.shape == (8000,)


@pytest.mark.parametrize("rate", [8000, 44100])
def test_resampled(tone, rate):
    signal = read_audio(tone(sampling_rate=rate, seconds=0.5))
    assert abs(signal.size - 8000) <= 2


def test_span(tone):
    signal = read_audio(tone(seconds=1.0), start=0.25, end=0.75)
    assert signal.size == 8000
    with pytest.raises(AudioError, match="outside the file"):
        read_audio(tone(seconds=1.0, name="b.wav"), start=2.0, end=3.0)


def test_bad_inputs_name_the_file(tmp_path, tone):
    with pytest.raises(AudioError, match="missing.wav: file not found"):
        read_audio(tmp_path / "missing.wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty.wav: empty file"):
        read_audio(empty)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(AudioError, match="corrupt.wav: cannot decode"):
        read_audio(corrupt)
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="silent"):
        read_audio(silent)
    assert read_audio(silent, allow_silence=True).size == 16000
    with pytest.raises(AudioError, match="too short"):
        read_audio(tone(seconds=0.05, name="short.wav"))
    with pytest.raises(AudioError, match="too long"):
        read_audio(tone(seconds=1.0, name="long.wav"), max_duration=0.5)
    with pytest.raises(AudioError, match="empty upload"):
        read_audio(b"")


def test_bytes_upload(tone):
    data = tone(seconds=0.5).read_bytes()
    assert read_audio(data).size == 8000


def test_an_error_that_is_not_the_files_is_not_reported_as_undecodable(tone, monkeypatch):
    """An interruption while reading (a distributed run's peer dying, say) propagates: reported as
    "cannot decode" it would be stored as the utterance's failure and never extracted again."""
    path = tone(seconds=0.5, name="fine.wav")

    class Interrupted(soundfile.SoundFile):
        def read(self, *args, **kwargs):
            raise RuntimeError("Connection closed by peer")

    monkeypatch.setattr(soundfile, "SoundFile", Interrupted)
    with pytest.raises(RuntimeError, match="closed by peer") as raised:
        read_audio(path)
    assert not isinstance(raised.value, AudioError)
