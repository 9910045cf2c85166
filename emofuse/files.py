"""Writing files safely: atomic replacement with the user's umask, no symlink following, and
JSON-ready values.

Every file emofuse writes goes through :func:`atomic_write_bytes`: the data lands in a
temporary file beside the target and is renamed over it, so an interruption never leaves a
half-written file, and the result gets the permissions any new file of the user would get
(``0666`` minus the umask), not the ``0600`` of a temporary file.
"""

from __future__ import annotations

import contextlib
import math
import os
import pathlib
import tempfile
from collections.abc import Iterator
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = "") -> Iterator[pathlib.Path]:
    """A temporary path beside ``path`` for a writer that needs a file name (pandas, numpy,
    matplotlib); on success it gets ``0666 & ~umask`` and replaces ``path`` (a symlink there is
    replaced, never followed); on error it is removed and ``path`` is untouched."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=suffix, delete=False) as tmp:
        tmp_path = pathlib.Path(tmp.name)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> pathlib.Path:
    """Write ``data`` to ``path`` atomically, with ``0666 & ~umask`` permissions.

    A symlink at ``path`` is replaced by the file, never followed (its target is untouched).
    """
    with atomic_path(path) as tmp_path:
        tmp_path.write_bytes(data)
    return pathlib.Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> pathlib.Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def jsonable(value: Any) -> Any:
    """Plain JSON data: numpy scalars become numbers, tuples lists, non-finite floats ``None``.

    >>> import numpy as np
    >>> jsonable({"a": (np.float32(0.5), float("nan")), 1: np.int64(3)})
    {'a': [0.5, None], '1': 3}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pathlib.PurePath):
        return str(value)
    return value


def library_versions() -> dict[str, str]:
    """Versions of what shapes emofuse's numbers (front-ends, models, encoders)."""
    import importlib.metadata
    import platform

    import emofuse

    versions = {"emofuse": emofuse.__version__, "python": platform.python_version()}
    for package in ("numpy", "torch", "librosa", "transformers", "safetensors", "scikit-learn", "onnxruntime"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
