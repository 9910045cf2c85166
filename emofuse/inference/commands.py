"""The inference commands of the ``emofuse`` CLI: ``predict``, ``export``, ``serve`` and ``demo``.

Imported by :mod:`emofuse.cli`; each command parses its arguments and calls the public API.
"""

from __future__ import annotations

import json
import pathlib
from typing import Annotated

import typer

from emofuse.cli import _fail
from emofuse.cli import app

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au"}

ModelOption = Annotated[str, typer.Option("--model", "-m", help="Recogniser directory, bundled name ('default') or hub id.")]
AsrOption = Annotated[str | None, typer.Option("--asr", help="ASR when no transcript is given: pocketsphinx, whisper[:MODEL] or none (default: the model's).")]
ThreadsOption = Annotated[int, typer.Option("--threads", min=1, help="Torch threads (1 is fastest for single files on a busy machine).")]


@app.command()
def predict(
    inputs: Annotated[list[pathlib.Path], typer.Argument(help="Audio files and/or directories (searched recursively).")],
    text: Annotated[str | None, typer.Option("--text", help="Transcript of the (single) input file.")] = None,
    transcripts: Annotated[pathlib.Path | None, typer.Option("--transcripts", help="CSV with columns file,text (file: name or path relative to the directory).")] = None,
    asr: AsrOption = None,
    model: ModelOption = "default",
    output_format: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    output: Annotated[pathlib.Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")] = None,
    timeline: Annotated[bool, typer.Option("--timeline", help="Also predict segments (voice activity or fixed windows).")] = False,
    segmentation: Annotated[str, typer.Option("--segmentation", help="vad or fixed (3 s windows) for --timeline.")] = "vad",
    vad: Annotated[str, typer.Option("--vad", help="Voice activity for --segmentation vad: silero (neural) or energy.")] = "silero",
    speakers: Annotated[int | None, typer.Option("--speakers", min=1, help="Number of speakers, when known (default: estimated).")] = None,
    find_speakers: Annotated[bool, typer.Option("--find-speakers/--no-speakers", help="Speaker turns in --timeline (needs the speaker extra).")] = True,
    plot: Annotated[pathlib.Path | None, typer.Option("--plot", help="Directory for a timeline plot (PNG) per file; implies --timeline.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Files per batch.")] = 16,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars (many files, long timelines).")] = True,
    threads: ThreadsOption = 1,
    max_duration: Annotated[float | None, typer.Option("--max-duration", min=0.1, help="Refuse files longer than this (seconds).")] = None,
    adapt: Annotated[bool, typer.Option("--adapt", help="Adapt to these files (transductive, no labels): standardise the speech features with their own statistics, per speaker with --speaker-csv, else all together. Give several files (ten or more per speaker).")] = False,
    speaker_csv: Annotated[pathlib.Path | None, typer.Option("--speaker-csv", help="CSV with columns file,speaker: --adapt per speaker (a 'speaker' column in --transcripts works too).")] = None,
    min_confidence: Annotated[float | None, typer.Option("--min-confidence", min=0.0, max=1.0, help="Answer 'uncertain' when the calibrated confidence is below this.")] = None,
) -> None:
    """Emotion of audio files: class posteriors, top emotion with its calibrated confidence,
    V/A/D when the model has them, and the transcript used (given, from --transcripts, or from
    ASR). JSON lines or CSV.

    --timeline streams each file (read in blocks, never whole, with a progress bar) into
    segments with their speaker and emotion, and a per-speaker summary; the file's emotion is
    then the time-weighted summary of its segments."""
    from emofuse.config import parse
    from emofuse.inference.batch import find_audio
    from emofuse.inference.batch import predict_files
    from emofuse.inference.batch import read_speakers
    from emofuse.inference.batch import read_transcripts
    from emofuse.inference.recognizer import Recognizer
    from emofuse.inference.recognizer import RecognizerError
    from emofuse.inference.segment import SegmentationConfig
    from emofuse.inference.speakers import SpeakerConfig

    if output_format not in {"jsonl", "csv"}:
        _fail(ValueError(f"--format must be jsonl or csv, got {output_format!r}"))
    if text is not None and transcripts is not None:
        _fail(ValueError("give --text or --transcripts, not both"))
    try:
        files = find_audio(inputs, suffixes=AUDIO_SUFFIXES)
        if text is not None and len(files) != 1:
            raise ValueError(f"--text is the transcript of one file; {len(files)} files were given (use --transcripts)")
        texts = {files[0][0]: text} if text is not None else (read_transcripts(transcripts, files) if transcripts else {})
        speaker_table = read_speakers(speaker_csv, files) if speaker_csv is not None else {}
        if not speaker_table and transcripts is not None and adapt:
            try:
                speaker_table = read_speakers(transcripts, files)
            except ValueError:
                speaker_table = {}  # no speaker column: adapt to all files together
        if speaker_csv is not None and not adapt:
            raise ValueError("--speaker-csv is for --adapt (per-speaker adaptation); add --adapt")
        recognizer = Recognizer.from_pretrained(model, asr=asr, num_threads=threads, min_confidence=min_confidence)
        with_timeline = timeline or plot is not None
        segments = parse(SegmentationConfig, {"method": segmentation, "vad": vad}) if with_timeline else None
        if speakers is not None and not find_speakers:
            raise ValueError("give --speakers N or --no-speakers, not both")
        speaker_config = SpeakerConfig(speakers=speakers) if find_speakers else None
        if plot is not None:
            plot.mkdir(parents=True, exist_ok=True)
        records, failures = predict_files(recognizer, files, texts=texts, batch_size=batch_size, segmentation=segments,
                                          speakers=speaker_config, plot_dir=plot, progress=progress, max_duration=max_duration,
                                          adapt=adapt, speaker_labels=speaker_table)
    except (ValueError, OSError, RecognizerError) as error:
        _fail(error)
    rendered = _render(records, output_format)
    counts = f"{len(records) - len(failures)} predictions, {len(failures)} errors"
    from emofuse.inference.batch import answer_skew

    skew = answer_skew(records, adapted=adapt)
    if skew is not None:
        typer.secho(f"warning: {skew}", fg=typer.colors.YELLOW, err=True)
    if output is not None:
        from emofuse.files import atomic_write_text

        atomic_write_text(output, rendered)  # never follows a symlink at the output path
        typer.echo(f"wrote {counts} to {output}", err=True)
    else:
        typer.echo(rendered, nl=False)
    if failures:
        typer.secho(f"{counts}: {len(failures)} of {len(files)} files failed (see their 'error' field)",
                    fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(code=1)


def _render(records: list[dict], output_format: str) -> str:
    if output_format == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    import pandas as pd

    from emofuse.predictions import posterior_column

    rows = []
    for record in records:
        flat = {k: v for k, v in record.items() if k not in {"posteriors", "members", "timeline", "systems"}}
        flat.update({posterior_column(c): p for c, p in record.get("posteriors", {}).items()})
        flat["systems"] = "+".join(record.get("systems", []))
        rows.append(flat)
        for segment in record.get("timeline", {}).get("segments", []):
            part = {"file": record["file"], "start": segment["start"], "end": segment["end"],
                    "speaker": segment.get("speaker"), "emotion": segment.get("emotion"),
                    "transcript": segment.get("transcript"), "transcript_source": segment.get("transcript_source")}
            part.update({posterior_column(c): p for c, p in segment.get("posteriors", {}).items()})
            rows.append(part)
    return pd.DataFrame(rows).to_csv(index=False)


@app.command()
def export(
    run_dir: Annotated[str, typer.Argument(help="A run directory written by 'emofuse run', or a recogniser (directory or 'default') to convert.")],
    output: Annotated[pathlib.Path, typer.Option("--output", "-o", help="Recogniser directory to write.")],
    system: Annotated[str | None, typer.Option("--system", help="System to export (default: the experiment's last, usually the fused one).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed (default: the first).")] = None,
    fold: Annotated[str | None, typer.Option("--fold", help="Fold name, or best_dev (default): the fold with the best dev score.")] = None,
    asr: AsrOption = None,
    name: Annotated[str | None, typer.Option("--name", help="Recogniser name (default: <experiment>-<system>).")] = None,
    refit: Annotated[bool, typer.Option("--refit", help="Retrain the system on all labelled data with the hyper-parameters chosen in cross-validation, and export that.")] = False,
    export_format: Annotated[str, typer.Option("--format", help="pytorch (safetensors) or onnx (runs on onnxruntime, without torch).")] = "pytorch",
) -> None:
    """Export a fitted system of a run (with its members) as a recogniser directory.

    By default the directory holds one fold's models exactly as the run saved them (the fold
    with the best dev score unless --fold names one), trained on that fold's training part.
    --refit retrains the system on every labelled utterance instead, with the epochs, C and
    fusion weights that cross-validation chose (kept under refit/ in the run; an interrupted
    refit resumes). config.json's provenance says which of the two it holds.

    --format onnx writes the neural systems, the text encoders and the score fusion as ONNX
    graphs (checked against PyTorch on example clips); 'emofuse export default -o DIR --format
    onnx' converts the bundled model, and any recogniser directory converts the same way.
    """
    from emofuse.inference.export import export_run
    from emofuse.inference.recognizer import Recognizer
    from emofuse.inference.recognizer import RecognizerError

    if export_format not in {"pytorch", "onnx"}:
        _fail(ValueError(f"--format must be pytorch or onnx, got {export_format!r}"))
    try:
        path = export_run(run_dir, output, system=system, seed=seed, fold=fold, asr=asr, name=name, refit=refit,
                          progress=True, format=export_format)  # type: ignore[arg-type]
        exported = Recognizer.from_pretrained(path, asr="none").config
        provenance = exported.provenance
    except (ValueError, OSError, KeyError, RecognizerError) as error:
        _fail(error)
    suffix = f" as ONNX (largest difference from PyTorch {provenance['onnx']['max_difference']:.1e})" \
        if export_format == "onnx" else ""
    if "system" not in provenance:
        typer.echo(f"exported {exported.name}{suffix} to {path}")
    elif refit:
        chosen = "; ".join(f"{n}: {rule}" for n, rule in provenance["chosen"].items())
        typer.echo(f"exported {provenance['system']} (seed {provenance['seed']}) refit on all labelled data "
                   f"({chosen}){suffix} to {path}")
    else:
        typer.echo(f"exported {provenance['system']} (seed {provenance['seed']}, {provenance['fold']}: "
                   f"{provenance['selection']}){suffix} to {path}")


@app.command()
def serve(
    model: ModelOption = "default",
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Requests processed at the same time.")] = 2,
    max_upload_mb: Annotated[float, typer.Option("--max-upload-mb", help="Largest upload.")] = 20.0,
    max_duration: Annotated[float, typer.Option("--max-duration", help="Longest recording (seconds).")] = 600.0,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds a request may take.")] = 120.0,
    asr: AsrOption = None,
) -> None:
    """An HTTP API (POST /predict, GET /health, /docs) and a web page (/) for a recogniser."""
    try:
        from emofuse.inference.server import ServerSettings
        from emofuse.inference.server import serve as run_server
    except ImportError as error:
        _fail(RuntimeError(f"the server needs the [serve] extra (pip install 'emofuse[serve]'): {error}"))
    from emofuse.inference.recognizer import Recognizer
    from emofuse.inference.recognizer import RecognizerError

    try:
        settings = ServerSettings(max_upload_mb=max_upload_mb, max_duration=max_duration, timeout=timeout, workers=workers)
        recognizer = Recognizer.from_pretrained(model, asr=asr)
    except (ValueError, OSError, RecognizerError) as error:
        _fail(error)
    typer.echo(f"{recognizer.config.name} loaded; starting the server (the URL follows once the port is open)", err=True)
    run_server(recognizer, host=host, port=port, settings=settings)


@app.command()
def demo(
    model: ModelOption = "default",
    output: Annotated[pathlib.Path, typer.Option("--output", "-o", help="Directory for the timeline plot.")] = pathlib.Path("emofuse-demo"),
    asr: AsrOption = None,
    threads: ThreadsOption = 1,
) -> None:
    """The main job on the bundled model and example clips: emotion of three short clips, then
    an emotion timeline (and its plot) of a longer recording. Offline, on CPU."""
    from emofuse.inference.batch import run_demo
    from emofuse.inference.recognizer import RecognizerError

    try:
        for line in run_demo(model, output, asr=asr, num_threads=threads):
            typer.echo(line)
    except (ValueError, OSError, RecognizerError) as error:
        _fail(error)
