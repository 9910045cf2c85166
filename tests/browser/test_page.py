"""The web page in headless Chromium: upload a file, record from a (fake) microphone, see the
prediction and the timeline. Skips without Chromium or the playwright package.

Needs: Debian's ``chromium`` (``apt-get install chromium``) at /usr/bin/chromium (or
``$EMOFUSE_CHROMIUM``) and ``pip install playwright`` (no ``playwright install``: the system
Chromium is used).
"""

import os
import pathlib
import shutil
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install playwright)")

CHROMIUM = os.environ.get("EMOFUSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
if not pathlib.Path(CHROMIUM).is_file():
    pytest.skip(f"needs Chromium (not found at {CHROMIUM}; apt-get install chromium)", allow_module_level=True)

ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required",
]


def _speech_file():
    from emofuse.inference.batch import examples_directory

    return examples_directory() / "dialogue.wav"


# The fake microphone plays a recording of speech (its default beep is rightly reported as no speech).
ARGS.append(f"--use-file-for-fake-audio-capture={_speech_file()}")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server_url():
    import uvicorn

    from emofuse.inference import Recognizer
    from emofuse.inference.server import ServerSettings
    from emofuse.inference.server import create_app

    app = create_app(Recognizer.from_pretrained("default", asr="none"), ServerSettings(warm_up=False))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline:
            pytest.fail("the server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        try:
            instance = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Exception as error:  # noqa: BLE001 - a broken browser install is a skip, not a failure
            pytest.skip(f"Chromium does not start: {error}")
        yield instance
        instance.close()


@pytest.fixture
def page(browser, server_url):
    context = browser.new_context()
    context.grant_permissions(["microphone"], origin=server_url.rstrip("/"))
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server_url)
    yield page
    context.close()
    assert not errors, errors


def test_upload_shows_the_prediction_and_the_timeline(page):
    from emofuse.inference.batch import examples_directory

    page.set_input_files("#file", str(examples_directory() / "dialogue.wav"))
    page.fill("#text", "")
    page.click("#analyse")
    page.wait_for_selector("#result:not([hidden])", timeout=60_000)
    assert page.get_attribute("#emotion", "data-code") in {"neu", "hap", "sad", "ang"}
    assert page.locator("#posteriors .bar").count() == 4
    assert page.locator("#timeline-svg rect.segment-bar").count() >= 4 * 4
    assert page.locator(".segment-row").count() >= 4
    assert page.inner_text("#error") == ""
    assert "done in" in page.inner_text("#status")


def test_recording_from_the_microphone(page):
    page.click("#record")
    page.wait_for_function("document.getElementById('stop').disabled === false", timeout=10_000)
    page.wait_for_timeout(2000)
    page.click("#stop")
    page.wait_for_function("document.getElementById('status').textContent.includes('recording ready')", timeout=20_000)
    assert page.inner_text("#error") == ""
    page.click("#analyse")
    page.wait_for_selector("#result:not([hidden])", timeout=60_000)
    assert page.get_attribute("#emotion", "data-code") in {"neu", "hap", "sad", "ang"}
    assert "recording.wav" not in page.inner_text("#error")


def test_errors_are_shown(page, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    page.set_input_files("#file", str(broken))
    page.click("#analyse")
    page.wait_for_function("document.getElementById('error').textContent.length > 0", timeout=30_000)
    assert "415" in page.inner_text("#error") and "unsupported or corrupt audio" in page.inner_text("#error")
