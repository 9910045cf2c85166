"""What every corpus reader shares: the registry, errors that name file and line, audio facts."""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Callable

import soundfile

from emofuse.components import CORPORA
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import unset_variables_hint

log = logging.getLogger(__name__)

#: name -> (config dataclass, ``prepare(config) -> Manifest``)


class CorpusError(ValueError):
    """Malformed corpus input; the message names the file and, where known, the line."""

    def __init__(self, message: str, *, file: str | pathlib.Path | None = None, line: int | None = None):
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        super().__init__(f"{where}{message}")
        self.file = None if file is None else str(file)
        self.line = line


def is_junk(path: pathlib.Path) -> bool:
    """macOS resource forks (``._*``) and hidden files that corpus archives carry."""
    return path.name.startswith(".")


def audio_facts(path: pathlib.Path) -> tuple[int, float]:
    """Sampling rate and duration in seconds, read from the header only."""
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise CorpusError(f"cannot read audio header: {error}", file=path) from None
    return int(info.samplerate), float(info.frames) / float(info.samplerate)


def require_directory(path: str | pathlib.Path, what: str) -> pathlib.Path:
    path = pathlib.Path(path).expanduser()
    if not path.is_dir():
        raise CorpusError(f"{what} directory not found{unset_variables_hint(path)}", file=path)
    return path.resolve()


def prepare_corpus(name: str, config: object) -> Manifest:
    return CORPORA.build(name, config)


PrepareFunction = Callable[..., Manifest]
