"""``emofuse transcribe`` and ``emofuse simulate-asr``: fill a manifest's ASR transcripts."""

from __future__ import annotations

import pathlib
from typing import Annotated

import typer

from emofuse.cli import _fail
from emofuse.cli import app


@app.command()
def transcribe(
    manifest: Annotated[pathlib.Path, typer.Argument(help="A manifest with audio paths.")],
    output: Annotated[pathlib.Path, typer.Option("--output", "-o", help="Manifest to write, with asr_text filled.")],
    asr: Annotated[str, typer.Option("--asr", help="pocketsphinx, whisper, or whisper:<hub id or local directory>.")] = "pocketsphinx",
    cache_dir: Annotated[pathlib.Path | None, typer.Option("--cache-dir", help="Transcript cache (default: $EMOFUSE_CACHE or ~/.cache/emofuse).")] = None,
    skip_errors: Annotated[bool, typer.Option("--skip-errors", help="Leave utterances with unreadable audio untranscribed instead of failing.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar.")] = True,
) -> None:
    """Transcribe every utterance's audio into asr_text (cached; re-running resumes) and report the WER."""
    from emofuse.asr import TranscriptionError
    from emofuse.asr import manifest_word_error_rate
    from emofuse.asr import transcribe_manifest
    from emofuse.data.manifest import Manifest

    try:
        result = transcribe_manifest(Manifest.load(manifest), asr=asr, cache_dir=cache_dir,
                                     on_error="skip" if skip_errors else "raise", progress=progress)
        result.save(output)
    except (ValueError, KeyError, OSError, TranscriptionError) as error:
        _fail(error)
    wer = manifest_word_error_rate(result)
    done = sum(u.asr_text is not None for u in result)
    typer.echo(f"wrote {done} of {len(result)} transcripts to {output}"
               + (f"; WER {100 * wer:.1f} % against the reference texts" if wer is not None else ""))


@app.command("simulate-asr")
def simulate_asr(
    manifest: Annotated[pathlib.Path, typer.Argument(help="A manifest with reference texts.")],
    output: Annotated[pathlib.Path, typer.Option("--output", "-o", help="Manifest to write, with asr_text filled.")],
    wer: Annotated[float, typer.Option("--wer", help="Target word error rate (IEmoNet: 0.06).")] = 0.06,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the error positions and words.")] = 0,
) -> None:
    """Fill asr_text with the reference text plus simulated ASR errors at a target WER."""
    from emofuse.asr import manifest_word_error_rate
    from emofuse.data.manifest import Manifest
    from emofuse.text.noise import add_simulated_asr

    try:
        result = add_simulated_asr(Manifest.load(manifest), wer=wer, seed=seed)
        result.save(output)
    except (ValueError, OSError) as error:
        _fail(error)
    measured = manifest_word_error_rate(result)
    typer.echo(f"wrote {len(result)} utterances to {output}"
               + (f"; measured WER {100 * measured:.2f} %" if measured is not None else ""))
