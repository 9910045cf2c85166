"""An on-disk feature cache keyed by a hash of the extractor config, written atomically.

Layout: ``<root>/<extractor>-<config hash>/config.json`` and one ``.npy`` per item under a
two-character shard directory. Entries are written to a temporary file and renamed, so an
interrupted extraction never leaves a half-written entry; a later run reuses every finished one.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile
from typing import Any

import numpy as np

from emofuse.config import config_hash
from emofuse.config import to_dict
from emofuse.files import atomic_write_text


def default_cache_dir() -> pathlib.Path:
    """``$EMOFUSE_CACHE`` or ``~/.cache/emofuse``."""
    return pathlib.Path(os.environ.get("EMOFUSE_CACHE", pathlib.Path.home() / ".cache" / "emofuse"))


class FeatureCache:
    """Arrays keyed by strings, in a directory named after the extractor and its config hash."""

    def __init__(self, root: str | os.PathLike[str], name: str, config: Any) -> None:
        self.directory = pathlib.Path(root) / f"{name}-{config_hash(config)}"
        self.directory.mkdir(parents=True, exist_ok=True)
        self._made: set[str] = set()  # shard directories known to exist
        description = self.directory / "config.json"
        if not description.exists():
            atomic_write_text(description, json.dumps({"name": name, "config": to_dict(config)}, indent=2))

    @staticmethod
    def key(*parts: object) -> str:
        return hashlib.sha1("\x1f".join(map(str, parts)).encode("utf-8")).hexdigest()

    def path(self, key: str) -> pathlib.Path:
        return self.directory / key[:2] / f"{key}.npy"

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def load(self, key: str) -> np.ndarray | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError):
            path.unlink(missing_ok=True)  # unreadable entry: recompute it
            return None

    def save(self, key: str, array: np.ndarray) -> None:
        path = self.path(key)
        if key[:2] not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(key[:2])
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{key}.", suffix=".npy", delete=False) as tmp:
            np.save(tmp, np.ascontiguousarray(array), allow_pickle=False)
            tmp_path = pathlib.Path(tmp.name)
        try:
            os.replace(tmp_path, path)
        finally:
            tmp_path.unlink(missing_ok=True)
