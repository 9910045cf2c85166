"""The HTTP server: predictions, limits, bad input, concurrency and timeouts."""

import io
import threading
import time

import numpy as np
import pytest
import soundfile

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
from fastapi.testclient import TestClient  # noqa: E402

from emofuse.data.labels import FOUR_CLASSES  # noqa: E402
from emofuse.inference import Recognizer  # noqa: E402
from emofuse.inference.batch import examples_directory  # noqa: E402
from emofuse.inference.server import ServerSettings  # noqa: E402
from emofuse.inference.server import create_app  # noqa: E402

EXAMPLES = examples_directory()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def recognizer():
    return Recognizer.from_pretrained("default", asr="none")


def _client(recognizer, **settings):
    defaults = {"max_upload_mb": 1.0, "max_duration": 25.0, "warm_up": False, "workers": 2}
    return TestClient(create_app(recognizer, ServerSettings(**{**defaults, **settings})))


@pytest.fixture(scope="module")
def client(recognizer):
    with _client(recognizer) as test_client:
        yield test_client


def wav_bytes(signal, rate=16000, subtype="PCM_16", format="WAV"):
    buffer = io.BytesIO()
    soundfile.write(buffer, signal, rate, subtype=subtype, format=format)
    return buffer.getvalue()


def tone(seconds, rate=16000, amplitude=0.3):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def post(client, data, name="clip.wav", **form):
    return client.post("/predict", files={"file": (name, data, "audio/wav")}, data=form)


def test_health_page_and_docs(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["model"]["classes"] == list(FOUR_CLASSES)
    assert health["limits"]["max_upload_mb"] == 1.0 and health["limits"]["max_duration_s"] == 25.0
    page = client.get("/")
    assert page.status_code == 200 and "MediaRecorder" in page.text and 'id="analyse"' in page.text
    schema = client.get("/openapi.json").json()
    assert "/predict" in schema["paths"] and "/health" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_predict_with_text_and_timeline(client):
    response = post(client, (EXAMPLES / "angry.wav").read_bytes(), name="angry.wav", text="I am furious with you")
    assert response.status_code == 200, response.text
    body = response.json()
    prediction = body["prediction"]
    assert prediction["emotion"] in FOUR_CLASSES and prediction["source"] == "angry.wav"
    assert prediction["transcript_source"] == "given" and prediction["systems"] == ["speech", "text"]
    assert "timeline" not in body and body["model"] == "emofuse-default-4class"
    response = post(client, (EXAMPLES / "dialogue.wav").read_bytes(), name="dialogue.wav", timeline="true")
    timeline = response.json()["timeline"]
    assert len(timeline["segments"]) >= 4 and timeline["method"].startswith("vad")
    assert timeline["summary"]["emotion"] in FOUR_CLASSES
    fixed = post(client, (EXAMPLES / "dialogue.wav").read_bytes(), timeline="true", segmentation="fixed").json()
    assert fixed["timeline"]["method"] == "fixed" and len(fixed["timeline"]["segments"]) == 7


def test_other_formats_rates_and_channels(client):
    stereo = np.stack([tone(1.0, 44100), tone(1.0, 44100)], axis=1)
    assert post(client, wav_bytes(stereo, 44100), name="stereo.wav").status_code == 200
    assert post(client, wav_bytes(tone(1.0, 22050), 22050, subtype="PCM_16", format="FLAC"), name="a.flac").status_code == 200
    assert post(client, wav_bytes(tone(1.0, 16000), 16000, subtype="VORBIS", format="OGG"), name="a.ogg").status_code == 200


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"", 400, "empty upload"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt garbage", 415, "unsupported or corrupt audio"),
        (b"%PDF-1.4 not audio at all" * 10, 415, "send WAV, FLAC or OGG"),
        (wav_bytes(np.zeros(16000, dtype=np.float32)), 422, "silent"),
        (wav_bytes(tone(0.05)), 422, "too short"),
        (wav_bytes(tone(30.0, 8000), 8000), 413, "too long: 30.0 s (maximum 25 s)"),
        (wav_bytes(np.full(16000, np.nan, dtype=np.float32), subtype="FLOAT"), 422, "NaN"),
    ],
)
def test_bad_uploads_get_clear_errors(client, data, status, message):
    response = post(client, data, name="bad.wav")
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert client.get("/health").status_code == 200  # still up


def test_huge_uploads_are_refused_early(client):
    huge = b"\x00" * (2 * 1024 * 1024)
    response = post(client, huge, name="huge.wav")
    assert response.status_code == 413 and "request body too large" in response.json()["detail"]

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for _ in range(64):
            yield b"\x00" * 65536

    response = client.post("/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413
    assert post(client, (EXAMPLES / "happy.wav").read_bytes()).status_code == 200


def test_form_errors_and_no_paths(client):
    assert client.post("/predict", data={"text": "hello"}).status_code == 422  # no file
    # a client cannot point the server at a file on its disk: paths are not a field, names are labels only
    response = client.post("/predict", data={"path": "/etc/passwd", "file": "/etc/passwd"})
    assert response.status_code == 422
    response = post(client, (EXAMPLES / "happy.wav").read_bytes(), name="../../etc/passwd")
    assert response.status_code == 200 and response.json()["prediction"]["source"] == "passwd"
    assert post(client, (EXAMPLES / "happy.wav").read_bytes(), segmentation="words", timeline="true").status_code == 422
    response = post(client, (EXAMPLES / "happy.wav").read_bytes(), text="x" * 6000)
    assert response.status_code == 413 and "text too long" in response.json()["detail"]


class SlowRecognizer:
    """Wraps a recogniser; every prediction takes at least ``delay`` seconds (its waits are kept
    in ``waits`` as (start, end) times)."""

    def __init__(self, recognizer, delay):
        self.recognizer = recognizer
        self.delay = delay
        self.waits = []

    def __getattr__(self, name):
        return getattr(self.recognizer, name)

    def predict_signals(self, *args, **kwargs):
        start = time.perf_counter()
        time.sleep(self.delay)
        self.waits.append((start, time.perf_counter()))
        return self.recognizer.predict_signals(*args, **kwargs)


def _slow_client(recognizer, delay, **settings):
    app = create_app(recognizer, ServerSettings(**{"warm_up": False, **settings}))
    app.state.recognizer = SlowRecognizer(recognizer, delay)
    return TestClient(app)


def _concurrently(client, count):
    data = (EXAMPLES / "happy.wav").read_bytes()
    results = [None] * count

    def call(index):
        results[index] = post(client, data).status_code

    threads = [threading.Thread(target=call, args=(i,)) for i in range(count)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - start


def test_concurrent_requests_do_not_block_each_other(recognizer):
    with _slow_client(recognizer, 2.0, workers=2) as client:
        statuses, _ = _concurrently(client, 2)
        waits = client.app.state.recognizer.waits
    assert statuses == [200, 200]
    # side by side: the second prediction starts before the first ends (one worker would run
    # them one after the other, however fast the machine)
    assert len(waits) == 2 and max(start for start, _ in waits) < min(end for _, end in waits)


def test_full_queue_gets_503_and_slow_requests_504(recognizer):
    with _slow_client(recognizer, 1.5, workers=1, queue=0) as client:
        statuses, _ = _concurrently(client, 2)
        assert sorted(statuses) == [200, 503]
    with _slow_client(recognizer, 1.5, workers=1, timeout=0.3) as client:
        response = post(client, (EXAMPLES / "happy.wav").read_bytes())
        assert response.status_code == 504 and "longer than 0.3 s" in response.json()["detail"]
        deadline = time.monotonic() + 30  # the abandoned prediction still finishes (slowly on a busy machine)
        while client.get("/health").json()["in_progress"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get("/health").json()["in_progress"] == 0


def test_docs_work_offline_and_errors_read_cleanly(client):
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower() and "/static-offline-docs/swagger-ui-bundle.js" in docs
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    response = post(client, b"RIFF\x00\x00\x00\x00WAVEnot really", name="broken.wav")
    assert response.status_code == 415
    assert "object at 0x" not in response.json()["detail"] and "broken.wav" in response.json()["detail"]


def test_no_speech_gives_no_emotion_and_warnings(client):
    rng = np.random.default_rng(0)
    for name, signal in (("dither.wav", rng.normal(0, 1e-4, 80000).astype(np.float32)),
                         ("dc.wav", np.full(80000, 0.5, dtype=np.float32))):
        response = post(client, wav_bytes(signal), name=name)
        assert response.status_code == 200, response.text
        prediction = response.json()["prediction"]
        assert "emotion" not in prediction and prediction["posteriors"] == {}
        assert any("no speech detected" in w for w in prediction["warnings"])


def test_the_typed_transcript_is_used_for_the_timeline_and_asr_can_be_skipped(recognizer):
    asr_recognizer = Recognizer.from_pretrained("default")  # pocketsphinx on
    with _client(asr_recognizer) as client:
        text = "I am furious with you"
        response = post(client, (EXAMPLES / "dialogue.wav").read_bytes(), name="dialogue.wav", text=text, timeline="true")
        timeline = response.json()["timeline"]
        assert {s["transcript"] for s in timeline["segments"]} == {text}
        assert {s["transcript_source"] for s in timeline["segments"]} == {"given"}
        quiet = post(client, (EXAMPLES / "happy.wav").read_bytes(), asr="false").json()["prediction"]
        assert quiet["transcript_source"] == "none" and quiet["systems"] == ["speech"]


def test_a_stalled_upload_gets_408_and_the_url_is_printed_once_the_port_is_open(recognizer, capsys):
    import socket

    from emofuse.inference.server import serve

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = ServerSettings(max_upload_mb=25.0, warm_up=False, body_timeout=1.0)
    thread = threading.Thread(target=serve, args=(recognizer,), kwargs={"port": port, "settings": settings}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while "serving on http" not in capsys.readouterr().out:
        assert time.monotonic() < deadline, "the server never announced its URL"
        time.sleep(0.05)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:  # open as soon as announced
        head = (f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                f"Content-Length: {20 * 1024 * 1024}\r\n\r\n").encode()
        connection.sendall(head + b"--b\r\n" + b"x" * 85)  # 90 bytes of a declared 20 MB, then nothing
        started = time.monotonic()
        received = b""
        while chunk := connection.recv(4096):  # headers and body may come in separate packets
            received += chunk
            head_end = received.find(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in received[:head_end].split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), None) if head_end >= 0 else None
            if length is not None and len(received) >= head_end + 4 + length:
                break
        answer = received.decode(errors="replace")
        assert answer.startswith("HTTP/1.1 408") and "request body not received" in answer
        assert time.monotonic() - started < 10
