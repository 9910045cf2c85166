"""Reading helpers the corpus readers share: decoded text, checked CSV rows, ratings, gender.

Private: the readers' public contract is ``prepare_<corpus>``; these helpers only make sure that
every reader fails the same way, with :class:`CorpusError` naming the file and line.
"""

from __future__ import annotations

import csv
import io
import logging
import pathlib
from collections.abc import Iterator
from collections.abc import Sequence

from emofuse.data.corpora.base import CorpusError
from emofuse.data.labels import normalize_rating

log = logging.getLogger(__name__)

_GENDERS = {"f": "F", "female": "F", "m": "M", "male": "M"}
_UNKNOWN = {"", "unknown", "u", "na", "n/a", "none"}


def read_text(path: pathlib.Path) -> str:
    """A text file as UTF-8 (a byte-order mark is dropped); Windows-1252 as a logged fallback."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise CorpusError(f"neither UTF-8 nor Windows-1252 text: {error}", file=path) from None
        log.warning("%s: not UTF-8 (%s); read as Windows-1252", path, error.reason)
        return text


def csv_rows(
    path: pathlib.Path,
    *,
    required: Sequence[str],
    delimiter: str = ",",
    columns: Sequence[str] | None = None,
) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line, row)`` for each data row of a CSV file with a header (or with ``columns``).

    Missing required columns, rows with too many or too few fields and blank cells in required
    columns are errors naming the file and line. ``columns`` names the fields of a file without
    a header line.
    """
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    if columns is not None:
        header = list(columns)
    else:
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise CorpusError("empty file (no header)", file=path, line=1) from None
        except csv.Error as error:
            raise CorpusError(f"unreadable header: {error}", file=path, line=1) from None
    missing = [name for name in required if name not in header]
    if missing:
        raise CorpusError(
            f"missing columns {missing} (found: {', '.join(header)})", file=path, line=1
        )
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise CorpusError(f"malformed CSV: {error}", file=path, line=reader.line_num) from None
        line = reader.line_num
        if not fields or all(not field.strip() for field in fields):
            continue  # blank line
        if len(fields) != len(header):
            raise CorpusError(
                f"expected {len(header)} fields ({', '.join(header)}), found {len(fields)}",
                file=path,
                line=line,
            )
        row = dict(zip(header, fields, strict=True))
        blank = [name for name in required if not row[name].strip()]
        if blank:
            raise CorpusError(f"empty value in column(s) {blank}", file=path, line=line)
        yield line, row


def parse_rating(
    value: str | float,
    *,
    low: float,
    high: float,
    column: str,
    file: pathlib.Path,
    line: int,
) -> tuple[float, float]:
    """``(raw, normalised)`` for a rating on ``[low, high]``; anything else names file and line."""
    try:
        raw = float(value)
    except (TypeError, ValueError):
        raise CorpusError(f"{column}: {value!r} is not a number", file=file, line=line) from None
    try:
        return raw, normalize_rating(raw, low=low, high=high)
    except ValueError as error:
        raise CorpusError(f"{column}: {error}", file=file, line=line) from None


def parse_gender(value: str, *, file: pathlib.Path, line: int) -> str | None:
    """``F``, ``M`` (as IEMOCAP writes it) or ``None`` for unknown."""
    key = value.strip().lower()
    if key in _UNKNOWN:
        return None
    if key not in _GENDERS:
        raise CorpusError(f"unknown gender {value!r} (use Female, Male or Unknown)", file=file, line=line)
    return _GENDERS[key]
