"""An HTTP API for a recogniser (FastAPI; the ``[serve]`` extra), with a small web page.

- ``POST /predict``: multipart form with ``file`` (an audio upload: WAV, FLAC or OGG), optional
  ``text`` (its transcript; without it the recogniser's ASR transcribes, unless ``asr`` is
  ``false``), ``timeline`` (``true``: also an emotion timeline over segments) and
  ``segmentation`` (``vad`` or ``fixed``). Returns the prediction (and timeline) as JSON, with
  ``warnings`` about the input (no speech, clipping, a truncated file). A given transcript is
  used for the timeline too (every segment reads it); without one, segments are transcribed
  one by one.
- ``GET /health``: the model and the limits; ``GET /``: the web page (upload or record audio,
  see the prediction and the timeline); ``GET /docs``, ``/redoc``, ``/openapi.json``: the API
  description, served from packaged assets (no CDN: the docs work offline).

Limits: the request body (checked on the ``Content-Length`` header and while streaming, which
must also keep a minimum transfer rate: a client that declares a body and stalls gets ``408``
after ``body_timeout`` seconds), the audio duration (read from the file header before decoding), the text length, a timeout per
request, and a bounded pool of inference threads with a bounded queue, so that concurrent
requests run side by side and a flood gets ``503`` instead of piling up. Bad input gets a 4xx
with a message (``400`` empty, ``413`` too large or too long, ``415`` not decodable audio,
``422`` silent / too short / unusable) and the server stays up. Clients send bytes, never
file-system paths: the upload's file name is only echoed back as a label.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import io
import logging
import os
import pathlib
import re
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated
from typing import Any

import soundfile
from fastapi import FastAPI
from fastapi import File
from fastapi import Form
from fastapi import HTTPException
from fastapi import UploadFile
from fastapi.responses import HTMLResponse
from fastapi.responses import JSONResponse
from fastapi.responses import Response

import emofuse
from emofuse.audio.io import AudioError
from emofuse.inference.recognizer import Recognizer
from emofuse.inference.recognizer import RecognizerError
from emofuse.inference.segment import SegmentationConfig
from emofuse.inference.segment import timeline_of_signal

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    """Limits and concurrency of the server.

    ``workers`` inference threads run requests side by side; up to ``queue`` more wait, beyond
    that requests get ``503``. ``timeout`` (seconds) bounds the wait for one request's result.
    """

    max_upload_mb: float = 20.0
    max_duration: float = 600.0
    max_text_chars: int = 5000
    timeout: float = 120.0
    workers: int = 2
    queue: int = 32
    warm_up: bool = True
    body_timeout: float = 15.0
    min_bytes_per_second: float = 4096.0

    def __post_init__(self) -> None:
        if self.max_upload_mb <= 0 or self.max_duration <= 0 or self.timeout <= 0 or self.body_timeout <= 0:
            raise ValueError("max_upload_mb, max_duration, timeout and body_timeout must be positive")
        if self.workers < 1 or self.queue < 0 or self.max_text_chars < 1:
            raise ValueError("workers must be at least 1, queue not negative, max_text_chars positive")

    @property
    def max_body_bytes(self) -> int:
        """The upload limit plus room for the form's other fields."""
        return int(self.max_upload_mb * 1024 * 1024) + 64 * 1024


class ClientError(Exception):
    """A request the server refuses, with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BodyLimitMiddleware:
    """Refuse request bodies over ``limit`` bytes with 413, by header and while streaming, and
    bodies that stall: each chunk must come within ``timeout`` seconds, and after that long the
    body must have come at ``min_rate`` bytes per second at least (else 408)."""

    def __init__(self, app: Any, limit: int, timeout: float = 15.0, min_rate: float = 4096.0) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout
        self.min_rate = min_rate

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body too large (limit {self.limit // (1024 * 1024)} MB)"
        for key, value in scope.get("headers", []):
            if key == b"content-length" and value.isdigit() and int(value) > self.limit:
                await JSONResponse({"detail": message}, status_code=413)(scope, receive, send)
                return
        received = 0
        started = time.monotonic()

        async def limited_receive() -> dict:
            nonlocal received
            try:
                event = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                raise HTTPException(408, f"request body not received: nothing for {self.timeout:g} s "
                                         f"after {received} bytes") from None
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, message)  # answered by the app's exception handling
                elapsed = time.monotonic() - started
                if event.get("more_body") and elapsed > self.timeout and received / elapsed < self.min_rate:
                    raise HTTPException(408, f"request body too slow: {received / elapsed:.0f} bytes/s "
                                             f"(minimum {self.min_rate:g})")
            return event

        await self.app(scope, limited_receive, send)


class InferencePool:
    """A bounded thread pool: ``workers`` jobs at once, ``queue`` more waiting, then 503."""

    def __init__(self, workers: int, queue: int) -> None:
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emofuse-infer")
        self.capacity = workers + queue
        self.pending = 0
        self._lock = threading.Lock()

    def _done(self, _: concurrent.futures.Future) -> None:
        with self._lock:
            self.pending -= 1

    async def run(self, function: Any, *args: Any, timeout: float) -> Any:
        with self._lock:
            if self.pending >= self.capacity:
                raise ClientError(503, f"the server is busy ({self.pending} requests in progress); retry shortly")
            self.pending += 1
        future = self.executor.submit(function, *args)
        future.add_done_callback(self._done)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            raise ClientError(504, f"inference took longer than {timeout:g} s") from None

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def decode_upload(recognizer: Recognizer, data: bytes, *, name: str, max_duration: float,
                  warnings: list[str] | None = None) -> Any:
    """The upload as a signal at the recogniser's rate, or a :class:`ClientError` saying why not."""
    if not data:
        raise ClientError(400, f"{name}: empty upload (0 bytes)")
    try:
        info = soundfile.info(io.BytesIO(data))
    except (RuntimeError, soundfile.LibsndfileError, TypeError, ValueError) as error:
        detail = re.sub(r"<[^<>]* object at 0x[0-9a-fA-F]+>:?\s*", "", str(error)).strip() or "not decodable"
        raise ClientError(415, f"{name}: unsupported or corrupt audio ({detail}); send WAV, FLAC or OGG") from None
    if info.samplerate <= 0 or info.frames <= 0:
        raise ClientError(422, f"{name}: no audio samples")
    duration = info.frames / info.samplerate
    if duration > max_duration:
        raise ClientError(413, f"{name}: too long: {duration:.1f} s (maximum {max_duration:g} s)")
    try:
        return recognizer.load_audio(data, name=name, max_duration=max_duration, warnings=warnings)
    except AudioError as error:
        raise ClientError(422, str(error)) from None


def create_app(recognizer: Recognizer | str | os.PathLike[str] = "default", settings: ServerSettings | None = None) -> FastAPI:
    """The FastAPI application serving ``recognizer`` (an object, a directory or a bundled name)."""
    settings = settings or ServerSettings()
    if not isinstance(recognizer, Recognizer):
        recognizer = Recognizer.from_pretrained(recognizer)
    model: Recognizer = recognizer
    pool = InferencePool(settings.workers, settings.queue)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.warm_up:
            await asyncio.get_running_loop().run_in_executor(pool.executor, model.warm_up)
        yield
        pool.shutdown()

    from fastapi_offline import FastAPIOffline

    app = FastAPIOffline(
        title="emofuse",
        version=emofuse.__version__,
        description="Emotion from speech and words. POST an audio file (and optionally its transcript) to /predict.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes, timeout=settings.body_timeout,
                       min_rate=settings.min_bytes_per_second)
    app.state.recognizer = model
    app.state.settings = settings
    app.state.pool = pool

    def work(data: bytes, name: str, text: str | None, timeline: bool, segmentation: str, asr: bool) -> dict[str, Any]:
        start = time.perf_counter()
        model: Recognizer = app.state.recognizer
        notes: list[str] = []
        signal = decode_upload(model, data, name=name, max_duration=settings.max_duration, warnings=notes)
        try:
            prediction = model.predict_signals([signal], texts=[text], sources=[name], warnings=[notes], asr=asr)[0]
            result: dict[str, Any] = {"prediction": prediction.to_dict()}
            if timeline:
                config = SegmentationConfig(method=segmentation)  # type: ignore[arg-type]
                result["timeline"] = timeline_of_signal(model, signal, config=config, source=name, text=text,
                                                        asr=asr).to_dict()
        except (RecognizerError, AudioError) as error:
            raise ClientError(422, str(error)) from None
        result["model"] = model.config.name
        result["seconds"] = round(time.perf_counter() - start, 3)
        return result

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(_page())

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/health", summary="Model, limits and load")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "model": app.state.recognizer.describe(),
            "limits": {"max_upload_mb": settings.max_upload_mb, "max_duration_s": settings.max_duration,
                       "max_text_chars": settings.max_text_chars, "timeout_s": settings.timeout},
            "workers": settings.workers,
            "in_progress": pool.pending,
        }

    @app.post("/predict", summary="Emotion of an uploaded recording")
    async def predict(
        file: Annotated[UploadFile, File(description="Audio: WAV, FLAC or OGG (any rate and channel count).")],
        text: Annotated[str | None, Form(description="Transcript; without it the model's ASR transcribes.")] = None,
        timeline: Annotated[bool, Form(description="Also return an emotion timeline over segments.")] = False,
        segmentation: Annotated[str, Form(description="How to cut the timeline: vad or fixed (3 s windows).")] = "vad",
        asr: Annotated[bool, Form(description="Transcribe with the model's ASR when no text is given (false: speech only).")] = True,
    ) -> JSONResponse:
        name = pathlib.PurePath((file.filename or "upload").replace("\\", "/")).name[:200] or "upload"
        if segmentation not in {"vad", "fixed"}:
            raise HTTPException(422, f"segmentation must be 'vad' or 'fixed', got {segmentation!r}")
        if text is not None and len(text) > settings.max_text_chars:
            raise HTTPException(413, f"text too long: {len(text)} characters (maximum {settings.max_text_chars})")
        data = await file.read()
        try:
            result = await pool.run(work, data, name, text, timeline, segmentation, asr, timeout=settings.timeout)
        except ClientError as error:
            raise HTTPException(error.status, error.message) from None
        except Exception as error:  # noqa: BLE001 - one bad request must not take the server down
            log.exception("prediction failed for %s", name)
            raise HTTPException(500, f"internal error: {type(error).__name__}") from None
        return JSONResponse(result)

    return app


def _page() -> str:
    from importlib.resources import files

    return (files("emofuse") / "assets" / "web" / "index.html").read_text(encoding="utf-8")


def serve(recognizer: Recognizer | str | os.PathLike[str] = "default", *, host: str = "127.0.0.1", port: int = 8000,
          settings: ServerSettings | None = None) -> None:
    """Run the server with uvicorn until interrupted.

    Torch's intra-op threads are divided among the inference workers (at least one each) so
    that concurrent requests do not oversubscribe the cores.
    """
    import torch
    import uvicorn

    settings = settings or ServerSettings()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // settings.workers))
    server = uvicorn.Server(uvicorn.Config(create_app(recognizer, settings), host=host, port=port, log_level="info"))

    def announce() -> None:  # the URL once the port accepts connections (after the model's warm-up)
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            print(f"serving on http://{host}:{port}/ (API docs: /docs)", flush=True)  # noqa: T201 - the CLI's one line

    threading.Thread(target=announce, daemon=True).start()
    server.run()
